//! Offline dumps of txn logs and snapshots, in the shape of Java's zkTxnLogToolkit.sh and
//! zkSnapShotToolkit.sh output.
//!
//! `txnlog_dump` prints what `org.apache.zookeeper.server.persistence.TxnLogToolkit <file>`
//! (default dump mode) prints and `snapshot_dump` what
//! `org.apache.zookeeper.server.SnapshotFormatter [-d] <file>` prints, byte for byte, for
//! ZooKeeper 3.8 run with `TZ=UTC` in an English (C.UTF-8 / en_US) locale:
//! - dates are always rendered in UTC (Java renders them in the JVM's default time zone);
//! - the jute `toString` forms (`'` before strings, `s{..}` records, `v{..}` vectors, `%2C`
//!   escapes) and the raw UTF-8 rendering of multi sub-txn bytes (invalid sequences become
//!   U+FFFD) follow Java;
//! - children are listed in the iteration order of the `java.util.HashSet` that Java's
//!   DataTree builds while loading the snapshot (simulated, see `java_hash_order`), sessions
//!   in that of the `HashMap<Long, Integer>` SnapshotFormatter fills.
//!
//! Compressed snapshots (`snapshot.<zxid>.gz`, `.snappy`) are decompressed by file name,
//! as Java's `SnapStream.getInputStream` does, and print like plain ones.
//! Known differences: a snapshot whose seal
//! does not match is still printed (as Java, which never checks it) but with a warning on
//! stderr; Java's crashes on garbage (stack traces) are plain error messages here.
//! Owns: rendering files as text. Must never: modify the files it reads.

use crate::jute::records::{Acl, StatPersisted};
use crate::storage::snapshot::{self, SnapError, SnapMeta};
use crate::storage::txlog::{HEADER_LEN, LOG_MAGIC, MAX_ENTRY};
use crate::txn::{TxnBody, codec};
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// Render a txn log file.
pub fn txnlog_dump(path: &Path) -> Result<String, String> {
    let mut out = Vec::new();
    txnlog_dump_to(path, &mut out)?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Render a txn log file into `out` as it is read, so that on an error (a partial last
/// entry, garbage) everything before it has been written, as Java prints it.
pub fn txnlog_dump_to(path: &Path, out: &mut dyn Write) -> Result<(), String> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|_| format!("File doesn't exist or not readable: {name}"))?;
    let mut rd = BufReader::with_capacity(256 * 1024, f);
    let wr = |out: &mut dyn Write, s: &str| out.write_all(s.as_bytes()).map_err(|e| e.to_string());
    let mut h = [0u8; HEADER_LEN as usize];
    rd.read_exact(&mut h)
        .map_err(|e| format!("{name}: cannot read the file header: {e}"))?;
    let magic = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let version = i32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let dbid = i64::from_be_bytes(h[8..16].try_into().unwrap_or([0; 8]));
    if magic != LOG_MAGIC {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        return Err(format!("Invalid magic number for {file}"));
    }
    wr(
        out,
        &format!(
            "ZooKeeper Transactional Log File with dbid {dbid} txnlog format version {version}\n"
        ),
    )?;
    let mut count = 0u64;
    loop {
        let mut head = [0u8; 12];
        if !fill(&mut rd, &mut head).map_err(|e| e.to_string())? {
            break;
        }
        let crc = i64::from_be_bytes(head[0..8].try_into().unwrap_or([0; 8]));
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if len == 0 {
            break;
        }
        if len < 0 || len as usize > MAX_ENTRY {
            return Err(format!("Unreasonable length = {len}"));
        }
        let mut body = vec![0u8; len as usize];
        if !fill(&mut rd, &mut body).map_err(|e| e.to_string())? {
            break;
        }
        let line = format_entry(&body)?;
        if adler2::adler32_slice(&body) as i64 != crc {
            wr(out, &format!("CRC ERROR - {line}"))?;
        }
        wr(out, &line)?;
        let mut eor = [0u8; 1];
        match rd.read_exact(&mut eor) {
            Ok(()) if eor[0] == b'B' => {}
            Ok(()) => return Err("Last transaction was partial.".into()),
            Err(e) => return Err(format!("{name}: {e}")),
        }
        count += 1;
    }
    wr(out, &format!("EOF reached after {count} txns.\n"))
}

