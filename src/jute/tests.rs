//! Jute codec tests: hand-computed byte vectors from the Java layout, null handling,
//! bounds, and property tests (round trip of generated records for every record type;
//! decoding arbitrary bytes never panics and allocates at most a small multiple of the
//! input).
//!
//! Must never: depend on anything above `jute`.

use super::records::*;
use super::txn::*;
use super::{Data, JuteError, JuteLimits, Reader, Record};
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---------------------------------------------------------------------------------------
// Allocation counting (per thread, so parallel tests don't disturb each other).

struct CountingAlloc;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Bytes allocated by this thread while running `f`.
fn allocated_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATED.with(Cell::get);
    let r = f();
    (r, ALLOCATED.with(Cell::get) - before)
}

// ---------------------------------------------------------------------------------------
// Helpers

fn enc<T: Record>(x: &T) -> Vec<u8> {
    x.to_bytes().to_vec()
}

fn dec<T: Record>(b: &[u8]) -> super::Result<T> {
    T::from_bytes(Bytes::copy_from_slice(b))
}

/// Build expected bytes field by field.
#[derive(Default)]
struct Expect(BytesMut);
impl Expect {
    fn i32(mut self, v: i32) -> Self {
        self.0.put_i32(v);
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.put_i64(v);
        self
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.put_u8(v);
        self
    }
    fn raw(mut self, v: &[u8]) -> Self {
        self.0.put_slice(v);
        self
    }
    fn str(self, s: &str) -> Self {
        self.i32(s.len() as i32).raw(s.as_bytes())
    }
    fn done(self) -> Vec<u8> {
        self.0.to_vec()
    }
}
fn b() -> Expect {
    Expect::default()
}

fn sample_stat() -> Stat {
    Stat {
        czxid: 0x0102030405060708,
        mzxid: 0x1112131415161718,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 3,
        cversion: -4,
        aversion: 5,
        ephemeral_owner: 0x72_0000_0001,
        data_length: 11,
        num_children: 12,
        pzxid: 0x2122232425262728,
    }
}

