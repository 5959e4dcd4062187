//! Quorum SASL on a member-to-member connection: runs `zab::quorum_auth`'s exchange
//! over the stream right after it is secured (and, on the election port, after the
//! initial message), before the connection carries anything else.
//!
//! Owns: the policy (`quorum.auth.learnerRequireSasl`: whether this member, dialing,
//! authenticates; `quorum.auth.serverRequireSasl`: whether it refuses a member that does
//! not), the byte I/O of the exchange with its deadline, the nonces, and the log lines.
//! Must never: read past what it is handed back (bytes after the exchange belong to the
//! connection and are returned to the caller), or wait on a peer without a bound.

use crate::auth::sasl_digest::{DigestServer, QUORUM_SERVICE};
use crate::auth::sasl_digest_client::DigestClient;
use crate::config::jaas_quorum::QuorumSaslLogin;
use crate::zab::quorum_auth::{
    AuthPacket, LearnerExchange, LearnerStep, ServerExchange, ServerStep, next_is_auth,
};
use bytes::BytesMut;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A member's quorum SASL (present when `quorum.auth.enableSasl` is on).
#[derive(Debug)]
pub struct QuorumSasl {
    login: QuorumSaslLogin,
}

/// 30 random bytes (the JDK's nonce size).
fn random_bytes() -> [u8; 30] {
    crate::server::core::nonce_bytes()
}

fn failed(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, m)
}

impl QuorumSasl {
    pub fn new(login: QuorumSaslLogin) -> QuorumSasl {
        QuorumSasl { login }
    }

    /// The dialing side (SaslQuorumAuthLearner.authenticate): nothing unless
    /// learnerRequireSasl; else the exchange, `Err` when it fails. `buf` holds, after,
    /// whatever the peer sent past its last packet.
    pub async fn as_learner<R, W>(
        &self,
        rd: &mut R,
        wr: &mut W,
        buf: &mut BytesMut,
        peer: &str,
        timeout: Duration,
    ) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if !self.login.learner_required {
            return Ok(());
        }
        let Some((user, password)) = &self.login.learner else {
            return Err(failed("no quorum learner credentials".into()));
        };
        let client = DigestClient::new(user, password, QUORUM_SERVICE, &random_bytes());
        let run = async {
            let (mut exchange, first) = LearnerExchange::start(client);
            send(wr, &first).await?;
            loop {
                let p = receive(rd, buf).await?;
                match exchange.on_packet(p) {
                    Ok(LearnerStep::Send(next)) => send(wr, &next).await?,
                    Ok(LearnerStep::Done) => return Ok(()),
                    Err(e) => return Err(failed(format!("{e} (server addr: {peer})"))),
                }
            }
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => {
                tracing::info!(
                    "Successfully completed the authentication using SASL. server addr: {peer}"
                );
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(failed(format!(
                "quorum SASL authentication against {peer} timed out"
            ))),
        }
    }

    /// The accepting side (SaslQuorumAuthServer.authenticate): looks at the next 8
    /// bytes; an exchange when they are the magic. `Err` = close the connection: the
    /// exchange failed, or the peer did not authenticate, and serverRequireSasl is on
    /// (off: logged and let through, as Java). `buf` holds bytes already read from `rd`
    /// and, after, what follows the exchange.
    pub async fn as_server<R, W>(
        &self,
        rd: &mut R,
        wr: &mut W,
        buf: &mut BytesMut,
        peer: &str,
        timeout: Duration,
    ) -> io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let required = self.login.server_required;
        let run = async {
            let is_auth = loop {
                if let Some(b) = next_is_auth(buf) {
                    break b;
                }
                if rd.read_buf(buf).await? == 0 {
                    return Ok(Peeked::Closed);
                }
            };
            if !is_auth {
                return Ok(Peeked::NotAuth);
            }
            let server = DigestServer::for_service(&random_bytes(), QUORUM_SERVICE);
            let mut exchange = ServerExchange::new(server);
            loop {
                let p = receive(rd, buf).await?;
                match exchange.on_packet(&self.login.server_users, p) {
                    ServerStep::Continue(reply) => send(wr, &reply).await?,
                    ServerStep::Success { reply, user } => {
                        send(wr, &reply).await?;
                        return Ok(Peeked::Authenticated(user));
                    }
                    ServerStep::Failed { reply, why } => {
                        let _ = send(wr, &reply).await;
                        return Err(failed(why));
                    }
                }
            }
        };
        let outcome = match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Err(failed("timed out".into())),
        };
        match outcome {
            Ok(Peeked::Authenticated(user)) => {
                tracing::info!(
                    "Successfully authenticated learner {user} using SASL. learner addr: {peer}"
                );
                Ok(())
            }
            // A dialer with the smaller id closes right after its initial message.
            Ok(Peeked::Closed) if !required => Ok(()),
            Ok(Peeked::NotAuth) if !required => Ok(()),
            Ok(Peeked::Closed | Peeked::NotAuth) => {
                let e = failed(
                    "Learner not trying to authenticate and authentication is required".into(),
                );
                tracing::error!("Failed to authenticate using SASL (learner addr: {peer}): {e}");
                Err(e)
            }
            Err(e) if required => {
                tracing::error!("Failed to authenticate using SASL (learner addr: {peer}): {e}");
                Err(e)
            }
            Err(e) => {
                tracing::warn!(
                    "Failed to authenticate using SASL (learner addr: {peer}): {e}; maintaining \
                     the connection, quorum.auth.serverRequireSasl=false"
                );
                Ok(())
            }
        }
    }
}

