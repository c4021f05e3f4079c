//! Admin HTTP API bodies: every request and response of `/api/*` on the admin port.

pub mod data;
pub mod error;
pub mod events;
pub mod history;
pub mod schema;
pub mod sessions;
pub mod stats;
pub mod status;
pub mod trial;
