//! Election-port bytes (`QuorumCnxManager` + `FastLeaderElection`'s message layout).
//!
//! Owns: the initial message a dialer sends once per connection (V1 `-65536` with one
//! `host:port`, V2 `-65535` with `|`-joined addresses, or a pre-3.5 peer's bare
//! non-negative sid), the notification payload (version 2 with the config text, plus the
//! legacy 28-byte and 40-byte forms Java still accepts), and the i32 length frame that
//! carries notifications (1..=512 KiB).
//! Must never: do I/O, or panic or allocate unboundedly on what a peer sent: every
//! malformed input is a [`WireError`].

use bytes::{BufMut, Bytes, BytesMut};

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one `host:port` address.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `QuorumCnxManager.PROTOCOL_VERSION_V2`: `|`-joined addresses (multiAddress.enabled).
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the longest address text an initial message may carry.
pub const MAX_INITIAL_ADDR_LEN: usize = 2048;
/// `QuorumCnxManager.PACKETMAXSIZE`: the largest frame payload.
pub const PACKET_MAX_SIZE: usize = 512 * 1024;
/// `QuorumPeer.OBSERVER_ID`: what an observer without an id would send as its sid.
pub const OBSERVER_ID: i64 = i64::MAX;
/// `Notification.CURRENTVERSION`.
pub const NOTIFICATION_VERSION: i32 = 2;
/// Bytes of a version-2 notification before its config text.
pub const NOTIFICATION_HEADER_LEN: usize = 44;

/// Why bytes from a peer were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("unrecognized protocol version {0}")]
    ProtocolVersion(i64),
    #[error("unreasonable address length {0} (must be 1..=2048)")]
    AddrLength(i32),
    #[error("badly formed address: {0:?}")]
    BadAddress(String),
    #[error("invalid packet length {0} (must be 1..=524288)")]
    FrameLength(i32),
    #[error("notification too short: {0} bytes (at least 28)")]
    ShortNotification(usize),
    #[error("partial notification: {len} bytes, needed {needed}")]
    PartialNotification { len: usize, needed: usize },
    #[error("invalid configLength {config_len} in a {len}-byte notification")]
    ConfigLength { config_len: i32, len: usize },
    #[error("unknown peer state {0}")]
    UnknownState(i32),
}

/// `QuorumPeer.ServerState`, with its ordinal as the wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl PeerState {
    pub fn code(self) -> i32 {
        match self {
            PeerState::Looking => 0,
            PeerState::Following => 1,
            PeerState::Leading => 2,
            PeerState::Observing => 3,
        }
    }
    pub fn from_code(c: i32) -> Option<PeerState> {
        match c {
            0 => Some(PeerState::Looking),
            1 => Some(PeerState::Following),
            2 => Some(PeerState::Leading),
            3 => Some(PeerState::Observing),
            _ => None,
        }
    }
    /// Java's enum name (`LOOKING`...), as its log lines print it.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Looking => "LOOKING",
            PeerState::Following => "FOLLOWING",
            PeerState::Leading => "LEADING",
            PeerState::Observing => "OBSERVING",
        }
    }
}

impl std::fmt::Display for PeerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which form an initial message had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialForm {
    /// A pre-3.5 peer: the first long is its sid and nothing else follows.
    Legacy,
    /// `-65536`: one address.
    V1,
    /// `-65535`: one or more addresses joined by `|`.
    V2,
}

/// What a dialer says first on an election connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub form: InitialForm,
    pub sid: i64,
    /// The dialer's election addresses as sent (`host:port`, IPv6 hosts bracketed); empty
    /// for the legacy form. Parse one with [`parse_host_port`].
    pub addrs: Vec<String>,
}

