//! The server side of SASL DIGEST-MD5 (RFC 2831) as the JDK's DigestMD5Server runs it for
//! ZooKeeper: for clients (protocol `zookeeper`, server name `zk-sasl-md5`, qop `auth`
//! only, ZooKeeper's SaslServerCallbackHandler deciding passwords and the authorization
//! id) and for quorum members (`zookeeper-quorum` / `zk-quorum-sasl-md5`, the rules of
//! SaslQuorumServerCallbackHandler). The client side is `sasl_digest_client`.
//!
//! Owns: the per-connection exchange (challenge → response → rspauth), parsing the
//! client's directives, the digest arithmetic, and the authorization id a success yields.
//! Must never: touch sockets, the clock or a random source itself (the nonce comes in),
//! panic on any token, or log passwords.

use md5::{Digest, Md5};
use std::collections::HashMap;

/// The JDK's limit on any client token, checked at every step (the first included).
pub const MAX_RESPONSE_LENGTH: usize = 4096;

/// The realm and server name Java's ZooKeeper creates its SaslServer with.
pub const SERVER_NAME: &str = "zk-sasl-md5";
/// The SASL protocol (service) name.
pub const PROTOCOL: &str = "zookeeper";

/// Which ZooKeeper SASL service an exchange is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The SASL protocol name (the digest-uri's first part).
    pub protocol: &'static str,
    /// The server name, also the realm.
    pub server_name: &'static str,
    /// Members authenticating each other (QuorumAuth): no `super` password, no Kerberos
    /// name mapping, authorized only as themselves.
    pub quorum: bool,
}

/// Clients authenticating to a server (ZooKeeperSaslServer).
pub const CLIENT_SERVICE: Service = Service {
    protocol: PROTOCOL,
    server_name: SERVER_NAME,
    quorum: false,
};

/// A learner authenticating to a member (QuorumAuth's protocol and digest names).
pub const QUORUM_SERVICE: Service = Service {
    protocol: "zookeeper-quorum",
    server_name: "zk-quorum-sasl-md5",
    quorum: true,
};

impl Service {
    /// The digest-uri both sides use: `protocol/server-name`.
    pub fn digest_uri(&self) -> String {
        format!("{}/{}", self.protocol, self.server_name)
    }
}

/// Who may authenticate and how ids are canonicalized: the DIGEST-MD5 users of the JAAS
/// `Server` section and the system properties SaslServerCallbackHandler reads.
#[derive(Clone, Default)]
pub struct DigestUsers {
    /// `user_<name>="<password>"` entries.
    pub users: HashMap<String, String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: the password of user `super`
    /// (only when `super` is one of `users`, as in Java).
    pub super_password: Option<String>,
    /// `zookeeper.kerberos.removeHostFromPrincipal=true`
    pub remove_host: bool,
    /// `zookeeper.kerberos.removeRealmFromPrincipal=true`
    pub remove_realm: bool,
}

impl std::fmt::Debug for DigestUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("DigestUsers")
            .field("users", &names)
            .field(
                "super_password",
                &self.super_password.as_ref().map(|_| "***"),
            )
            .field("remove_host", &self.remove_host)
            .field("remove_realm", &self.remove_realm)
            .finish()
    }
}

impl DigestUsers {
    /// SaslServerCallbackHandler's NameCallback + PasswordCallback.
    fn password(&self, user: &str) -> Option<&str> {
        let listed = self.users.get(user)?;
        if user == "super"
            && let Some(p) = &self.super_password
        {
            return Some(p);
        }
        Some(listed)
    }
}

/// What one token makes of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this token back; the exchange goes on.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (the rspauth) and add Id("sasl", authorization_id).
    Complete {
        token: Vec<u8>,
        authorization_id: String,
    },
    /// Authentication failed (Java: a SaslException): answer AUTHFAILED and close.
    Failed(String),
    /// Java throws a non-SASL exception (a malformed Kerberos-style name): the connection
    /// is closed without an answer.
    Abort(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    Challenged,
    Done,
}

/// One connection's DIGEST-MD5 server.
#[derive(Debug, Clone)]
pub struct DigestServer {
    state: State,
    nonce: String,
    service: Service,
}

/// Directives of a digest-response, values as raw bytes (decoded once the charset is known).
pub(super) type Directives = HashMap<String, Vec<u8>>;

/// Directives the JDK refuses to see twice.
const SINGLE: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nc",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
];

impl DigestServer {
    /// A server whose challenge will carry the base64 of `nonce_bytes` (the JDK uses 30
    /// random bytes: a 40-character nonce).
    pub fn new(nonce_bytes: &[u8]) -> DigestServer {
        Self::for_service(nonce_bytes, CLIENT_SERVICE)
    }

