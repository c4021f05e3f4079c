//! The `sync-server` library: everything the binary does, behind `run(config, listeners, shutdown)`.
//!
//! `main.rs` only parses the command line, sets up logging and calls [`server::run`]; integration
//! tests call the same entry point with listeners bound to `127.0.0.1:0`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod config;
pub mod credentials;
pub mod events;
pub mod logging;
pub use sync_model as model;
pub mod schema;
pub mod server;
pub mod store;
pub mod sync;
pub mod throttle;
pub mod tls;
pub mod trial;
pub mod users;

pub use server::{Listeners, run};

/// Locks a std mutex, taking over a poisoned one. Every std mutex in the server guards data that
/// a panic cannot leave half-changed (single assignments, map inserts and removals), so the data
/// of a poisoned lock is still consistent: this is the one way the server handles poisoning.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The server's version, as printed by `--version` and reported by the admin API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