fn world_anyone() -> Acl {
    Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Known bytes (computed from the Java layout: fields in declared order, big-endian).

#[test]
fn stat_is_68_bytes_in_field_order() {
    let s = sample_stat();
    let want = b()
        .i64(s.czxid)
        .i64(s.mzxid)
        .i64(s.ctime)
        .i64(s.mtime)
        .i32(3)
        .i32(-4)
        .i32(5)
        .i64(s.ephemeral_owner)
        .i32(11)
        .i32(12)
        .i64(s.pzxid)
        .done();
    assert_eq!(want.len(), 68);
    assert_eq!(enc(&s), want);
    assert_eq!(&enc(&s)[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(dec::<Stat>(&want).unwrap(), s);
    // StatPersisted drops dataLength/numChildren: 60 bytes
    let p = StatPersisted {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        pzxid: 9,
    };
    let want = b()
        .i64(1)
        .i64(2)
        .i64(3)
        .i64(4)
        .i32(5)
        .i32(6)
        .i32(7)
        .i64(8)
        .i64(9)
        .done();
    assert_eq!(want.len(), 60);
    assert_eq!(enc(&p), want);
}

#[test]
fn connect_request_45_and_44_bytes() {
    let pw = Bytes::from_static(&[0xAB; 16]);
    let mut req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x1_0000_0005,
        time_out: 30000,
        session_id: 0x1000_0000_0000_0042,
        passwd: pw.clone(),
        read_only: Some(true),
    };
    let head = b()
        .i32(0)
        .i64(0x1_0000_0005)
        .i32(30000)
        .i64(0x1000_0000_0000_0042)
        .i32(16)
        .raw(&[0xAB; 16]);
    let with = b().raw(&head.0).u8(1).done();
    assert_eq!(with.len(), 45);
    assert_eq!(enc(&req), with);
    assert_eq!(dec::<ConnectRequest>(&with).unwrap(), req);
    req.read_only = None;
    let without = head.done();
    assert_eq!(without.len(), 44);
    assert_eq!(enc(&req), without);
    assert_eq!(dec::<ConnectRequest>(&without).unwrap(), req);
    // a new session sends 16 zero bytes
    let fresh = ConnectRequest {
        passwd: Bytes::from_static(&[0; 16]),
        ..Default::default()
    };
    assert_eq!(enc(&fresh).len(), 44);
}

#[test]
fn connect_response_37_and_36_bytes() {
    let mut resp = ConnectResponse {
        protocol_version: 0,
        time_out: 4000,
        session_id: 0x100_0000_0001,
        passwd: Bytes::from_static(&[7; 16]),
        read_only: Some(false),
    };
    let head = b()
        .i32(0)
        .i32(4000)
        .i64(0x100_0000_0001)
        .i32(16)
        .raw(&[7; 16]);
    let with = b().raw(&head.0).u8(0).done();
    assert_eq!(with.len(), 37);
    assert_eq!(enc(&resp), with);
    assert_eq!(dec::<ConnectResponse>(&with).unwrap(), resp);
    resp.read_only = None;
    assert_eq!(enc(&resp), head.done());
    assert_eq!(enc(&resp).len(), 36);
}

#[test]
fn headers() {
    let rh = RequestHeader { xid: 7, op_type: 4 };
    assert_eq!(enc(&rh), [0, 0, 0, 7, 0, 0, 0, 4]);
    let ping = RequestHeader {
        xid: -2,
        op_type: 11,
    };
    assert_eq!(enc(&ping), [0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
    let rep = ReplyHeader {
        xid: 1,
        zxid: 0x2_0000_0003,
        err: -101,
    };
    assert_eq!(enc(&rep), b().i32(1).i64(0x2_0000_0003).i32(-101).done());
    assert_eq!(enc(&rep).len(), 16);
    let mh = MultiHeader {
        op_type: -1,
        done: true,
        err: -1,
    };
    assert_eq!(
        enc(&mh),
        [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
    );
    let mut w = BytesMut::new();
    put_multi_end(&mut w);
    assert_eq!(&w[..], &enc(&mh)[..]);
    let th = TxnHeader {
        client_id: 1,
        cxid: 2,
        zxid: 3,
        time: 4,
        txn_type: 5,
    };
    assert_eq!(enc(&th), b().i64(1).i32(2).i64(3).i64(4).i32(5).done());
    let fh = FileHeader {
        magic: 0x5a4b4c47,
        version: 2,
        dbid: -1,
    };
    assert_eq!(&enc(&fh)[..4], b"ZKLG");
}

#[test]
fn create_request_bytes() {
    let r = CreateRequest {
        path: "/a".into(),
        data: Data::from_static(b"hi"),
        acl: vec![world_anyone()],
        flags: 3,
    };
    let want = b()
        .str("/a")
        .i32(2)
        .raw(b"hi")
        .i32(1)
        .i32(31)
        .str("world")
        .str("anyone")
        .i32(3)
        .done();
    assert_eq!(enc(&r), want);
    assert_eq!(dec::<CreateRequest>(&want).unwrap(), r);
    let ttl = CreateTtlRequest {
        path: "/a".into(),
        data: Data::from_static(b"hi"),
        acl: vec![world_anyone()],
        flags: 5,
        ttl: 1000,
    };
    assert_eq!(enc(&ttl)[..want.len() - 4], want[..want.len() - 4]);
    assert_eq!(&enc(&ttl)[want.len()..], &1000i64.to_be_bytes());
}

#[test]
fn txn_bytes() {
    let c = CreateTxn {
        path: "/e".into(),
        data: Data::empty(),
        acl: vec![world_anyone()],
        ephemeral: true,
        parent_cversion: 9,
    };
    let want = b()
        .str("/e")
        .i32(0)
        .i32(1)
        .i32(31)
        .str("world")
        .str("anyone")
        .u8(1)
        .i32(9)
        .done();
    assert_eq!(enc(&c), want);
    let m = MultiTxn {
        txns: vec![
            SubTxn {
                txn_type: 2,
                data: DeleteTxn { path: "/x".into() }.to_bytes(),
            },
            SubTxn {
                txn_type: -1,
                data: ErrorTxn { err: -2 }.to_bytes(),
            },
        ],
    };
    let want = b()
        .i32(2)
        .i32(2)
        .i32(6)
        .str("/x")
        .i32(-1)
        .i32(4)
        .i32(-2)
        .done();
    assert_eq!(enc(&m), want);
    assert_eq!(dec::<MultiTxn>(&want).unwrap(), m);
    assert_eq!(
        enc(&TxnDigest {
            version: 2,
            tree_digest: -1
        }),
        b().i32(2).i64(-1).done()
    );
    assert_eq!(
        enc(&CloseSessionTxn {
            paths2_delete: vec!["/a".into()]
        }),
        b().i32(1).str("/a").done()
    );
}

#[test]
fn watcher_event_and_responses() {
    let e = WatcherEvent {
        event_type: 3,
        state: 3,
        path: "/n".into(),
    };
    assert_eq!(enc(&e), b().i32(3).i32(3).str("/n").done());
    let g = GetDataResponse {
        data: Data::from_static(b"xyz"),
        stat: sample_stat(),
    };
    let want = b().i32(3).raw(b"xyz").raw(&enc(&sample_stat())).done();
    assert_eq!(enc(&g), want);
    assert_eq!(enc(&g).len(), 4 + 3 + 68);
    let w = WhoAmIResponse {
        client_info: vec![ClientInfo {
            auth_scheme: "ip".into(),
            user: "127.0.0.1".into(),
        }],
    };
    assert_eq!(enc(&w), b().i32(1).str("ip").str("127.0.0.1").done());
}

// ---------------------------------------------------------------------------------------
// Null strings, buffers and vectors; length checks.

#[test]
fn null_string_buffer_vector() {
    let null = (-1i32).to_be_bytes();
    assert_eq!(Reader::from_slice(&null).read_ustring_opt().unwrap(), None);
    assert_eq!(Reader::from_slice(&null).read_ustring().unwrap(), "");
    assert_eq!(Reader::from_slice(&null).read_buffer_opt().unwrap(), None);
    assert_eq!(
        Reader::from_slice(&null).read_buffer().unwrap(),
        Bytes::new()
    );
    assert!(
        Reader::from_slice(&null)
            .read_string_vec()
            .unwrap()
            .is_empty()
    );
    // empty (length 0) is not null
    assert_eq!(
        Reader::from_slice(&[0; 4]).read_ustring_opt().unwrap(),
        Some(String::new())
    );
    assert_eq!(
        Reader::from_slice(&[0; 4]).read_buffer_opt().unwrap(),
        Some(Bytes::new())
    );
    // writers
    let mut w = BytesMut::new();
    super::JuteWrite::put_ustring_opt(&mut w, None);
    super::JuteWrite::put_buffer_opt(&mut w, None);
    assert_eq!(&w[..], &[0xff; 8]);
    // a record with null path/acl reads them as empty; null data stays null
    let bytes = b().i32(-1).i32(-1).i32(-1).i32(0).done();
    let c = dec::<CreateRequest>(&bytes).unwrap();
    assert_eq!(c, CreateRequest::default());
    assert!(c.data.is_null() && c.path.is_empty() && c.acl.is_empty());
    // SetWatches with null vectors (some clients send them)
    let bytes = b().i64(5).i32(-1).i32(-1).i32(-1).done();
    let s = dec::<SetWatches>(&bytes).unwrap();
    assert_eq!(s.relative_zxid, 5);
    assert!(s.data_watches.is_empty() && s.exist_watches.is_empty());
}

/// Znode data keeps null (length -1) apart from empty (length 0) in every record that
/// carries it, both ways, and null counts as 0 bytes for everything but the encoding.
#[test]
fn znode_data_null_vs_empty() {
    fn check<T: Record + PartialEq + std::fmt::Debug>(mk: impl Fn(Data) -> T, data_at: usize) {
        let null = mk(Data::NULL);
        let empty = mk(Data::empty());
        let some = mk(Data::from_static(b"ab"));
        let (n, e, s) = (enc(&null), enc(&empty), enc(&some));
        assert_eq!(&n[data_at..data_at + 4], &[0xff; 4], "{null:?}");
        assert_eq!(&e[data_at..data_at + 4], &[0; 4], "{empty:?}");
        assert_eq!(
            &s[data_at..data_at + 6],
            &[0, 0, 0, 2, b'a', b'b'],
            "{some:?}"
        );
        assert_eq!(n.len(), e.len());
        assert_eq!(dec::<T>(&n).unwrap(), null);
        assert_eq!(dec::<T>(&e).unwrap(), empty);
        assert_eq!(dec::<T>(&s).unwrap(), some);
        assert_ne!(null, empty);
    }
    let p = || "/p".to_string(); // data follows the path: 4 + 2 bytes
    check(
        |data| CreateRequest {
            path: p(),
            data,
            acl: vec![world_anyone()],
            flags: 0,
        },
        6,
    );
    check(
        |data| CreateTtlRequest {
            path: p(),
            data,
            acl: vec![],
            flags: 5,
            ttl: 9,
        },
        6,
    );
    check(
        |data| SetDataRequest {
            path: p(),
            data,
            version: -1,
        },
        6,
    );
    check(
        |data| GetDataResponse {
            data,
            stat: sample_stat(),
        },
        0,
    );
    check(
        |data| CreateTxn {
            path: p(),
            data,
            acl: vec![],
            ephemeral: false,
            parent_cversion: 1,
        },
        6,
    );
    check(
        |data| CreateTtlTxn {
            path: p(),
            data,
            acl: vec![],
            parent_cversion: 1,
            ttl: 9,
        },
        6,
    );
    check(
        |data| CreateContainerTxn {
            path: p(),
            data,
            acl: vec![],
            parent_cversion: 1,
        },
        6,
    );
    check(
        |data| SetDataTxn {
            path: p(),
            data,
            version: 3,
        },
        6,
    );

    // Raw wire: GetDataResponse with null data is length -1 then the stat.
    let g = GetDataResponse {
        data: Data::NULL,
        stat: sample_stat(),
    };
    assert_eq!(enc(&g), b().i32(-1).raw(&enc(&sample_stat())).done());

    // Null behaves as 0 bytes everywhere else; Default is null (as a fresh Java record).
    assert_eq!(Data::NULL.len(), 0);
    assert_eq!(&*Data::NULL, b"");
    assert!(Data::default().is_null() && !Data::empty().is_null());
    assert_eq!(Data::NULL.as_bytes(), None);
    assert_eq!(Data::empty().as_bytes(), Some(&Bytes::new()));
    assert_eq!(Data::NULL.into_bytes(), Bytes::new());
    assert_eq!(format!("{:?}", Data::NULL), "null");
    assert_eq!(format!("{:?}", Data::from_static(b"x")), "b\"x\"");
}

/// `Data` must not grow a znode: the `Option` uses `Bytes`' niche.
#[test]
fn data_is_as_small_as_bytes() {
    assert_eq!(std::mem::size_of::<Data>(), std::mem::size_of::<Bytes>());
    assert_eq!(
        std::mem::size_of::<Option<Bytes>>(),
        std::mem::size_of::<Bytes>()
    );
}

#[test]
fn bad_lengths_are_errors() {
    assert!(matches!(
        Reader::from_slice(&(-2i32).to_be_bytes()).read_ustring(),
        Err(JuteError::BadLength { .. })
    ));
    // a length beyond the bytes present is EOF (no allocation of the claimed size)
    let huge = (JuteLimits::DEFAULT.field() as i32 + 1).to_be_bytes();
    assert!(matches!(
        Reader::from_slice(&huge).read_buffer(),
        Err(JuteError::Eof(_))
    ));
    assert!(matches!(
        Reader::with_limits(Bytes::copy_from_slice(&huge), JuteLimits::DEFAULT).read_buffer(),
        Err(JuteError::BadLength { .. })
    ));
    assert!(matches!(
        Reader::from_slice(&b().i32(10).raw(b"abc").done()).read_buffer(),
        Err(JuteError::Eof(_))
    ));
    assert!(matches!(
        Reader::from_slice(&b().i32(3).raw(b"abc").done()).read_string_vec(),
        Err(JuteError::BadLength { .. })
    ));
    assert!(matches!(
        Reader::from_slice(&b().i32(2).raw(&[0xc3, 0x28]).done()).read_ustring(),
        Err(JuteError::BadUtf8)
    ));
    assert!(matches!(dec::<Stat>(&[0; 67]), Err(JuteError::Eof(_))));
    // non-zero booleans read as true (Java readBool)
    assert!(Reader::from_slice(&[2]).read_bool().unwrap());
    // trailing bytes: allowed by from_bytes, rejected by read_exact
    let mut bytes = enc(&ErrorResponse { err: -1 });
    bytes.push(0);
    assert!(dec::<ErrorResponse>(&bytes).is_ok());
    assert!(read_exact::<ErrorResponse>(Bytes::from(bytes)).is_err());
}

/// Java's `checkLength`: ustring/buffer lengths up to jute.maxbuffer + extrasize pass,
/// one more fails, whether or not the bytes are there; the extra size is at least 1024;
/// the sum saturates at i32::MAX; vector counts are not held to it.
#[test]
fn field_cap_follows_the_configured_limits() {
    let d = JuteLimits::DEFAULT;
    assert_eq!((d.packet(), d.field()), (0xfffff, 2 * 0xfffff));
    assert_eq!(JuteLimits::default(), d);
    let four = JuteLimits::new(4_194_304, 4_194_304);
    assert_eq!((four.packet(), four.field()), (4_194_304, 8_388_608));
    assert_eq!(JuteLimits::new(4_194_304, 0).field(), 4_194_304 + 1024);
    assert_eq!(JuteLimits::new(1 << 30, 1 << 30).field(), i32::MAX as usize);
    assert_eq!(
        JuteLimits::new(usize::MAX, usize::MAX).field(),
        i32::MAX as usize
    );

    let buf = |n: usize| {
        let mut v = (n as i32).to_be_bytes().to_vec();
        v.resize(4 + n, b'x');
        Bytes::from(v)
    };
    // 3 MB: refused under the default limits, read under jute.maxbuffer=4194304
    let three_mb = buf(3_000_000);
    assert!(matches!(
        Reader::with_limits(three_mb.clone(), d).read_buffer(),
        Err(JuteError::BadLength { len: 3_000_000, .. })
    ));
    assert_eq!(
        Reader::with_limits(three_mb.clone(), four)
            .read_buffer()
            .unwrap()
            .len(),
        3_000_000
    );
    // a frame-bounded reader (no explicit limits) reads it too
    assert_eq!(
        Reader::new(three_mb).read_buffer().unwrap().len(),
        3_000_000
    );
    // exactly at the cap / one above, for buffers and strings
    let small = JuteLimits::new(10, 0); // field cap 1034
    assert!(Reader::with_limits(buf(1034), small).read_buffer().is_ok());
    assert!(Reader::with_limits(buf(1034), small).read_ustring().is_ok());
    assert!(matches!(
        Reader::with_limits(buf(1035), small).read_buffer(),
        Err(JuteError::BadLength { len: 1035, .. })
    ));
    assert!(matches!(
        Reader::with_limits(buf(1035), small).read_ustring(),
        Err(JuteError::BadLength { len: 1035, .. })
    ));
    // null and negative lengths are unaffected by the cap
    let null = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        Reader::with_limits(null, small).read_buffer_opt().unwrap(),
        None
    );
    assert!(matches!(
        Reader::with_limits(Bytes::copy_from_slice(&(-2i32).to_be_bytes()), small).read_buffer(),
        Err(JuteError::BadLength { len: -2, .. })
    ));
    // vector counts are not field lengths: 2000 ints under a 1034-byte field cap
    let mut v = 2000i32.to_be_bytes().to_vec();
    v.resize(4 + 2000 * 4, 0);
    let ints = Reader::with_limits(Bytes::from(v), small)
        .read_vec(4, |r| r.read_i32())
        .unwrap();
    assert_eq!(ints.len(), 2000);
    // a clone keeps the limits
    let r = Reader::with_limits(buf(1035), small);
    assert!(r.clone().read_buffer().is_err());
}

#[test]
fn allocation_counter_counts() {
    let (v, bytes) = allocated_during(|| vec![0u8; 4096]);
    assert_eq!(v.len(), 4096);
    assert!(bytes >= 4096);
}

#[test]
fn huge_vector_count_does_not_allocate() {
    // count 1,000,000 of ACLs but only a few bytes follow
    let input = Bytes::from(b().i32(1_000_000).raw(&[0; 20]).done());
    let (r, bytes) = allocated_during(|| Reader::new(input.clone()).read_vec(12, Acl::read));
    assert!(r.is_err());
    assert!(bytes < 1024, "allocated {bytes}");
}

// ---------------------------------------------------------------------------------------
// Property tests

fn s() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "/[a-z0-9/]{0,12}", "\\PC{0,6}"]
}
fn data() -> BoxedStrategy<Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24)
        .prop_map(Bytes::from)
        .boxed()
}