impl InitialMessage {
    /// The bytes a dialer writes: V2 when `multi_address` (`multiAddress.enabled`), else
    /// V1 with the first address only (as `QuorumCnxManager.startConnection`).
    pub fn encode(sid: i64, addrs: &[String], multi_address: bool) -> Vec<u8> {
        let (version, text) = if multi_address {
            (PROTOCOL_VERSION_V2, addrs.join("|"))
        } else {
            (
                PROTOCOL_VERSION_V1,
                addrs.first().cloned().unwrap_or_default(),
            )
        };
        let mut b = Vec::with_capacity(20 + text.len());
        b.put_i64(version);
        b.put_i64(sid);
        b.put_i32(text.len() as i32);
        b.put_slice(text.as_bytes());
        b
    }

    /// Decode from the start of `buf`: `Ok(None)` = more bytes needed; `Ok(Some((msg,
    /// consumed)))` otherwise. Anything after `consumed` belongs to the framed stream.
    pub fn decode(buf: &[u8]) -> Result<Option<(InitialMessage, usize)>, WireError> {
        let Some(first) = read_i64(buf, 0) else {
            return Ok(None);
        };
        if first >= 0 {
            return Ok(Some((
                InitialMessage {
                    form: InitialForm::Legacy,
                    sid: first,
                    addrs: Vec::new(),
                },
                8,
            )));
        }
        let form = match first {
            PROTOCOL_VERSION_V1 => InitialForm::V1,
            PROTOCOL_VERSION_V2 => InitialForm::V2,
            v => return Err(WireError::ProtocolVersion(v)),
        };
        let (Some(sid), Some(len)) = (read_i64(buf, 8), read_i32(buf, 16)) else {
            return Ok(None);
        };
        if len <= 0 || len as usize > MAX_INITIAL_ADDR_LEN {
            return Err(WireError::AddrLength(len));
        }
        let end = 20 + len as usize;
        let Some(raw) = buf.get(20..end) else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(raw);
        let addrs: Vec<String> = text.split('|').map(str::to_string).collect();
        // Java parses every address and rejects the message on a malformed one.
        for a in &addrs {
            parse_host_port(a)?;
        }
        Ok(Some((InitialMessage { form, sid, addrs }, end)))
    }
}

/// Split `host:port` / `[v6]:port` as `ConfigUtils.getHostAndPort` + `Integer.parseInt`
/// + the `InetSocketAddress` port range do. The host comes back without brackets.
pub fn parse_host_port(s: &str) -> Result<(String, u16), WireError> {
    let bad = || WireError::BadAddress(s.to_string());
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let i = rest.find(']').ok_or_else(bad)?;
        let port = rest[i + 1..].strip_prefix(':').ok_or_else(bad)?;
        (&rest[..i], port)
    } else {
        let mut parts = s.split(':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), None) => (h, p),
            _ => return Err(bad()),
        }
    };
    if port.contains(':') {
        return Err(bad());
    }
    let port: i32 = port.parse().map_err(|_| bad())?;
    let port = u16::try_from(port).map_err(|_| bad())?;
    Ok((host.to_string(), port))
}

/// One election message (`FastLeaderElection.Notification` / `ToSend`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The sender's state.
    pub state: PeerState,
    /// Proposed leader sid.
    pub leader: i64,
    /// Proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's logicalclock (round).
    pub election_epoch: i64,
    /// Proposed leader's epoch.
    pub peer_epoch: i64,
    /// Format version: 2 for what we send; 0 for the legacy forms.
    pub version: i32,
    /// The sender's `QuorumVerifier.toString()` (version > 1 only).
    pub config: Option<Bytes>,
}

