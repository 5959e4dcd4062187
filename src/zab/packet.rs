//! QuorumPackets: the messages of the Leader/Learner protocol on the quorum port, as
//! Java's `QuorumPacket` jute record puts them on the wire, and the small payloads some
//! of them carry (LearnerInfo, a forwarded REQUEST, REVALIDATE, a learner's PING).
//!
//! Owns: encoding and incremental decoding of `{i32 type, i64 zxid, buffer data,
//! vector<Id> authinfo}` written back to back with no length prefix (so the decoder
//! tells "not all here yet" from "malformed"), and the payload layouts.
//! Must never: do I/O or decide what a packet means for the protocol (that is the
//! leader's and learner's job); a peer's bytes never panic it.

use crate::jute::records::Id;
use crate::jute::{JuteError, JuteWrite, Reader};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Packet types (`Leader.java` constants).
pub mod kind {
    pub const REQUEST: i32 = 1;
    pub const PROPOSAL: i32 = 2;
    pub const ACK: i32 = 3;
    pub const COMMIT: i32 = 4;
    pub const PING: i32 = 5;
    pub const REVALIDATE: i32 = 6;
    pub const SYNC: i32 = 7;
    pub const INFORM: i32 = 8;
    pub const COMMITANDACTIVATE: i32 = 9;
    pub const NEWLEADER: i32 = 10;
    pub const FOLLOWERINFO: i32 = 11;
    pub const UPTODATE: i32 = 12;
    pub const DIFF: i32 = 13;
    pub const TRUNC: i32 = 14;
    pub const SNAP: i32 = 15;
    pub const OBSERVERINFO: i32 = 16;
    pub const LEADERINFO: i32 = 17;
    pub const ACKEPOCH: i32 = 18;
    pub const INFORMANDACTIVATE: i32 = 19;

    /// The name Java's `LearnerHandler.packetToString` prints.
    pub fn name(k: i32) -> &'static str {
        match k {
            REQUEST => "REQUEST",
            PROPOSAL => "PROPOSAL",
            ACK => "ACK",
            COMMIT => "COMMIT",
            PING => "PING",
            REVALIDATE => "REVALIDATE",
            SYNC => "SYNC",
            INFORM => "INFORM",
            COMMITANDACTIVATE => "COMMITANDACTIVATE",
            NEWLEADER => "NEWLEADER",
            FOLLOWERINFO => "FOLLOWERINFO",
            UPTODATE => "UPTODATE",
            DIFF => "DIFF",
            TRUNC => "TRUNC",
            SNAP => "SNAP",
            OBSERVERINFO => "OBSERVERINFO",
            LEADERINFO => "LEADERINFO",
            ACKEPOCH => "ACKEPOCH",
            INFORMANDACTIVATE => "INFORMANDACTIVATE",
            _ => "UNKNOWN",
        }
    }
}

/// The protocol version a 3.4+ leader and learner exchange (`0x10000`).
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// One QuorumPacket. `data` and `auth` distinguish null (`None`, length -1 on the wire)
/// from empty, as Java does (a learner's PING with no sessions carries an empty buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumPacket {
    pub kind: i32,
    pub zxid: i64,
    pub data: Option<Bytes>,
    pub auth: Option<Vec<Id>>,
}

/// Why bytes from a peer are not a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// A length field below -1.
    NegativeLength { what: &'static str, len: i32 },
    /// A data buffer larger than the configured bound (jute.maxbuffer-style).
    TooLarge { len: usize, max: usize },
    /// A string that is not UTF-8, or a payload of the wrong shape.
    Malformed(String),
}

impl std::fmt::Display for PacketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PacketError::NegativeLength { what, len } => {
                write!(f, "quorum packet {what} length {len} is negative")
            }
            PacketError::TooLarge { len, max } => {
                write!(
                    f,
                    "quorum packet data of {len} bytes exceeds the {max}-byte bound"
                )
            }
            PacketError::Malformed(m) => write!(f, "malformed quorum packet: {m}"),
        }
    }
}

impl std::error::Error for PacketError {}

impl From<JuteError> for PacketError {
    fn from(e: JuteError) -> Self {
        PacketError::Malformed(e.to_string())
    }
}

impl QuorumPacket {
    /// A packet with null data and null authinfo.
    pub fn new(kind: i32, zxid: i64) -> QuorumPacket {
        QuorumPacket {
            kind,
            zxid,
            data: None,
            auth: None,
        }
    }
    pub fn with_data(kind: i32, zxid: i64, data: Bytes) -> QuorumPacket {
        QuorumPacket {
            kind,
            zxid,
            data: Some(data),
            auth: None,
        }
    }

