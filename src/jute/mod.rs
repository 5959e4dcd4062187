//! Jute: ZooKeeper's binary record encoding, hand-written over `bytes`.
//!
//! Owns: the primitive encoders/decoders (big-endian ints, bool, ustring, buffer, vector)
//! and the `Record` trait every wire/disk record implements.
//! Must never: know about sockets, tokio, sessions or the tree; panic on malformed input.
//! Every length read from the wire is checked against the bytes actually present (and,
//! for readers made with [`Reader::with_limits`], against Java's `checkLength` cap) before
//! anything is allocated. Limits travel with the reader; there is no process-wide setting.

pub mod records;
pub mod txn;

#[cfg(test)]
mod tests;

use bytes::{BufMut, Bytes, BytesMut};

/// The length limits of Java's `BinaryInputArchive` for one configuration.
///
/// Java reads two system properties once per JVM: `jute.maxbuffer` (`maxBuffer`, default
/// 0xfffff) and `zookeeper.jute.maxbuffer.extrasize` (default = maxBuffer, raised to 1024
/// if below). They are used as:
/// - [`JuteLimits::packet`]: a client frame's length prefix (`NIOServerCnxn.readLength`,
///   `len < 0 || len > maxBuffer` closes the connection);
/// - [`JuteLimits::field`]: `checkLength` on every ustring/buffer length an archive reads
///   (`len < 0 || len > maxBuffer + extraMaxBuffer`, the sum saturating at
///   `Integer.MAX_VALUE` since 3.8.1; vector counts are not checked). Client requests,
///   txn-log entries (`Util.readTxnBytes` reads the entry as a buffer), the txns inside
///   them (`SerializeUtils.deserializeTxn`) and snapshots (`FileSnap`/`SnapStream`) all go
///   through default archives, so all of them get this same cap.
///
/// For client requests the field cap never bites: a field lies inside its frame, the frame
/// is at most `packet` bytes and `field` ≥ `packet` + 1024. It does bite for streams
/// (snapshots, log entries), where the bytes are not already bounded by a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JuteLimits {
    max_buffer: usize,
    extra: usize,
}

impl JuteLimits {
    /// Java's defaults: jute.maxbuffer = extrasize = 0xfffff (field cap 2097150).
    pub const DEFAULT: JuteLimits = JuteLimits {
        max_buffer: 0xfffff,
        extra: 0xfffff,
    };

    /// `jute.maxbuffer` and `zookeeper.jute.maxbuffer.extrasize` as configured (the extra
    /// size is raised to 1024 as Java does).
    pub fn new(max_buffer: usize, extra: usize) -> JuteLimits {
        JuteLimits {
            max_buffer,
            extra: extra.max(1024),
        }
    }

    /// Largest client frame (`jute.maxbuffer`).
    pub fn packet(self) -> usize {
        self.max_buffer
    }

    /// Largest ustring/buffer length (`maxBuffer + extraMaxBuffer`, at most `i32::MAX`).
    pub const fn field(self) -> usize {
        let sum = self.max_buffer.saturating_add(self.extra);
        if sum > i32::MAX as usize {
            i32::MAX as usize
        } else {
            sum
        }
    }
}