/// Znode data: null, empty or bytes.
fn zdata() -> BoxedStrategy<Data> {
    proptest::option::of(data()).prop_map(Data::from).boxed()
}
fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(s(), 0..4)
}
fn id() -> impl Strategy<Value = Id> {
    (s(), s()).prop_map(|(scheme, id)| Id { scheme, id })
}
fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}
fn acls() -> impl Strategy<Value = Vec<Acl>> {
    proptest::collection::vec(acl(), 0..3)
}
fn stat() -> impl Strategy<Value = Stat> {
    (
        any::<[i64; 4]>(),
        any::<[i32; 3]>(),
        any::<i64>(),
        any::<[i32; 2]>(),
        any::<i64>(),
    )
        .prop_map(|(l, v, eo, dn, pz)| Stat {
            czxid: l[0],
            mzxid: l[1],
            ctime: l[2],
            mtime: l[3],
            version: v[0],
            cversion: v[1],
            aversion: v[2],
            ephemeral_owner: eo,
            data_length: dn[0],
            num_children: dn[1],
            pzxid: pz,
        })
}
fn passwd() -> impl Strategy<Value = Bytes> {
    prop_oneof![Just(Bytes::from_static(&[0; 16])), data()]
}

fn check_roundtrip<T: Record + PartialEq + std::fmt::Debug>(x: &T) -> Result<(), TestCaseError> {
    let bytes = x.to_bytes();
    let back = read_exact::<T>(bytes.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, x);
    prop_assert_eq!(back.to_bytes(), bytes);
    Ok(())
}

