//! Snapshots, byte-compatible with ZooKeeper's `FileSnap` (written uncompressed; Java's
//! gz/snappy forms are read too, see [`open`]).
//!
//! Layout: FileHeader{"ZKSN", 2, dbid -1}; sessions (i32 count, {i64 id, i32 timeout}*);
//! ACL cache (i32 count, {i64 id, vector<ACL>}*); nodes in pre-order
//! {ustring path ("" for root), buffer data, i64 acl id, StatPersisted}* ended by path "/";
//! seal = i64 Adler32 of every byte so far + ustring "/"; then, when digests are on,
//! {i64 zxid, i32 digest version, i64 digest} + another (cumulative) seal.
//! Owns: encoding/decoding that stream and validating its checksums; string/buffer
//! lengths are held to the caller's field cap (jute.maxbuffer + extrasize for the server).
//! Must never: build the tree itself (nodes are handed to / taken from the caller).

use crate::jute::records::{Acl, StatPersisted};
use crate::jute::{Data, Field};
use bytes::{BufMut, BytesMut};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

pub const SNAP_MAGIC: i32 = 0x5A4B534E; // "ZKSN"
pub const SNAP_VERSION: i32 = 2;
/// ZooKeeper's DigestCalculator.DIGEST_VERSION.
pub const DIGEST_VERSION: i32 = 2;

pub fn snapshot_file_name(zxid: i64) -> String {
    format!("snapshot.{:x}", zxid as u64)
}

/// One node as stored in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapNode {
    /// "" for the root, else the absolute path.
    pub path: String,
    pub data: Data,
    pub acl: i64,
    pub stat: StatPersisted,
}

/// Everything in a snapshot except the nodes (which are streamed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapMeta {
    pub sessions: Vec<(i64, i32)>,
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// (zxid, digest) when the snapshot carries a digest.
    pub digest: Option<(i64, i64)>,
    /// The version of that digest's calculator.
    pub digest_version: i32,
    /// 3.9's last processed zxid after the digest, when the snapshot carries one.
    pub last_zxid: Option<i64>,
}

/// A writer that keeps the running Adler32 of everything written.
struct Sealed<W: Write> {
    w: W,
    adler: adler2::Adler32,
    buf: BytesMut,
}

impl<W: Write> Sealed<W> {
    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.adler.write_slice(&self.buf);
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= 256 * 1024 {
            self.flush_buf()
        } else {
            Ok(())
        }
    }
    fn seal(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        let v = self.adler.checksum() as i64;
        self.buf.put_i64(v);
        self.buf.put_i32(1);
        self.buf.put_u8(b'/');
        self.flush_buf()
    }
}

/// Streams a snapshot out: call `node` for every node in pre-order, then `finish`.
pub struct SnapshotWriter<W: Write> {
    out: Sealed<W>,
}

impl<W: Write> SnapshotWriter<W> {
    pub fn new(w: W, sessions: &[(i64, i32)], acls: &[(i64, Vec<Acl>)]) -> io::Result<Self> {
        let mut out = Sealed {
            w,
            adler: adler2::Adler32::new(),
            buf: BytesMut::with_capacity(512 * 1024),
        };
        let b = &mut out.buf;
        b.put_i32(SNAP_MAGIC);
        b.put_i32(SNAP_VERSION);
        b.put_i64(-1);
        b.put_i32(sessions.len() as i32);
        for (id, to) in sessions {
            b.put_i64(*id);
            b.put_i32(*to);
        }
        b.put_i32(acls.len() as i32);
        for (id, list) in acls {
            b.put_i64(*id);
            list.put(b);
        }
        out.maybe_flush()?;
        Ok(SnapshotWriter { out })
    }

    /// A writer for a body that is already encoded (a SNAP stream's, see `zab::snap`):
    /// only the FileHeader here; the sessions, ACL table and nodes come through
    /// [`raw`](Self::raw), then `finish` (which writes the node list's terminator).
    pub fn for_encoded_body(w: W) -> io::Result<Self> {
        let mut out = Sealed {
            w,
            adler: adler2::Adler32::new(),
            buf: BytesMut::with_capacity(64 * 1024),
        };
        out.buf.put_i32(SNAP_MAGIC);
        out.buf.put_i32(SNAP_VERSION);
        out.buf.put_i64(-1);
        Ok(SnapshotWriter { out })
    }