    /// Bytes this packet takes on the wire.
    pub fn encoded_len(&self) -> usize {
        let data = self.data.as_ref().map_or(0, |d| d.len());
        let auth: usize = self.auth.as_ref().map_or(0, |v| {
            v.iter().map(|i| 8 + i.scheme.len() + i.id.len()).sum()
        });
        4 + 8 + 4 + data + 4 + auth
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        out.put_i32(self.kind);
        out.put_i64(self.zxid);
        match &self.data {
            None => out.put_i32(-1),
            Some(d) => {
                out.put_i32(d.len() as i32);
                out.put_slice(d);
            }
        }
        match &self.auth {
            None => out.put_i32(-1),
            Some(ids) => {
                out.put_i32(ids.len() as i32);
                for id in ids {
                    out.put_ustring(&id.scheme);
                    out.put_ustring(&id.id);
                }
            }
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }

    /// Take one packet off the front of `buf`: `Ok(None)` when it is not all there yet
    /// (nothing consumed), an error when the bytes cannot be a packet (the connection
    /// must be dropped). `max_data` bounds the data buffer, each auth string, and the
    /// auth list as a whole.
    pub fn decode_from(
        buf: &mut BytesMut,
        max_data: usize,
    ) -> Result<Option<QuorumPacket>, PacketError> {
        let Some(total) = complete_len(buf, max_data)? else {
            return Ok(None);
        };
        let frame = buf.split_to(total).freeze();
        let mut r = Reader::new(frame);
        let kind = r.read_i32()?;
        let zxid = r.read_i64()?;
        let data = r.read_buffer_opt()?;
        let n = r.read_i32()?;
        let auth = if n < 0 {
            None
        } else {
            let mut ids = Vec::with_capacity((n as usize).min(64));
            for _ in 0..n {
                let scheme = r.read_ustring()?;
                let id = r.read_ustring()?;
                ids.push(Id { scheme, id });
            }
            Some(ids)
        };
        Ok(Some(QuorumPacket {
            kind,
            zxid,
            data,
            auth,
        }))
    }

    /// The data, null read as empty.
    pub fn data_bytes(&self) -> Bytes {
        self.data.clone().unwrap_or_default()
    }
}

/// The length of the first packet in `buf` if it is complete.
fn complete_len(buf: &[u8], max_data: usize) -> Result<Option<usize>, PacketError> {
    let mut pos = 12usize; // type + zxid
    let Some(data_len) = len_at(buf, pos, "data")? else {
        return Ok(None);
    };
    pos += 4;
    if let Some(n) = data_len {
        if n > max_data {
            return Err(PacketError::TooLarge {
                len: n,
                max: max_data,
            });
        }
        pos += n;
    }
    let Some(count) = len_at(buf, pos, "authinfo")? else {
        return Ok(None);
    };
    pos += 4;
    // The auth list is bounded as a whole too (Java bounds neither its count nor its
    // size): a peer could otherwise keep this side buffering one endless packet.
    let auth_end = pos.saturating_add(max_data);
    if let Some(count) = count {
        for _ in 0..count {
            if pos > auth_end {
                return Err(PacketError::TooLarge {
                    len: pos,
                    max: auth_end,
                });
            }
            for what in ["auth scheme", "auth id"] {
                let Some(n) = len_at(buf, pos, what)? else {
                    return Ok(None);
                };
                pos += 4;
                let n = n.unwrap_or(0);
                if n > max_data {
                    return Err(PacketError::TooLarge {
                        len: n,
                        max: max_data,
                    });
                }
                pos += n;
            }
        }
    }
    Ok((buf.len() >= pos).then_some(pos))
}

/// The i32 length at `pos` (`Ok(None)`: not there yet; inner `None`: -1).
fn len_at(
    buf: &[u8],
    pos: usize,
    what: &'static str,
) -> Result<Option<Option<usize>>, PacketError> {
    let Some(b) = buf.get(pos..pos + 4) else {
        return Ok(None);
    };
    let n = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    match n {
        -1 => Ok(Some(None)),
        n if n < 0 => Err(PacketError::NegativeLength { what, len: n }),
        n => Ok(Some(Some(n as usize))),
    }
}

/// FOLLOWERINFO / OBSERVERINFO data (`LearnerInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: i64,
    pub protocol_version: i32,
    pub config_version: i64,
}