/// What the accepting side found.
enum Peeked {
    /// The peer closed before sending 8 bytes.
    Closed,
    /// The connection's first message, not an exchange.
    NotAuth,
    /// An exchange that authenticated this user.
    Authenticated(String),
}

async fn send<W: AsyncWrite + Unpin>(wr: &mut W, p: &AuthPacket) -> io::Result<()> {
    let mut b = BytesMut::with_capacity(64);
    p.encode(&mut b);
    wr.write_all(&b).await?;
    wr.flush().await
}

async fn receive<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> io::Result<AuthPacket> {
    loop {
        match AuthPacket::decode(buf) {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if rd.read_buf(buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during quorum SASL authentication",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sasl_digest::DigestUsers;
    use crate::config::jaas_quorum::QuorumSaslLogin;

    fn login(server_required: bool, learner_required: bool, pass: &str) -> QuorumSasl {
        let mut users = DigestUsers::default();
        users.users.insert("test".into(), "test".into());
        QuorumSasl::new(QuorumSaslLogin {
            server_required,
            learner_required,
            server_users: users,
            learner: Some(("test".into(), pass.into())),
            warnings: vec![],
        })
    }

    /// Both sides over a real socket pair; the learner then sends `after`, which the
    /// server must find in its buffer (or read next).
    async fn pair(
        learner: QuorumSasl,
        server: QuorumSasl,
    ) -> (io::Result<()>, io::Result<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let t = Duration::from_secs(10);
        let srv = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (mut rd, mut wr) = s.into_split();
            let mut buf = BytesMut::new();
            server
                .as_server(&mut rd, &mut wr, &mut buf, "learner", t)
                .await?;
            while buf.len() < 5 {
                if rd.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            Ok(buf.to_vec())
        });
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = s.into_split();
        let mut buf = BytesMut::new();
        let r = learner
            .as_learner(&mut rd, &mut wr, &mut buf, "server", t)
            .await;
        if r.is_ok() {
            wr.write_all(b"after").await.unwrap();
        }
        drop(wr);
        (r, srv.await.unwrap())
    }

    #[tokio::test]
    async fn required_both_ways_with_the_same_secret() {
        let (l, s) = pair(login(true, true, "test"), login(true, true, "test")).await;
        assert!(l.is_ok(), "{l:?}");
        assert_eq!(s.unwrap(), b"after");
    }

    #[tokio::test]
    async fn a_wrong_password_fails_both_sides_when_required() {
        let (l, s) = pair(login(true, true, "nope"), login(true, true, "test")).await;
        assert!(l.is_err() && s.is_err(), "{l:?} {s:?}");
    }

    #[tokio::test]
    async fn not_required_lets_a_silent_learner_through() {
        // The learner does not authenticate; its first bytes are the connection's.
        let (l, s) = pair(login(false, false, "x"), login(false, false, "test")).await;
        assert!(l.is_ok());
        assert_eq!(s.unwrap(), b"after");
        // A required server refuses it.
        let (_, s) = pair(login(false, false, "x"), login(true, false, "test")).await;
        assert!(s.is_err());
    }

    #[tokio::test]
    async fn a_failed_exchange_is_let_through_when_not_required() {
        let (l, s) = pair(login(false, true, "nope"), login(false, false, "test")).await;
        assert!(l.is_err());
        // The server logs and goes on; the learner closed, so nothing follows.
        assert_eq!(s.unwrap(), b"");
    }
}