    /// The inner writer (what was written before the last `raw` is in it).
    pub fn get_ref(&self) -> &W {
        &self.out.w
    }

    pub fn node(
        &mut self,
        path: &str,
        data: &Data,
        acl: i64,
        stat: &StatPersisted,
    ) -> io::Result<()> {
        self.node_bytes(path, data.as_bytes().map(|b| &b[..]), acl, stat)
    }

    /// `node` with the data as bytes (`None` = null).
    pub fn node_bytes(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: i64,
        stat: &StatPersisted,
    ) -> io::Result<()> {
        encode_node(&mut self.out.buf, path, data, acl, stat);
        self.out.maybe_flush()
    }

    /// Append node records already encoded with [`encode_node`] (the fuzzy snapshot's
    /// chunks, serialized on the core and written here on the snapshot thread).
    pub fn raw_nodes(&mut self, encoded: &[u8]) -> io::Result<()> {
        self.raw(encoded)
    }

    /// Append bytes already encoded as this stream's (node records, or a SNAP body's
    /// sessions, ACL table and nodes); written through the checksum at once.
    pub fn raw(&mut self, encoded: &[u8]) -> io::Result<()> {
        self.out.flush_buf()?;
        self.out.adler.write_slice(encoded);
        self.out.w.write_all(encoded)
    }

    /// Terminator, seal, optional digest + seal. Returns the inner writer (flushed).
    pub fn finish(self, digest: Option<(i64, i64)>) -> io::Result<W> {
        self.finish_with_last_zxid(digest, None)
    }

    /// `finish`, then, with `last_zxid`, 3.9's last-processed-zxid trailer + seal
    /// (`DataTree.serializeLastProcessedZxid`, written to snapshot files while
    /// `zookeeper.serializeLastProcessedZxid.enabled` is on; never in a SNAP stream). A
    /// trailer needs the digest section before it: without a digest it is not written.
    pub fn finish_with_last_zxid(
        mut self,
        digest: Option<(i64, i64)>,
        last_zxid: Option<i64>,
    ) -> io::Result<W> {
        crate::jute::JuteWrite::put_ustring(&mut self.out.buf, "/");
        self.out.seal()?;
        if let Some((zxid, d)) = digest {
            self.out.buf.put_i64(zxid);
            self.out.buf.put_i32(DIGEST_VERSION);
            self.out.buf.put_i64(d);
            self.out.seal()?;
            if let Some(z) = last_zxid {
                self.out.buf.put_i64(z);
                self.out.seal()?;
            }
        }
        self.out.w.flush()?;
        Ok(self.out.w)
    }
}

