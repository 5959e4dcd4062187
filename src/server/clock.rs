//! The shell's clocks: monotonic milliseconds since process start (timeouts, expiry,
//! latency) and wall-clock milliseconds (only for ctime/mtime and session id seeds).
//!
//! Owns: reading the OS clocks. The core never calls these: it gets both times with every
//! input (`core::Now`), so a simulator can drive it with its own clock.
//! Must never: be read from inside `server::core`, `tree`, `txn` or `session`.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// Milliseconds since the first call in this process (never goes backwards, ignores
/// wall-clock steps).
pub fn mono_ms() -> i64 {
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as i64
}

/// Milliseconds since the Unix epoch (may step).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
