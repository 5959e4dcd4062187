//! A client connection's bytes as `server/conn.rs` reads them: the first 4 bytes may be a
//! four-letter word; otherwise the first frame is the ConnectRequest and every later frame
//! a RequestHeader + request body decoded by opcode (`decode_request`).
#![no_main]

use bytes::BytesMut;
use ferrokeeper::config::fourlw::parse_4lw;
use ferrokeeper::jute::records::{ConnectRequest, RequestHeader};
use ferrokeeper::jute::{JuteLimits, Reader, Record};
use ferrokeeper::proto::decode_request;
use ferrokeeper::server::conn::next_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let _ = parse_4lw([data[0], data[1], data[2], data[3]]);
    }
    let max = JuteLimits::DEFAULT.packet();
    let mut buf = BytesMut::from(data);
    // The ConnectRequest.
    let Ok(Some(frame)) = next_frame(&mut buf, max) else {
        return;
    };
    if ConnectRequest::from_bytes(frame).is_err() {
        return;
    }
    // Requests until the bytes run out or a frame is malformed (the connection closes).
    while let Ok(Some(frame)) = next_frame(&mut buf, max) {
        let mut r = Reader::new(frame);
        let Ok(h) = RequestHeader::read(&mut r) else {
            return;
        };
        // An undecodable body is answered with an error (`Request::Undecodable`).
        let _ = decode_request(h.op_type, &mut r);
    }
});
