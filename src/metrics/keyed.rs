//! Summaries labelled by `key` (Java's `SummarySet`), for the few sets ferrokeeper
//! measures: `learner_handler_qp_size` (a leader's queue to each learner, keyed by the
//! learner's server id).
//!
//! Owns: a fixed number of slots, each a key and its `Summary`, claimed by the first
//! observation of a key (a compare-and-swap) and kept for the process's life, as Java
//! keeps a key once seen.
//! Must never: grow (a key beyond the slots is not recorded), or take keys from client
//! input (only server ids, which the configuration bounds).

use super::Summary;
use std::sync::atomic::{AtomicI64, Ordering};

/// Keys a set holds (an ensemble's members, with room to spare).
pub const SLOTS: usize = 16;
const FREE: i64 = i64::MIN;

/// See the module doc.
pub struct SummarySet {
    keys: [AtomicI64; SLOTS],
    summaries: [Summary; SLOTS],
}

impl SummarySet {
    pub const fn new() -> SummarySet {
        SummarySet {
            keys: [const { AtomicI64::new(FREE) }; SLOTS],
            summaries: [const { Summary::new() }; SLOTS],
        }
    }

    /// One observation for `key` (dropped when every slot holds another key).
    pub fn observe(&self, key: i64, v: i64) {
        if let Some(s) = self.slot(key) {
            s.observe(v);
        }
    }

    fn slot(&self, key: i64) -> Option<&Summary> {
        if key == FREE {
            return None;
        }
        for (k, s) in self.keys.iter().zip(&self.summaries) {
            match k.load(Ordering::Acquire) {
                x if x == key => return Some(s),
                FREE => match k.compare_exchange(FREE, key, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(s),
                    Err(x) if x == key => return Some(s),
                    Err(_) => {}
                },
                _ => {}
            }
        }
        None
    }

    /// The keys seen, each with its summary, in slot order.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &Summary)> {
        self.keys
            .iter()
            .zip(&self.summaries)
            .filter_map(|(k, s)| match k.load(Ordering::Acquire) {
                FREE => None,
                key => Some((key, s)),
            })
    }

    /// Start a new age bucket in every claimed slot.
    pub fn rotate(&self) {
        for (_, s) in self.entries() {
            s.rotate();
        }
    }
}

impl Default for SummarySet {
    fn default() -> Self {
        SummarySet::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_claim_slots_once_and_overflow_is_dropped() {
        let set = SummarySet::new();
        set.observe(2, 5);
        set.observe(3, 7);
        set.observe(2, 9);
        let got: Vec<(i64, u64, u64)> = set
            .entries()
            .map(|(k, s)| (k, s.count(), s.sum()))
            .collect();
        assert_eq!(got, [(2, 2, 14), (3, 1, 7)]);
        for k in 100..200 {
            set.observe(k, 1);
        }
        assert_eq!(set.entries().count(), SLOTS);
        assert!(set.entries().all(|(k, _)| k < 100 + SLOTS as i64));
        set.observe(FREE, 1);
        assert_eq!(set.entries().count(), SLOTS);
    }
}