/// One round-trip property per record: `name: Type { field: strategy, ... }`.
macro_rules! roundtrip {
    ($($test:ident : $T:ident { $($f:ident : $s:expr),* $(,)? })*) => {
        proptest! {
            $(
                #[test]
                fn $test(x in ($($s,)*).prop_map(|($($f,)*)| $T { $($f),* })) {
                    check_roundtrip(&x)?;
                }
            )*
        }
    };
}

roundtrip! {
    rt_id: Id { scheme: s(), id: s() }
    rt_acl: Acl { perms: any::<i32>(), id: id() }
    rt_stat: Stat {
        czxid: any::<i64>(), mzxid: any::<i64>(), ctime: any::<i64>(), mtime: any::<i64>(),
        version: any::<i32>(), cversion: any::<i32>(), aversion: any::<i32>(),
        ephemeral_owner: any::<i64>(), data_length: any::<i32>(), num_children: any::<i32>(),
        pzxid: any::<i64>(),
    }
    rt_stat_persisted: StatPersisted {
        czxid: any::<i64>(), mzxid: any::<i64>(), ctime: any::<i64>(), mtime: any::<i64>(),
        version: any::<i32>(), cversion: any::<i32>(), aversion: any::<i32>(),
        ephemeral_owner: any::<i64>(), pzxid: any::<i64>(),
    }
    rt_client_info: ClientInfo { auth_scheme: s(), user: s() }
    rt_connect_request: ConnectRequest {
        protocol_version: any::<i32>(), last_zxid_seen: any::<i64>(), time_out: any::<i32>(),
        session_id: any::<i64>(), passwd: passwd(), read_only: any::<Option<bool>>(),
    }
    rt_connect_response: ConnectResponse {
        protocol_version: any::<i32>(), time_out: any::<i32>(), session_id: any::<i64>(),
        passwd: passwd(), read_only: any::<Option<bool>>(),
    }
    rt_request_header: RequestHeader { xid: any::<i32>(), op_type: any::<i32>() }
    rt_reply_header: ReplyHeader { xid: any::<i32>(), zxid: any::<i64>(), err: any::<i32>() }
    rt_multi_header: MultiHeader { op_type: any::<i32>(), done: any::<bool>(), err: any::<i32>() }
    rt_auth_packet: AuthPacket { auth_type: any::<i32>(), scheme: s(), auth: data() }
    rt_set_watches: SetWatches {
        relative_zxid: any::<i64>(), data_watches: strings(), exist_watches: strings(),
        child_watches: strings(),
    }
    rt_set_watches2: SetWatches2 {
        relative_zxid: any::<i64>(), data_watches: strings(), exist_watches: strings(),
        child_watches: strings(), persistent_watches: strings(),
        persistent_recursive_watches: strings(),
    }
    rt_create_request: CreateRequest { path: s(), data: zdata(), acl: acls(), flags: any::<i32>() }
    rt_create_ttl_request: CreateTtlRequest {
        path: s(), data: zdata(), acl: acls(), flags: any::<i32>(), ttl: any::<i64>(),
    }
    rt_delete_request: DeleteRequest { path: s(), version: any::<i32>() }
    rt_set_data_request: SetDataRequest { path: s(), data: zdata(), version: any::<i32>() }
    rt_check_version_request: CheckVersionRequest { path: s(), version: any::<i32>() }
    rt_set_acl_request: SetAclRequest { path: s(), acl: acls(), version: any::<i32>() }
    rt_path_watch_request: PathWatchRequest { path: s(), watch: any::<bool>() }
    rt_path_request: PathRequest { path: s() }
    rt_reconfig_request: ReconfigRequest {
        joining_servers: s(), leaving_servers: s(), new_members: s(), cur_config_id: any::<i64>(),
    }
    rt_add_watch_request: AddWatchRequest { path: s(), mode: any::<i32>() }
    rt_watch_type_request: WatchTypeRequest { path: s(), watch_type: any::<i32>() }
    rt_sasl_token: SaslToken { token: data() }
    rt_create_response: CreateResponse { path: s() }
    rt_create2_response: Create2Response { path: s(), stat: stat() }
    rt_stat_response: StatResponse { stat: stat() }
    rt_get_data_response: GetDataResponse { data: zdata(), stat: stat() }
    rt_get_children_response: GetChildrenResponse { children: strings() }
    rt_get_children2_response: GetChildren2Response { children: strings(), stat: stat() }
    rt_get_acl_response: GetAclResponse { acl: acls(), stat: stat() }
    rt_all_children_number: GetAllChildrenNumberResponse { total_number: any::<i32>() }
    rt_get_ephemerals_response: GetEphemeralsResponse { ephemerals: strings() }
    rt_who_am_i_response: WhoAmIResponse {
        client_info: proptest::collection::vec(
            (s(), s()).prop_map(|(auth_scheme, user)| ClientInfo { auth_scheme, user }), 0..3),
    }
    rt_sync_response: SyncResponse { path: s() }
    rt_error_response: ErrorResponse { err: any::<i32>() }
    rt_watcher_event: WatcherEvent { event_type: any::<i32>(), state: any::<i32>(), path: s() }
    rt_file_header: FileHeader { magic: any::<i32>(), version: any::<i32>(), dbid: any::<i64>() }
    rt_txn_header: TxnHeader {
        client_id: any::<i64>(), cxid: any::<i32>(), zxid: any::<i64>(), time: any::<i64>(),
        txn_type: any::<i32>(),
    }
    rt_create_txn: CreateTxn {
        path: s(), data: zdata(), acl: acls(), ephemeral: any::<bool>(),
        parent_cversion: any::<i32>(),
    }
    rt_create_ttl_txn: CreateTtlTxn {
        path: s(), data: zdata(), acl: acls(), parent_cversion: any::<i32>(), ttl: any::<i64>(),
    }
    rt_create_container_txn: CreateContainerTxn {
        path: s(), data: zdata(), acl: acls(), parent_cversion: any::<i32>(),
    }
    rt_delete_txn: DeleteTxn { path: s() }
    rt_set_data_txn: SetDataTxn { path: s(), data: zdata(), version: any::<i32>() }
    rt_check_version_txn: CheckVersionTxn { path: s(), version: any::<i32>() }
    rt_set_acl_txn: SetAclTxn { path: s(), acl: acls(), version: any::<i32>() }
    rt_create_session_txn: CreateSessionTxn { time_out: any::<i32>() }
    rt_close_session_txn: CloseSessionTxn { paths2_delete: strings() }
    rt_error_txn: ErrorTxn { err: any::<i32>() }
    rt_sub_txn: SubTxn { txn_type: any::<i32>(), data: data() }
    rt_multi_txn: MultiTxn {
        txns: proptest::collection::vec(
            (any::<i32>(), data()).prop_map(|(txn_type, data)| SubTxn { txn_type, data }), 0..4),
    }
    rt_txn_digest: TxnDigest { version: any::<i32>(), tree_digest: any::<i64>() }
}

