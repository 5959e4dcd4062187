//! A snapshot file read as recovery reads it: `read_snapshot_streaming` with the server's
//! field limit (`JuteLimits::field()`). The first byte picks the form: plain bytes (the
//! usual case), or a `.gz` / `.snappy` file opened through `snapshot::open` as Java's
//! `snapshot.compression.method` writes them.
#![no_main]

use std::io::Read;
use std::path::PathBuf;

use ferrokeeper::jute::JuteLimits;
use ferrokeeper::storage::snapshot::{self, SnapMeta};
use libfuzzer_sys::fuzz_target;

fn read_all(r: impl Read) {
    let mut meta = SnapMeta::default();
    let mut done = false;
    let mut nodes = 0usize;
    let _ = snapshot::read_snapshot_streaming(
        r,
        JuteLimits::DEFAULT.field(),
        |acls| {
            let _ = acls.len();
        },
        |n| {
            nodes += 1;
            let _ = n;
            Ok(())
        },
        &mut meta,
        &mut done,
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let ext = match form % 8 {
        1 => "gz",
        2 => "snappy",
        _ => {
            read_all(rest);
            return;
        }
    };
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "ferrokeeper-fuzz-snapshot-{}.{ext}",
        std::process::id()
    ));
    if std::fs::write(&path, rest).is_err() {
        return;
    }
    if let Ok(r) = snapshot::open(&path) {
        read_all(r);
    }
});
