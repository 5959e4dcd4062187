//! The SNAP body a learner receives (`zab::snap::SnapDecoder`), fed in slices whose sizes
//! the input picks, as TCP reads would cut it; then `finish`.
//! Layout: byte 0 = flags (bit 0: extended types), byte 1 = slice-size seed, the rest the
//! stream.
#![no_main]

use ferrokeeper::jute::JuteLimits;
use ferrokeeper::zab::snap::{Progress, SnapDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let ext = data[0] & 1 == 1;
    let mut seed = data[1] as usize;
    let mut rest = &data[2..];
    let mut d = SnapDecoder::new(ext, JuteLimits::DEFAULT.field());
    loop {
        // Slice sizes cycle through 1..=seed+1 (a seed of 255: mostly whole-ish reads).
        let n = if seed == 255 {
            rest.len()
        } else {
            (seed % 37) + 1
        }
        .min(rest.len());
        seed = seed.wrapping_mul(31).wrapping_add(7) % 256;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        match d.feed(chunk) {
            Ok(Progress::Done { .. }) => {
                let _ = d.finish(1);
                return;
            }
            Ok(Progress::NeedMore) => {
                if rest.is_empty() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
});