impl LearnerInfo {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(20);
        b.put_i64(self.sid);
        b.put_i32(self.protocol_version);
        b.put_i64(self.config_version);
        b.freeze()
    }
    /// As `LearnerHandler` reads it: 20 bytes from 3.5+, 12 from 3.4, 8 (the sid alone,
    /// protocol 0) from older learners.
    pub fn decode(data: &[u8]) -> Result<LearnerInfo, PacketError> {
        let mut b = data;
        match data.len() {
            n if n >= 20 => Ok(LearnerInfo {
                sid: b.get_i64(),
                protocol_version: b.get_i32(),
                config_version: b.get_i64(),
            }),
            n if n >= 12 => Ok(LearnerInfo {
                sid: b.get_i64(),
                protocol_version: b.get_i32(),
                config_version: 0,
            }),
            n if n >= 8 => Ok(LearnerInfo {
                sid: b.get_i64(),
                protocol_version: 0,
                config_version: 0,
            }),
            n => Err(PacketError::Malformed(format!(
                "learner info of {n} bytes (at least 8 needed)"
            ))),
        }
    }
}

/// A client request a learner forwards (REQUEST data): `i64 session, i32 cxid, i32 type`
/// and the request record's bytes as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op_code: i32,
    pub body: Bytes,
}

impl ForwardedRequest {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.body.len());
        b.put_i64(self.session_id);
        b.put_i32(self.cxid);
        b.put_i32(self.op_code);
        b.put_slice(&self.body);
        b.freeze()
    }
    pub fn decode(data: &Bytes) -> Result<ForwardedRequest, PacketError> {
        if data.len() < 16 {
            return Err(PacketError::Malformed(format!(
                "forwarded request of {} bytes (at least 16 needed)",
                data.len()
            )));
        }
        let mut b = &data[..16];
        Ok(ForwardedRequest {
            session_id: b.get_i64(),
            cxid: b.get_i32(),
            op_code: b.get_i32(),
            body: data.slice(16..),
        })
    }
}

/// REVALIDATE learner → leader: `i64 session, i32 timeout`.
pub fn encode_revalidate_request(session_id: i64, timeout: i32) -> Bytes {
    let mut b = BytesMut::with_capacity(12);
    b.put_i64(session_id);
    b.put_i32(timeout);
    b.freeze()
}

pub fn decode_revalidate_request(data: &[u8]) -> Result<(i64, i32), PacketError> {
    if data.len() < 12 {
        return Err(PacketError::Malformed(format!(
            "revalidate of {} bytes (12 needed)",
            data.len()
        )));
    }
    let mut b = data;
    Ok((b.get_i64(), b.get_i32()))
}

/// REVALIDATE leader → learner: `i64 session, bool valid`.
pub fn encode_revalidate_reply(session_id: i64, valid: bool) -> Bytes {
    let mut b = BytesMut::with_capacity(9);
    b.put_i64(session_id);
    b.put_u8(valid as u8);
    b.freeze()
}

pub fn decode_revalidate_reply(data: &[u8]) -> Result<(i64, bool), PacketError> {
    if data.len() < 9 {
        return Err(PacketError::Malformed(format!(
            "revalidate reply of {} bytes (9 needed)",
            data.len()
        )));
    }
    let mut b = data;
    Ok((b.get_i64(), b.get_u8() != 0))
}

/// A learner's PING data: the sessions its clients touched, `{i64 session, i32 timeout}*`.
pub fn encode_touches(touches: &[(i64, i32)]) -> Bytes {
    let mut b = BytesMut::with_capacity(12 * touches.len());
    for &(s, t) in touches {
        b.put_i64(s);
        b.put_i32(t);
    }
    b.freeze()
}

pub fn decode_touches(data: &[u8]) -> Result<Vec<(i64, i32)>, PacketError> {
    if !data.len().is_multiple_of(12) {
        return Err(PacketError::Malformed(format!(
            "ping session list of {} bytes (not a multiple of 12)",
            data.len()
        )));
    }
    let mut b = data;
    let mut v = Vec::with_capacity(data.len() / 12);
    while b.has_remaining() {
        v.push((b.get_i64(), b.get_i32()));
    }
    Ok(v)
}

/// LEADERINFO data / ACKEPOCH data: one i32.
pub fn encode_i32(v: i32) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

