//! Serializable types shared by the server, the admin app and clients: the only wire contract.
//!
//! Nothing here knows about storage or transport; every type is plain data with serde derives.

pub mod admin;
pub mod health;
pub mod protocol;
pub mod shared_secret;
pub mod value;