/// Decode `input` as every record type; returns how many decoded successfully.
fn decode_as_everything(input: &Bytes) -> usize {
    macro_rules! try_all {
        ($($T:ty),* $(,)?) => {{
            let mut ok = 0;
            $( if <$T>::from_bytes(input.clone()).is_ok() { ok += 1; } )*
            ok
        }};
    }
    try_all!(
        Id,
        Acl,
        Stat,
        StatPersisted,
        ClientInfo,
        ConnectRequest,
        ConnectResponse,
        RequestHeader,
        ReplyHeader,
        MultiHeader,
        AuthPacket,
        SetWatches,
        SetWatches2,
        CreateRequest,
        CreateTtlRequest,
        DeleteRequest,
        SetDataRequest,
        CheckVersionRequest,
        SetAclRequest,
        PathWatchRequest,
        PathRequest,
        ReconfigRequest,
        AddWatchRequest,
        WatchTypeRequest,
        SaslToken,
        CreateResponse,
        Create2Response,
        StatResponse,
        GetDataResponse,
        GetChildrenResponse,
        GetChildren2Response,
        GetAclResponse,
        GetAllChildrenNumberResponse,
        GetEphemeralsResponse,
        WhoAmIResponse,
        SyncResponse,
        ErrorResponse,
        WatcherEvent,
        FileHeader,
        TxnHeader,
        CreateTxn,
        CreateTtlTxn,
        CreateContainerTxn,
        DeleteTxn,
        SetDataTxn,
        CheckVersionTxn,
        SetAclTxn,
        CreateSessionTxn,
        CloseSessionTxn,
        ErrorTxn,
        SubTxn,
        MultiTxn,
        TxnDigest,
    )
}

