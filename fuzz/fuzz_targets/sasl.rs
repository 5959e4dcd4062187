//! SASL and JAAS input, by the first byte:
//! - `% 4 == 0`: the DIGEST-MD5 server's `auth::sasl_digest::DigestServer::evaluate` on the
//!   tokens a client sends (the rest split at 0xFF bytes into successive tokens, after the
//!   server's challenge);
//! - `% 4 == 2`: quorum SASL (`zab::quorum_auth`): the rest decoded as a stream of
//!   QuorumAuthPackets, each fed to a learner's exchange (its DIGEST-MD5 client) and to a
//!   quorum server's exchange;
//! - odd: `config::jaas::parse` on a JAAS file's text.
#![no_main]

use bytes::BytesMut;
use ferrokeeper::auth::sasl_digest::{DigestServer, DigestUsers, QUORUM_SERVICE};
use ferrokeeper::auth::sasl_digest_client::DigestClient;
use ferrokeeper::config::jaas;
use ferrokeeper::zab::quorum_auth::{AuthPacket, LearnerExchange, ServerExchange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut users = DigestUsers::default();
    users.users.insert("bob".into(), "bobsecret".into());
    users.users.insert("super".into(), "adminsecret".into());
    match mode % 4 {
        0 => {
            let mut server = DigestServer::new(&[7u8; 30]);
            let _ = server.evaluate(&users, &[]);
            for token in body.split(|&b| b == 0xFF) {
                let _ = server.evaluate(&users, token);
            }
        }
        2 => {
            let client = DigestClient::new("bob", "bobsecret", QUORUM_SERVICE, &[9u8; 30]);
            let (mut learner, _) = LearnerExchange::start(client);
            let mut server =
                ServerExchange::new(DigestServer::for_service(&[7u8; 30], QUORUM_SERVICE));
            let mut buf = BytesMut::from(body);
            let mut learner_done = false;
            while let Ok(Some(p)) = AuthPacket::decode(&mut buf) {
                if !learner_done {
                    learner_done = learner.on_packet(p.clone()).is_err();
                }
                let _ = server.on_packet(&users, p);
            }
        }
        _ => {
            let _ = jaas::parse(&String::from_utf8_lossy(body));
        }
    }
});
