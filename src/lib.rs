//! ferrokeeper: a ZooKeeper-compatible server.
//!
//! Layers, arrows pointing down only (see docs/architecture.md):
//! `server` (tokio shell) → `admin`, `session`, `txn` (prep) → `tree`, `watch` → `proto` → `jute`.
//! `config` is read by `server` and `admin`; `auth` (SASL mechanisms, pure) by `server`.

pub mod admin;
pub mod auth;
pub mod config;
pub mod jute;
pub mod metrics;
pub mod proto;
pub mod server;
pub mod session;
#[cfg(test)]
pub mod sim;
pub mod storage;
pub mod tls;
pub mod tree;
pub mod txn;
pub mod watch;
pub mod zab;
