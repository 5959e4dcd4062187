//! The order in which Java lists a connection's auth ids (whoAmI): `ServerCnxn.authInfo`
//! is a set backed by a `ConcurrentHashMap`, so Java iterates it in hash-table order, not
//! in the order the ids were added.
//!
//! Owns: replaying the ids' insertions into a model of `ConcurrentHashMap` (16 bins to
//! start, `spread`, bins appended at the tail, the resize at 3/4 full with its
//! `transfer` split) and reading the table out in bin order. Must never: decide which ids
//! a connection has (the connection's list, in insertion order, is the truth) or be used
//! for anything but presenting them as Java does.

use crate::jute::records::Id;

/// One hash bin: (spread hash, id), in the bin's order.
type Bin<'a> = Vec<(u32, &'a Id)>;

/// `String.hashCode` over UTF-16 code units.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The jute-generated `Id.hashCode`.
fn java_id_hash(id: &Id) -> i32 {
    let mut result: i32 = 17;
    result = result
        .wrapping_mul(37)
        .wrapping_add(java_string_hash(&id.scheme));
    result
        .wrapping_mul(37)
        .wrapping_add(java_string_hash(&id.id))
}

/// `ConcurrentHashMap.spread`.
fn spread(h: i32) -> u32 {
    let h = h as u32;
    (h ^ (h >> 16)) & 0x7fff_ffff
}

/// `ids` (distinct, in insertion order) in the order Java's set iterates them.
pub(super) fn java_set_order(ids: &[Id]) -> Vec<&Id> {
    let mut n: usize = 16;
    let mut size_ctl = n - (n >> 2);
    let mut table: Vec<Bin> = vec![Vec::new(); n];
    let mut count = 0usize;
    for id in ids {
        let h = spread(java_id_hash(id));
        let bin = &mut table[(h as usize) & (n - 1)];
        if bin.iter().any(|(_, x)| *x == id) {
            continue;
        }
        bin.push((h, id));
        count += 1;
        if count >= size_ctl {
            table = transfer(table, n);
            n *= 2;
            size_ctl = n - (n >> 2);
        }
    }
    table.into_iter().flatten().map(|(_, id)| id).collect()
}

/// `ConcurrentHashMap.transfer`: each bin splits into a low (same index) and a high
/// (index + n) list; the run of nodes at the bin's end that go the same way keeps its
/// order, the nodes before it are prepended one by one (so they come out reversed).
fn transfer(table: Vec<Bin>, n: usize) -> Vec<Bin> {
    let mut next: Vec<Bin> = vec![Vec::new(); 2 * n];
    for (i, bin) in table.into_iter().enumerate() {
        if bin.is_empty() {
            continue;
        }
        let bit = |h: u32| (h as usize) & n;
        // lastRun: the start of the tail whose nodes all share the split bit.
        let mut last_run = 0;
        for k in 1..bin.len() {
            if bit(bin[k].0) != bit(bin[k - 1].0) {
                last_run = k;
            }
        }
        let tail_high = bit(bin[last_run].0) != 0;
        let (mut low, mut high): (Bin, Bin) = if tail_high {
            (Vec::new(), bin[last_run..].to_vec())
        } else {
            (bin[last_run..].to_vec(), Vec::new())
        };
        for node in bin[..last_run].iter() {
            if bit(node.0) == 0 {
                low.insert(0, *node);
            } else {
                high.insert(0, *node);
            }
        }
        next[i] = low;
        next[i + n] = high;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    #[test]
    fn java_string_and_id_hashes() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("ip"), 3367);
        assert_eq!(java_string_hash("digest"), -1331913276);
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_id_hash(&id("", "")), 17 * 37 * 37);
    }

    /// What 3.9.5 answered to whoAmI (seen by the zkCli 3.9 tests): a connection from
    /// 127.0.0.1 that authenticated as digest alice:x, then as the super user.
    #[test]
    fn the_order_java_answered() {
        let ip = id("ip", "127.0.0.1");
        let alice = id("digest", &crate::tree::acl::digest_id("alice:x"));
        let sup = id("super", "");
        let super_digest = id("digest", "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        let ids = [ip.clone(), alice.clone()];
        assert_eq!(java_set_order(&ids), vec![&alice, &ip]);
        let ids = [ip.clone(), alice.clone(), sup.clone(), super_digest.clone()];
        assert_eq!(java_set_order(&ids), vec![&alice, &sup, &ip, &super_digest]);
    }

    /// Many ids: every id comes out once, through resizes.
    #[test]
    fn resizes_keep_every_id_once() {
        let ids: Vec<Id> = (0..100).map(|i| id("digest", &format!("u{i}:x"))).collect();
        let mut out: Vec<&Id> = java_set_order(&ids);
        assert_eq!(out.len(), 100);
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup();
        assert_eq!(out.len(), 100);
    }
}
