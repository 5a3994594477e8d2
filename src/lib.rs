#![deny(clippy::all)]
//! fs-job-store's native side: a Rust core that works on the store's folder (usable from Rust
//! alone), and a thin napi binding over it.

pub mod binding;
pub mod durable;
pub mod error;
pub mod layout;
pub mod lock;
pub mod state;
pub mod store;
