//! Key and trust store files and certificate subjects: `tls::keystore::key_store_from_bytes`
//! / `trust_store_from_bytes` (our JKS reader, the PKCS12 and PEM readers underneath) and
//! `tls::x500::rfc2253`. The first byte picks the format; for JKS the integrity digest is
//! appended so the parser behind it is reached.
#![no_main]

use ferrokeeper::tls::keystore::{StoreType, key_store_from_bytes, trust_store_from_bytes};
use ferrokeeper::tls::{jks, x500};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "changeit";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let mut file = body.to_vec();
            file.extend_from_slice(&jks::store_digest(body, PASSWORD));
            let _ = key_store_from_bytes(StoreType::Jks, &file, PASSWORD);
            let _ = trust_store_from_bytes(StoreType::Jks, &file, PASSWORD);
        }
        1 => {
            let _ = key_store_from_bytes(StoreType::Pkcs12, body, PASSWORD);
            let _ = trust_store_from_bytes(StoreType::Pkcs12, body, PASSWORD);
        }
        2 => {
            let _ = key_store_from_bytes(StoreType::Pem, body, PASSWORD);
            let _ = trust_store_from_bytes(StoreType::Pem, body, "");
        }
        _ => {
            let _ = x500::rfc2253(body);
            let _ = x500::subject_of_cert(body);
        }
    }
});
