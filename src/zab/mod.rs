//! ZAB: the sans-I/O consensus layer (discovery, sync, broadcast, as Java's
//! Leader/Learner protocol speaks them).
//!
//! Owns: the pure pieces a ZAB member needs — zxid arithmetic, the in-memory ring of
//! committed proposals a leader syncs learners from, the SNAP stream's encoding and
//! decoding, the quorum packets, and the learner's (follower/observer) protocol state
//! machine — each driven by its caller with bytes and values.
//! Must never: do I/O (no files, sockets, clocks, threads or sleeps). Callers hand bytes
//! in and carry bytes out; everything here is deterministic and unit-testable.

#[cfg(test)]
mod capture_tests;
pub mod committed;
pub mod election;
pub mod leader;
pub mod learner;
pub mod packet;
pub mod quorum_auth;
pub mod snap;
pub mod sync_plan;
pub mod zxid;
