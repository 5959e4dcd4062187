//! Quorum SASL: the exchange members run on a fresh election or quorum-port connection
//! before anything else when `quorum.auth.enableSasl` is on (Java's QuorumAuth,
//! SaslQuorumAuthLearner, SaslQuorumAuthServer), as pure state machines over
//! `QuorumAuthPacket {long magic; int status; buffer token}` records.
//!
//! The dialing side (the *learner*: a member opening an election connection, a learner
//! connecting to its leader) sends its tokens only when `quorum.auth.learnerRequireSasl`
//! is on; the accepting side (the *server*) looks at the next 8 bytes: the magic starts
//! an exchange, anything else is the connection's first message (refused when
//! `quorum.auth.serverRequireSasl` is on).
//!
//! Owns: the packet's encoding and incremental decoding, the learner's and the server's
//! steps (statuses, the retry bound, which outcome ends the connection).
//! Must never: do I/O, draw nonces, or decide policy from configuration (the driver,
//! `server::quorum_sasl`, says what is required).

use crate::auth::sasl_digest::{DigestServer, DigestUsers, Step};
use crate::auth::sasl_digest_client::DigestClient;
use bytes::{BufMut, BytesMut};

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, Java's `-0xa0dbcafecafe1234L`: that hex literal
/// is already a negative long, so the value is positive (Java's comment calls it
/// negative). A member that does not expect an exchange reads its first 4 bytes as a
/// frame length far over any limit.
pub const MAGIC: i64 = (0xa0db_cafe_cafe_1234_u64 as i64).wrapping_neg();

/// `QuorumAuth.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Success,
    Error,
}

impl Status {
    pub fn code(self) -> i32 {
        match self {
            Status::InProgress => 0,
            Status::Success => 1,
            Status::Error => -1,
        }
    }
    /// Java maps an unknown code to ERROR.
    pub fn from_code(c: i32) -> Status {
        match c {
            0 => Status::InProgress,
            1 => Status::Success,
            _ => Status::Error,
        }
    }
}

/// Largest token accepted (DIGEST-MD5's are a few hundred bytes; the JDK caps a
/// response at 4 KiB).
pub const MAX_TOKEN: usize = 64 * 1024;

/// One QuorumAuthPacket. `token` None is jute's null buffer (length -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPacket {
    pub magic: i64,
    pub status: Status,
    pub token: Option<Vec<u8>>,
}

impl AuthPacket {
    pub fn new(status: Status, token: Option<Vec<u8>>) -> AuthPacket {
        AuthPacket {
            magic: MAGIC,
            status,
            token,
        }
    }

    pub fn encode(&self, out: &mut BytesMut) {
        out.put_i64(self.magic);
        out.put_i32(self.status.code());
        match &self.token {
            None => out.put_i32(-1),
            Some(t) => {
                out.put_i32(t.len() as i32);
                out.put_slice(t);
            }
        }
    }

    /// Take one packet off the front of `buf`: `Ok(None)` when more bytes are needed.
    pub fn decode(buf: &mut BytesMut) -> Result<Option<AuthPacket>, String> {
        if buf.len() < 16 {
            return Ok(None);
        }
        let magic = i64::from_be_bytes(buf[0..8].try_into().unwrap_or([0; 8]));
        let status = i32::from_be_bytes(buf[8..12].try_into().unwrap_or([0; 4]));
        let len = i32::from_be_bytes(buf[12..16].try_into().unwrap_or([0; 4]));
        let token = match len {
            -1 => {
                let _ = buf.split_to(16);
                None
            }
            n if n < -1 || n as usize > MAX_TOKEN => {
                return Err(format!("quorum auth packet with a token length of {n}"));
            }
            n => {
                let n = n as usize;
                if buf.len() < 16 + n {
                    return Ok(None);
                }
                let b = buf.split_to(16 + n);
                Some(b[16..].to_vec())
            }
        };
        Ok(Some(AuthPacket {
            magic,
            status: Status::from_code(status),
            token,
        }))
    }
}

/// `QuorumAuth.nextPacketIsAuth`: `None` until 8 bytes are there.
pub fn next_is_auth(buf: &[u8]) -> Option<bool> {
    let head: [u8; 8] = buf.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(head) == MAGIC)
}

/// What the learner does after a server packet.
#[derive(Debug, PartialEq, Eq)]
pub enum LearnerStep {
    Send(AuthPacket),
    /// Authenticated (the server said SUCCESS and proved the password).
    Done,
}

/// SaslQuorumAuthLearner.authenticate's loop.
#[derive(Debug)]
pub struct LearnerExchange {
    client: DigestClient,
}

impl LearnerExchange {
    /// The exchange and its first packet (IN_PROGRESS with DIGEST-MD5's empty token).
    pub fn start(client: DigestClient) -> (LearnerExchange, AuthPacket) {
        let first = AuthPacket::new(Status::InProgress, Some(client.initial_response()));
        (LearnerExchange { client }, first)
    }

    /// The server's packet: what to send next, done, or why authentication failed.
    pub fn on_packet(&mut self, p: AuthPacket) -> Result<LearnerStep, String> {
        let token = p.token.unwrap_or_default();
        match p.status {
            Status::Error => Err("Authentication failed against the server".into()),
            Status::Success => match self.client.evaluate(&token)? {
                None => Ok(LearnerStep::Done),
                Some(_) => {
                    Err("Protocol error: attempting to send response after completion".into())
                }
            },
            Status::InProgress => match self.client.evaluate(&token)? {
                Some(r) => Ok(LearnerStep::Send(AuthPacket::new(
                    Status::InProgress,
                    Some(r),
                ))),
                // Complete before the server said SUCCESS: Java's final status check.
                None => Err("Authentication failed, qpStatus: IN_PROGRESS".into()),
            },
        }
    }
}

