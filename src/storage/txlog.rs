//! The transaction log, byte-compatible with ZooKeeper's `FileTxnLog`.
//!
//! File: FileHeader{magic "ZKLG", version 2, dbid 0}, then entries of
//! `i64 adler32(txn) | i32 len | txn bytes | 0x42 ('B')`. Files are preallocated with zeros
//! in `prealloc` steps so fdatasync does not have to update the size; readers stop at EOF,
//! at a zero length (padding) or at a partial last entry (a torn write after a crash).
//! Owns: appending, group fsync, rolling, reading entries back. Must never: interpret the
//! txn bytes beyond reading the zxid from the TxnHeader.

use bytes::{BufMut, Bytes, BytesMut};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const LOG_MAGIC: i32 = 0x5A4B4C47; // "ZKLG"
pub const LOG_VERSION: i32 = 2;
pub const HEADER_LEN: u64 = 16;
/// ZooKeeper's default preallocation step (zookeeper.preAllocSize = 65536 KB).
pub const DEFAULT_PREALLOC: u64 = 64 * 1024 * 1024;
/// Largest entry the offline tools (and the writer's check of a left-over file) accept.
/// Recovery uses the configured limit instead ([`LogFileReader::open_with_limit`]).
pub const MAX_ENTRY: usize = 256 * 1024 * 1024;

/// The zxid of a txn entry: TxnHeader is clientId i64, cxid i32, zxid i64, ...
pub fn entry_zxid(txn: &[u8]) -> Option<i64> {
    let b: [u8; 8] = txn.get(12..20)?.try_into().ok()?;
    Some(i64::from_be_bytes(b))
}

pub fn log_file_name(zxid: i64) -> String {
    format!("log.{:x}", zxid as u64)
}

struct OpenLog {
    file: File,
    path: PathBuf,
    /// Bytes written (and handed to the OS) so far.
    pos: u64,
    /// Current preallocated size.
    allocated: u64,
}

/// Appends txns to the current log file; `commit` makes them durable.
pub struct TxnLogWriter {
    dir: PathBuf,
    prealloc: u64,
    force_sync: bool,
    current: Option<OpenLog>,
    buf: BytesMut,
    /// zxid of the last appended entry.
    last_zxid: i64,
}