impl Default for JuteLimits {
    fn default() -> Self {
        JuteLimits::DEFAULT
    }
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JuteError {
    #[error("unexpected end of input while reading {0}")]
    Eof(&'static str),
    #[error("invalid length {len} for {what}")]
    BadLength { what: &'static str, len: i64 },
    #[error("invalid UTF-8 in string")]
    BadUtf8,
    #[error("invalid value for {what}: {value}")]
    BadValue { what: &'static str, value: i64 },
}

pub type Result<T> = std::result::Result<T, JuteError>;

/// A cursor over an immutable byte buffer. Buffers decoded from it are exact-size copies.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
    /// Largest ustring/buffer length accepted (Java's `checkLength`).
    max_field: usize,
}

impl Reader {
    /// A reader whose lengths are bounded only by the bytes present. For a buffer already
    /// bounded by the configured limits (a client frame ≤ jute.maxbuffer, a log entry ≤
    /// the entry limit) this accepts exactly what Java's archive accepts, since Java's
    /// field cap is larger than the buffer (see [`JuteLimits`]).
    pub fn new(buf: Bytes) -> Self {
        Reader {
            buf,
            pos: 0,
            max_field: usize::MAX,
        }
    }
    /// A reader that also refuses ustring/buffer lengths above `limits.field()` (Java's
    /// `checkLength`), even when that many bytes are present.
    pub fn with_limits(buf: Bytes, limits: JuteLimits) -> Self {
        Reader {
            buf,
            pos: 0,
            max_field: limits.field(),
        }
    }
    pub fn from_slice(s: &[u8]) -> Self {
        Reader::new(Bytes::copy_from_slice(s))
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    /// The bytes not yet consumed (zero-copy).
    pub fn rest(&self) -> Bytes {
        self.buf.slice(self.pos..)
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8]> {
        if self.remaining() < n {
            return Err(JuteError::Eof(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn read_u8(&mut self) -> Result<u8> {
        Ok(self.take(1, "byte")?[0])
    }
    pub fn read_bool(&mut self) -> Result<bool> {
        // Java's readBool accepts any non-zero byte as true.
        Ok(self.read_u8()? != 0)
    }
    pub fn read_i32(&mut self) -> Result<i32> {
        let s = self.take(4, "int")?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    pub fn read_i64(&mut self) -> Result<i64> {
        let s = self.take(8, "long")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(i64::from_be_bytes(a))
    }
    /// A ustring/buffer length: -1 is null, other negatives and lengths above the field
    /// cap are errors.
    fn read_len(&mut self, what: &'static str) -> Result<Option<usize>> {
        let n = self.read_count(what)?;
        match n {
            Some(n) if n > self.max_field => Err(JuteError::BadLength {
                what,
                len: n as i64,
            }),
            n => Ok(n),
        }
    }
    /// A length prefix: -1 is null, other negatives are errors.
    fn read_count(&mut self, what: &'static str) -> Result<Option<usize>> {
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        usize::try_from(len)
            .map(Some)
            .map_err(|_| JuteError::BadLength {
                what,
                len: len as i64,
            })
    }
    /// A jute `buffer`; `None` is the null buffer (length -1).
    pub fn read_buffer_opt(&mut self) -> Result<Option<Bytes>> {
        match self.read_len("buffer")? {
            None => Ok(None),
            Some(n) => {
                if self.remaining() < n {
                    return Err(JuteError::Eof("buffer"));
                }
                // Copied, not sliced: a slice would keep the whole frame (and the
                // connection read buffer it was split from) alive for as long as the
                // znode holding this data exists.
                let b = Bytes::copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                Ok(Some(b))
            }
        }
    }
    /// A jute `buffer`, null read as empty (what Java's records hand to the server code).
    pub fn read_buffer(&mut self) -> Result<Bytes> {
        Ok(self.read_buffer_opt()?.unwrap_or_default())
    }
    /// A jute `ustring`; `None` is the null string (length -1).
    pub fn read_ustring_opt(&mut self) -> Result<Option<String>> {
        match self.read_len("ustring")? {
            None => Ok(None),
            Some(n) => {
                let s = self.take(n, "ustring")?;
                match std::str::from_utf8(s) {
                    Ok(s) => Ok(Some(s.to_owned())),
                    Err(_) => Err(JuteError::BadUtf8),
                }
            }
        }
    }
    /// A jute `ustring`, null read as empty.
    pub fn read_ustring(&mut self) -> Result<String> {
        Ok(self.read_ustring_opt()?.unwrap_or_default())
    }
    /// A jute `vector<T>`; null read as empty. Each element needs at least `min_elem` bytes,
    /// which bounds the allocation by the input size. (The count is not held to the field
    /// cap: Java's `startVector` does not check it either.)
    pub fn read_vec<T>(
        &mut self,
        min_elem: usize,
        mut f: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = match self.read_count("vector")? {
            None => return Ok(Vec::new()),
            Some(n) => n,
        };
        if n.saturating_mul(min_elem.max(1)) > self.remaining() {
            return Err(JuteError::BadLength {
                what: "vector",
                len: n as i64,
            });
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }
    pub fn read_string_vec(&mut self) -> Result<Vec<String>> {
        self.read_vec(4, |r| r.read_ustring())
    }
}

/// Primitive writers on `BytesMut` (infallible).
pub trait JuteWrite {
    fn put_bool(&mut self, v: bool);
    fn put_ustring(&mut self, s: &str);
    fn put_ustring_opt(&mut self, s: Option<&str>);
    fn put_buffer(&mut self, b: &[u8]);
    fn put_buffer_opt(&mut self, b: Option<&[u8]>);
    fn put_string_vec(&mut self, v: &[String]);
}

impl JuteWrite for BytesMut {
    fn put_bool(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn put_ustring(&mut self, s: &str) {
        self.put_i32(s.len() as i32);
        self.put_slice(s.as_bytes());
    }
    fn put_ustring_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.put_ustring(s),
            None => self.put_i32(-1),
        }
    }
    fn put_buffer(&mut self, b: &[u8]) {
        self.put_i32(b.len() as i32);
        self.put_slice(b);
    }
    fn put_buffer_opt(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.put_buffer(b),
            None => self.put_i32(-1),
        }
    }
    fn put_string_vec(&mut self, v: &[String]) {
        self.put_i32(v.len() as i32);
        for s in v {
            self.put_ustring(s);
        }
    }
}

/// A record with a fixed jute layout.
pub trait Record: Sized {
    fn write(&self, w: &mut BytesMut);
    fn read(r: &mut Reader) -> Result<Self>;

    /// Encode into a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.write(&mut b);
        b.freeze()
    }
    /// Decode from a complete buffer; trailing bytes are allowed (ZooKeeper ignores them).
    fn from_bytes(b: Bytes) -> Result<Self> {
        Self::read(&mut Reader::new(b))
    }
}

/// A value that can be a field of a record: primitives, strings, buffers, vectors, records.
pub trait Field: Sized {
    fn put(&self, w: &mut BytesMut);
    fn get(r: &mut Reader) -> Result<Self>;
    /// Smallest encoded size, used to bound vector allocations.
    const MIN_LEN: usize;
}

impl Field for i32 {
    fn put(&self, w: &mut BytesMut) {
        w.put_i32(*self)
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_i32()
    }
    const MIN_LEN: usize = 4;
}
impl Field for i64 {
    fn put(&self, w: &mut BytesMut) {
        w.put_i64(*self)
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_i64()
    }
    const MIN_LEN: usize = 8;
}
impl Field for bool {
    fn put(&self, w: &mut BytesMut) {
        w.put_bool(*self)
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_bool()
    }
    const MIN_LEN: usize = 1;
}
impl Field for String {
    fn put(&self, w: &mut BytesMut) {
        w.put_ustring(self)
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_ustring()
    }
    const MIN_LEN: usize = 4;
}
impl Field for Bytes {
    fn put(&self, w: &mut BytesMut) {
        w.put_buffer(self)
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_buffer()
    }
    const MIN_LEN: usize = 4;
}
/// Znode data: a jute `buffer` that keeps null (length -1) apart from empty (length 0).
///
/// ZooKeeper hands a client's null data through to the tree, getData answers it as null,
/// and snapshots/txn logs store it as length -1. Everything else (dataLength, digest,
/// approximate data size, quotas) counts null as 0 bytes, which `Deref<Target = [u8]>`
/// gives for free: a null `Data` derefs to the empty slice. `Default` is null, as a
/// default-constructed Java record. Same size as `Bytes` (niche-optimized `Option`).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Data(Option<Bytes>);

impl Data {
    /// The null buffer.
    pub const NULL: Data = Data(None);

    /// Non-null data.
    pub fn new(b: impl Into<Bytes>) -> Data {
        Data(Some(b.into()))
    }
    /// Non-null empty data (what ZooKeeper's built-in nodes hold).
    pub const fn empty() -> Data {
        Data(Some(Bytes::new()))
    }
    pub const fn from_static(b: &'static [u8]) -> Data {
        Data(Some(Bytes::from_static(b)))
    }
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }
    /// The bytes, `None` for null.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        self.0.as_ref()
    }
    pub fn into_option(self) -> Option<Bytes> {
        self.0
    }
    /// The bytes, null read as empty.
    pub fn into_bytes(self) -> Bytes {
        self.0.unwrap_or_default()
    }
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}
impl AsRef<[u8]> for Data {
    fn as_ref(&self) -> &[u8] {
        self
    }
}
impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("null"),
            Some(b) => b.fmt(f),
        }
    }
}
impl From<Option<Bytes>> for Data {
    fn from(b: Option<Bytes>) -> Data {
        Data(b)
    }
}
impl From<Data> for Option<Bytes> {
    fn from(d: Data) -> Option<Bytes> {
        d.0
    }
}
impl From<Bytes> for Data {
    fn from(b: Bytes) -> Data {
        Data(Some(b))
    }
}
impl From<Vec<u8>> for Data {
    fn from(b: Vec<u8>) -> Data {
        Data(Some(b.into()))
    }
}
impl From<&'static [u8]> for Data {
    fn from(b: &'static [u8]) -> Data {
        Data::from_static(b)
    }
}
impl<const N: usize> From<&'static [u8; N]> for Data {
    fn from(b: &'static [u8; N]) -> Data {
        Data::from_static(b)
    }
}
impl Field for Data {
    fn put(&self, w: &mut BytesMut) {
        w.put_buffer_opt(self.0.as_deref())
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_buffer_opt().map(Data)
    }
    const MIN_LEN: usize = 4;
}

