//! Integration tests: the real `sync-server` binary and the real library on temp directories and
//! loopback sockets. One binary with modules, so it links once.

mod admin_app;
mod admin_data;
mod admin_openapi;
mod admin_stats;
mod admin_users;
mod cli;
mod crash;
mod hostile;
mod limits;
/// The crash tests' oracle, shared with the client's suite.
#[path = "../../../client/tests/it/oracle.rs"]
mod oracle;
mod protocol;
mod schema_versions;
mod secrets;
mod support;
mod tidy;
mod tls;
