//! Conformance of the quorum-port codec with what real Java ZooKeeper ensembles (3.8.0 and
//! 3.9.5) put on the wire, from `testdata/quorum-captures/` (copied from
//! `shared/quorum-captures/`): the first-packet-of-each-kind vectors, and every recorded
//! quorum connection (both directions), decoded completely and re-encoded byte for byte,
//! with the SNAP body skipped as a learner reads it and every PROPOSAL/INFORM txn, learner
//! info, forwarded request, revalidation and ping payload round-tripped.
//!
//! `vectors-quorum-<version>.txt` holds the quorum-port (`link q`) entries of the
//! captures' `vectors.json` one per line (`scenario conn sender receiver type subtype
//! hex`); its SNAP-BODY entry is `snap-body-<version>.hex` (see `snap_tests`).
//!
//! Also the readers other tests (the learner's replays) use: `recordings(version)`.
//!
//! Recording format (`rec/cNNNN-<q|e>-<dialer>-<acceptor>.rec` of `rec-<version>.tar.gz`,
//! inferred from the bytes and the captures' README): records of `i64 time_ns, u8 kind,
//! u32 len, len bytes`; kind 0 = dialer → acceptor bytes, 1 = acceptor → dialer, 2/3 =
//! bytes the proxy read on a cut link and never delivered, 9 = a text event (`open`,
//! `upstream-connected`, `eof 0|1`, `close`).

use super::packet::*;
use super::snap::{Progress, SnapDecoder};
use crate::jute::JuteLimits;
use crate::txn::codec::{decode_txn, encode_txn};
use bytes::{Bytes, BytesMut};
use flate2::read::GzDecoder;
use std::io::Read;

pub(crate) const VERSIONS: [&str; 2] = ["3.8.0", "3.9.5"];
const MAX: usize = JuteLimits::DEFAULT.field();

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One record of a `.rec` file.
#[derive(Debug, Clone)]
pub(crate) struct RecEvent {
    pub time_ns: i64,
    pub kind: u8,
    pub bytes: Vec<u8>,
}

pub(crate) const TO_ACCEPTOR: u8 = 0;
pub(crate) const TO_DIALER: u8 = 1;

/// A recorded connection.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    /// e.g. `c0017-q-2-3`
    pub name: String,
    pub events: Vec<RecEvent>,
}

impl Recording {
    /// All bytes one way, in order (cut-link bytes excluded: never delivered).
    pub fn stream(&self, kind: u8) -> Vec<u8> {
        self.events
            .iter()
            .filter(|e| e.kind == kind)
            .flat_map(|e| e.bytes.iter().copied())
            .collect()
    }
}

fn parse_rec(name: String, b: &[u8]) -> Recording {
    let mut events = Vec::new();
    let mut p = 0;
    while p < b.len() {
        assert!(p + 13 <= b.len(), "{name}: truncated record header at {p}");
        let time_ns = i64::from_be_bytes(b[p..p + 8].try_into().unwrap());
        let kind = b[p + 8];
        let len = u32::from_be_bytes(b[p + 9..p + 13].try_into().unwrap()) as usize;
        p += 13;
        assert!(p + len <= b.len(), "{name}: truncated record at {p}");
        events.push(RecEvent {
            time_ns,
            kind,
            bytes: b[p..p + len].to_vec(),
        });
        p += len;
    }
    Recording { name, events }
}

fn tarball(version: &str) -> &'static [u8] {
    match version {
        "3.8.0" => include_bytes!("../../testdata/quorum-captures/rec-3.8.0.tar.gz"),
        _ => include_bytes!("../../testdata/quorum-captures/rec-3.9.5.tar.gz"),
    }
}

