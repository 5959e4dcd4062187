//! Client authentication mechanisms negotiated over the wire (the `sasl` opcode).
//!
//! Owns: the SASL mechanisms' state machines ([`sasl_digest`]: DIGEST-MD5).
//! Must never: do I/O, read the clock or draw randomness itself (nonces come in), or know
//! about connections and sessions (the server core feeds tokens in and acts on the result).

pub mod sasl_digest;