impl Notification {
    /// A version-2 notification carrying `config`.
    pub fn new(
        state: PeerState,
        leader: i64,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
        config: Bytes,
    ) -> Notification {
        Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: Some(config),
        }
    }

    /// The payload (no length prefix) in the version-2 form `buildMsg` writes:
    /// 44 + config bytes. (We only ever send this form.)
    pub fn encode(&self) -> Vec<u8> {
        let cfg: &[u8] = self.config.as_deref().unwrap_or(&[]);
        let mut b = Vec::with_capacity(NOTIFICATION_HEADER_LEN + cfg.len());
        b.put_i32(self.state.code());
        b.put_i64(self.leader);
        b.put_i64(self.zxid);
        b.put_i64(self.election_epoch);
        b.put_i64(self.peer_epoch);
        b.put_i32(NOTIFICATION_VERSION);
        b.put_i32(cfg.len() as i32);
        b.put_slice(cfg);
        b
    }

    /// The payload with its i32 length frame, as it goes on the wire.
    pub fn encode_framed(&self) -> Bytes {
        let body = self.encode();
        let mut b = BytesMut::with_capacity(4 + body.len());
        b.put_i32(body.len() as i32);
        b.put_slice(&body);
        b.freeze()
    }

    /// Decode a payload the way `WorkerReceiver.run` does: exactly 28 bytes = no peer
    /// epoch (taken from the zxid), exactly 40 = no version and no config (the version
    /// int is not read), otherwise peer epoch + version, and config when version > 1
    /// (`0 <= configLen <= len`). Trailing bytes are ignored, as Java does.
    pub fn decode(b: &[u8]) -> Result<Notification, WireError> {
        let len = b.len();
        if len < 28 {
            return Err(WireError::ShortNotification(len));
        }
        let partial = |needed| WireError::PartialNotification { len, needed };
        let code = read_i32(b, 0).ok_or(partial(4))?;
        let leader = read_i64(b, 4).ok_or(partial(12))?;
        let zxid = read_i64(b, 12).ok_or(partial(20))?;
        let election_epoch = read_i64(b, 20).ok_or(partial(28))?;
        let mut version = 0;
        let mut config = None;
        let peer_epoch = if len == 28 {
            crate::zab::zxid::epoch_of(zxid)
        } else {
            let pe = read_i64(b, 28).ok_or(partial(36))?;
            if len != 40 {
                version = read_i32(b, 36).ok_or(partial(40))?;
            }
            pe
        };
        if version > 1 {
            let cl = read_i32(b, 40).ok_or(partial(44))?;
            if cl < 0 || cl as usize > len {
                return Err(WireError::ConfigLength {
                    config_len: cl,
                    len,
                });
            }
            let end = 44 + cl as usize;
            let raw = b.get(44..end).ok_or(partial(end))?;
            config = Some(Bytes::copy_from_slice(raw));
        }
        let state = PeerState::from_code(code).ok_or(WireError::UnknownState(code))?;
        Ok(Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config,
        })
    }

    /// The `version=<hex>` line of the config text, for log lines ("0" when absent).
    pub fn config_version_hex(&self) -> String {
        self.config
            .as_deref()
            .and_then(|c| {
                String::from_utf8_lossy(c)
                    .lines()
                    .find_map(|l| l.strip_prefix("version=").map(str::to_string))
            })
            .unwrap_or_else(|| "0".to_string())
    }
}

/// Check a frame's length prefix: `Ok(len)` if 1..=512 KiB, else the error that makes the
/// receiver drop the connection (`RecvWorker.run`).
pub fn check_frame_len(len: i32) -> Result<usize, WireError> {
    if len <= 0 || len as usize > PACKET_MAX_SIZE {
        Err(WireError::FrameLength(len))
    } else {
        Ok(len as usize)
    }
}

/// Split one frame off the front of `buf`: `Ok(None)` = incomplete, `Ok(Some((payload,
/// consumed)))` otherwise.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(len) = read_i32(buf, 0) else {
        return Ok(None);
    };
    let len = check_frame_len(len)?;
    Ok(buf.get(4..4 + len).map(|p| (p, 4 + len)))
}

fn read_i64(b: &[u8], at: usize) -> Option<i64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(i64::from_be_bytes(s))
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(i32::from_be_bytes(s))
}
