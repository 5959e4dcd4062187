//! Session table: ids, passwords, negotiated timeouts and expiry in tickTime buckets.
//!
//! Owns: which sessions exist, when each expires (ZooKeeper's ExpiryQueue rounding), how
//! session ids and passwords are generated (bit-exact with Java so sessions can move
//! between Java and ferrokeeper nodes).
//! Must never: touch the network, the tree, or read the clock itself (time is passed in).

pub mod conn_throttle;

use std::collections::{BTreeMap, HashMap, HashSet};

/// Java's `ZooKeeperServer.superSecret`.
const SUPER_SECRET: i64 = 0xB3415C00;

/// The 16-byte password of a session: `new java.util.Random(id ^ superSecret).nextBytes(16)`.
pub fn session_password(session_id: i64) -> [u8; 16] {
    let mut rng = JavaRandom::new(session_id ^ SUPER_SECRET);
    let mut out = [0u8; 16];
    rng.next_bytes(&mut out);
    out
}

/// `java.util.Random`'s 48-bit LCG, enough of it for `nextBytes`.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULT: i64 = 0x5DEECE66D;
    const MASK: i64 = (1 << 48) - 1;
    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULT) & Self::MASK,
        }
    }
    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }
    fn next_bytes(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            let mut rnd = self.next_int();
            let n = (out.len() - i).min(4);
            for _ in 0..n {
                out[i] = rnd as u8;
                rnd >>= 8;
                i += 1;
            }
        }
    }
}

/// First session id of a server: `((now << 24) >>> 8) | (sid << 56)` (SessionTrackerImpl).
pub fn initial_session_id(now_ms: i64, server_id: i64) -> i64 {
    let mut id = (((now_ms << 24) as u64) >> 8) as i64 | (server_id << 56);
    if id == i64::MIN {
        id += 1;
    }
    id
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub timeout_ms: i32,
    /// The bucket (absolute ms) in which this session expires.
    pub expires_at: i64,
    /// Set once a closeSession has been prepared, so it is not closed twice.
    pub closing: bool,
}

/// The session table with tickTime-bucketed expiry.
#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: i64,
    next_id: i64,
    sessions: HashMap<i64, SessionInfo>,
    buckets: BTreeMap<i64, HashSet<i64>>,
}