pub fn decode_i32(data: &[u8]) -> Result<i32, PacketError> {
    match data.get(..4) {
        Some(b) => Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(PacketError::Malformed(format!(
            "{} bytes where an int was expected",
            data.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(p: &QuorumPacket) {
        let b = p.to_bytes();
        assert_eq!(b.len(), p.encoded_len());
        // Every prefix is "not yet", the whole is the packet, and extra bytes stay.
        for cut in 0..b.len() {
            let mut part = BytesMut::from(&b[..cut]);
            assert_eq!(QuorumPacket::decode_from(&mut part, 1 << 20), Ok(None));
            assert_eq!(part.len(), cut);
        }
        let mut whole = BytesMut::from(&b[..]);
        whole.extend_from_slice(b"xyz");
        let got = QuorumPacket::decode_from(&mut whole, 1 << 20)
            .unwrap()
            .unwrap();
        assert_eq!(&got, p);
        assert_eq!(&whole[..], b"xyz");
    }

    #[test]
    fn packets_round_trip_and_decode_incrementally() {
        roundtrip(&QuorumPacket::new(kind::UPTODATE, -1));
        roundtrip(&QuorumPacket::with_data(kind::PING, 5, Bytes::new()));
        roundtrip(&QuorumPacket {
            kind: kind::REQUEST,
            zxid: -1,
            data: Some(Bytes::from_static(b"abcdefghijklmnopq")),
            auth: Some(vec![
                Id {
                    scheme: "digest".into(),
                    id: "alice:x".into(),
                },
                Id {
                    scheme: "ip".into(),
                    id: "127.0.0.1".into(),
                },
            ]),
        });
    }

    #[test]
    fn null_and_empty_data_differ_on_the_wire() {
        let null = QuorumPacket::new(kind::PING, 1).to_bytes();
        let empty = QuorumPacket::with_data(kind::PING, 1, Bytes::new()).to_bytes();
        assert_eq!(&null[12..16], &[0xff; 4]);
        assert_eq!(&empty[12..16], &[0; 4]);
        assert_eq!(&null[16..20], &[0xff; 4]);
    }

    #[test]
    fn an_endless_auth_list_is_refused_not_buffered() {
        let mut b = BytesMut::new();
        b.put_i32(kind::REQUEST);
        b.put_i64(1);
        b.put_i32(-1);
        b.put_i32(i32::MAX);
        for _ in 0..100 {
            b.put_i32(0);
            b.put_i32(0);
        }
        assert!(matches!(
            QuorumPacket::decode_from(&mut b, 100),
            Err(PacketError::TooLarge { .. })
        ));
    }

    #[test]
    fn malformed_lengths_are_errors() {
        let mut b = BytesMut::new();
        b.put_i32(kind::PROPOSAL);
        b.put_i64(1);
        b.put_i32(-2);
        assert!(matches!(
            QuorumPacket::decode_from(&mut b, 100),
            Err(PacketError::NegativeLength { .. })
        ));
        let mut b = BytesMut::new();
        b.put_i32(kind::PROPOSAL);
        b.put_i64(1);
        b.put_i32(101);
        assert!(matches!(
            QuorumPacket::decode_from(&mut b, 100),
            Err(PacketError::TooLarge { .. })
        ));
        let mut b = BytesMut::new();
        b.put_i32(kind::REQUEST);
        b.put_i64(1);
        b.put_i32(-1);
        b.put_i32(1);
        b.put_i32(2);
        b.put_slice(&[0xff, 0xfe]);
        b.put_i32(0);
        assert!(matches!(
            QuorumPacket::decode_from(&mut b, 100),
            Err(PacketError::Malformed(_))
        ));
    }

    #[test]
    fn payloads() {
        let li = LearnerInfo {
            sid: 3,
            protocol_version: PROTOCOL_VERSION,
            config_version: 0,
        };
        assert_eq!(LearnerInfo::decode(&li.encode()), Ok(li));
        assert_eq!(LearnerInfo::decode(&7i64.to_be_bytes()).unwrap().sid, 7);
        assert!(LearnerInfo::decode(&[1, 2]).is_err());
        let fr = ForwardedRequest {
            session_id: 0x100,
            cxid: 4,
            op_code: 1,
            body: Bytes::from_static(b"body"),
        };
        assert_eq!(ForwardedRequest::decode(&fr.encode()), Ok(fr));
        assert!(ForwardedRequest::decode(&Bytes::from_static(b"short")).is_err());
        let t = vec![(1, 30000), (2, 4000)];
        assert_eq!(decode_touches(&encode_touches(&t)), Ok(t));
        assert!(decode_touches(&[0; 13]).is_err());
        assert_eq!(
            decode_revalidate_reply(&encode_revalidate_reply(9, true)),
            Ok((9, true))
        );
        assert_eq!(
            decode_revalidate_request(&encode_revalidate_request(9, 3000)),
            Ok((9, 3000))
        );
        assert_eq!(decode_i32(&encode_i32(-1)), Ok(-1));
    }
}
