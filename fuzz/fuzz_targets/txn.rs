//! One txn (TxnHeader + record by type + optional TxnDigest) as a log entry, a PROPOSAL or
//! an INFORM carries it: `txn::codec::decode_txn`, and re-encoding what decoded.
#![no_main]

use bytes::Bytes;
use ferrokeeper::txn::codec::{decode_txn, encode_txn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(txn) = decode_txn(Bytes::copy_from_slice(data)) {
        // What decodes must encode and decode to the same txn.
        let again = encode_txn(&txn);
        let back = decode_txn(again);
        assert!(back.is_ok(), "re-encoded txn does not decode: {txn:?}");
    }
});
