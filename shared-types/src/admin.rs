//! Admin HTTP API bodies: every request and response of `/api/*` on the admin port.

pub mod error;
pub mod stats;
pub mod status;
