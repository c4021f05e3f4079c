//! End-to-end tests: the SDK and the `sync-client` binary against the real server, started
//! in-process on 127.0.0.1 port 0. One binary with modules, so it links once.

mod cli;
mod converge;
mod crash;
mod oracle;
mod support;
mod sync;
mod tls;
