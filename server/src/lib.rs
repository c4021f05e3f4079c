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

/// The server's version, as printed by `--version` and reported by the admin API.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