/// What the server does after a learner packet.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this (IN_PROGRESS) and read the learner's next packet.
    Continue(AuthPacket),
    /// Send this (SUCCESS with the server's proof): the learner is `user`.
    Success { reply: AuthPacket, user: String },
    /// Send this (ERROR): authentication failed for `why`.
    Failed { reply: AuthPacket, why: String },
}

/// `SaslQuorumAuthServer.MAX_RETRIES`.
const MAX_RETRIES: u32 = 5;

/// SaslQuorumAuthServer.authenticate's loop.
#[derive(Debug)]
pub struct ServerExchange {
    server: DigestServer,
    tries: u32,
}

impl ServerExchange {
    pub fn new(server: DigestServer) -> ServerExchange {
        ServerExchange { server, tries: 0 }
    }

    /// The learner's next token (its packet's status is not looked at, as in Java).
    pub fn on_packet(&mut self, users: &DigestUsers, p: AuthPacket) -> ServerStep {
        let token = p.token.unwrap_or_default();
        let error = |why: String, token: Vec<u8>| ServerStep::Failed {
            reply: AuthPacket::new(Status::Error, Some(token)),
            why,
        };
        match self.server.evaluate(users, &token) {
            Step::Challenge(c) => {
                self.tries += 1;
                if self.tries > MAX_RETRIES {
                    return error(format!("retries={} exceeded", self.tries), c);
                }
                ServerStep::Continue(AuthPacket::new(Status::InProgress, Some(c)))
            }
            Step::Complete {
                token,
                authorization_id,
            } => ServerStep::Success {
                reply: AuthPacket::new(Status::Success, Some(token)),
                user: authorization_id,
            },
            Step::Failed(why) | Step::Abort(why) => error(why, Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sasl_digest::QUORUM_SERVICE;

    fn users() -> DigestUsers {
        let mut u = DigestUsers::default();
        u.users.insert("test".into(), "test".into());
        u
    }

    /// Run both sides through encoded bytes, as on a socket.
    fn run(user: &str, pass: &str) -> (Result<(), String>, Option<String>) {
        let client = DigestClient::new(user, pass, QUORUM_SERVICE, &[3u8; 30]);
        let (mut learner, first) = LearnerExchange::start(client);
        let mut server = ServerExchange::new(DigestServer::for_service(&[5; 30], QUORUM_SERVICE));
        let mut wire = BytesMut::new();
        first.encode(&mut wire);
        assert_eq!(next_is_auth(&wire), Some(true));
        loop {
            let p = AuthPacket::decode(&mut wire).unwrap().unwrap();
            let (reply, user, last) = match server.on_packet(&users(), p) {
                ServerStep::Continue(r) => (r, None, false),
                ServerStep::Success { reply, user } => (reply, Some(user), true),
                ServerStep::Failed { reply, .. } => (reply, None, true),
            };
            reply.encode(&mut wire);
            let p = AuthPacket::decode(&mut wire).unwrap().unwrap();
            match learner.on_packet(p) {
                Ok(LearnerStep::Send(next)) => {
                    assert!(!last);
                    next.encode(&mut wire);
                }
                Ok(LearnerStep::Done) => return (Ok(()), user),
                Err(e) => return (Err(e), user),
            }
        }
    }

    #[test]
    fn members_with_the_same_secret_authenticate() {
        assert_eq!(run("test", "test"), (Ok(()), Some("test".into())));
    }

    #[test]
    fn a_wrong_password_ends_in_error_on_both_sides() {
        let (r, user) = run("test", "wrong");
        assert!(r.is_err() && user.is_none());
    }

    #[test]
    fn packets_decode_incrementally_and_bounded() {
        let p = AuthPacket::new(Status::Success, Some(b"rspauth=ab".to_vec()));
        let mut all = BytesMut::new();
        p.encode(&mut all);
        AuthPacket::new(Status::InProgress, None).encode(&mut all);
        all.put_slice(b"\0\0\0\x05rest");
        let whole = all.clone();
        for cut in 0..26 {
            let mut b = BytesMut::from(&whole[..cut]);
            assert_eq!(AuthPacket::decode(&mut b).unwrap(), None, "{cut}");
        }
        assert_eq!(AuthPacket::decode(&mut all).unwrap(), Some(p));
        let null = AuthPacket::decode(&mut all).unwrap().unwrap();
        assert_eq!((null.status, null.token), (Status::InProgress, None));
        // What follows the exchange is left for the connection.
        assert_eq!(&all[..], b"\0\0\0\x05rest");
        assert_eq!(next_is_auth(&all), Some(false));
        assert_eq!(next_is_auth(&all[..7]), None);
        let mut huge = BytesMut::new();
        huge.put_i64(MAGIC);
        huge.put_i32(0);
        huge.put_i32(MAX_TOKEN as i32 + 1);
        assert!(AuthPacket::decode(&mut huge).is_err());
        let mut neg = BytesMut::new();
        neg.put_i64(MAGIC);
        neg.put_i32(0);
        neg.put_i32(-2);
        assert!(AuthPacket::decode(&mut neg).is_err());
        assert_eq!(Status::from_code(7), Status::Error);
    }

    /// The magic's bytes as Java writes the long.
    #[test]
    fn the_magic_is_javas() {
        assert_eq!(MAGIC, 0x5f24_3501_3501_edcc);
        assert_eq!(
            MAGIC.to_be_bytes(),
            [0x5f, 0x24, 0x35, 0x01, 0x35, 0x01, 0xed, 0xcc]
        );
    }
}
