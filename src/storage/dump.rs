//! Offline dumps of txn logs and snapshots, in the shape of Java's zkTxnLogToolkit.sh and
//! zkSnapShotToolkit.sh output.
//!
//! Owns: rendering files as text. Must never: modify the files it reads.

use std::path::Path;

/// Render a txn log file.
pub fn txnlog_dump(path: &Path) -> Result<String, String> {
    Err(format!(
        "txnlog-dump is not implemented yet ({})",
        path.display()
    ))
}

/// Render a snapshot file (`with_data`: also each node's data).
pub fn snapshot_dump(path: &Path, with_data: bool) -> Result<String, String> {
    let _ = with_data;
    Err(format!(
        "snapshot-dump is not implemented yet ({})",
        path.display()
    ))
}
