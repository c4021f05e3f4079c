//! Bytes as the server's configuration file (`sync-server-config.json`), parsed and merged with
//! the defaults as at start-up without command-line options (`Config::from_file_bytes`).
//!
//! Parsing must never panic: a bad file is a `ConfigError` naming the key. Relative paths resolve
//! against a directory that does not exist, so a `certificatePath` check finds nothing on disk.
//! A configuration that loads must print and be coherent: the full-sync split is not larger
//! than the message limit.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sync_server::config::Config;

fuzz_target!(|data: &[u8]| {
    let cwd = Path::new("/nonexistent-sync-fuzz");
    match Config::from_file_bytes(cwd, Path::new("sync-server-config.json"), data) {
        Ok(config) => {
            let _ = format!("{config:?}");
            assert!(
                config.full_sync_message_split_mb * 1024.0 * 1024.0
                    <= config.max_message_size as f64,
                "{config:?}"
            );
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
