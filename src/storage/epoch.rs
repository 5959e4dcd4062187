//! The quorum epoch files `acceptedEpoch` and `currentEpoch` in `<dataDir>/version-2/`
//! (Java's snap dir), read and written as `QuorumPeer` does.
//!
//! Content: the epoch in decimal ASCII, no newline (`Long.toString`). Reading takes the
//! first line and parses it as `Long.parseLong` (optional sign, decimal digits only).
//! Writing is `AtomicFileWritingIdiom`: write `<name>.tmp`, fsync it, rename over `<name>`
//! (we also fsync the directory, which Java does not). At startup `load_epochs` applies
//! `QuorumPeer.loadDataBase`'s rules for missing or stale files.
//! Owns: these two files and their `.tmp` siblings. Must never: decide epochs (that is
//! the protocol's job) or panic on what it finds on disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
pub const CURRENT_EPOCH: &str = "currentEpoch";
/// `AtomicFileOutputStream.TMP_EXTENSION`.
pub const TMP_EXTENSION: &str = ".tmp";
/// Longest first line we look at: a long needs at most 20 characters.
const MAX_READ: u64 = 64;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parse file content as `readLongFromFile`: the first line (ended by `\n`, `\r` or
/// `\r\n`, or the end) must be a `Long.parseLong` decimal.
fn parse(content: &[u8], path: &Path) -> io::Result<i64> {
    let end = content
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(content.len());
    let line = &content[..end];
    let text = String::from_utf8_lossy(line);
    // Java: an empty file reads a null line ("Found null"); digits only after the sign.
    let digits = text.strip_prefix(['+', '-']).unwrap_or(&text);
    if content.is_empty() {
        return Err(invalid(format!("Found null in {}", path.display())));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("Found {text} in {}", path.display())));
    }
    text.parse::<i64>()
        .map_err(|_| invalid(format!("Found {text} in {}", path.display())))
}

/// Read the epoch in `<dir>/<name>`; `Ok(None)` when the file does not exist.
pub fn read_epoch(dir: &Path, name: &str) -> io::Result<Option<i64>> {
    let path = dir.join(name);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let mut content = Vec::with_capacity(MAX_READ as usize);
    f.take(MAX_READ)
        .read_to_end(&mut content)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    parse(&content, &path).map(Some)
}

/// Write `value` to `<dir>/<name>` atomically: a crash leaves the old file or the new one,
/// never a mix (at worst a stray `<name>.tmp`).
pub fn write_epoch(dir: &Path, name: &str, value: i64) -> io::Result<()> {
    let target = dir.join(name);
    let tmp = dir.join(format!("{name}{TMP_EXTENSION}"));
    let ctx = |what: &str, p: &PathBuf, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()))
    };
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(value.to_string().as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(ctx("cannot write", &tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!(
                "Could not rename temporary file {} to {}: {e}",
                tmp.display(),
                target.display()
            ),
        ));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ctx("cannot sync directory", &dir.to_path_buf(), e))
}

/// The two epochs after startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    pub accepted: i64,
    pub current: i64,
}

/// `QuorumPeer.loadDataBase`'s epoch handling, run once the database is loaded.
/// `dir` is `<dataDir>/version-2`; `last_zxid` is the last zxid recovery reached (the
/// tree's lastProcessedZxid: the snapshot plus every logged txn replayed after it).
///
/// * `currentEpoch` missing → the epoch of `last_zxid`, written (an upgrade from a
///   version without the file).
/// * `currentEpoch` older than that epoch → if `currentEpoch.tmp` exists (a crash during
///   the write) its value is taken and written; otherwise, if `acceptedEpoch` is not older
///   than the last zxid's epoch (a learner's sync cut short before it wrote
///   currentEpoch), it is kept with a warning (Java refuses to start); otherwise an
///   error.
/// * `acceptedEpoch` missing → the epoch of `last_zxid`, written.
/// * `acceptedEpoch` < `currentEpoch` → an error.
pub fn load_epochs(dir: &Path, last_zxid: i64) -> io::Result<Epochs> {
    let epoch_of_zxid = crate::zab::zxid::epoch_of(last_zxid);
    let mut current = match read_epoch(dir, CURRENT_EPOCH)? {
        Some(v) => v,
        None => {
            tracing::info!(
                "{CURRENT_EPOCH} not found! Creating with a reasonable default of {epoch_of_zxid}."
            );
            write_epoch(dir, CURRENT_EPOCH, epoch_of_zxid)?;
            epoch_of_zxid
        }
    };
    let accepted = match read_epoch(dir, ACCEPTED_EPOCH)? {
        Some(v) => v,
        None => {
            tracing::info!(
                "{ACCEPTED_EPOCH} not found! Creating with a reasonable default of {epoch_of_zxid}."
            );
            write_epoch(dir, ACCEPTED_EPOCH, epoch_of_zxid)?;
            epoch_of_zxid
        }
    };
    if epoch_of_zxid > current {
        let tmp = format!("{CURRENT_EPOCH}{TMP_EXTENSION}");
        match read_epoch(dir, &tmp)? {
            Some(v) => {
                tracing::info!("{tmp} found. Setting current epoch to {v}.");
                write_epoch(dir, CURRENT_EPOCH, v)?;
                current = v;
            }
            None if epoch_of_zxid <= accepted => {
                // A learner stopped between making the new epoch's sync txns durable and
                // writing currentEpoch (which it writes only after them, ZOOKEEPER-4643):
                // the state a live learner is in just before its NEWLEADER ACK. Java
                // refuses to start here; keeping the older currentEpoch is safe (votes
                // rank it below members that finished that sync) and the next sync
                // writes the new one.
                tracing::warn!(
                    "The current epoch, {}, is older than the last zxid, {}, but not than \
                     the accepted epoch {}: a sync was cut short before currentEpoch was \
                     written; starting with current epoch {current}",
                    crate::zab::zxid::to_hex(current),
                    crate::zab::zxid::to_hex(last_zxid),
                    crate::zab::zxid::to_hex(accepted)
                );
            }
            None => {
                return Err(invalid(format!(
                    "The current epoch, {}, is older than the last zxid, {last_zxid}",
                    crate::zab::zxid::to_hex(current)
                )));
            }
        }
    }
    if accepted < current {
        return Err(invalid(format!(
            "The accepted epoch, {} is less than the current epoch, {}",
            crate::zab::zxid::to_hex(accepted),
            crate::zab::zxid::to_hex(current)
        )));
    }
    Ok(Epochs { accepted, current })
}

#[cfg(test)]
#[path = "epoch_tests.rs"]
mod tests;
