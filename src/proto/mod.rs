//! Client protocol vocabulary: opcodes, error codes, watch/event constants, the typed
//! `Request` decoded from a frame, and the `Response` encoded into one.
//!
//! Owns: the mapping between wire frames and typed requests/responses.
//! Must never: hold state, touch the tree or sessions.

pub mod codes;
pub mod request;
pub mod response;

#[cfg(test)]
mod tests;

pub use codes::*;
pub use request::{MultiOp, Request, decode_request};
pub use response::{MultiResult, Response, encode_frame, encode_reply};
