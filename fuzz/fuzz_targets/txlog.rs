//! A txn log file read as recovery reads it: `LogFileReader::open_with_limit` with the
//! server's limit (`JuteLimits::field()`), every entry then `decode_txn`.
//!
//! The reader works on a path, so the input is written to a file (tmpfs when there is one).
//! Entries carry an Adler-32 the fuzzer would almost never get right: when the first byte
//! is odd it is dropped and the checksum of every entry that can be walked is fixed first,
//! so the txn decoding behind the checksum is reached too.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use ferrokeeper::jute::JuteLimits;
use ferrokeeper::storage::txlog::LogFileReader;
use ferrokeeper::txn::codec::decode_txn;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("ferrokeeper-fuzz-txlog-{}", std::process::id()))
    })
}

/// Rewrite each entry's checksum (i64 Adler-32 of the body) in place.
fn fix_crcs(b: &mut [u8]) {
    let mut pos = 16usize;
    while pos + 12 <= b.len() {
        let len = i32::from_be_bytes([b[pos + 8], b[pos + 9], b[pos + 10], b[pos + 11]]);
        if len <= 0 {
            return;
        }
        let start = pos + 12;
        let Some(end) = start.checked_add(len as usize) else {
            return;
        };
        if end > b.len() {
            return;
        }
        let crc = adler2::adler32_slice(&b[start..end]) as i64;
        b[pos..pos + 8].copy_from_slice(&crc.to_be_bytes());
        pos = end + 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if let Some(&first) = data.first()
        && first & 1 == 1
    {
        bytes.remove(0);
        fix_crcs(&mut bytes);
    }
    let path = scratch();
    if std::fs::write(path, &bytes).is_err() {
        return;
    }
    let Ok(mut r) = LogFileReader::open_with_limit(path, JuteLimits::DEFAULT.field()) else {
        return;
    };
    while let Ok(Some(entry)) = r.next_entry() {
        let _ = decode_txn(entry);
    }
    let _ = (r.end(), r.offset());
});
