//! The `sync-server` binary: parses options, sets up logging and runs the server.

use std::process::ExitCode;

use sync_server::config::{Config, ConfigError};
use sync_server::{Listeners, logging, server};

fn main() -> ExitCode {
    server::mark_process_start();
    let config = match Config::load(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Clap(e)) => e.exit(),
        Err(e) => return fail(&e),
    };
    logging::init(config.log_level);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers.max(1))
        .thread_name("sync-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async {
        let shutdown = server::shutdown_signal();
        let listeners = Listeners::bind(&config).await?;
        sync_server::run(config, listeners, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Reports a fatal error on stderr (always visible, whatever the log level) and in the log.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(target: "SySvAp", "{error}");
    eprintln!("sync-server: error: {error}");
    ExitCode::FAILURE
}
