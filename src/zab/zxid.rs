//! Zxids: `(epoch << 32) | counter`, as Java's `ZxidUtils`.
//!
//! Owns: building and splitting zxids and printing them the way Java does in file names
//! and logs (`Long.toHexString`: lower-case hex, no padding, two's complement for
//! negatives). Must never: decide what an epoch or counter means for the protocol.

/// A zxid from an epoch and a counter (only the counter's low 32 bits are used, as
/// `ZxidUtils.makeZxid`).
pub const fn make(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// The epoch: the high 32 bits, sign-extended (Java's `zxid >> 32`, so -1 gives -1).
pub const fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// The counter: the low 32 bits (always 0..=0xffffffff).
pub const fn counter_of(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

/// Whether this is the first zxid of an epoch (counter 0), which no txn carries.
pub const fn is_epoch_start(zxid: i64) -> bool {
    counter_of(zxid) == 0
}

/// `Long.toHexString(zxid)`: what ZooKeeper prints in `log.<zxid>`, `snapshot.<zxid>`
/// and its log messages (`0x` is added by the message text, not here).
pub fn to_hex(zxid: i64) -> String {
    format!("{:x}", zxid as u64)
}

/// Parse what `to_hex` prints back: hex digits of an unsigned 64-bit value, either case,
/// no sign or prefix.
pub fn from_hex(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    u64::from_str_radix(s, 16).ok().map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_and_split() {
        let z = make(4, 1);
        assert_eq!(z, 0x4_0000_0001);
        assert_eq!((epoch_of(z), counter_of(z)), (4, 1));
        // The counter is masked to 32 bits, as makeZxid does.
        assert_eq!(make(1, 0x1_0000_0002), 0x1_0000_0002);
        assert_eq!(make(1, -1), 0x1_ffff_ffff);
        assert_eq!(counter_of(make(7, 0xffff_ffff)), 0xffff_ffff);
        assert!(is_epoch_start(make(3, 0)));
        assert!(!is_epoch_start(make(3, 1)));
    }

    #[test]
    fn negative_zxids_split_like_java() {
        // -1 (UPTODATE / REQUEST zxid) and Long.MIN_VALUE (an observer's vote).
        assert_eq!(epoch_of(-1), -1);
        assert_eq!(counter_of(-1), 0xffff_ffff);
        assert_eq!(epoch_of(i64::MIN), -0x8000_0000);
        assert_eq!(counter_of(i64::MIN), 0);
    }

    #[test]
    fn hex_as_in_captured_file_names() {
        // Names seen in shared/quorum-captures/*/disk.
        assert_eq!(to_hex(make(1, 0x27e)), "10000027e");
        assert_eq!(to_hex(make(4, 0)), "400000000");
        assert_eq!(to_hex(0), "0");
        assert_eq!(to_hex(-1), "ffffffffffffffff");
        assert_eq!(to_hex(i64::MIN), "8000000000000000");
        for z in [0, 1, make(2, 0x1c), -1, i64::MIN, i64::MAX] {
            assert_eq!(from_hex(&to_hex(z)), Some(z));
        }
        assert_eq!(from_hex("10000005E"), Some(0x1_0000_005e));
        assert_eq!(from_hex(""), None);
        assert_eq!(from_hex("+1"), None);
        assert_eq!(from_hex("1g"), None);
        assert_eq!(from_hex("10000000000000000"), None);
    }
}