/// Fill `buf` completely: Ok(false) at EOF (before or within it).
fn fill(rd: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match rd.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// `Request.op2String` of ZooKeeper 3.8.
fn op2string(op: i32) -> String {
    match op {
        0 => "notification",
        1 => "create",
        2 => "delete",
        3 => "exists",
        4 => "getData",
        5 => "setData",
        6 => "getACL",
        7 => "setACL",
        8 => "getChildren",
        9 => "sync",
        11 => "ping",
        12 => "getChildren2",
        13 => "check",
        14 => "multi",
        15 => "create2",
        16 => "reconfig",
        17 => "checkWatches",
        18 => "removeWatches",
        19 => "createContainer",
        20 => "deleteContainer",
        21 => "createTtl",
        22 => "multiRead",
        100 => "auth",
        101 => "setWatches",
        102 => "sasl",
        103 => "getEphemerals",
        104 => "getAllChildrenNumber",
        105 => "setWatches2",
        107 => "whoAmI",
        -10 => "createSession",
        -11 => "closeSession",
        -1 => "error",
        _ => return format!("unknown {op}"),
    }
    .to_string()
}

/// One entry as TxnLogToolkit.printTxn prints it (ends with a newline).
fn format_entry(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() < 32 {
        return Err("txn entry shorter than a TxnHeader".into());
    }
    let be64 = |o: usize| i64::from_be_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8]));
    let client_id = be64(0);
    let cxid = i32::from_be_bytes(bytes[8..12].try_into().unwrap_or([0; 4]));
    let zxid = be64(12);
    let time = be64(20);
    let typ = i32::from_be_bytes(bytes[28..32].try_into().unwrap_or([0; 4]));
    let txn_str = match typ {
        // Old logs have no CloseSessionTxn: Java's record is then null and prints nothing.
        -11 if bytes.len() < 36 => String::new(),
        14 => format_multi(&bytes[32..])?,
        _ => {
            let txn = codec::decode_txn(Bytes::copy_from_slice(bytes))
                .map_err(|e| format!("Unsupported or undecodable txn (type {typ}): {e}"))?;
            format_body(&txn.body)
        }
    };
    let mut s = format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {} {}",
        java_short_long_date(time),
        client_id,
        cxid as i64,
        zxid,
        op2string(typ),
        txn_str
    );
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// `TxnLogToolkit.getFormattedTxnStr` for everything but multi.
fn format_body(body: &TxnBody) -> String {
    match body {
        TxnBody::Create(t) | TxnBody::Create2(t) => format!(
            "{},{},{},{},{}",
            t.path,
            lossy(&t.data),
            acl_list(&t.acl),
            t.ephemeral,
            t.parent_cversion
        ),
        TxnBody::SetData(t) | TxnBody::Reconfig(t) => {
            format!("{},{},{}", t.path, lossy(&t.data), t.version)
        }
        TxnBody::CreateContainer(t) => format!(
            "{},{},{},{}",
            t.path,
            lossy(&t.data),
            acl_list(&t.acl),
            t.parent_cversion
        ),
        TxnBody::CreateTtl(t) => format!(
            "{},{},{},{},{}",
            t.path,
            lossy(&t.data),
            acl_list(&t.acl),
            t.parent_cversion,
            t.ttl
        ),
        // The rest print their jute toString (ToStringOutputArchive), which ends in "\n".
        TxnBody::Delete(t) | TxnBody::DeleteContainer(t) => format!("{}\n", jstr(&t.path)),
        TxnBody::CreateSession(t) => format!("{}\n", t.time_out),
        TxnBody::CloseSession(t) => {
            let v: Vec<String> = t.paths2_delete.iter().map(|p| jstr(p)).collect();
            format!("v{{{}}}\n", v.join(","))
        }
        TxnBody::Error(t) => format!("{}\n", t.err),
        TxnBody::SetAcl(t) => format!("{},{},{}\n", jstr(&t.path), acl_vector(&t.acl), t.version),
        TxnBody::Check(t) => format!("{},{}\n", jstr(&t.path), t.version),
        TxnBody::Multi(_) => String::new(),
    }
}

