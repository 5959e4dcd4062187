//! Test helper: multi-file txn logs of real create txns, written with our own writer.

use crate::jute::Data;
use crate::jute::records::{Acl, Id};
use crate::jute::txn::{CreateTxn, TxnHeader};
use crate::storage::txlog::TxnLogWriter;
use crate::txn::{Txn, TxnBody, codec};
use bytes::Bytes;
use std::path::Path;

/// The node a test txn creates.
pub fn node_path(zxid: i64) -> String {
    format!("/n{zxid:x}")
}

/// A create of `/n<zxid>` under the root (entry bytes as logged).
pub fn create_entry(zxid: i64) -> Bytes {
    let body = TxnBody::Create(CreateTxn {
        path: node_path(zxid),
        data: Data::new(format!("v{zxid}").into_bytes()),
        acl: vec![Acl {
            perms: 31,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }],
        ephemeral: false,
        parent_cversion: 1,
    });
    codec::encode_txn(&Txn {
        header: TxnHeader {
            client_id: 0x100_0000_0000_0001,
            cxid: 1,
            zxid,
            time: 1_700_000_000_000,
            txn_type: codec::body_type(&body),
        },
        body,
        digest: None,
    })
}

/// Write one log file per slice (`log.<first zxid>`), each preallocated to `prealloc`.
pub fn write_logs(dir: &Path, files: &[&[i64]], prealloc: u64) {
    let mut w = TxnLogWriter::open(dir, prealloc, false).unwrap();
    for zxids in files {
        for &z in *zxids {
            w.append(&create_entry(z)).unwrap();
        }
        w.roll().unwrap();
    }
}

/// Every zxid the logs of `dir` hold, read from zxid 0 with the multi-file iterator.
pub fn all_zxids(dir: &Path) -> Vec<i64> {
    crate::storage::logs::TxnLogIter::open(dir, 0)
        .unwrap()
        .map(|e| e.unwrap().zxid)
        .collect()
}
