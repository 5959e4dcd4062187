//! Bytes on an election connection: the initial message (`InitialMessage::decode`), then
//! length-prefixed frames (`decode_frame`), each a notification (`Notification::decode`).
#![no_main]

use ferrokeeper::zab::election::wire::{InitialMessage, Notification, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    if let Some(&first) = data.first()
        && first & 1 == 1
    {
        // Odd first byte: the stream starts with the initial message.
        rest = &data[1..];
        match InitialMessage::decode(rest) {
            Ok(Some((_, used))) => rest = &rest[used.min(rest.len())..],
            _ => return,
        }
    } else if !data.is_empty() {
        rest = &data[1..];
    }
    while let Ok(Some((payload, used))) = decode_frame(rest) {
        if let Ok(n) = Notification::decode(payload) {
            let _ = n.config_version_hex();
            let _ = n.encode();
        }
        rest = &rest[used.min(rest.len())..];
    }
});
