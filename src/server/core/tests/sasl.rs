//! The `sasl` opcode at the core: no SASL configured (null token), a DIGEST-MD5 exchange
//! adding Id("sasl", user) (and ("super","") for `zookeeper.superUser`), a failure
//! answered AUTHFAILED with a null token and the connection closed, and enforced
//! authentication (SESSIONCLOSEDREQUIRESASLAUTH).

use super::*;
use crate::auth::sasl_digest::{DigestUsers, client_response};
use crate::proto::err;

fn users() -> Arc<DigestUsers> {
    let mut u = DigestUsers::default();
    u.users.insert("bob".into(), "bobsecret".into());
    Arc::new(u)
}

fn sasl(f: &mut Fixture, conn: u64, xid: i32, token: &[u8]) -> (i32, i64, Bytes) {
    let req = Request::Sasl(SaslToken {
        token: token.to_vec().into(),
    });
    f.node.send(conn, xid, op::SASL, req).expect("send");
    reply(f, conn, xid)
}

fn reply(f: &mut Fixture, conn: u64, want: i32) -> (i32, i64, Bytes) {
    for fr in f.frames(conn) {
        if let Frame::Reply {
            xid,
            zxid,
            err,
            body,
        } = fr
            && xid == want
        {
            return (err, zxid, body);
        }
    }
    panic!("no reply to xid {want}");
}

/// The token of a SetSASLResponse body (None for a null buffer).
fn token(body: &[u8]) -> Option<Vec<u8>> {
    let n = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    (n >= 0).then(|| body[4..4 + n as usize].to_vec())
}

fn who_am_i(f: &mut Fixture, conn: u64, xid: i32) -> Bytes {
    f.node
        .send(conn, xid, op::WHO_AM_I, Request::WhoAmI)
        .expect("send");
    reply(f, conn, xid).2
}

use bytes::Bytes;

#[test]
fn without_sasl_a_null_token() {
    let mut f = fixture(|_| {});
    let (conn, _) = f.session(2000);
    let (e, zxid, body) = sasl(&mut f, conn, 1, b"");
    assert_eq!((e, zxid, token(&body)), (0, 0, None));
}

#[test]
fn an_exchange_adds_the_sasl_id_and_super() {
    let mut f = fixture(|s| {
        s.sasl = Some(users());
        s.sasl_super_users = vec!["bob".into()];
        // authProvider.1=...SASLAuthenticationProvider: whoAmI names the user.
        s.prep.providers.sasl = true;
    });
    let (conn, _) = f.session(2000);
    let (e, zxid, body) = sasl(&mut f, conn, 1, b"");
    assert_eq!((e, zxid), (0, 0));
    let challenge = token(&body).expect("a challenge");
    assert!(challenge.starts_with(b"realm=\"zk-sasl-md5\",nonce=\""));
    let (e, _, body) = sasl(
        &mut f,
        conn,
        2,
        &client_response(&challenge, "bob", "bobsecret"),
    );
    assert_eq!(e, 0);
    assert!(token(&body).expect("rspauth").starts_with(b"rspauth="));
    let who = who_am_i(&mut f, conn, 3);
    let text = String::from_utf8_lossy(&who);
    assert!(
        text.contains("sasl") && text.contains("bob") && text.contains("super"),
        "{text}"
    );
    assert!(!f.node.conns[&conn].closed_by_server());
}

#[test]
fn a_failure_is_authfailed_with_a_null_token_and_closes() {
    let mut f = fixture(|s| s.sasl = Some(users()));
    let (conn, _) = f.session(2000);
    let (_, _, body) = sasl(&mut f, conn, 1, b"");
    let challenge = token(&body).expect("a challenge");
    let (e, zxid, body) = sasl(
        &mut f,
        conn,
        2,
        &client_response(&challenge, "bob", "wrong"),
    );
    assert_eq!((e, zxid, &body[..]), (err::AUTH_FAILED, 0, &[0xff; 4][..]));
    assert!(f.node.conns[&conn].closed_by_server());
}

#[test]
fn enforced_authentication_refuses_unauthenticated_requests() {
    let mut f = fixture(|s| {
        s.sasl = Some(users());
        s.enforce_auth_schemes = Some(Arc::new(vec!["sasl".into()]));
    });
    let (conn, _) = f.session(2000);
    let (e, zxid, _) = {
        f.node
            .send(conn, 1, op::WHO_AM_I, Request::WhoAmI)
            .expect("send");
        reply(&mut f, conn, 1)
    };
    assert_eq!((e, zxid), (err::SESSION_CLOSED_REQUIRE_SASL_AUTH, 0));
    assert!(f.node.conns[&conn].closed_by_server());
    // Authenticated first: served.
    let (conn, _) = f.session(2000);
    let (_, _, body) = sasl(&mut f, conn, 1, b"");
    let challenge = token(&body).expect("a challenge");
    let (e, _, _) = sasl(
        &mut f,
        conn,
        2,
        &client_response(&challenge, "bob", "bobsecret"),
    );
    assert_eq!(e, 0);
    f.node
        .send(conn, 3, op::WHO_AM_I, Request::WhoAmI)
        .expect("send");
    assert_eq!(reply(&mut f, conn, 3).0, 0);
    assert!(!f.node.conns[&conn].closed_by_server());
}