/// MultiTxn: `op:raw sub-txn bytes as UTF-8` joined by ';' (parsed from the raw bytes so
/// that null buffers and any sub-txn type print exactly as Java prints them).
fn format_multi(mut b: &[u8]) -> Result<String, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err("truncated MultiTxn".into());
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    let i32_of = |s: &[u8]| i32::from_be_bytes([s[0], s[1], s[2], s[3]]);
    let count = i32_of(take(&mut b, 4)?);
    let mut parts = Vec::new();
    for _ in 0..count.max(0) {
        let typ = i32_of(take(&mut b, 4)?);
        let len = i32_of(take(&mut b, 4)?);
        let data = if len < 0 {
            &[][..]
        } else {
            take(&mut b, len as usize)?
        };
        parts.push(format!("{}:{}", op2string(typ), lossy(data)));
    }
    Ok(parts.join(";"))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// ToStringOutputArchive.escapeString: a leading quote, no closing one.
fn jstr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 1);
    o.push('\'');
    for c in s.chars() {
        match c {
            '\0' => o.push_str("%00"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            ',' => o.push_str("%2C"),
            '}' => o.push_str("%7D"),
            '%' => o.push_str("%25"),
            c => o.push(c),
        }
    }
    o
}

/// An ACL as a nested record: `s{perms,s{'scheme,'id}}`.
fn acl_record(a: &Acl) -> String {
    format!(
        "s{{{},s{{{},{}}}}}",
        a.perms,
        jstr(&a.id.scheme),
        jstr(&a.id.id)
    )
}

/// A `vector<ACL>` field: `v{s{..},s{..}}`.
fn acl_vector(acl: &[Acl]) -> String {
    let v: Vec<String> = acl.iter().map(acl_record).collect();
    format!("v{{{}}}", v.join(","))
}

/// `List<ACL>.toString()`: `[` + each ACL's toString (`perms,s{'scheme,'id}\n`) joined by
/// ", " + `]`.
fn acl_list(acl: &[Acl]) -> String {
    let v: Vec<String> = acl
        .iter()
        .map(|a| {
            format!(
                "{},s{{{},{}}}\n",
                a.perms,
                jstr(&a.id.scheme),
                jstr(&a.id.id)
            )
        })
        .collect();
    format!("[{}]", v.join(", "))
}

// --- dates (always UTC) -----------------------------------------------------------------

/// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday) of epoch millis, UTC,
/// proleptic Gregorian.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let wd = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod / 60 % 60) as u32,
        (sod % 60) as u32,
        wd,
    )
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `java.util.Date.toString()` in UTC: `Thu Jan 01 00:00:00 UTC 1970`.
pub fn java_date_string(ms: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(ms);
    format!(
        "{} {} {d:02} {h:02}:{mi:02}:{s:02} UTC {y}",
        DAYS[wd as usize],
        MONTHS[mo as usize - 1]
    )
}

/// `DateFormat.getDateTimeInstance(SHORT, LONG)` in en_US, UTC: `1/2/24, 3:04:05 PM UTC`.
pub fn java_short_long_date(ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{mo}/{d}/{:02}, {h12}:{mi:02}:{s:02} {ampm} UTC",
        y.rem_euclid(100)
    )
}

// --- java.util.HashMap iteration order ----------------------------------------------------

