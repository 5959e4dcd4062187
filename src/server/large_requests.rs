//! Java's large-request limit: `zookeeper.largeRequestThreshold` (off by default) and
//! `zookeeper.largeRequestMaxBytes` (100 MiB). A request whose frame is longer than the
//! threshold is "large"; the bytes of large requests received and not yet answered are
//! summed over all connections, and a connection whose large request would take the sum
//! past the max is closed (`large_requests_rejected`), as Java's
//! `ZooKeeperServer.checkRequestSizeWhen*` close it with "Rejecting large request".
//!
//! Owns: the server-wide sum and the two checks. Connection tasks call `take` for a
//! request that counts until answered (the check and the count in one step), `admits`
//! for a frame that is only checked (the ConnectRequest, auth and sasl, as Java), and
//! `release` once a taken request is answered.
//! Must never: block or allocate (it is on every request's path when on), or count a
//! byte twice (every `take` that succeeds is released exactly once by its caller).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Java's default `largeRequestMaxBytes`.
pub const DEFAULT_MAX_BYTES: usize = 100 * 1024 * 1024;

/// The configured limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Frames longer than this are large; None = the limit is off.
    pub threshold: Option<usize>,
    pub max_bytes: usize,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            threshold: None,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl Limit {
    /// Java's lenient reading of the two properties: a threshold of 0 or below -1 is off
    /// (with a warning), a max of 0 or less keeps the default.
    pub fn from_properties(threshold: Option<&str>, max_bytes: Option<&str>) -> Limit {
        let threshold = match threshold.map(|v| v.trim().parse::<i32>()) {
            None | Some(Ok(-1)) => None,
            Some(Ok(t)) if t > 0 => Some(t as usize),
            Some(v) => {
                tracing::warn!(
                    "Invalid large request threshold {v:?}. It should be -1 or positive. \
                     Setting to -1"
                );
                None
            }
        };
        let max_bytes = match max_bytes.map(|v| v.trim().parse::<i32>()) {
            None => DEFAULT_MAX_BYTES,
            Some(Ok(m)) if m > 0 => m as usize,
            Some(v) => {
                tracing::warn!(
                    "Invalid max bytes for all large requests {v:?}. It should be a positive \
                     number. The max bytes stay at {DEFAULT_MAX_BYTES}"
                );
                DEFAULT_MAX_BYTES
            }
        };
        Limit {
            threshold,
            max_bytes,
        }
    }
}

#[derive(Debug, Default)]
pub struct LargeRequests {
    limit: Limit,
    in_flight: AtomicUsize,
}

impl LargeRequests {
    pub fn new(limit: Limit) -> LargeRequests {
        if let Some(t) = limit.threshold {
            tracing::info!(
                "The large request threshold is set to {t}; the max bytes for all large \
                 requests to {}",
                limit.max_bytes
            );
        }
        LargeRequests {
            limit,
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Whether the limit is on (connections then account every request they send on).
    pub fn enabled(&self) -> bool {
        self.limit.threshold.is_some()
    }

    fn is_large(&self, len: usize) -> bool {
        self.limit.threshold.is_some_and(|t| len > t)
    }

    /// Bytes of large requests received and not answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// A frame of `len` bytes may be read (Java's checkRequestSizeWhenReceivingMessage):
    /// false (and counted as rejected) when it is large and would pass the max.
    pub fn admits(&self, len: usize) -> bool {
        if !self.is_large(len) || self.in_flight().saturating_add(len) <= self.limit.max_bytes {
            return true;
        }
        crate::metrics::LARGE_REQUESTS_REJECTED.inc();
        false
    }

    /// A request of `len` bytes goes on to be answered (checkRequestSizeWhenMessageReceived):
    /// Some(bytes to `release` once answered: 0 when not large), None when rejected.
    pub fn take(&self, len: usize) -> Option<usize> {
        if !self.is_large(len) {
            return Some(0);
        }
        let after = self.in_flight.fetch_add(len, Ordering::AcqRel) + len;
        if after > self.limit.max_bytes {
            self.release(len);
            crate::metrics::LARGE_REQUESTS_REJECTED.inc();
            return None;
        }
        Some(len)
    }

    /// Bytes a `take` returned, now answered.
    pub fn release(&self, bytes: usize) {
        if bytes > 0 {
            let _ = self
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    Some(v.saturating_sub(bytes))
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_for_javas_invalid_values() {
        assert!(!LargeRequests::default().enabled());
        for t in [None, Some("-1"), Some("0"), Some("-5"), Some("lots")] {
            let l = LargeRequests::new(Limit::from_properties(t, None));
            assert!(!l.enabled(), "{t:?}");
            assert!(l.admits(usize::MAX / 2));
            assert_eq!(l.take(1 << 30), Some(0));
        }
        let l = Limit::from_properties(Some(" 10 "), Some("0"));
        assert_eq!((l.threshold, l.max_bytes), (Some(10), DEFAULT_MAX_BYTES));
    }

    #[test]
    fn large_requests_share_the_max_until_answered() {
        let l = LargeRequests::new(Limit::from_properties(Some("100"), Some("1000")));
        // small requests are never counted nor refused
        assert!(l.admits(100));
        assert_eq!(l.take(100), Some(0));
        let a = l.take(600).expect("first large request");
        assert_eq!((a, l.in_flight()), (600, 600));
        // 600 + 500 would pass 1000: refused at its length and at its body
        assert!(!l.admits(500));
        assert_eq!(l.take(500), None);
        assert_eq!(
            l.in_flight(),
            600,
            "a refused take leaves the sum as it was"
        );
        assert!(l.admits(400));
        let b = l.take(400).expect("fits exactly");
        l.release(a);
        assert_eq!(l.in_flight(), 400);
        assert!(l.admits(500));
        l.release(b);
        assert_eq!(l.in_flight(), 0);
        // one request over the max alone is always refused
        assert!(!l.admits(1001));
    }
}
