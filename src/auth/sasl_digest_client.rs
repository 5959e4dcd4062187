//! The client side of SASL DIGEST-MD5 (RFC 2831) as the JDK's DigestMD5Client runs it
//! for a ZooKeeper quorum learner (SaslQuorumAuthLearner): no initial response, one
//! digest-response to the server's challenge (qop `auth`, md5-sess), then the server's
//! `rspauth` checked.
//!
//! Owns: reading the challenge, the response's directives and arithmetic (shared with
//! the server side in `sasl_digest`), and the check of the server's proof.
//! Must never: touch sockets, the clock or a random source itself (the cnonce comes in),
//! panic on any token, or log the password.

use super::sasl_digest::{Service, a1_hash, decode, kd, parse_directives};

/// The JDK client's limit on a server challenge.
pub const MAX_CHALLENGE_LENGTH: usize = 2048;
/// The JDK client's receive buffer size, announced as `maxbuf`.
const MAX_BUF: u32 = 65536;
/// The only nonce count a one-shot authentication uses.
const NONCE_COUNT: &str = "00000001";

#[derive(Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the server's digest-challenge.
    Challenge,
    /// Response sent; waiting for `rspauth=<this>`.
    Rspauth(String),
    Done,
    /// A step failed: nothing more is accepted.
    Failed,
}

/// One exchange's DIGEST-MD5 client.
#[derive(Clone)]
pub struct DigestClient {
    user: String,
    password: String,
    service: Service,
    cnonce: String,
    state: State,
}

impl std::fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestClient")
            .field("user", &self.user)
            .field("service", &self.service)
            .field("complete", &self.is_complete())
            .finish()
    }
}

impl DigestClient {
    /// A client for `user` with `password`; its cnonce is the base64 of `cnonce_bytes`
    /// (the JDK uses 30 random bytes).
    pub fn new(user: &str, password: &str, service: Service, cnonce_bytes: &[u8]) -> Self {
        use base64::Engine;
        DigestClient {
            user: user.to_string(),
            password: password.to_string(),
            service,
            cnonce: base64::engine::general_purpose::STANDARD.encode(cnonce_bytes),
            state: State::Challenge,
        }
    }

    /// The first token: DIGEST-MD5 has no initial response, so an empty one is sent.
    pub fn initial_response(&self) -> Vec<u8> {
        Vec::new()
    }

    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// The server's next token: `Ok(Some(response))` to send, `Ok(None)` when the
    /// exchange is complete (the server proved it knows the password), `Err` (the JDK's
    /// SaslException message) otherwise.
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let r = match std::mem::replace(&mut self.state, State::Failed) {
            State::Challenge => self.respond(token).map(Some),
            State::Rspauth(expected) => {
                let d = parse_directives(token).map_err(|e| format!("DIGEST-MD5: {e}"))?;
                match d.get("rspauth") {
                    Some(got) if got[..] == *expected.as_bytes() => {
                        self.state = State::Done;
                        Ok(None)
                    }
                    Some(_) => Err(
                        "DIGEST-MD5: Server's rspauth value does not match what client expects"
                            .into(),
                    ),
                    None => Err("DIGEST-MD5: Authentication failed (missing rspauth)".into()),
                }
            }
            State::Done | State::Failed => Err("DIGEST-MD5: Client at illegal state".into()),
        };
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        if challenge.len() > MAX_CHALLENGE_LENGTH {
            return Err(format!(
                "DIGEST-MD5: Invalid digest-challenge length. Got:  {} Expected < {MAX_CHALLENGE_LENGTH}",
                challenge.len()
            ));
        }
        let violation = |m: &str| format!("DIGEST-MD5: Digest-challenge format violation: {m}");
        let d = parse_directives(challenge).map_err(|e| violation(&e))?;
        let utf8 = match d.get("charset") {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(violation("Unrecognised charset value")),
        };
        let text = |k: &str| d.get(k).map(|v| decode(v, utf8));
        let nonce = text("nonce").ok_or_else(|| violation("Missing nonce"))?;
        if text("algorithm").as_deref() != Some("md5-sess") {
            return Err(violation("algorithm directive missing or incorrect"));
        }
        if let Some(qops) = text("qop")
            && !qops.split(',').any(|q| q.trim() == "auth")
        {
            return Err("DIGEST-MD5: No common protection layer between client and server".into());
        }
        // SaslClientCallbackHandler takes the realm the server offered (or none).
        let realm = text("realm").unwrap_or_default();
        let uri = self.service.digest_uri();
        let a1 = a1_hash(
            &self.user,
            &realm,
            &self.password,
            &nonce,
            &self.cnonce,
            None,
            utf8,
        );
        let response = kd(
            &a1,
            &nonce,
            NONCE_COUNT,
            &self.cnonce,
            "auth",
            &format!("AUTHENTICATE:{uri}"),
        );
        let rspauth = kd(
            &a1,
            &nonce,
            NONCE_COUNT,
            &self.cnonce,
            "auth",
            &format!(":{uri}"),
        );
        self.state = State::Rspauth(rspauth);
        let mut out = String::new();
        if utf8 {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!("username=\"{}\",", quoted(&self.user)));
        if d.contains_key("realm") {
            out.push_str(&format!("realm=\"{}\",", quoted(&realm)));
        }
        out.push_str(&format!(
            "nonce=\"{}\",nc={NONCE_COUNT},cnonce=\"{}\",digest-uri=\"{uri}\",maxbuf={MAX_BUF},\
             response={response},qop=auth",
            quoted(&nonce),
            quoted(&self.cnonce)
        ));
        Ok(if utf8 {
            out.into_bytes()
        } else {
            out.chars().map(|c| (c as u32).min(255) as u8).collect()
        })
    }
}