/// `String.hashCode()` (over UTF-16 code units).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// `Long.hashCode()`.
pub fn java_long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// The order in which a `java.util.HashMap` created with `initial_capacity` (a power of
/// two: 8 for `new HashSet<>(8)`, 16 for `new HashMap<>()`) iterates keys with these
/// `hashCode()`s, inserted in this order (all distinct). Returns indices into `hashes`.
///
/// Exact while no bucket holds more than 8 keys in a table of 64 or more (Java then turns
/// the bucket into a red-black tree, whose iteration order is not simulated here).
pub fn java_hash_order(hashes: &[i32], initial_capacity: usize) -> Vec<usize> {
    let mut cap = initial_capacity.max(1).next_power_of_two();
    let mut bins: Vec<Vec<(u32, usize)>> = vec![Vec::new(); cap];
    let resize = |bins: &mut Vec<Vec<(u32, usize)>>, cap: &mut usize| {
        let old = *cap;
        *cap = old * 2;
        let mut nb: Vec<Vec<(u32, usize)>> = vec![Vec::new(); *cap];
        for (j, bin) in bins.drain(..).enumerate() {
            for e in bin {
                // Java splits each bucket into a low and a high list, keeping order.
                let to = if e.0 as usize & old == 0 { j } else { j + old };
                nb[to].push(e);
            }
        }
        *bins = nb;
    };
    for (i, &h) in hashes.iter().enumerate() {
        let spread = (h ^ ((h as u32) >> 16) as i32) as u32;
        let idx = spread as usize & (cap - 1);
        bins[idx].push((spread, i));
        if bins[idx].len() > 8 && cap < 64 {
            // treeifyBin on a small table resizes instead.
            resize(&mut bins, &mut cap);
        }
        if i + 1 > cap * 3 / 4 {
            resize(&mut bins, &mut cap);
        }
    }
    bins.into_iter().flatten().map(|(_, i)| i).collect()
}

// --- snapshots ----------------------------------------------------------------------------

/// `Util.getZxidFromName`: -1 unless `snapshot.<hex fitting a signed long>...`.
fn zxid_from_file_name(path: &Path) -> i64 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() >= 2 && parts[0] == "snapshot" {
        i64::from_str_radix(parts[1], 16).unwrap_or(-1)
    } else {
        -1
    }
}

/// `%#016x` of a long.
fn hex16(v: i64) -> String {
    format!("0x{:014x}", v as u64)
}

struct Node {
    data: crate::jute::Data,
    stat: StatPersisted,
    /// Child names in the order Java's loader adds them (file order).
    children: Vec<String>,
}

