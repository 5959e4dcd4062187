//! Which seeds a simulation test runs: by default CI's count split over two tests (so
//! they run on two cores), `SIM_SEEDS` / `SIM_FIRST_SEED` to choose them (then only the
//! first test runs them), `SIM_SEED` to replay one.
//! Owns: reading those variables, running a range with a run function, folding the runs'
//! summaries, and the replay hint a failed seed panics with.
//! Must never: know what a run does (the run function and its summary are the caller's).

/// What a range of seeds did.
pub struct Batch<S> {
    pub first: u64,
    pub n: u64,
    /// The runs' summaries folded together.
    pub total: S,
    pub secs: f64,
}

/// Run this test's `half` (0 or 1) of the seeds with `run`, folding summaries with
/// `add`; `None` when this half runs nothing (seeds were chosen by hand). A failed seed
/// panics with the command that replays it through the test `replay_test`.
pub fn run_half<S: Default>(
    half: u64,
    default_seeds: u64,
    run: impl Fn(u64) -> Result<S, String>,
    add: impl Fn(&mut S, S),
    replay_test: &str,
) -> Option<Batch<S>> {
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u64>().ok());
    let (first, n) = match (env("SIM_FIRST_SEED"), env("SIM_SEEDS")) {
        (None, None) => (half * default_seeds / 2, default_seeds / 2),
        (f, n) if half == 0 => (f.unwrap_or(0), n.unwrap_or(default_seeds)),
        _ => return None,
    };
    let started = std::time::Instant::now();
    let mut total = S::default();
    for seed in first..first + n {
        match run(seed) {
            Ok(s) => add(&mut total, s),
            Err(e) => panic!(
                "seed {seed} failed: {e}\n  replay: SIM_SEED={seed} cargo test --release --lib {replay_test} -- --nocapture"
            ),
        }
    }
    Some(Batch {
        first,
        n,
        total,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// Replay `SIM_SEED` with `run`, if it is set.
pub fn replay<S: std::fmt::Debug>(run: impl Fn(u64) -> Result<S, String>) {
    let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) else {
        return;
    };
    match run(seed) {
        Ok(s) => eprintln!("seed {seed}: ok {s:?}"),
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

/// A simulation's three tests: `seeds` and `seeds_second_half` (CI's seeds, one half
/// each, so the two run on two cores) with `run_seeds(half)`, and `replay_seed` with
/// `run(seed)`.
macro_rules! seed_tests {
    ($run_seeds:ident, $run:ident) => {
        /// The first half of CI's seeds.
        #[test]
        fn seeds() {
            $run_seeds(0);
        }

        /// The second half of CI's seeds.
        #[test]
        fn seeds_second_half() {
            $run_seeds(1);
        }

        /// `SIM_SEED=N`: replay seed N.
        #[test]
        fn replay_seed() {
            $crate::sim::seeds::replay($run);
        }
    };
}
pub(crate) use seed_tests;