    /// A server for `service` (clients or quorum members).
    pub fn for_service(nonce_bytes: &[u8], service: Service) -> DigestServer {
        use base64::Engine;
        DigestServer {
            state: State::Start,
            nonce: base64::engine::general_purpose::STANDARD.encode(nonce_bytes),
            service,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Evaluate the client's next token.
    pub fn evaluate(&mut self, users: &DigestUsers, token: &[u8]) -> Step {
        if token.len() > MAX_RESPONSE_LENGTH {
            self.state = State::Done;
            return Step::Failed(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < {MAX_RESPONSE_LENGTH}",
                token.len()
            ));
        }
        match self.state {
            // The first token (empty from every client) is not looked at.
            State::Start => {
                self.state = State::Challenged;
                Step::Challenge(
                    format!(
                        "realm=\"{}\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess",
                        self.service.server_name, self.nonce
                    )
                    .into_bytes(),
                )
            }
            State::Challenged => {
                // Whatever happens, the exchange is over (Java's server then refuses any
                // further token).
                self.state = State::Done;
                match self.verify(users, token) {
                    Ok(step) => step,
                    Err(step) => step,
                }
            }
            State::Done => Step::Failed("DIGEST-MD5: Server at illegal state".into()),
        }
    }

    fn verify(&self, users: &DigestUsers, token: &[u8]) -> Result<Step, Step> {
        let fail = |m: &str| Step::Failed(format!("DIGEST-MD5: {m}"));
        let violation =
            |m: String| Step::Failed(format!("DIGEST-MD5: digest response format violation. {m}"));
        let d = parse_directives(token).map_err(violation)?;
        let utf8 = match d.get("charset") {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(violation("Incompatible charset value".into())),
        };
        let text = |k: &str| -> Option<String> { d.get(k).map(|v| decode(v, utf8)) };
        let username = text("username").ok_or_else(|| violation("Missing username.".into()))?;
        let realm = text("realm").unwrap_or_default();
        if realm != self.service.server_name {
            return Err(violation(format!("Nonexistent realm: {realm}")));
        }
        let nonce = text("nonce").unwrap_or_default();
        if nonce != self.nonce {
            return Err(violation("Mismatched nonce.".into()));
        }
        let cnonce = text("cnonce").ok_or_else(|| violation("Missing cnonce.".into()))?;
        let nc_text = text("nc").unwrap_or_default();
        if i64::from_str_radix(&nc_text, 16).ok() != Some(1) {
            return Err(violation(format!("Nonce count does not match: {nc_text}")));
        }
        let qop = text("qop").unwrap_or_else(|| "auth".into());
        if qop != "auth" {
            return Err(violation(format!(
                "Client selected unsupported protection: {qop}"
            )));
        }
        if let Some(m) = text("maxbuf")
            && m.parse::<i64>().map_or(true, |n| n <= 0)
        {
            return Err(violation(format!("Invalid maxbuf value: {m}")));
        }
        let uri = text("digest-uri").ok_or_else(|| violation("Missing digest-uri.".into()))?;
        let want_uri = self.service.digest_uri();
        if !uri.eq_ignore_ascii_case(&want_uri) {
            return Err(violation(format!(
                "Mismatched URI: {uri}; expecting: {want_uri}"
            )));
        }
        let response = d
            .get("response")
            .ok_or_else(|| violation("Missing response.".into()))?;
        let authzid = text("authzid");
        let Some(password) = users.password(&username) else {
            return Err(fail(&format!(
                "cannot acquire password for {username} in realm : {realm}"
            )));
        };
        let a1 = a1_hash(
            &username,
            &realm,
            password,
            &nonce,
            &cnonce,
            authzid.as_deref(),
            utf8,
        );
        let a2 = format!("AUTHENTICATE:{uri}");
        let expected = kd(&a1, &nonce, &nc_text, &cnonce, &qop, &a2);
        if response.as_slice() != expected.as_bytes() {
            return Err(violation("Mismatched response.".into()));
        }
        if self.service.quorum {
            // SaslQuorumServerCallbackHandler: authorized only as the name authenticated.
            let id = authzid.unwrap_or_else(|| username.clone());
            if id != username {
                return Err(fail(&format!(
                    "{username} is not authorized to act as {id}"
                )));
            }
            let rspauth = kd(&a1, &nonce, &nc_text, &cnonce, &qop, &format!(":{uri}"));
            return Ok(Step::Complete {
                token: format!("rspauth={rspauth}").into_bytes(),
                authorization_id: id,
            });
        }
        let authorization_id = match authorized_id(&username, users) {
            AuthzId::Id(id) => id,
            // getShortName failed: the handler leaves the id as the client asked.
            AuthzId::NoRule => authzid.unwrap_or_else(|| username.clone()),
            AuthzId::Malformed => {
                return Err(Step::Abort(format!("Malformed Kerberos name: {username}")));
            }
        };
        let rspauth = kd(&a1, &nonce, &nc_text, &cnonce, &qop, &format!(":{uri}"));
        Ok(Step::Complete {
            token: format!("rspauth={rspauth}").into_bytes(),
            authorization_id,
        })
    }
}

/// Bytes of a directive value as a string: UTF-8 with `charset=utf-8`, else ISO 8859-1.
pub(super) fn decode(v: &[u8], utf8: bool) -> String {
    if utf8 {
        String::from_utf8_lossy(v).into_owned()
    } else {
        v.iter().map(|&b| b as char).collect()
    }
}

/// RFC 2831's rule for username, realm and password: ISO 8859-1 when every character
/// fits, else (with charset=utf-8) UTF-8.
fn latin1_or_utf8(s: &str, utf8: bool) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) || !utf8 {
        s.chars().map(|c| (c as u32).min(255) as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// HEX(H(A1)) for md5-sess.
pub(super) fn a1_hash(
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    cnonce: &str,
    authzid: Option<&str>,
    utf8: bool,
) -> String {
    let inner = md5(&[
        &latin1_or_utf8(user, utf8),
        b":",
        &latin1_or_utf8(realm, utf8),
        b":",
        &latin1_or_utf8(password, utf8),
    ]);
    let mut parts: Vec<&[u8]> = vec![&inner, b":", nonce.as_bytes(), b":", cnonce.as_bytes()];
    if let Some(z) = authzid {
        parts.push(b":");
        parts.push(z.as_bytes());
    }
    hex(&md5(&parts))
}

/// HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2)))).
pub(super) fn kd(a1: &str, nonce: &str, nc: &str, cnonce: &str, qop: &str, a2: &str) -> String {
    let a2h = hex(&md5(&[a2.as_bytes()]));
    let s = format!("{a1}:{nonce}:{nc}:{cnonce}:{qop}:{a2h}");
    hex(&md5(&[s.as_bytes()]))
}

enum AuthzId {
    Id(String),
    NoRule,
    Malformed,
}

/// SaslServerCallbackHandler.handleAuthorizeCallback: KerberosName(authenticationID)'s
/// short name, plus `/host` and `@realm` unless removed. With no Kerberos configuration
/// Java's default realm is "", so only names without a realm or with an empty one map.
fn authorized_id(name: &str, users: &DigestUsers) -> AuthzId {
    if !name.contains('@') {
        return AuthzId::Id(name.to_string());
    }
    // ([^/@]*)(/([^/@]*))?@([^/@]*)
    let Some((principal, realm)) = name.split_once('@') else {
        return AuthzId::Malformed;
    };
    if realm.contains(['@', '/']) || principal.matches('/').count() > 1 {
        return AuthzId::Malformed;
    }
    let (service, host) = match principal.split_once('/') {
        Some((s, h)) => (s, Some(h)),
        None => (principal, None),
    };
    if !realm.is_empty() {
        return AuthzId::NoRule;
    }
    let mut id = service.to_string();
    if let Some(h) = host
        && !users.remove_host
    {
        id.push('/');
        id.push_str(h);
    }
    if !users.remove_realm {
        id.push('@');
    }
    AuthzId::Id(id)
}

/// Parse `k=v, k="quoted \" value", ...` (RFC 2831 §7.1 lists, as the JDK reads them).
pub(super) fn parse_directives(b: &[u8]) -> Result<Directives, String> {
    let mut out = Directives::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < b.len() && b[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b',' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' || key.is_empty() {
            return Err(format!("Directive key contains a bad character: {key}"));
        }
        i += 1;
        skip_ws(&mut i);
        let mut val = Vec::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        val.push(b[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    c => {
                        val.push(c);
                        i += 1;
                    }
                }
            }
            if !closed {
                return Err(format!("Unmatched quote found for directive: {key}"));
            }
        } else {
            while i < b.len() && b[i] != b',' && !b[i].is_ascii_whitespace() {
                val.push(b[i]);
                i += 1;
            }
        }
        skip_ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return Err(format!(
                "Expecting comma or linear whitespace after quoted string: {key}"
            ));
        }
        if SINGLE.contains(&key.as_str()) && out.contains_key(&key) {
            return Err(format!("Peer sent more than one {key} directive"));
        }
        out.insert(key, val);
    }
    Ok(out)
}