/// Encode one node record as it appears in a snapshot (for [`SnapshotWriter::raw_nodes`]).
pub fn encode_node(
    b: &mut BytesMut,
    path: &str,
    data: Option<&[u8]>,
    acl: i64,
    stat: &StatPersisted,
) {
    crate::jute::JuteWrite::put_ustring(b, path);
    match data {
        Some(d) => {
            b.put_i32(d.len() as i32);
            b.put_slice(d);
        }
        None => b.put_i32(-1),
    }
    b.put_i64(acl);
    stat.put(b);
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapError {
    #[error("io error: {0}")]
    Io(#[from] io::Error),
    #[error("not a ZooKeeper snapshot (bad magic 0x{0:08x})")]
    BadMagic(i32),
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    #[error("snapshot checksum mismatch (CRC corruption)")]
    Checksum,
}

/// Reads a snapshot stream, checking the seals.
struct SnapReader<R: Read> {
    r: R,
    adler: adler2::Adler32,
    /// Largest string/buffer length accepted (Java's `checkLength`).
    max_field: usize,
}

impl<R: Read> SnapReader<R> {
    /// Fill `buf` exactly, through the checksum.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SnapError> {
        self.r.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                SnapError::Malformed("truncated".into())
            } else {
                SnapError::Io(e)
            }
        })?;
        self.adler.write_slice(buf);
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, SnapError> {
        if n <= 64 * 1024 {
            let mut v = vec![0u8; n];
            self.fill(&mut v)?;
            return Ok(v);
        }
        // A large (possibly corrupt) length: grow with what is really there instead of
        // allocating the claimed size up front.
        let mut v = Vec::new();
        (&mut self.r).take(n as u64).read_to_end(&mut v)?;
        if v.len() < n {
            return Err(SnapError::Malformed("truncated".into()));
        }
        self.adler.write_slice(&v);
        Ok(v)
    }
    /// An i64 that may be absent: None at a clean end of the stream.
    fn optional_i64(&mut self) -> Result<Option<i64>, SnapError> {
        let mut b = [0u8; 8];
        if self.r.read(&mut b[..1])? == 0 {
            return Ok(None);
        }
        self.adler.write_slice(&b[..1]);
        self.fill(&mut b[1..])?;
        Ok(Some(i64::from_be_bytes(b)))
    }
    fn i32(&mut self) -> Result<i32, SnapError> {
        let mut a = [0u8; 4];
        self.fill(&mut a)?;
        Ok(i32::from_be_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, SnapError> {
        let mut a = [0u8; 8];
        self.fill(&mut a)?;
        Ok(i64::from_be_bytes(a))
    }
    /// StatPersisted (60 bytes) without intermediate allocations.
    fn stat(&mut self) -> Result<StatPersisted, SnapError> {
        let mut b = [0u8; 60];
        self.fill(&mut b)?;
        let l = |o: usize| {
            i64::from_be_bytes([
                b[o],
                b[o + 1],
                b[o + 2],
                b[o + 3],
                b[o + 4],
                b[o + 5],
                b[o + 6],
                b[o + 7],
            ])
        };
        let i = |o: usize| i32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(StatPersisted {
            czxid: l(0),
            mzxid: l(8),
            ctime: l(16),
            mtime: l(24),
            version: i(32),
            cversion: i(36),
            aversion: i(40),
            ephemeral_owner: l(44),
            pzxid: l(52),
        })
    }
    /// A string/buffer length: -1 is null; other negatives and lengths above the field cap
    /// are errors (Java: `Unreasonable length`).
    fn len(&mut self, what: &str) -> Result<Option<usize>, SnapError> {
        match self.count(what)? {
            Some(n) if n > self.max_field => Err(SnapError::Malformed(format!(
                "{what} length {n} exceeds the limit {} (jute.maxbuffer + \
                 zookeeper.jute.maxbuffer.extrasize)",
                self.max_field
            ))),
            n => Ok(n),
        }
    }
    /// A vector count: -1 is null, other negatives are errors; not held to the field cap
    /// (Java does not check counts; each element is read from the stream anyway).
    fn count(&mut self, what: &str) -> Result<Option<usize>, SnapError> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        usize::try_from(n)
            .map(Some)
            .map_err(|_| SnapError::Malformed(format!("bad {what} length {n}")))
    }
    fn string(&mut self) -> Result<String, SnapError> {
        match self.len("string")? {
            None => Ok(String::new()),
            Some(n) => String::from_utf8(self.bytes(n)?)
                .map_err(|_| SnapError::Malformed("invalid UTF-8 path".into())),
        }
    }
    /// A jute `buffer`, null (length -1) kept as null.
    fn buffer(&mut self) -> Result<Data, SnapError> {
        match self.len("buffer")? {
            None => Ok(Data::NULL),
            Some(n) => Ok(Data::new(self.bytes(n)?)),
        }
    }
    fn check_seal(&mut self) -> Result<(), SnapError> {
        let expect = self.adler.checksum() as i64;
        let got = self.i64()?;
        if got != expect {
            return Err(SnapError::Checksum);
        }
        let slash = self.string()?;
        if slash != "/" {
            return Err(SnapError::Malformed("seal not followed by \"/\"".into()));
        }
        Ok(())
    }
}

/// The field cap of [`read_snapshot`] and [`read_snapshot_into`] (the offline tools); the
/// server passes its configured limit to [`read_snapshot_streaming`].
pub const TOOL_MAX_FIELD: usize = crate::storage::txlog::MAX_ENTRY;

/// Stream a snapshot: `on_node` gets every node in file order. Returns the rest.
pub fn read_snapshot<R: Read>(
    r: R,
    on_node: impl FnMut(SnapNode) -> Result<(), SnapError>,
) -> Result<SnapMeta, SnapError> {
    let mut meta = SnapMeta::default();
    let mut nodes_done = false;
    read_snapshot_into(r, on_node, &mut meta, &mut nodes_done)?;
    Ok(meta)
}

