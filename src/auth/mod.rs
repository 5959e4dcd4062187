//! Authentication mechanisms negotiated over the wire: SASL between a client and a
//! server (the `sasl` opcode) and between quorum members (QuorumAuthPacket).
//!
//! Owns: the SASL mechanisms' state machines ([`sasl_digest`]: DIGEST-MD5's server side,
//! [`sasl_digest_client`]: its client side, which a quorum learner runs).
//! Must never: do I/O, read the clock or draw randomness itself (nonces come in), or know
//! about connections and sessions (the server core feeds tokens in and acts on the result).

pub mod sasl_digest;
pub mod sasl_digest_client;