/// Byte strings biased toward plausible jute: small lengths, -1, huge counts.
fn jute_ish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        (-2i32..40).prop_map(|n| n.to_be_bytes().to_vec()),
        any::<i32>().prop_map(|n| n.to_be_bytes().to_vec()),
        Just(0x7fff_ffffi32.to_be_bytes().to_vec()),
        Just((JuteLimits::DEFAULT.field() as i32).to_be_bytes().to_vec()),
        "[a-z/]{0,6}".prop_map(|s| s.into_bytes()),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        let input = Bytes::from(input);
        let len = input.len();
        let (_, bytes) = allocated_during(|| decode_as_everything(&input));
        // 53 record types decoded in turn; each may allocate a few times its input
        // (Vec<String> costs 24 bytes per 4-byte wire minimum) but never per claimed length.
        prop_assert!(bytes <= 53 * (8 * len + 256), "allocated {} for {} input bytes", bytes, len);
    }

    #[test]
    fn decoding_jute_like_bytes_never_panics(input in jute_ish()) {
        let input = Bytes::from(input);
        let len = input.len();
        let (_, bytes) = allocated_during(|| decode_as_everything(&input));
        prop_assert!(bytes <= 53 * (8 * len + 256), "allocated {} for {} input bytes", bytes, len);
    }
}