/// `read_snapshot` that fills `meta` as it goes and sets `nodes_done` once the node list's
/// terminator was read, so a caller can still use what was read when a later part (the
/// seals, the digest) fails.
pub fn read_snapshot_into<R: Read>(
    r: R,
    on_node: impl FnMut(SnapNode) -> Result<(), SnapError>,
    meta: &mut SnapMeta,
    nodes_done: &mut bool,
) -> Result<(), SnapError> {
    read_snapshot_streaming(r, TOOL_MAX_FIELD, |_| {}, on_node, meta, nodes_done)
}

/// `read_snapshot_into` that also hands the ACL table to `on_acls` as soon as it is read
/// (before the first node), so a loader can build the tree while nodes stream in.
/// `max_field` caps every string/buffer length (the server passes `JuteLimits::field()`,
/// as Java's `FileSnap` reads through a default `BinaryInputArchive`).
pub fn read_snapshot_streaming<R: Read>(
    r: R,
    max_field: usize,
    on_acls: impl FnOnce(&[(i64, Vec<Acl>)]),
    mut on_node: impl FnMut(SnapNode) -> Result<(), SnapError>,
    meta: &mut SnapMeta,
    nodes_done: &mut bool,
) -> Result<(), SnapError> {
    let mut s = SnapReader {
        r: BufReader::with_capacity(512 * 1024, r),
        adler: adler2::Adler32::new(),
        max_field,
    };
    let magic = s.i32()?;
    if magic != SNAP_MAGIC {
        return Err(SnapError::BadMagic(magic));
    }
    let _version = s.i32()?;
    let _dbid = s.i64()?;
    let n = s.i32()?;
    if n < 0 {
        return Err(SnapError::Malformed(format!("negative session count {n}")));
    }
    for _ in 0..n {
        let id = s.i64()?;
        let to = s.i32()?;
        meta.sessions.push((id, to));
    }
    let n = s.i32()?;
    if n < 0 {
        return Err(SnapError::Malformed(format!("negative ACL cache size {n}")));
    }
    for _ in 0..n {
        let id = s.i64()?;
        let count = s.count("acl vector")?.unwrap_or(0);
        let mut list = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let perms = s.i32()?;
            let scheme = s.string()?;
            let idv = s.string()?;
            list.push(Acl {
                perms,
                id: crate::jute::records::Id { scheme, id: idv },
            });
        }
        meta.acls.push((id, list));
    }
    on_acls(&meta.acls);
    loop {
        let path = s.string()?;
        if path == "/" {
            break;
        }
        let data = s.buffer()?;
        let acl = s.i64()?;
        let stat = s.stat()?;
        on_node(SnapNode {
            path,
            data,
            acl,
            stat,
        })?;
    }
    *nodes_done = true;
    s.check_seal()?;
    // Optional digest section (3.6+), then the optional 3.9 last-processed-zxid trailer.
    let Some(zxid) = s.optional_i64()? else {
        return Ok(());
    };
    let digest_version = s.i32()?;
    let digest = s.i64()?;
    s.check_seal()?;
    meta.digest = Some((zxid, digest));
    meta.digest_version = digest_version;
    if let Some(last) = s.optional_i64()? {
        s.check_seal()?;
        meta.last_zxid = Some(last);
    }
    Ok(())
}

/// xerial snappy-java's stream header (`SnappyOutputStream`, what Java's
/// `snapshot.compression.method=snappy` writes): magic, then version and compatible version.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Reads a xerial snappy-java stream: the 16-byte header, then blocks of
/// `i32 length + raw snappy block`.
struct XerialSnappyReader<R: Read> {
    inner: R,
    block: Vec<u8>,
    pos: usize,
    decoder: snap::raw::Decoder,
}

impl<R: Read> XerialSnappyReader<R> {
    fn new(mut inner: R) -> io::Result<Self> {
        let mut h = [0u8; 16];
        inner.read_exact(&mut h)?;
        if h[..8] != XERIAL_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a snappy-java stream",
            ));
        }
        Ok(XerialSnappyReader {
            inner,
            block: Vec::new(),
            pos: 0,
            decoder: snap::raw::Decoder::new(),
        })
    }
}

