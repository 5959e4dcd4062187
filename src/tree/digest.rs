//! The 3.6+ tree digest (DigestCalculator, digest version 2): CRC32 per node, summed.
//!
//! Owns: the per-node digest function. Must never: read anything but its arguments.

use crate::jute::records::StatPersisted;

/// Digest version written in TxnDigest / snapshot ZxidDigest.
pub const DIGEST_VERSION: i32 = 2;

/// CRC32 over path ("" for the root) + data + the 60-byte stat block; 0 for paths under
/// "/zookeeper/" (but not "/zookeeper" itself).
pub fn node_digest(key: &str, data: &[u8], s: &StatPersisted) -> i64 {
    if key.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if key == "/" { "" } else { key };
    let mut h = crc32fast::Hasher::new();
    h.update(path.as_bytes());
    h.update(data);
    let mut b = [0u8; 60];
    b[0..8].copy_from_slice(&s.czxid.to_be_bytes());
    b[8..16].copy_from_slice(&s.mzxid.to_be_bytes());
    b[16..24].copy_from_slice(&s.pzxid.to_be_bytes());
    b[24..32].copy_from_slice(&s.ctime.to_be_bytes());
    b[32..40].copy_from_slice(&s.mtime.to_be_bytes());
    b[40..44].copy_from_slice(&s.version.to_be_bytes());
    b[44..48].copy_from_slice(&s.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&s.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
    h.update(&b);
    h.finalize() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_and_root_alias() {
        let s = StatPersisted::default();
        assert_eq!(node_digest("/zookeeper/quota", b"", &s), 0);
        assert_ne!(node_digest("/zookeeper", b"", &s), 0);
        assert_eq!(node_digest("/", b"", &s), node_digest("", b"", &s));
        // Vectors computed independently with Python's zlib.crc32.
        assert_eq!(node_digest("", b"", &s), 68323592);
        assert_eq!(node_digest("/zookeeper", b"", &s), 1303661912);
        let s5 = StatPersisted {
            czxid: 5,
            mzxid: 5,
            pzxid: 5,
            ctime: 1000,
            mtime: 1000,
            ..s
        };
        assert_eq!(node_digest("/a", b"hello", &s5), 4272001761);
        let mut s2 = s;
        s2.mzxid = 1;
        assert_ne!(node_digest("/a", b"x", &s), node_digest("/a", b"x", &s2));
    }
}