impl SessionTracker {
    pub fn new(tick_ms: i32, first_id: i64) -> Self {
        SessionTracker {
            tick_ms: tick_ms.max(1) as i64,
            next_id: first_id,
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// A fresh id (not yet registered; register it when its createSession txn applies).
    ///
    /// Ids are time-seeded, as Java's: a restart within the same millisecond (or after the
    /// wall clock stepped back) would hand out the ids of recovered sessions again, so a
    /// live id is skipped (Java does not check).
    pub fn next_session_id(&mut self) -> i64 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id == i64::MIN {
                self.next_id += 1;
            }
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// ExpiryQueue.roundToNextInterval.
    fn bucket_for(&self, t: i64) -> i64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Register (or re-register after recovery) a session.
    pub fn add(&mut self, id: i64, timeout_ms: i32, now_ms: i64) {
        let b = self.bucket_for(now_ms + timeout_ms as i64);
        if let Some(old) = self.sessions.insert(
            id,
            SessionInfo {
                timeout_ms,
                expires_at: b,
                closing: false,
            },
        ) {
            self.unbucket(id, old.expires_at);
        }
        self.buckets.entry(b).or_default().insert(id);
    }

    fn unbucket(&mut self, id: i64, b: i64) {
        if let Some(set) = self.buckets.get_mut(&b) {
            set.remove(&id);
            if set.is_empty() {
                self.buckets.remove(&b);
            }
        }
    }

    /// Any traffic from the client moves its expiry forward. False if the session is gone
    /// or closing.
    pub fn touch(&mut self, id: i64, now_ms: i64) -> bool {
        let (old, timeout) = match self.sessions.get(&id) {
            Some(s) if !s.closing => (s.expires_at, s.timeout_ms),
            _ => return false,
        };
        let b = self.bucket_for(now_ms + timeout as i64);
        if b != old {
            self.unbucket(id, old);
            self.buckets.entry(b).or_default().insert(id);
            if let Some(s) = self.sessions.get_mut(&id) {
                s.expires_at = b;
            }
        }
        true
    }

    pub fn get(&self, id: i64) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    pub fn is_live(&self, id: i64) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    /// Mark closing (a closeSession txn is on its way); returns false if unknown or already.
    pub fn set_closing(&mut self, id: i64) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.closing = true;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, id: i64) {
        if let Some(s) = self.sessions.remove(&id) {
            self.unbucket(id, s.expires_at);
        }
    }

    /// Sessions whose bucket has passed and that are not already closing; they are
    /// marked closing.
    pub fn take_expired(&mut self, now_ms: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let due: Vec<i64> = self.buckets.range(..=now_ms).map(|(b, _)| *b).collect();
        for b in due {
            if let Some(set) = self.buckets.remove(&b) {
                for id in set {
                    if let Some(s) = self.sessions.get_mut(&id)
                        && !s.closing
                    {
                        s.closing = true;
                        out.push(id);
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
    /// (id, timeout) of every session, sorted by id (for snapshots and `dump`).
    pub fn all(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<_> = self
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.timeout_ms))
            .collect();
        v.sort_unstable();
        v
    }
    /// Expiry buckets for `dump`: bucket time → sorted session ids.
    pub fn buckets(&self) -> Vec<(i64, Vec<i64>)> {
        self.buckets
            .iter()
            .map(|(b, s)| {
                let mut v: Vec<i64> = s.iter().copied().collect();
                v.sort_unstable();
                (*b, v)
            })
            .collect()
    }
}

/// Negotiated timeout: raised to min, then lowered to max (so max wins if min > max),
/// exactly as `ZooKeeperServer.processConnectRequest`.
pub fn negotiate_timeout(requested: i32, min: i32, max: i32) -> i32 {
    let t = if requested < min { min } else { requested };
    if t > max { max } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_java_random() {
        // java.util.Random(42).nextBytes(4): Random(42).nextInt() == -1170105035
        // (0xBA419D35), little-end byte first.
        let mut r = JavaRandom::new(42);
        let mut b = [0u8; 4];
        r.next_bytes(&mut b);
        assert_eq!(b, (-1170105035i32).to_le_bytes());
        let p = session_password(0x0100_0051_e9e3_0000);
        assert_eq!(p.len(), 16);
        assert_ne!(p, session_password(0x0100_0051_e9e3_0001));
    }

    #[test]
    fn new_ids_skip_recovered_live_sessions() {
        // A restart in the same millisecond starts from the same id as before.
        let first = initial_session_id(1_700_000_000_000, 1);
        let mut t = SessionTracker::new(100, first);
        t.add(first, 1000, 0);
        t.add(first + 1, 1000, 0);
        assert_eq!(t.next_session_id(), first + 2);
        assert_eq!(t.next_session_id(), first + 3);
    }

    #[test]
    fn initial_id_layout() {
        let id = initial_session_id(0x51e9e3, 1);
        assert_eq!(id, 0x0100_0051_e9e3_0000);
    }

    #[test]
    fn expiry_buckets_round_up_and_touch_moves() {
        let mut t = SessionTracker::new(2000, 100);
        t.add(1, 4000, 1000); // 5000 → bucket 6000
        assert_eq!(t.get(1).map(|s| s.expires_at), Some(6000));
        assert!(t.take_expired(5999).is_empty());
        assert!(t.touch(1, 3000)); // 7000 → 8000
        assert!(t.take_expired(6000).is_empty());
        assert_eq!(t.take_expired(8000), vec![1]);
        assert!(!t.touch(1, 8001), "closing sessions are not revived");
        t.remove(1);
        assert!(t.is_empty());
    }

    #[test]
    fn negotiation_clamps() {
        assert_eq!(negotiate_timeout(100, 4000, 40000), 4000);
        assert_eq!(negotiate_timeout(10_000_000, 4000, 40000), 40000);
        assert_eq!(negotiate_timeout(10000, 4000, 40000), 10000);
    }
}
