//! The `sasl` opcode (SetSASLRequest → SetSASLResponse) as ZooKeeperServer.processSasl
//! handles it: each connection's DIGEST-MD5 exchange, the ids a success adds, and the
//! AUTHFAILED-and-close answer to a failure.
//!
//! Owns: the per-connection [`DigestServer`] (created on the first token) and the nonce's
//! random bytes. Must never: decide the mechanism's arithmetic (that is
//! `auth::sasl_digest`) or keep a connection that failed to authenticate.

use super::{ConnId, Core};
use crate::auth::sasl_digest::{DigestServer, Step};
use crate::jute::Record;
use crate::jute::records::*;
use crate::proto::{Response, encode_frame, err};
use bytes::Bytes;

/// 30 random bytes, as the JDK's DigestMD5Server draws for its nonce.
pub(crate) fn nonce_bytes() -> [u8; 30] {
    let mut b = [0u8; 30];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: still unpredictable enough per process (ahash's random keys)
        // and unique per call (a counter).
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let rs = ahash::RandomState::new();
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let h = rs.hash_one((n, i)).to_be_bytes();
            chunk.copy_from_slice(&h[..chunk.len()]);
        }
    }
    b
}

impl Core {
    pub(super) fn sasl(&mut self, conn: ConnId, xid: i32, token: Bytes) {
        let Some(users) = self.settings.sasl.clone() else {
            // No SASL login configured: ZooKeeper (no SASL server on the connection)
            // answers OK with a null token and zxid 0.
            self.reply(conn, xid, 0, 0, &Response::SaslNull);
            return;
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let server = c
            .sasl
            .get_or_insert_with(|| Box::new(DigestServer::new(&nonce_bytes())));
        match server.evaluate(&users, &token) {
            Step::Challenge(t) => {
                let resp = Response::Sasl(SaslToken { token: t.into() });
                self.reply(conn, xid, 0, 0, &resp);
            }
            Step::Complete {
                token,
                authorization_id,
            } => {
                tracing::info!(
                    "Session 0x{:x}: adding SASL authorization for authorizationID: {}",
                    c.session_id,
                    authorization_id
                );
                let superuser = self.settings.sasl_super_users.contains(&authorization_id);
                let mut ids = vec![Id {
                    scheme: "sasl".into(),
                    id: authorization_id.clone(),
                }];
                if superuser {
                    tracing::info!(
                        "Session 0x{:x}: Authenticated Id '{}' as super user",
                        c.session_id,
                        authorization_id
                    );
                    ids.push(Id {
                        scheme: "super".into(),
                        id: String::new(),
                    });
                }
                c.link.add_auth(ids);
                let resp = Response::Sasl(SaslToken {
                    token: token.into(),
                });
                self.reply(conn, xid, 0, 0, &resp);
            }
            Step::Failed(why) => {
                let required = self
                    .settings
                    .enforce_auth_schemes
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|x| x == "sasl"));
                if self.settings.allow_sasl_failed_clients && !required {
                    tracing::warn!(
                        "Client {} failed to SASL authenticate: {why}; maintaining the \
                         connection (allowSaslFailedClients)",
                        c.peer
                    );
                    self.reply(conn, xid, 0, 0, &Response::SaslNull);
                    return;
                }
                tracing::warn!(
                    "Client {} failed to SASL authenticate: {why}; closing the connection",
                    c.peer
                );
                let code = if required {
                    err::SESSION_CLOSED_REQUIRE_SASL_AUTH
                } else {
                    err::AUTH_FAILED
                };
                self.stats.auth_failed += 1;
                // Unlike other errors, Java sends the (null) SetSASLResponse body too.
                if let Some(c) = self.conns.get_mut(&conn) {
                    let pushed = c.outbox.push_with(&mut self.actions.flush, |b| {
                        encode_frame(b, |out| {
                            ReplyHeader {
                                xid,
                                zxid: 0,
                                err: code,
                            }
                            .write(out);
                            Response::SaslNull.write(out);
                        })
                    });
                    if pushed {
                        c.sent += 1;
                        self.stats.packets_sent += 1;
                    }
                    c.link.answered_by_core();
                    c.outbox.close_after_flush();
                }
            }
            Step::Abort(why) => {
                tracing::warn!(
                    "Client {}: SASL authentication aborted: {why}; closing the connection",
                    c.peer
                );
                self.stats.auth_failed += 1;
                c.link.answered_by_core();
                c.outbox.close();
            }
        }
    }
}
