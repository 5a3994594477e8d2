#![deny(clippy::all)]
//! fs-job-store's native side: a Rust core that works on the store's folder (usable from Rust
//! alone), and a thin napi binding over it.

pub mod attempts;
pub mod binding;
pub mod check;
pub mod claim_watch;
pub mod claims;
pub mod cursor;
pub mod delayed;
pub mod durable;
pub mod error;
pub mod failure;
pub mod folder;
pub mod inspect;
pub mod json;
pub mod layout;
pub mod lock;
pub mod retention;
pub mod schedule;
pub mod state;
pub mod store;
pub mod wake;