impl<R: Read> Read for XerialSnappyReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.block.len() {
            let mut len = [0u8; 4];
            match self.inner.read(&mut len[..1])? {
                0 => return Ok(0),
                _ => self.inner.read_exact(&mut len[1..])?,
            }
            let n = i32::from_be_bytes(len);
            if n < 0 || n as usize > crate::storage::txlog::MAX_ENTRY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad snappy block length {n}"),
                ));
            }
            // Read what is there rather than allocating the claimed length up front: a
            // truncated file claiming 256 MiB must not cost 256 MiB.
            let mut compressed = Vec::new();
            (&mut self.inner)
                .take(n as u64)
                .read_to_end(&mut compressed)?;
            if compressed.len() < n as usize {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // The block's header claims its decompressed length (up to 4 GiB) and
            // `decompress_vec` allocates that much before checking the data: hold it to
            // the same cap (seen while writing the fuzz/ `snapshot` target; snappy-java writes
            // 32 KiB blocks).
            let out_len = snap::raw::decompress_len(&compressed)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if out_len > crate::storage::txlog::MAX_ENTRY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("snappy block decompresses to {out_len} bytes"),
                ));
            }
            self.block = self
                .decoder
                .decompress_vec(&compressed)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            self.pos = 0;
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Open a snapshot file for reading, decompressing `.gz` (gzip) and `.snappy`
/// (snappy-java stream) files as Java's SnapStream does.
pub fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let f = std::fs::File::open(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    Ok(if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(f)))
    } else if name.ends_with(".snappy") {
        Box::new(XerialSnappyReader::new(BufReader::new(f))?)
    } else {
        Box::new(f)
    })
}

/// Whether the file is one of Java's compressed snapshot forms.
pub fn is_compressed(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".gz") || n.ends_with(".snappy"))
}

/// Quick validity check ZooKeeper applies before trying a snapshot: at least 10 bytes and
/// the file ends with i32 1 + '/' (the last seal's path).
pub fn looks_complete(path: &Path) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len < 10 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - 5))?;
    let mut b = [0u8; 5];
    f.read_exact(&mut b)?;
    Ok(b == [0, 0, 0, 1, b'/'])
}