/// Every quorum-port (`-q-`) recording of a version, by connection name.
pub(crate) fn recordings(version: &str) -> Vec<Recording> {
    let mut tar = Vec::new();
    GzDecoder::new(tarball(version))
        .read_to_end(&mut tar)
        .unwrap();
    let mut out = Vec::new();
    let mut p = 0;
    while p + 512 <= tar.len() {
        let h = &tar[p..p + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let name_end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = std::str::from_utf8(&h[..name_end]).unwrap().to_string();
        let size_s = std::str::from_utf8(&h[124..136]).unwrap();
        let size = usize::from_str_radix(size_s.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .unwrap_or(0);
        let typ = h[156];
        let body = &tar[p + 512..p + 512 + size];
        let base = name.rsplit('/').next().unwrap_or("");
        if (typ == b'0' || typ == 0) && base.contains("-q-") && base.ends_with(".rec") {
            let n = base.trim_end_matches(".rec").to_string();
            out.push(parse_rec(n, body));
        }
        p += 512 + size.div_ceil(512) * 512;
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What a learner (or a leader) reads off one direction of a quorum connection.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Packet {
        packet: QuorumPacket,
        raw: Bytes,
    },
    /// The SNAP body right after a SNAP packet (its length).
    SnapBody(usize),
}

/// Decode a whole direction; the SNAP body is skipped with `SnapDecoder`. Panics on
/// anything that does not decode or is left over.
pub(crate) fn decode_stream(name: &str, bytes: &[u8]) -> Vec<Item> {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while !buf.is_empty() {
        let before = buf.clone();
        let packet = QuorumPacket::decode_from(&mut buf, MAX)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: {} bytes left over", buf.len()));
        let used = before.len() - buf.len();
        let raw = before.freeze().slice(..used);
        let snap = packet.kind == kind::SNAP;
        out.push(Item::Packet { packet, raw });
        if snap {
            let mut d = SnapDecoder::new(false, MAX);
            match d
                .feed(&buf)
                .unwrap_or_else(|e| panic!("{name}: SNAP body: {e}"))
            {
                Progress::Done { consumed } => {
                    let _ = buf.split_to(consumed);
                    out.push(Item::SnapBody(consumed));
                }
                Progress::NeedMore => panic!("{name}: SNAP body incomplete"),
            }
        }
    }
    out
}

/// The packets of a decoded stream.
pub(crate) fn packets(items: &[Item]) -> Vec<QuorumPacket> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Packet { packet, .. } => Some(packet.clone()),
            Item::SnapBody(_) => None,
        })
        .collect()
}

/// Round-trip the payload a packet carries, by who sent it.
fn check_payload(what: &str, p: &QuorumPacket, from_learner: bool) {
    let data = p.data_bytes();
    match p.kind {
        kind::PROPOSAL | kind::INFORM => {
            let txn = decode_txn(data.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(txn.header.zxid, p.zxid, "{what}");
            assert_eq!(encode_txn(&txn), data, "{what}: txn re-encodes");
        }
        kind::FOLLOWERINFO | kind::OBSERVERINFO => {
            let li = LearnerInfo::decode(&data).unwrap();
            assert_eq!(li.protocol_version, PROTOCOL_VERSION, "{what}");
            assert_eq!(li.encode(), data, "{what}");
            assert!(p.auth.is_none(), "{what}");
        }
        kind::LEADERINFO => assert_eq!(decode_i32(&data), Ok(PROTOCOL_VERSION), "{what}"),
        kind::ACKEPOCH => {
            let e = decode_i32(&data).unwrap();
            assert_eq!(encode_i32(e), data, "{what}");
        }
        kind::REQUEST => {
            let fr = ForwardedRequest::decode(&data).unwrap();
            assert_eq!(fr.encode(), data, "{what}");
            assert_eq!(p.zxid, -1, "{what}");
        }
        kind::REVALIDATE if from_learner => {
            let (s, t) = decode_revalidate_request(&data).unwrap();
            assert_eq!(encode_revalidate_request(s, t), data, "{what}");
        }
        kind::REVALIDATE => {
            let (s, v) = decode_revalidate_reply(&data).unwrap();
            assert_eq!(encode_revalidate_reply(s, v), data, "{what}");
        }
        kind::PING if from_learner => {
            // Always a buffer, empty when nothing was touched; never null.
            let d = p.data.as_ref().expect("learner PING data is never null");
            let t = decode_touches(d).unwrap();
            assert_eq!(encode_touches(&t), *d, "{what}");
        }
        kind::PING => assert!(p.data.is_none(), "{what}: leader PING data is null"),
        _ => {}
    }
    if p.kind != kind::REQUEST {
        assert!(p.auth.is_none(), "{what}: only REQUEST carries authinfo");
    }
}

#[test]
fn every_quorum_vector_decodes_and_reencodes_byte_for_byte() {
    let mut seen = std::collections::BTreeSet::new();
    for v in VERSIONS {
        let text = match v {
            "3.8.0" => include_str!("../../testdata/quorum-captures/vectors-quorum-3.8.0.txt"),
            _ => include_str!("../../testdata/quorum-captures/vectors-quorum-3.9.5.txt"),
        };
        let mut n = 0;
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let f: Vec<&str> = line.split(' ').collect();
            let [scenario, conn, sender, receiver, typ, sub, hex] = f[..] else {
                panic!("bad vector line {line}");
            };
            let what = format!("{v} {scenario} {conn} {sender}->{receiver} {typ} {sub}");
            let bytes = unhex(hex);
            let mut buf = BytesMut::from(&bytes[..]);
            let p = QuorumPacket::decode_from(&mut buf, MAX)
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: incomplete"));
            assert!(buf.is_empty(), "{what}: {} bytes left", buf.len());
            assert_eq!(kind::name(p.kind), typ, "{what}");
            assert_eq!(p.to_bytes(), bytes, "{what}: re-encodes");
            assert_eq!(p.encoded_len(), bytes.len(), "{what}");
            // The learner is the dialer: FOLLOWERINFO's sender, ACK's sender...
            let from_learner = match typ {
                "REVALIDATE" => sub == "to-leader",
                "PING" => sub != "leader->learner",
                t => matches!(
                    t,
                    "FOLLOWERINFO" | "OBSERVERINFO" | "ACKEPOCH" | "ACK" | "REQUEST"
                ),
            };
            check_payload(&what, &p, from_learner);
            match (typ, sub) {
                ("PING", "learner-empty") => assert_eq!(p.data, Some(Bytes::new()), "{what}"),
                ("PING", "learner-touches") => {
                    // One session of follower 1's client (its id starts with sid 1).
                    let t = decode_touches(&p.data_bytes()).unwrap();
                    assert_eq!(t.len(), 1, "{what}");
                    assert_eq!((t[0].0 >> 56, t[0].1), (1, 10000), "{what}");
                }
                ("REQUEST", "createSession") => assert!(p.auth.is_none(), "{what}"),
                ("REQUEST", _) => {
                    let auth = p.auth.as_ref().expect("authinfo");
                    assert!(auth.iter().any(|i| i.scheme == "ip"), "{what}");
                }
                ("ACKEPOCH", "-1") => assert_eq!(decode_i32(&p.data_bytes()), Ok(-1)),
                _ => {}
            }
            seen.insert((typ.to_string(), sub.to_string()));
            n += 1;
        }
        assert_eq!(n, 40, "{v}: quorum vectors");
    }
    // The digest-authenticated REQUEST lists the digest id before the ip.
    assert!(seen.contains(&("REQUEST".into(), "sync".into())));
    assert!(seen.contains(&("REVALIDATE".into(), "to-learner".into())));
    assert!(seen.contains(&("PING".into(), "learner-empty".into())));
}