impl TxnLogWriter {
    /// `dir` is the `version-2` directory (created if missing). No file is opened until
    /// the first append, which starts `log.<its zxid>` — as ZooKeeper does after a restart.
    pub fn open(dir: &Path, prealloc: u64, force_sync: bool) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(TxnLogWriter {
            dir: dir.to_path_buf(),
            prealloc: prealloc.max(4096),
            force_sync,
            current: None,
            buf: BytesMut::with_capacity(64 * 1024),
            last_zxid: 0,
        })
    }

    /// Queue one entry (serialized TxnHeader + txn [+ digest]). Not durable until `commit`.
    pub fn append(&mut self, txn: &[u8]) -> io::Result<()> {
        let zxid = entry_zxid(txn).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "txn shorter than a TxnHeader")
        })?;
        if self.current.is_none() {
            self.start_file(zxid)?;
        }
        self.buf.put_i64(adler2::adler32_slice(txn) as i64);
        self.buf.put_i32(txn.len() as i32);
        self.buf.put_slice(txn);
        self.buf.put_u8(b'B');
        self.last_zxid = zxid;
        Ok(())
    }

    fn start_file(&mut self, zxid: i64) -> io::Result<()> {
        let path = self.dir.join(log_file_name(zxid));
        if path.exists() {
            // A crash right after the file was created (or mid-way through its first
            // entry) leaves `log.<zxid>` without a complete entry, and recovery then hands
            // out that zxid again. Java's FileTxnLog simply truncates the file; we do too,
            // but never over a complete entry (that would mean recovery missed it).
            let mut r = LogFileReader::open(&path)
                .map_err(|e| io::Error::other(format!("{e}; not overwriting it")))?;
            if r.next_entry().ok().flatten().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} already holds txns; refusing to overwrite it",
                        path.display()
                    ),
                ));
            }
            tracing::warn!(
                "{}: left without a complete txn by a crash; starting it again",
                path.display()
            );
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let mut h = BytesMut::with_capacity(16);
        h.put_i32(LOG_MAGIC);
        h.put_i32(LOG_VERSION);
        h.put_i64(0);
        file.write_all(&h)?;
        self.current = Some(OpenLog {
            file,
            path,
            pos: HEADER_LEN,
            allocated: HEADER_LEN,
        });
        // The new file's directory entry must be durable too.
        if self.force_sync {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Write everything queued and fsync (unless forceSync=no). Returns the last zxid
    /// now durable, or None if nothing was queued.
    pub fn commit(&mut self) -> io::Result<Option<i64>> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(log) = self.current.as_mut() else {
            return Ok(None);
        };
        let end = log.pos + self.buf.len() as u64;
        if end + 4096 > log.allocated {
            // Extend with zeros (sparse) in prealloc steps, as FilePadding does.
            let mut size = log.allocated;
            while end + 4096 > size {
                size += self.prealloc;
            }
            log.file.set_len(size)?;
            log.allocated = size;
        }
        log.file.seek(SeekFrom::Start(log.pos))?;
        log.file.write_all(&self.buf)?;
        log.pos = end;
        self.buf.clear();
        if self.force_sync {
            log.file.sync_data()?;
        }
        Ok(Some(self.last_zxid))
    }

    /// Commit and close the current file; the next append starts a new one.
    pub fn roll(&mut self) -> io::Result<()> {
        self.commit()?;
        self.current = None;
        Ok(())
    }

    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|l| l.path.as_path())
    }
    /// Bytes in the current file (for snapSizeLimit).
    pub fn current_size(&self) -> u64 {
        self.current.as_ref().map(|l| l.pos).unwrap_or(0) + self.buf.len() as u64
    }
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: io error: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not a ZooKeeper txn log (bad magic 0x{magic:08x})")]
    BadMagic { path: String, magic: i32 },
    #[error("{path}: CRC check failed for the entry at offset {offset}")]
    Checksum { path: String, offset: u64 },
    #[error(
        "{path}: entry at offset {offset} has invalid length {len} (negative, or above the \
         limit of jute.maxbuffer + zookeeper.jute.maxbuffer.extrasize)"
    )]
    BadLength { path: String, offset: u64, len: i64 },
    #[error("{path}: entry at offset {offset} is too short for a TxnHeader")]
    ShortEntry { path: String, offset: u64 },
}

/// How a log file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// EOF or zero padding after the last complete entry.
    Clean,
    /// A partial entry (torn write) starting at this offset.
    Torn(u64),
}

/// Reads the entries of one log file in order.
pub struct LogFileReader {
    path: String,
    rd: BufReader<File>,
    offset: u64,
    end: Option<LogEnd>,
    /// Largest entry length accepted; a larger one is an error, as Java's `checkLength`.
    max_entry: usize,
}

impl LogFileReader {
    /// Open with the tools' cap ([`MAX_ENTRY`]).
    pub fn open(path: &Path) -> Result<Self, LogError> {
        Self::open_with_limit(path, MAX_ENTRY)
    }