impl<T: Field> Field for Vec<T> {
    fn put(&self, w: &mut BytesMut) {
        w.put_i32(self.len() as i32);
        for x in self {
            x.put(w);
        }
    }
    fn get(r: &mut Reader) -> Result<Self> {
        r.read_vec(T::MIN_LEN, T::get)
    }
    const MIN_LEN: usize = 4;
}

/// Declare jute records: a plain struct whose fields are encoded in declared order.
/// `record! { pub struct Stat { czxid: i64, ... } }` generates the struct, `Record`
/// and `Field` impls.
#[macro_export]
macro_rules! record {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* $f:ident : $t:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $( $(#[$fm])* pub $f: $t ),* }
        impl $crate::jute::Record for $name {
            #[allow(unused_variables)]
            fn write(&self, w: &mut ::bytes::BytesMut) {
                $( $crate::jute::Field::put(&self.$f, w); )*
            }
            #[allow(unused_variables)]
            fn read(r: &mut $crate::jute::Reader) -> $crate::jute::Result<Self> {
                Ok($name { $( $f: <$t as $crate::jute::Field>::get(r)? ),* })
            }
        }
        impl $crate::jute::Field for $name {
            fn put(&self, w: &mut ::bytes::BytesMut) {
                $crate::jute::Record::write(self, w)
            }
            fn get(r: &mut $crate::jute::Reader) -> $crate::jute::Result<Self> {
                <$name as $crate::jute::Record>::read(r)
            }
            const MIN_LEN: usize = 0 $( + <$t as $crate::jute::Field>::MIN_LEN )*;
        }
    };
}