/// Render a snapshot file (`with_data`: also each node's data).
pub fn snapshot_dump(path: &Path, with_data: bool) -> Result<String, String> {
    let name = path.display().to_string();
    // Plain, gzip or snappy-java stream, chosen by the file name's suffix.
    let f = snapshot::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut meta = SnapMeta::default();
    let mut nodes_done = false;
    let res = snapshot::read_snapshot_into(
        f,
        |n| {
            let key = n.path.clone();
            if !n.path.is_empty() {
                let slash = n.path.rfind('/').unwrap_or(0);
                let parent = &n.path[..slash];
                let child = n.path[slash + 1..].to_string();
                let Some(p) = nodes.get_mut(parent) else {
                    return Err(SnapError::Malformed(format!(
                        "Invalid Datatree, unable to find parent {parent} of path {}",
                        n.path
                    )));
                };
                if !p.children.contains(&child) {
                    p.children.push(child);
                }
            }
            let children = nodes.remove(&key).map(|o| o.children).unwrap_or_default();
            nodes.insert(
                key,
                Node {
                    data: n.data,
                    stat: n.stat,
                    children,
                },
            );
            Ok(())
        },
        &mut meta,
        &mut nodes_done,
    );
    match res {
        Ok(()) => {}
        // Java's SnapshotFormatter never reads the seal: a bad or missing one still prints.
        Err(e) if nodes_done => eprintln!("warning: {name}: {e} (printed anyway, as Java does)"),
        Err(e) => return Err(format!("{name}: {e}")),
    }
    let Some(_) = nodes.get("") else {
        return Err(format!("{name}: snapshot has no root node"));
    };
    let mut out = String::new();
    // DataTree.getNodeCount(): the root is in the map twice ("" and "/").
    let _ = writeln!(out, "ZNode Details (count={}):", nodes.len() + 1);
    let mut max_zxid = i64::MIN;
    // Depth-first, children in HashSet order; an explicit stack keeps deep trees safe.
    let mut stack: Vec<String> = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        let key = if p == "/" { "" } else { p.as_str() };
        let Some(n) = nodes.get(key) else { continue };
        out.push_str("----\n");
        out.push_str(&p);
        out.push('\n');
        let s = &n.stat;
        let _ = writeln!(out, "  cZxid = {}", hex16(s.czxid));
        let _ = writeln!(out, "  ctime = {}", java_date_string(s.ctime));
        let _ = writeln!(out, "  mZxid = {}", hex16(s.mzxid));
        let _ = writeln!(out, "  mtime = {}", java_date_string(s.mtime));
        let _ = writeln!(out, "  pZxid = {}", hex16(s.pzxid));
        let _ = writeln!(out, "  cversion = {}", s.cversion);
        let _ = writeln!(out, "  dataVersion = {}", s.version);
        let _ = writeln!(out, "  aclVersion = {}", s.aversion);
        let _ = writeln!(out, "  ephemeralOwner = {}", hex16(s.ephemeral_owner));
        if with_data {
            use base64::Engine;
            let _ = writeln!(
                out,
                "  data = {}",
                base64::engine::general_purpose::STANDARD.encode(&n.data)
            );
        } else {
            let _ = writeln!(out, "  dataLength = {}", n.data.len());
        }
        max_zxid = max_zxid.max(s.mzxid).max(s.pzxid);
        let hashes: Vec<i32> = n.children.iter().map(|c| java_string_hash(c)).collect();
        let order = java_hash_order(&hashes, 8);
        let prefix = if p == "/" { "" } else { p.as_str() };
        for &i in order.iter().rev() {
            stack.push(format!("{prefix}/{}", n.children[i]));
        }
    }
    out.push_str("----\n");
    out.push_str("Session Details (sid, timeout, ephemeralCount):\n");
    // SnapshotFormatter's sessions map is a HashMap<Long, Integer> filled in file order;
    // a later duplicate id only replaces the timeout.
    let mut sessions: Vec<(i64, i32)> = Vec::new();
    for &(id, to) in &meta.sessions {
        match sessions.iter_mut().find(|(s, _)| *s == id) {
            Some(e) => e.1 = to,
            None => sessions.push((id, to)),
        }
    }
    let hashes: Vec<i32> = sessions.iter().map(|(id, _)| java_long_hash(*id)).collect();
    for i in java_hash_order(&hashes, 16) {
        let (sid, to) = sessions[i];
        // DataTree.getEphemerals: nodes owned by the session (containers and, as the tool
        // runs without extendedTypesEnabled, never TTLs... which then count as owned by
        // their 0xff.. "session", which is never a real one).
        let count = if sid == 0 || sid == i64::MIN {
            0
        } else {
            nodes
                .iter()
                .filter(|(k, n)| !k.is_empty() && n.stat.ephemeral_owner == sid)
                .count()
        };
        let _ = writeln!(out, "{}, {to}, {count}", hex16(sid));
    }
    let last = zxid_from_file_name(path).max(max_zxid);
    let _ = write!(out, "----\nLast zxid: 0x{:x}\n", last);
    Ok(out)
}

#[cfg(test)]
#[path = "dump_tests.rs"]
mod tests;
