//! ZAB: the sans-I/O consensus layer (discovery, sync, broadcast, as Java's
//! Leader/Learner protocol speaks them).
//!
//! Owns: the pure pieces a ZAB member needs — zxid arithmetic, the in-memory ring of
//! committed proposals a leader syncs learners from, and the SNAP stream's encoding and
//! decoding — each driven by its caller with bytes and values.
//! Must never: do I/O (no files, sockets, clocks, threads or sleeps). Callers hand bytes
//! in and carry bytes out; everything here is deterministic and unit-testable.

pub mod committed;
pub mod leader;
pub mod packet;
pub mod snap;
pub mod sync_plan;
pub mod zxid;
