//! SASL and JAAS input: the DIGEST-MD5 server's `auth::sasl_digest::DigestServer::evaluate`
//! on the tokens a client sends (first byte even: the rest split at 0xFF bytes into
//! successive tokens, after the server's challenge), and `config::jaas::parse` on a JAAS
//! file's text (first byte odd).
#![no_main]

use ferrokeeper::auth::sasl_digest::{DigestServer, DigestUsers};
use ferrokeeper::config::jaas;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let mut users = DigestUsers::default();
        users.users.insert("bob".into(), "bobsecret".into());
        users.users.insert("super".into(), "adminsecret".into());
        let mut server = DigestServer::new(&[7u8; 30]);
        let _ = server.evaluate(&users, &[]);
        for token in body.split(|&b| b == 0xFF) {
            let _ = server.evaluate(&users, token);
        }
    } else {
        let _ = jaas::parse(&String::from_utf8_lossy(body));
    }
});
