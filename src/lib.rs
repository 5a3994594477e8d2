#![deny(clippy::all)]
//! fs-job-store's native side: a Rust core that works on the store's folder (usable from Rust
//! alone), and a thin napi binding over it.
//!
//! - The store and its operations: `store` (what a store is, open/close), `produce` (with
//!   `keys` for unique keys), `pull`, `delayed`, `failure`, `cancel` (and progress), `schedule`,
//!   `inspect`, `retention`, `check`, and `calls` (each operation as a call to run off the
//!   caller's thread, with the per-job turn it takes).
//! - How a job changes state: `transition` (the one crash-safe order), `marker`, `record`
//!   (a job's files), `state` (`state.json`).
//! - The folder underneath: `layout` (paths, ids, listings), `folder` (no link is ever
//!   followed), `durable` (atomic and durable writes), `lock` (file locks), `leftovers`.
//! - Claims and waiting: `claims`, `claim_watch`, `attempts`, `cursor`, `delayed_index`, `wake`,
//!   `pool` (the threads and per-job turns), `claimed` (who holds what, for counting).
//! - Watching the queue: `activity` (jobs per minute).
//! - Small shared pieces: `error`, `json`, `clock`, `named`.

pub mod activity;
pub mod attempts;
pub mod binding;
pub mod calls;
pub mod cancel;
pub mod check;
pub mod claim_watch;
pub mod claimed;
pub mod claims;
pub mod clock;
pub mod cursor;
pub mod delayed;
pub mod delayed_index;
pub mod durable;
pub mod error;
pub mod failure;
pub mod folder;
pub mod inspect;
pub mod json;
pub mod keys;
pub mod layout;
pub mod leftovers;
pub mod lock;
pub mod marker;
pub mod named;
pub mod pool;
pub mod produce;
pub mod pull;
pub mod record;
pub mod retention;
pub mod schedule;
pub mod state;
pub mod store;
pub mod transition;
pub mod wake;
