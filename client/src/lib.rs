//! Client SDK for the sync server: a local store with an outgoing queue, and a sync client.
//!
//! - [`store::ClientStore`] is the local LMDB database for one model. Local writes go there
//!   first, online or not, and queue the transaction for the server in the same commit.
//! - [`engine::Engine`] is the protocol state machine: server messages in, frames to send and
//!   [`Event`]s out. It does no I/O besides the local store and knows no sockets or clocks.
//! - [`client::SyncClient`] runs the engine over a WebSocket: connects, logs in, sends the
//!   queue, applies what arrives, heartbeats and reconnects with backoff.
//!
//! Architecture invariant: only `store` names heed, only `client` names tokio-tungstenite, and
//! only `json` knows the JSON form of objects.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod client;
pub mod credentials;
pub mod engine;
pub mod json;
pub mod store;

pub use client::{ClientOptions, SyncClient};
pub use credentials::Credentials;
pub use engine::{Event, State};
pub use shared_types::protocol::RequestUpdatesMode;
pub use store::ClientStore;
