//! Tidy: the mechanical invariants of ARCHITECTURE.md and the code conventions, checked over the
//! source tree (rust-analyzer's `tidy.rs` is the model). Each check names the file and line that
//! breaks it.

use std::path::{Path, PathBuf};

/// The repository root (the server crate's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate is inside the workspace")
        .to_owned()
}

/// Every `.rs` file under `dir`, sorted, skipping build output and dependencies.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "target" | "node_modules" | "corpus" | "artifacts"
                ) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The crates whose sources the checks read.
const CRATES: &[&str] = &[
    "server/src",
    "client/src",
    "model/src",
    "shared-types/src",
    "bench/src",
    "admin-app/src",
    "fuzz/src",
    "fuzz/fuzz_targets",
];

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Whether a file is test code: a `tests.rs` module or a file under `tests/`.
fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
}

/// The file's text up to its inline `#[cfg(test)] mod tests { ... }`, if it has one (that module
/// is test code and is always last, by convention).
fn non_test_part(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    }
}

#[test]
fn only_store_names_heed() {
    let mut offenders = Vec::new();
    for krate in ["server/src", "client/src"] {
        for path in rust_files(&root().join(krate)) {
            let rel = relative(&path);
            let in_store =
                rel == format!("{krate}/store.rs") || rel.starts_with(&format!("{krate}/store/"));
            if in_store {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains("heed::") || code.contains("use heed") {
                    offenders.push(format!("{rel}:{}: {}", i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only the store module may name heed:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_module_says_its_job_in_a_doc_line() {
    let mut offenders = Vec::new();
    for krate in CRATES {
        for path in rust_files(&root().join(krate)) {
            if path.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if !text.starts_with("//!") {
                offenders.push(relative(&path));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these files do not start with a `//!` line saying what the module is for:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_server_does_not_unwrap_outside_tests() {
    let mut offenders = Vec::new();
    for path in rust_files(&root().join("server/src")) {
        if is_test_file(&path) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in non_test_part(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(".unwrap()") {
                offenders.push(format!("{}:{}: {}", relative(&path), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unwrap() in server code (handle the error, or explain an `expect`):\n{}",
        offenders.join("\n")
    );
}

/// Atomics in the server that are not statistics counters, with the reason.
const NOT_COUNTERS: &[(&str, &str)] = &[
    ("server/src/sync.rs", "the next connection number"),
    (
        "server/src/events.rs",
        "the per-nanosecond event key counter",
    ),
    (
        "server/src/sync/hub.rs",
        "each peer's sent position (a gauge source)",
    ),
    (
        "server/src/sync/connection.rs",
        "the hub's position cell it writes",
    ),
    ("server/src/logging.rs", "the run-time log level"),
];

#[test]
fn counters_are_declared_only_in_their_table() {
    let mut offenders = Vec::new();
    for path in rust_files(&root().join("server/src")) {
        let rel = relative(&path);
        if rel == "server/src/sync/stats.rs"
            || is_test_file(&path)
            || NOT_COUNTERS.iter().any(|(file, _)| *file == rel)
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in non_test_part(&text).lines().enumerate() {
            if line.contains("AtomicU64")
                || line.contains("AtomicI64")
                || line.contains("AtomicUsize")
            {
                offenders.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a counter outside the table in sync/stats.rs (add a row there; or, for an atomic that is \
         no statistic, list the file in NOT_COUNTERS with the reason):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn modules_use_one_file_convention() {
    let mut offenders = Vec::new();
    for krate in CRATES {
        for path in rust_files(&root().join(krate)) {
            if path.file_name().is_some_and(|n| n == "mod.rs") {
                offenders.push(relative(&path));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "use `foo.rs` beside `foo/`, not `foo/mod.rs`:\n{}",
        offenders.join("\n")
    );
}

/// Lines a server file may have before its header must say why it is that long.
const LONG_FILE_LINES: usize = 650;

#[test]
fn long_server_files_say_why() {
    let mut offenders = Vec::new();
    for path in rust_files(&root().join("server/src")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with("//")).collect();
        let says_why = header.iter().any(|l| l.contains("Size:"));
        if lines > LONG_FILE_LINES && !says_why {
            offenders.push(format!("{} ({lines} lines)", relative(&path)));
        }
    }
    assert!(
        offenders.is_empty(),
        "server files over {LONG_FILE_LINES} lines need a `Size:` line in their header saying why \
         (or a split):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_cli_option_is_in_the_readme_table() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
        .arg("--help")
        .output()
        .expect("sync-server --help runs");
    let help = String::from_utf8(help.stdout).unwrap();
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table: Vec<&str> = readme.lines().filter(|l| l.starts_with('|')).collect();
    let mut missing = Vec::new();
    let mut seen = 0;
    for line in help.lines() {
        // Option lines are indented by 2 (`  -c, --conf`) or 6 (`      --cert`) spaces; their
        // descriptions by 10.
        let trimmed = line.trim_start();
        if !trimmed.starts_with('-') || line.len() - trimmed.len() > 6 {
            continue;
        }
        let Some(option) = trimmed
            .split([',', ' ', '='])
            .find(|w| w.starts_with("--") && w.len() > 2)
        else {
            continue;
        };
        seen += 1;
        let row = format!("`{option}");
        let row_also = format!(", {option}");
        if !table
            .iter()
            .any(|l| l.contains(&row) || l.contains(&row_also))
        {
            missing.push(option.to_owned());
        }
    }
    assert!(seen > 20, "found only {seen} options in --help:\n{help}");
    assert!(
        missing.is_empty(),
        "options in `sync-server --help` without a row in the README's option table: {missing:?}"
    );
}

#[test]
fn the_readme_option_table_is_one_table() {
    // A blank line inside the table splits it in two on GitHub; the second part loses its header.
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    for (i, pair) in lines.windows(3).enumerate() {
        if pair[0].starts_with('|') && pair[1].trim().is_empty() && pair[2].starts_with("| `-") {
            panic!("README.md:{}: a blank line splits the option table", i + 2);
        }
    }
}