    /// Open with `max_entry` as the entry-length cap. Java reads an entry as a jute buffer
    /// (`Util.readTxnBytes`), so the server passes `JuteLimits::field()`: jute.maxbuffer +
    /// zookeeper.jute.maxbuffer.extrasize.
    pub fn open_with_limit(path: &Path, max_entry: usize) -> Result<Self, LogError> {
        let p = path.display().to_string();
        let io = |source| LogError::Io {
            path: p.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut rd = BufReader::with_capacity(256 * 1024, file);
        let mut h = [0u8; 16];
        match rd.read_exact(&mut h) {
            Ok(()) => {}
            // An empty/short file holds no entries (crash right after creation).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(LogFileReader {
                    path: p,
                    rd,
                    offset: 0,
                    end: Some(LogEnd::Clean),
                    max_entry,
                });
            }
            Err(e) => return Err(io(e)),
        }
        let magic = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if magic != LOG_MAGIC {
            return Err(LogError::BadMagic { path: p, magic });
        }
        Ok(LogFileReader {
            path: p,
            rd,
            offset: HEADER_LEN,
            end: None,
            max_entry,
        })
    }

    /// How the file ended (known once `next_entry` returned `Ok(None)`).
    pub fn end(&self) -> Option<LogEnd> {
        self.end
    }

    /// The byte offset just past the last complete entry returned (the header's end
    /// before the first): where truncating keeps exactly the entries read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's path as given to `open` (for messages).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next complete entry's txn bytes, `Ok(None)` at the end of the entries.
    pub fn next_entry(&mut self) -> Result<Option<Bytes>, LogError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let start = self.offset;
        let mut head = [0u8; 12];
        match self.fill(&mut head)? {
            12 => {}
            0 => return self.finish(start, true),
            _ => return self.finish(start, false),
        }
        let crc = i64::from_be_bytes(head[0..8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if len == 0 {
            // Zero padding: the end of what was written.
            self.end = Some(LogEnd::Clean);
            return Ok(None);
        }
        if len < 0 || len as usize > self.max_entry {
            return Err(LogError::BadLength {
                path: self.path.clone(),
                offset: start,
                len: len as i64,
            });
        }
        let mut body = vec![0u8; len as usize + 1];
        if self.fill(&mut body)? < body.len() {
            return self.finish(start, false);
        }
        if body[len as usize] != b'B' {
            return self.finish(start, false);
        }
        body.truncate(len as usize);
        if adler2::adler32_slice(&body) as i64 != crc {
            return Err(LogError::Checksum {
                path: self.path.clone(),
                offset: start,
            });
        }
        self.offset = start + 12 + len as u64 + 1;
        Ok(Some(Bytes::from(body)))
    }

    fn finish(&mut self, start: u64, at_boundary: bool) -> Result<Option<Bytes>, LogError> {
        self.end = Some(if at_boundary {
            LogEnd::Clean
        } else {
            LogEnd::Torn(start)
        });
        Ok(None)
    }

    /// Fill `buf`; returns how many bytes were read (less than its length at EOF).
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, LogError> {
        let mut got = 0;
        while got < buf.len() {
            match self.rd.read(&mut buf[got..]) {
                Ok(0) => return Ok(got),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(LogError::Io {
                        path: self.path.clone(),
                        source: e,
                    });
                }
            }
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(zxid: i64, payload: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        b.put_i64(0x0100_0000_0000_0001);
        b.put_i32(1);
        b.put_i64(zxid);
        b.put_i64(1_700_000_000_000);
        b.put_i32(1);
        b.put_slice(payload);
        b.to_vec()
    }

    #[test]
    fn append_commit_read_back() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), 1 << 20, true).unwrap();
        for z in 1..=100 {
            w.append(&txn(z, format!("payload-{z}").as_bytes()))
                .unwrap();
            if z % 10 == 0 {
                assert_eq!(w.commit().unwrap(), Some(z));
            }
        }
        let path = d.path().join("log.1");
        assert_eq!(w.current_path(), Some(path.as_path()));
        // Preallocated: the file is bigger than what was written.
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            HEADER_LEN + (1 << 20)
        );
        let mut r = LogFileReader::open(&path).unwrap();
        let mut n = 0;
        while let Some(e) = r.next_entry().unwrap() {
            n += 1;
            assert_eq!(entry_zxid(&e), Some(n));
        }
        assert_eq!(n, 100);
        assert_eq!(r.end(), Some(LogEnd::Clean));
    }

    #[test]
    fn roll_starts_a_file_named_by_the_next_zxid() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), 1 << 16, false).unwrap();
        w.append(&txn(1, b"a")).unwrap();
        w.roll().unwrap();
        w.append(&txn(0x3d, b"b")).unwrap();
        w.commit().unwrap();
        let files = crate::storage::list_by_zxid(d.path(), "log").unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|(_, p)| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["log.1", "log.3d"]);
    }

    #[test]
    fn torn_tail_ends_reading_and_bit_flip_is_a_checksum_error() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), 4096, true).unwrap();
        for z in 1..=3 {
            w.append(&txn(z, b"0123456789")).unwrap();
        }
        w.commit().unwrap();
        let path = d.path().join("log.1");
        let entry_len = 12 + txn(1, b"0123456789").len() as u64 + 1;
        // Torn: cut the file in the middle of the third entry.
        let torn = d.path().join("torn");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&torn, &bytes[..(HEADER_LEN + 2 * entry_len + 7) as usize]).unwrap();
        let mut r = LogFileReader::open(&torn).unwrap();
        assert!(r.next_entry().unwrap().is_some());
        assert!(r.next_entry().unwrap().is_some());
        assert!(r.next_entry().unwrap().is_none());
        assert_eq!(r.end(), Some(LogEnd::Torn(HEADER_LEN + 2 * entry_len)));
        // Bit flip inside the second entry's txn bytes.
        let mut flipped = bytes.clone();
        flipped[(HEADER_LEN + entry_len + 12 + 5) as usize] ^= 0x10;
        let f = d.path().join("flipped");
        std::fs::write(&f, &flipped).unwrap();
        let mut r = LogFileReader::open(&f).unwrap();
        assert!(r.next_entry().unwrap().is_some());
        assert!(matches!(r.next_entry(), Err(LogError::Checksum { .. })));
    }

    #[test]
    fn a_log_left_empty_by_a_crash_is_started_again_but_never_one_with_txns() {
        let d = tempfile::tempdir().unwrap();
        // Crash after the header (and preallocation) but before the first entry.
        let mut w = TxnLogWriter::open(d.path(), 4096, true).unwrap();
        w.append(&txn(5, b"lost")).unwrap();
        drop(w); // never committed: the file holds the header only
        let path = d.path().join("log.5");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(HEADER_LEN + 4096)
            .unwrap();
        let mut w = TxnLogWriter::open(d.path(), 4096, true).unwrap();
        w.append(&txn(5, b"again")).unwrap();
        w.commit().unwrap();
        drop(w);
        let mut r = LogFileReader::open(&path).unwrap();
        assert_eq!(&r.next_entry().unwrap().unwrap()[32..], b"again");
        assert!(r.next_entry().unwrap().is_none());
        // A file that holds a complete entry is never overwritten.
        let mut w = TxnLogWriter::open(d.path(), 4096, true).unwrap();
        assert!(w.append(&txn(5, b"clobber")).is_err());
        let mut r = LogFileReader::open(&path).unwrap();
        assert_eq!(&r.next_entry().unwrap().unwrap()[32..], b"again");
    }

    #[test]
    fn garbage_files_are_errors_not_panics() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.1");
        std::fs::write(&p, b"not a log at all, definitely not").unwrap();
        assert!(matches!(
            LogFileReader::open(&p),
            Err(LogError::BadMagic { .. })
        ));
        let mut bytes = BytesMut::new();
        bytes.put_i32(LOG_MAGIC);
        bytes.put_i32(2);
        bytes.put_i64(0);
        bytes.put_i64(0);
        bytes.put_i32(-5);
        std::fs::write(&p, &bytes).unwrap();
        let mut r = LogFileReader::open(&p).unwrap();
        assert!(matches!(r.next_entry(), Err(LogError::BadLength { .. })));
    }

    /// The entry-length cap is the one the reader was opened with (Java: `checkLength`
    /// on the entry buffer, jute.maxbuffer + extrasize): an entry of exactly the cap reads,
    /// one byte more is a BadLength error, not a torn tail.
    #[test]
    fn entry_length_cap_is_the_configured_one() {
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), 4096, false).unwrap();
        let entry = txn(1, &vec![7u8; 3_000_000]);
        let n = entry.len();
        w.append(&entry).unwrap();
        w.commit().unwrap();
        let path = d.path().join("log.1");
        let mut r = LogFileReader::open_with_limit(&path, n).unwrap();
        assert_eq!(r.next_entry().unwrap().unwrap().len(), n);
        assert!(r.next_entry().unwrap().is_none());
        assert_eq!(r.end(), Some(LogEnd::Clean));
        let mut r = LogFileReader::open_with_limit(&path, n - 1).unwrap();
        match r.next_entry() {
            Err(LogError::BadLength { len, offset, .. }) => {
                assert_eq!((len, offset), (n as i64, HEADER_LEN))
            }
            other => panic!("{other:?}"),
        }
        // Java's default limits (2 × 0xfffff) refuse it; 4 MiB ones accept it.
        let default = crate::jute::JuteLimits::DEFAULT.field();
        assert!(
            LogFileReader::open_with_limit(&path, default)
                .unwrap()
                .next_entry()
                .is_err()
        );
        let four = crate::jute::JuteLimits::new(4_194_304, 4_194_304).field();
        assert!(
            LogFileReader::open_with_limit(&path, four)
                .unwrap()
                .next_entry()
                .unwrap()
                .is_some()
        );
    }
}
