//! Quotas: the StatsTrack text format of /zookeeper/quota/<p>/zookeeper_{limits,stats}
//! and the set of quota-rooted paths (ZooKeeper's PathTrie) with max-prefix lookup.
//!
//! Owns: parsing/printing of quota data, the arithmetic on its counts, and prefix matching.
//! Must never: panic or overflow on quota text written by clients (it is ordinary znode
//! data: any i64, negative, or garbage).
//!
//! Arithmetic on counts is Java `long` arithmetic ([`java_add`]: two's-complement
//! wrapping), because that is what ZooKeeper's `checkQuota` and `updateQuotaStat` do with
//! the same text: `count=9223372036854775807` plus one create reads back as
//! `count=-9223372036854775808`, and the wrapped sum is what the hard limit is compared
//! with (so such a create passes a `countHardLimit` on both servers). Saturating instead
//! would refuse writes Java accepts and print different stats.

use std::collections::{BTreeMap, BTreeSet};

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

pub fn limit_path(p: &str) -> String {
    format!("{QUOTA_ROOT}{p}/{LIMIT_NODE}")
}
pub fn stat_path(p: &str) -> String {
    format!("{QUOTA_ROOT}{p}/{STAT_NODE}")
}

/// StatsTrack: `count=N,bytes=M` plus optional `=;byteHardLimit=X;countHardLimit=Y`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Parse like Java (pairs split on [,;]+, each on '='; empty value = -1).
    /// `None` where Java would throw.
    pub fn parse(data: &[u8]) -> Option<StatsTrack> {
        let s = String::from_utf8_lossy(data);
        let mut stats = BTreeMap::new();
        if s.is_empty() {
            return Some(StatsTrack { stats });
        }
        if s.starts_with([',', ';']) {
            return None; // Java yields a leading "" pair and fails on it
        }
        for pair in s.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv: Vec<&str> = pair.split('=').collect();
            while kv.last().is_some_and(|x| x.is_empty()) {
                kv.pop();
            }
            if kv.len() < 2 {
                return None;
            }
            let v = if kv[1].is_empty() {
                -1
            } else {
                kv[1].parse::<i64>().ok()?
            };
            stats.insert(kv[0].to_string(), v);
        }
        Some(StatsTrack { stats })
    }
    fn get(&self, k: &str) -> i64 {
        self.stats.get(k).copied().unwrap_or(-1)
    }
    pub fn count(&self) -> i64 {
        self.get("count")
    }
    pub fn bytes(&self) -> i64 {
        self.get("bytes")
    }
    pub fn count_hard_limit(&self) -> i64 {
        self.get("countHardLimit")
    }
    pub fn byte_hard_limit(&self) -> i64 {
        self.get("byteHardLimit")
    }
    pub fn set_count(&mut self, v: i64) {
        self.stats.insert("count".into(), v);
    }
    pub fn set_bytes(&mut self, v: i64) {
        self.stats.insert("bytes".into(), v);
    }
    /// StatsTrack.toString.
    pub fn to_text(&self) -> String {
        let mut s = format!("count={},bytes={}", self.count(), self.bytes());
        let rest: Vec<_> = self
            .stats
            .iter()
            .filter(|(k, _)| *k != "count" && *k != "bytes")
            .collect();
        if !rest.is_empty() {
            s.push('=');
            for (k, v) in rest {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

/// `a + b` on Java longs (wraps on overflow, as ZooKeeper's quota code computes it).
pub fn java_add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// `checkQuota`'s hard-limit test for one dimension: a hard limit is set (> -1) and the
/// current value plus the change, in Java long arithmetic, is above it.
pub fn exceeds_hard_limit(current: i64, diff: i64, hard_limit: i64) -> bool {
    hard_limit > -1 && java_add(current, diff) > hard_limit
}

fn components(p: &str) -> Vec<&str> {
    p.split('/').filter(|c| !c.trim().is_empty()).collect()
}

/// Quota roots (PathTrie semantics, keyed by normalized component lists).
#[derive(Debug, Clone, Default)]
pub struct QuotaPaths {
    roots: BTreeSet<Vec<String>>,
}

impl QuotaPaths {
    pub fn add(&mut self, p: &str) {
        let c: Vec<String> = components(p).into_iter().map(String::from).collect();
        if !c.is_empty() {
            self.roots.insert(c);
        }
    }
    /// PathTrie.deletePath: removes the trie node and everything below it.
    pub fn delete(&mut self, p: &str) {
        let c: Vec<String> = components(p).into_iter().map(String::from).collect();
        if c.is_empty() {
            return;
        }
        self.roots.retain(|r| !r.starts_with(&c));
    }
    pub fn clear(&mut self) {
        self.roots.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
    /// DataTree.getMaxPrefixWithQuota: the deepest quota root that is a component prefix
    /// of `path`, or `None`.
    pub fn max_prefix(&self, path: &str) -> Option<String> {
        if self.roots.is_empty() {
            return None;
        }
        let c = components(path);
        for n in (1..=c.len()).rev() {
            let pre: Vec<String> = c[..n].iter().map(|s| s.to_string()).collect();
            if self.roots.contains(&pre) {
                return Some(format!("/{}", pre.join("/")));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_text() {
        let s = StatsTrack::parse(b"count=3,bytes=10").unwrap();
        assert_eq!((s.count(), s.bytes(), s.count_hard_limit()), (3, 10, -1));
        assert_eq!(s.to_text(), "count=3,bytes=10");
        let h =
            StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=5").unwrap();
        assert_eq!(
            (h.count(), h.byte_hard_limit(), h.count_hard_limit()),
            (-1, 100, 5)
        );
        assert_eq!(
            h.to_text(),
            "count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=5"
        );
        let e = StatsTrack::parse(b"").unwrap();
        assert_eq!(e.to_text(), "count=-1,bytes=-1");
        assert_eq!(StatsTrack::parse(b"count=x"), None);
        assert_eq!(StatsTrack::parse(b"count"), None);
        assert_eq!(StatsTrack::parse(b"count="), None);
    }

    /// Extreme and hostile counts: parsed exactly as Java's `Long.parseLong` would (or
    /// refused where it throws), and summed in Java long arithmetic without panicking.
    #[test]
    fn extreme_counts_parse_and_wrap_like_java_longs() {
        let s = StatsTrack::parse(b"count=9223372036854775807,bytes=-9223372036854775808").unwrap();
        assert_eq!((s.count(), s.bytes()), (i64::MAX, i64::MIN));
        assert_eq!(
            s.to_text(),
            "count=9223372036854775807,bytes=-9223372036854775808"
        );
        let s =
            StatsTrack::parse(b"count=+7,bytes=-3=;countHardLimit=-9223372036854775808").unwrap();
        assert_eq!(
            (s.count(), s.bytes(), s.count_hard_limit()),
            (7, -3, i64::MIN)
        );
        // "count==5": Java's split gives ["count", "", "5"] and reads "" as -1; "=5" is
        // the key "" (ignored by every getter).
        assert_eq!(StatsTrack::parse(b"count==5").unwrap().count(), -1);
        assert_eq!(StatsTrack::parse(b"=5,count=2").unwrap().count(), 2);
        // Out of range, spaces, hex, floats, non-ASCII, a leading separator: Java throws.
        for bad in [
            &b"count=9223372036854775808"[..],
            b"bytes=-9223372036854775809",
            b"count= 5",
            b"count=0x10",
            b"count=1.5",
            b"count=\xff\xfe",
            b",count=1",
        ] {
            assert_eq!(
                StatsTrack::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }

        assert_eq!(java_add(i64::MAX, 1), i64::MIN);
        assert_eq!(java_add(i64::MIN, -1), i64::MAX);
        assert_eq!(java_add(i64::MAX, i64::MAX), -2);
        assert_eq!(java_add(-5, 3), -2);
        // checkQuota: no hard limit (-1 or any negative) never exceeds; the wrapped sum
        // is what is compared, so MAX + 1 passes a limit of 5 as in Java.
        assert!(!exceeds_hard_limit(i64::MAX, 1, -1));
        assert!(!exceeds_hard_limit(i64::MAX, 1, i64::MIN));
        assert!(!exceeds_hard_limit(i64::MAX, 1, 5));
        assert!(!exceeds_hard_limit(i64::MAX, 1, i64::MAX));
        assert!(exceeds_hard_limit(i64::MAX, 0, 5));
        assert!(exceeds_hard_limit(i64::MAX - 1, 1, i64::MAX - 1));
        assert!(exceeds_hard_limit(i64::MIN, -1, 5)); // wraps to MAX > 5
        assert!(!exceeds_hard_limit(-5, 3, 0));
        assert!(exceeds_hard_limit(4, 2, 5));
    }

    #[test]
    fn quota_prefixes() {
        let mut q = QuotaPaths::default();
        assert_eq!(q.max_prefix("/a/b"), None);
        q.add("/a");
        q.add("/a/b/c");
        assert_eq!(q.max_prefix("/a/b"), Some("/a".into()));
        assert_eq!(q.max_prefix("/a/b/c/d"), Some("/a/b/c".into()));
        assert_eq!(q.max_prefix("/ab"), None);
        // Deleting /a removes the whole subtree, like PathTrie.deletePath.
        q.delete("/a");
        assert_eq!(q.max_prefix("/a/b/c/d"), None);
        assert_eq!(limit_path("/a"), "/zookeeper/quota/a/zookeeper_limits");
        assert_eq!(stat_path("/a"), "/zookeeper/quota/a/zookeeper_stats");
    }
}