#[test]
fn request_with_digest_authinfo_as_captured() {
    let text = include_str!("../../testdata/quorum-captures/vectors-quorum-3.9.5.txt");
    let line = text
        .lines()
        .find(|l| l.contains(" REQUEST create "))
        .unwrap();
    let p = QuorumPacket::decode_from(
        &mut BytesMut::from(&unhex(line.rsplit(' ').next().unwrap())[..]),
        MAX,
    )
    .unwrap()
    .unwrap();
    let auth = p.auth.unwrap();
    assert_eq!(auth.len(), 2);
    assert_eq!(auth[0].scheme, "digest");
    assert!(auth[0].id.starts_with("alice:"));
    assert_eq!(
        (auth[1].scheme.as_str(), auth[1].id.as_str()),
        ("ip", "127.0.0.1")
    );
    let fr = ForwardedRequest::decode(&p.data.unwrap()).unwrap();
    assert_eq!(
        (fr.session_id, fr.cxid, fr.op_code),
        (0x10000a5f29b0000, 1, 1)
    );
}

#[test]
fn every_recorded_quorum_stream_decodes_completely_and_reencodes() {
    for v in VERSIONS {
        let recs = recordings(v);
        assert_eq!(recs.len(), 12, "{v}: quorum connections");
        let (mut snaps, mut txns, mut total) = (0, 0, 0);
        for r in &recs {
            for dir in [TO_ACCEPTOR, TO_DIALER] {
                let what = format!("{v} {} dir {dir}", r.name);
                let bytes = r.stream(dir);
                let items = decode_stream(&what, &bytes);
                // Re-encoding every packet (and the SNAP body as read) gives the stream.
                let mut again = Vec::with_capacity(bytes.len());
                for it in &items {
                    match it {
                        Item::Packet { packet, raw } => {
                            assert_eq!(&packet.to_bytes(), raw, "{what}");
                            check_payload(&what, packet, dir == TO_ACCEPTOR);
                            if matches!(packet.kind, kind::PROPOSAL | kind::INFORM) {
                                txns += 1;
                            }
                            again.extend_from_slice(raw);
                            total += 1;
                        }
                        Item::SnapBody(n) => {
                            snaps += 1;
                            let at = again.len();
                            again.extend_from_slice(&bytes[at..at + n]);
                        }
                    }
                }
                assert_eq!(again, bytes, "{what}");
                // Who sends what: the dialer is the learner.
                let learner_only = [
                    kind::FOLLOWERINFO,
                    kind::OBSERVERINFO,
                    kind::ACKEPOCH,
                    kind::ACK,
                    kind::REQUEST,
                ];
                let both = [kind::PING, kind::REVALIDATE];
                for p in packets(&items) {
                    let ok = if dir == TO_ACCEPTOR {
                        learner_only.contains(&p.kind) || both.contains(&p.kind)
                    } else {
                        !learner_only.contains(&p.kind)
                    };
                    assert!(ok, "{what}: {}", kind::name(p.kind));
                }
            }
        }
        // S08, S09b and S11 sync by SNAP.
        assert_eq!(snaps, 3, "{v}: SNAP bodies");
        assert!(txns > 600, "{v}: {txns} txns");
        assert!(total > 1000, "{v}: {total} packets");
    }
}
