//! One module per page of the app.

pub mod data;
pub mod events;
pub mod history;
pub mod login;
pub mod schema;
pub mod stats;
pub mod status;
pub mod trial;
pub mod users;
pub mod versions;
