//! Storage: the transaction log and snapshots in ZooKeeper's own on-disk format.
//!
//! Owns: files under `<dataLogDir>/version-2/log.<zxid>` and `<dataDir>/version-2/
//! snapshot.<zxid>`, their checksums, preallocation, rolling, recovery reading, purge,
//! reading and truncating the log across files, and the quorum epoch files
//! (`<dataDir>/version-2/acceptedEpoch`, `currentEpoch`).
//! Must never: know about sessions, clients or the network; decide what a txn means.

pub mod dump;
pub mod epoch;
pub mod logs;
pub mod purge;
pub mod snapshot;
pub mod truncate;
pub mod txlog;

use std::path::{Path, PathBuf};

/// `<dir>/version-2`, where ZooKeeper keeps its files.
pub fn version_dir(dir: &Path) -> PathBuf {
    dir.join("version-2")
}

/// Parse `<prefix>.<hex zxid>[.suffix]` as ZooKeeper names its files.
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let hex = rest.split('.').next()?;
    u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
}

/// Files in `dir` named `<prefix>.<hex>`, sorted by zxid.
pub fn list_by_zxid(dir: &Path, prefix: &str) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        if let Some(z) = e
            .file_name()
            .to_str()
            .and_then(|n| zxid_from_name(n, prefix))
        {
            out.push((z, e.path()));
        }
    }
    out.sort_by_key(|(z, _)| *z);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod test_logs;
