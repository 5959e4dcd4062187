//! Bytes from a quorum peer: `QuorumPacket::decode_from` with the server's data limit
//! (`JuteLimits::field()`), then each packet's data decoded as its kind is: LearnerInfo,
//! epochs, PING touches, REVALIDATE both ways, a forwarded REQUEST (`ForwardedRequest` then
//! `decode_request` on its body), PROPOSAL/INFORM txns (`decode_txn`).
#![no_main]

use bytes::BytesMut;
use ferrokeeper::jute::{JuteLimits, Reader};
use ferrokeeper::proto::decode_request;
use ferrokeeper::txn::codec::decode_txn;
use ferrokeeper::zab::packet::{
    ForwardedRequest, LearnerInfo, QuorumPacket, decode_i32, decode_revalidate_reply,
    decode_revalidate_request, decode_touches, kind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(p)) = QuorumPacket::decode_from(&mut buf, JuteLimits::DEFAULT.field()) {
        let d = p.data_bytes();
        match p.kind {
            kind::FOLLOWERINFO | kind::OBSERVERINFO => {
                let _ = LearnerInfo::decode(&d);
            }
            kind::LEADERINFO | kind::ACKEPOCH => {
                let _ = decode_i32(&d);
            }
            kind::PING => {
                let _ = decode_touches(&d);
            }
            kind::REVALIDATE => {
                let _ = decode_revalidate_request(&d);
                let _ = decode_revalidate_reply(&d);
            }
            kind::REQUEST => {
                if let Ok(fr) = ForwardedRequest::decode(&d) {
                    let _ = decode_request(fr.op_code, &mut Reader::new(fr.body));
                }
            }
            kind::PROPOSAL | kind::INFORM => {
                let _ = decode_txn(d);
            }
            _ => {}
        }
        let _ = p.to_bytes();
    }
});