/// Create `snapshot.<zxid>` for writing. Like ZooKeeper we write the final name directly;
/// a snapshot cut short by a crash fails `looks_complete`/its seal and an older one is used.
pub fn create_file(
    dir: &Path,
    zxid: i64,
) -> io::Result<(std::path::PathBuf, BufWriter<std::fs::File>)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(snapshot_file_name(zxid));
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    Ok((path, BufWriter::with_capacity(1 << 20, f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::Id;

    fn stat(z: i64) -> StatPersisted {
        StatPersisted {
            czxid: z,
            mzxid: z,
            ctime: 1,
            mtime: 2,
            version: 0,
            cversion: 1,
            aversion: 0,
            ephemeral_owner: 0,
            pzxid: z,
        }
    }

    fn sample(digest: Option<(i64, i64)>) -> Vec<u8> {
        let acls = vec![(
            1,
            vec![Acl {
                perms: 1,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
        )];
        let mut w = SnapshotWriter::new(Vec::new(), &[(0x100, 30000)], &acls).unwrap();
        w.node("", &Data::from_static(b""), -1, &stat(0)).unwrap();
        w.node("/a", &Data::from_static(b"hello"), 1, &stat(5))
            .unwrap();
        w.node("/zookeeper", &Data::from_static(b""), -1, &stat(0))
            .unwrap();
        w.finish(digest).unwrap()
    }

    #[test]
    fn round_trip_with_and_without_digest() {
        for digest in [None, Some((7, 0x1234_5678_9abc))] {
            let bytes = sample(digest);
            let mut nodes = Vec::new();
            let meta = read_snapshot(&bytes[..], |n| {
                nodes.push(n);
                Ok(())
            })
            .unwrap();
            assert_eq!(meta.sessions, vec![(0x100, 30000)]);
            assert_eq!(meta.acls.len(), 1);
            assert_eq!(meta.digest, digest);
            assert_eq!(
                nodes.iter().map(|n| n.path.as_str()).collect::<Vec<_>>(),
                vec!["", "/a", "/zookeeper"]
            );
            assert_eq!(nodes[1].data.as_ref(), b"hello");
            assert_eq!(nodes[1].stat, stat(5));
            assert_eq!(&bytes[bytes.len() - 5..], &[0, 0, 0, 1, b'/']);
        }
    }

    /// Null data is written as buffer length -1 (as Java's DataNode.serialize) and read
    /// back as null; empty data stays empty.
    #[test]
    fn null_and_empty_data_round_trip() {
        let mut w = SnapshotWriter::new(Vec::new(), &[], &[]).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        w.node("/n", &Data::NULL, -1, &stat(1)).unwrap();
        w.node("/e", &Data::empty(), -1, &stat(2)).unwrap();
        w.node("/d", &Data::from_static(b"x"), -1, &stat(3))
            .unwrap();
        let bytes = w.finish(None).unwrap();
        // Header 16 + sessions 4 + acls 4 + root (4 + 4 + 8 + 60), then "/n" and its data.
        let at = 16 + 4 + 4 + 76 + 4 + 2;
        assert_eq!(&bytes[at - 2..at + 4], b"/n\xff\xff\xff\xff");
        let mut nodes = Vec::new();
        read_snapshot(&bytes[..], |n| {
            nodes.push(n);
            Ok(())
        })
        .unwrap();
        let data: Vec<_> = nodes.iter().map(|n| n.data.clone()).collect();
        assert_eq!(
            data,
            vec![
                Data::empty(),
                Data::NULL,
                Data::empty(),
                Data::from_static(b"x")
            ]
        );
        assert!(nodes[1].data.is_null() && !nodes[2].data.is_null());
    }

    /// 3.9's last-processed-zxid trailer: written after the digest with its own seal,
    /// read back; a flipped byte in it fails the seal; Java 3.8's reader stops before it.
    #[test]
    fn last_zxid_trailer_round_trips_under_its_seal() {
        let acls: Vec<(i64, Vec<Acl>)> = Vec::new();
        let mut w = SnapshotWriter::new(Vec::new(), &[], &acls).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        let bytes = w
            .finish_with_last_zxid(Some((0x105, 99)), Some(0x107))
            .unwrap();
        let mut w = SnapshotWriter::new(Vec::new(), &[], &acls).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        let without = w.finish(Some((0x105, 99))).unwrap();
        // The trailer is i64 + seal (i64 Adler32 + ustring "/").
        assert_eq!(bytes.len(), without.len() + 8 + 13);
        assert_eq!(bytes[..without.len()], without[..]);
        let meta = read_snapshot(&bytes[..], |_| Ok(())).unwrap();
        assert_eq!(meta.digest, Some((0x105, 99)));
        assert_eq!(meta.last_zxid, Some(0x107));
        let mut bad = bytes.clone();
        let at = bad.len() - 13 - 1;
        bad[at] ^= 1;
        assert!(read_snapshot(&bad[..], |_| Ok(())).is_err());
        // No digest, no trailer (Java writes the trailer only after a digest section).
        let mut w = SnapshotWriter::new(Vec::new(), &[], &acls).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        let plain = w.finish_with_last_zxid(None, Some(0x107)).unwrap();
        let meta = read_snapshot(&plain[..], |_| Ok(())).unwrap();
        assert_eq!((meta.digest, meta.last_zxid), (None, None));
    }

    /// Strings and buffers are held to the reader's field cap (Java's `checkLength` with
    /// jute.maxbuffer + extrasize); vector counts are not.
    #[test]
    fn field_cap_is_the_configured_one() {
        let big = vec![b'q'; 3_000_000];
        let mut w = SnapshotWriter::new(Vec::new(), &[], &[]).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        w.node("/big", &Data::new(big.clone()), -1, &stat(1))
            .unwrap();
        let bytes = w.finish(Some((1, 2))).unwrap();
        let read = |cap: usize| {
            let mut nodes = Vec::new();
            let mut meta = SnapMeta::default();
            let mut done = false;
            read_snapshot_streaming(
                &bytes[..],
                cap,
                |_| {},
                |n| {
                    nodes.push(n);
                    Ok(())
                },
                &mut meta,
                &mut done,
            )
            .map(|()| nodes)
        };
        let default = crate::jute::JuteLimits::DEFAULT.field();
        match read(default) {
            Err(SnapError::Malformed(m)) => {
                assert!(m.contains("3000000") && m.contains("jute.maxbuffer"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(read(big.len() - 1).is_err());
        let nodes = read(big.len()).unwrap();
        assert_eq!(nodes[1].data.as_ref(), &big[..]);
        let four = crate::jute::JuteLimits::new(4_194_304, 4_194_304).field();
        assert_eq!(read(four).unwrap().len(), 2);
        // the tools' reader (read_snapshot) uses its own larger cap
        assert!(read_snapshot(&bytes[..], |_| Ok(())).is_ok());
        // an ACL vector longer than a tiny field cap still reads (counts are not lengths)
        let acl = Acl {
            perms: 1,
            id: Id {
                scheme: "w".into(),
                id: "a".into(),
            },
        };
        let mut w = SnapshotWriter::new(Vec::new(), &[], &[(1, vec![acl; 2000])]).unwrap();
        w.node("", &Data::empty(), -1, &stat(0)).unwrap();
        let bytes = w.finish(None).unwrap();
        let mut meta = SnapMeta::default();
        read_snapshot_streaming(&bytes[..], 100, |_| {}, |_| Ok(()), &mut meta, &mut false)
            .unwrap();
        assert_eq!(meta.acls[0].1.len(), 2000);
    }

    #[test]
    fn gzip_and_snappy_java_streams_decompress() {
        use std::io::Write as _;
        let raw = sample(Some((7, 99)));
        let d = tempfile::tempdir().unwrap();
        let gz = d.path().join("snapshot.7.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&raw).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        // snappy-java stream: header, then length-prefixed raw blocks (two blocks here).
        let mut sn = XERIAL_MAGIC.to_vec();
        sn.extend_from_slice(&1i32.to_be_bytes());
        sn.extend_from_slice(&1i32.to_be_bytes());
        let mid = raw.len() / 2;
        for part in [&raw[..mid], &raw[mid..]] {
            let c = snap::raw::Encoder::new().compress_vec(part).unwrap();
            sn.extend_from_slice(&(c.len() as i32).to_be_bytes());
            sn.extend_from_slice(&c);
        }
        let snp = d.path().join("snapshot.7.snappy");
        std::fs::write(&snp, sn).unwrap();
        for p in [gz, snp] {
            assert!(is_compressed(&p));
            let mut n = 0;
            let meta = read_snapshot(open(&p).unwrap(), |_| {
                n += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!((n, meta.digest), (3, Some((7, 99))), "{}", p.display());
        }
    }

    #[test]
    fn snappy_block_lengths_are_checked_before_allocating() {
        let header = |v: &mut Vec<u8>| {
            v.extend_from_slice(&XERIAL_MAGIC);
            v.extend_from_slice(&1i32.to_be_bytes());
            v.extend_from_slice(&1i32.to_be_bytes());
        };
        // A 5-byte block whose varint header claims 4 GiB - 1 decompressed: refused
        // before `decompress_vec` allocates it.
        let mut huge = Vec::new();
        header(&mut huge);
        huge.extend_from_slice(&5i32.to_be_bytes());
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        // A block claiming 256 MiB of compressed bytes in a file that has 3.
        let mut short = Vec::new();
        header(&mut short);
        short.extend_from_slice(&(256 * 1024 * 1024i32).to_be_bytes());
        short.extend_from_slice(b"abc");
        let d = tempfile::tempdir().unwrap();
        for (name, bytes, kind, msg) in [
            (
                "snapshot.1.snappy",
                huge,
                io::ErrorKind::InvalidData,
                "decompresses to 4294967295 bytes",
            ),
            ("snapshot.2.snappy", short, io::ErrorKind::UnexpectedEof, ""),
        ] {
            let p = d.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let mut out = Vec::new();
            let e = open(&p).unwrap().read_to_end(&mut out).unwrap_err();
            assert_eq!(e.kind(), kind, "{name}: {e}");
            assert!(e.to_string().contains(msg), "{name}: {e}");
        }
    }

    #[test]
    fn every_single_bit_flip_or_truncation_is_detected() {
        let bytes = sample(Some((7, 99)));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(
                read_snapshot(&b[..], |_| Ok(())).is_err(),
                "flip at {i} undetected"
            );
        }
        for cut in 0..bytes.len() - 1 {
            // A cut inside the optional digest section after the first seal is the only
            // place a prefix can still parse: it must then not claim a digest.
            if let Ok(m) = read_snapshot(&bytes[..cut], |_| Ok(())) {
                assert_eq!(m.digest, None, "cut at {cut}");
            }
        }
    }
}