/// A client's digest-response to `challenge` (tests of the server core).
#[cfg(test)]
pub(crate) fn client_response(challenge: &[u8], user: &str, pass: &str) -> Vec<u8> {
    let d = parse_directives(challenge).unwrap_or_default();
    let nonce = d.get("nonce").map(|v| decode(v, true)).unwrap_or_default();
    let cnonce = "clientnonce";
    let uri = format!("{PROTOCOL}/{SERVER_NAME}");
    let a1 = a1_hash(user, SERVER_NAME, pass, &nonce, cnonce, None, true);
    let r = kd(
        &a1,
        &nonce,
        "00000001",
        cnonce,
        "auth",
        &format!("AUTHENTICATE:{uri}"),
    );
    format!(
        "charset=utf-8,username=\"{user}\",realm=\"{SERVER_NAME}\",nonce=\"{nonce}\",\
         nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",response={r},qop=auth"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> DigestUsers {
        let mut u = DigestUsers::default();
        u.users.insert("bob".into(), "bobsecret".into());
        u.users.insert("super".into(), "adminsecret".into());
        u
    }

    /// A client's response as puresasl / the JDK client compute it.
    fn response(user: &str, pass: &str, nonce: &str, cnonce: &str, uri: &str) -> String {
        let a1 = a1_hash(user, SERVER_NAME, pass, nonce, cnonce, None, true);
        let r = kd(
            &a1,
            nonce,
            "00000001",
            cnonce,
            "auth",
            &format!("AUTHENTICATE:{uri}"),
        );
        format!(
            "charset=utf-8,username=\"{user}\",realm=\"{SERVER_NAME}\",nonce=\"{nonce}\",\
             nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,\
             response={r},qop=auth"
        )
    }

    fn challenge(s: &mut DigestServer) -> String {
        match s.evaluate(&users(), b"") {
            Step::Challenge(c) => String::from_utf8(c).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn challenge_has_javas_shape() {
        let mut s = DigestServer::new(&[7u8; 30]);
        let c = challenge(&mut s);
        assert_eq!(
            c,
            "realm=\"zk-sasl-md5\",nonce=\"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\",\
             charset=utf-8,algorithm=md5-sess"
        );
        assert!(!s.is_complete());
    }

    #[test]
    fn good_password_completes_with_rspauth() {
        let mut s = DigestServer::new(&[1u8; 30]);
        challenge(&mut s);
        let nonce = s.nonce.clone();
        let r = response("bob", "bobsecret", &nonce, "abc", "zookeeper/zk-sasl-md5");
        let Step::Complete {
            token,
            authorization_id,
        } = s.evaluate(&users(), r.as_bytes())
        else {
            panic!("not complete");
        };
        assert_eq!(authorization_id, "bob");
        let a1 = a1_hash("bob", SERVER_NAME, "bobsecret", &nonce, "abc", None, true);
        let want = kd(
            &a1,
            &nonce,
            "00000001",
            "abc",
            "auth",
            ":zookeeper/zk-sasl-md5",
        );
        assert_eq!(token, format!("rspauth={want}").into_bytes());
        assert!(s.is_complete());
        // A further token: "Server at illegal state".
        assert!(matches!(s.evaluate(&users(), b"x"), Step::Failed(_)));
    }

    /// Values captured from Apache ZooKeeper 3.9.5 (JDK DigestMD5Server) with a puresasl
    /// client: the response the server accepted and the rspauth it answered.
    #[test]
    fn matches_a_captured_java_exchange() {
        let nonce = "Ci3Ir142HsF/6Hnv6KeRTRRJZzt7DkveIHvp0gni";
        let a1 = a1_hash(
            "bob",
            SERVER_NAME,
            "bobsecret",
            nonce,
            "6700606954587033",
            None,
            true,
        );
        let uri = "zookeeper/zk-sasl-md5";
        let resp = kd(
            &a1,
            nonce,
            "00000001",
            "6700606954587033",
            "auth",
            &format!("AUTHENTICATE:{uri}"),
        );
        assert_eq!(resp, "b11ee8c6870b51d1e134c2dd6618c8d5");
        let rspauth = kd(
            &a1,
            nonce,
            "00000001",
            "6700606954587033",
            "auth",
            &format!(":{uri}"),
        );
        assert_eq!(rspauth, "3b19be086ee8c24575d69b1a22325032");
    }

    /// RFC 2831 §4's example (imap, md5-sess, chris / secret).
    #[test]
    fn rfc2831_example() {
        let nonce = "OA6MG9tEQGm2hh";
        let cnonce = "OA6MHXh6VqTrRk";
        let a1 = a1_hash(
            "chris",
            "elwood.innosoft.com",
            "secret",
            nonce,
            cnonce,
            None,
            false,
        );
        let uri = "imap/elwood.innosoft.com";
        assert_eq!(
            kd(
                &a1,
                nonce,
                "00000001",
                cnonce,
                "auth",
                &format!("AUTHENTICATE:{uri}")
            ),
            "d388dad90d4bbd760a152321f2143af7"
        );
        assert_eq!(
            kd(&a1, nonce, "00000001", cnonce, "auth", &format!(":{uri}")),
            "ea40f60335c427b5527b84dbabcdfffd"
        );
    }

    #[test]
    fn failures() {
        let cases: Vec<(String, &str)> = vec![
            ("garbage".into(), "format violation"),
            ("".into(), "Missing username"),
            ("username=\"bob\"".into(), "Nonexistent realm"),
            ("\u{0}\u{ff}".into(), "format violation"),
            ("username=\"bob\",username=\"x\"".into(), "more than one"),
            ("username=\"bob".into(), "Unmatched quote"),
        ];
        for (tok, want) in cases {
            let mut s = DigestServer::new(&[2u8; 30]);
            challenge(&mut s);
            match s.evaluate(&users(), tok.as_bytes()) {
                Step::Failed(m) => assert!(m.contains(want), "{tok:?}: {m}"),
                other => panic!("{tok:?}: {other:?}"),
            }
        }
        let mut s = DigestServer::new(&[3u8; 30]);
        challenge(&mut s);
        let nonce = s.nonce.clone();
        let wrong = response("bob", "nope", &nonce, "c", "zookeeper/zk-sasl-md5");
        assert!(
            matches!(s.evaluate(&users(), wrong.as_bytes()), Step::Failed(m) if m.contains("Mismatched response"))
        );
        let mut s = DigestServer::new(&[3u8; 30]);
        challenge(&mut s);
        let unknown = response("eve", "x", &nonce, "c", "zookeeper/zk-sasl-md5");
        assert!(
            matches!(s.evaluate(&users(), unknown.as_bytes()), Step::Failed(m) if m.contains("cannot acquire password"))
        );
        let mut s = DigestServer::new(&[3u8; 30]);
        challenge(&mut s);
        let uri = response("bob", "bobsecret", &nonce, "c", "zookeeper/127.0.0.1");
        assert!(
            matches!(s.evaluate(&users(), uri.as_bytes()), Step::Failed(m) if m.contains("Mismatched URI"))
        );
    }

    #[test]
    fn tokens_over_4096_bytes_fail_at_any_step() {
        let mut s = DigestServer::new(&[2u8; 30]);
        assert!(
            matches!(s.evaluate(&users(), &[b'x'; 4097]), Step::Failed(m) if m.contains("length"))
        );
        assert!(matches!(s.evaluate(&users(), b""), Step::Failed(_)));
        let mut s = DigestServer::new(&[2u8; 30]);
        assert!(matches!(
            s.evaluate(&users(), &[b'x'; 4096]),
            Step::Challenge(_)
        ));
    }

    #[test]
    fn super_password_overrides_only_a_listed_super() {
        let mut u = users();
        u.super_password = Some("other".into());
        assert_eq!(u.password("super"), Some("other"));
        u.users.remove("super");
        assert_eq!(u.password("super"), None);
    }

    #[test]
    fn kerberos_style_names() {
        let u = users();
        let id = |n: &str, u: &DigestUsers| match authorized_id(n, u) {
            AuthzId::Id(s) => s,
            AuthzId::NoRule => "<norule>".into(),
            AuthzId::Malformed => "<malformed>".into(),
        };
        assert_eq!(id("bob", &u), "bob");
        assert_eq!(id("bob/host", &u), "bob/host");
        assert_eq!(id("bob@EXAMPLE.COM", &u), "<norule>");
        assert_eq!(id("bob/h@", &u), "bob/h@");
        assert_eq!(id("a@b@c", &u), "<malformed>");
        let mut r = users();
        r.remove_host = true;
        r.remove_realm = true;
        assert_eq!(id("bob/h@", &r), "bob");
    }

    proptest::proptest! {
        #[test]
        fn any_tokens_never_panic(a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                                  b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut s = DigestServer::new(&[0u8; 30]);
            let _ = s.evaluate(&users(), &a);
            let _ = s.evaluate(&users(), &b);
            let _ = s.evaluate(&users(), &a);
        }
    }
}
