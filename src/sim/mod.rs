//! The deterministic simulator: drives the real core (`server::core::Core`) with many
//! simulated clients, a simulated clock and a disk that loses what was not synced at a
//! crash (tearing the log wherever the crash falls), and checks invariants after every
//! step against a reference model of ZooKeeper's semantics.
//!
//! A run is a pure function of its seed: `SIM_SEED=N cargo test --release --lib
//! sim::run::replay_seed -- --nocapture` replays one (`SIM_TRACE=1` prints every step).
//! `SIM_SEEDS=K` (and `SIM_FIRST_SEED=F`) set which seeds `sim::run::seeds` runs; by
//! default CI runs `DEFAULT_SEEDS` (in `run.rs`) split over two tests. A failed fsync is
//! a crash here, as in production (the log thread stops the process).
//!
//! Owns: the simulated world (`node`: one core with its log, snapshots and connections;
//! `client`: frames on a connection; `model`: what ZooKeeper would answer; `run`: the
//! seeded workload and the invariant checks). The ensemble: `net` (TCP-like links,
//! breaks, partitions), `member` (one quorum member: disk, election, leader or learner
//! around a core, driven as `server::quorum` drives them), `ensemble_run` (the seeded
//! N-member workload, faults and invariants); `seeds` picks and runs the seeds of both.
//! Must never: read the wall clock, sleep, or use a thread; all randomness comes from the
//! seed.

pub mod client;
pub mod ensemble_run;
pub mod member;
pub mod model;
pub mod net;
pub mod node;
pub mod rng;
pub mod run;
pub mod seeds;