/// A quoted-string's content: `"` and `\` escaped with a backslash.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sasl_digest::{DigestServer, DigestUsers, QUORUM_SERVICE, Step};

    fn users() -> DigestUsers {
        let mut u = DigestUsers::default();
        u.users.insert("learner".into(), "s3cret \"q\"".into());
        u
    }

    /// The whole exchange against our server: challenge, response, rspauth.
    fn run(user: &str, pass: &str) -> Result<String, String> {
        let mut server = DigestServer::for_service(&[7u8; 30], QUORUM_SERVICE);
        let mut client = DigestClient::new(user, pass, QUORUM_SERVICE, &[9u8; 30]);
        let Step::Challenge(ch) = server.evaluate(&users(), &client.initial_response()) else {
            panic!("no challenge");
        };
        let resp = client.evaluate(&ch)?.expect("a response");
        match server.evaluate(&users(), &resp) {
            Step::Complete {
                token,
                authorization_id,
            } => {
                assert_eq!(client.evaluate(&token)?, None);
                assert!(client.is_complete());
                Ok(authorization_id)
            }
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn a_learner_authenticates_to_the_quorum_server() {
        assert_eq!(run("learner", "s3cret \"q\"").as_deref(), Ok("learner"));
    }

    #[test]
    fn a_wrong_password_or_user_fails_on_the_server() {
        assert!(
            run("learner", "nope")
                .unwrap_err()
                .contains("Mismatched response")
        );
        assert!(
            run("other", "x")
                .unwrap_err()
                .contains("cannot acquire password")
        );
    }

    /// The response as the JDK's DigestMD5Client writes it, for a fixed challenge and
    /// cnonce (RFC 2831's arithmetic, checked against the server side's verification).
    #[test]
    fn the_response_has_the_jdk_directives() {
        let mut c = DigestClient::new("test", "test", QUORUM_SERVICE, &[1u8; 30]);
        let ch = b"realm=\"zk-quorum-sasl-md5\",nonce=\"abc\",charset=utf-8,algorithm=md5-sess";
        let r = String::from_utf8(c.evaluate(ch).unwrap().unwrap()).unwrap();
        assert!(
            r.starts_with(
                "charset=utf-8,username=\"test\",realm=\"zk-quorum-sasl-md5\",nonce=\"abc\",\
                 nc=00000001,cnonce=\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\",\
                 digest-uri=\"zookeeper-quorum/zk-quorum-sasl-md5\",maxbuf=65536,response="
            ),
            "{r}"
        );
        assert!(r.ends_with(",qop=auth"), "{r}");
    }

    #[test]
    fn a_forged_rspauth_or_bad_challenge_is_refused() {
        let mut c = DigestClient::new("test", "test", QUORUM_SERVICE, &[1u8; 30]);
        let ch = b"realm=\"zk-quorum-sasl-md5\",nonce=\"abc\",charset=utf-8,algorithm=md5-sess";
        c.evaluate(ch).unwrap();
        assert!(
            c.evaluate(b"rspauth=00")
                .unwrap_err()
                .contains("does not match")
        );
        assert!(!c.is_complete());
        for bad in [
            &b"realm=\"r\",charset=utf-8,algorithm=md5-sess"[..],
            b"nonce=\"n\",algorithm=md5",
            b"nonce=\"n\",algorithm=md5-sess,qop=\"auth-conf\"",
            b"nonce=\"n\",algorithm=md5-sess,charset=latin9",
            b"nonce=\"unterminated",
            &[b'a'; MAX_CHALLENGE_LENGTH + 1],
        ] {
            let mut c = DigestClient::new("test", "test", QUORUM_SERVICE, &[1u8; 30]);
            assert!(
                c.evaluate(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The quorum server refuses an authorization id other than the authenticated name.
    #[test]
    fn the_quorum_server_refuses_another_authzid() {
        let mut server = DigestServer::for_service(&[7u8; 30], QUORUM_SERVICE);
        let Step::Challenge(ch) = server.evaluate(&users(), b"") else {
            panic!()
        };
        let mut c = DigestClient::new("learner", "s3cret \"q\"", QUORUM_SERVICE, &[9u8; 30]);
        let resp = String::from_utf8(c.evaluate(&ch).unwrap().unwrap()).unwrap();
        // The same response with an authzid: its digest no longer matches either way,
        // so compute the digest with it through the server's own arithmetic.
        let d = parse_directives(resp.as_bytes()).unwrap();
        let nonce = decode(&d["nonce"], true);
        let cnonce = decode(&d["cnonce"], true);
        let uri = QUORUM_SERVICE.digest_uri();
        let a1 = a1_hash(
            "learner",
            "zk-quorum-sasl-md5",
            "s3cret \"q\"",
            &nonce,
            &cnonce,
            Some("super"),
            true,
        );
        let r = kd(
            &a1,
            &nonce,
            NONCE_COUNT,
            &cnonce,
            "auth",
            &format!("AUTHENTICATE:{uri}"),
        );
        let forged = format!(
            "charset=utf-8,username=\"learner\",realm=\"zk-quorum-sasl-md5\",nonce=\"{nonce}\",\
             nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",response={r},qop=auth,\
             authzid=\"super\""
        );
        match server.evaluate(&users(), forged.as_bytes()) {
            Step::Failed(m) => assert!(m.contains("not authorized"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
