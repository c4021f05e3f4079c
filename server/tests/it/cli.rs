//! The binary as a user runs it: version, help, start-up refusals, log format, probes, shutdown.

use std::net::TcpListener;

use crate::support::*;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_prints_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-v"] {
        let output = run_to_end(sync_server(dir.path()).arg(flag));
        assert!(output.status.success(), "{flag}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    }
}

#[test]
fn help_lists_the_documented_options() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_to_end(sync_server(dir.path()).arg("--help"));
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--model",
        "--db-directory",
        "--bind",
        "--admin-bind",
        "--admin-off",
        "--cert",
        "--db-max-size",
        "--log-level",
        "--unsecured-no-authentication",
        "--workers",
        "--conf",
    ] {
        assert!(help.contains(option), "help lacks {option}:\n{help}");
    }
}

/// Each start-up refusal: (arguments, a file to create first, text the error must contain).
#[test]
fn start_up_refusals_name_the_problem() {
    let model = example_model();
    let model = model.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--unsecured-no-authentication"], "no data model"),
        (vec!["--model", model], "no authenticator"),
        (
            vec![
                "--model",
                "missing-model.json",
                "--unsecured-no-authentication",
            ],
            "missing-model.json",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--bind",
                "ws://127.0.0.1:99999",
            ],
            "99999",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--bind",
                "http://127.0.0.1:9999",
            ],
            "http://",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--admin-bind",
                "127.0.0.1:notaport",
            ],
            "notaport",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--log-level",
                "loud",
            ],
            "loud",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--db-max-size",
                "10X",
            ],
            "10X",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--cluster-id",
                "c1",
            ],
            "cluster",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "-d",
                "file/db",
            ],
            "file/db",
        ),
        (
            vec![
                "--model",
                model,
                "--unsecured-no-authentication",
                "--conf",
                "nope.json",
            ],
            "nope.json",
        ),
    ];
    for (args, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"not a directory").unwrap();
        let output = run_to_end(
            sync_server(dir.path())
                .args(["--bind", "ws://127.0.0.1:0", "--admin-bind", "127.0.0.1:0"])
                .args(&args),
        );
        let err = stderr(&output);
        assert!(
            !output.status.success(),
            "{args:?} must fail; stderr: {err}"
        );
        assert!(
            err.to_lowercase().contains(&expected.to_lowercase()),
            "{args:?}: expected {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn invalid_model_file_is_refused_with_its_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"entities": [{"id": "1:12:5", "name": "A", "lastPropertyId": "1:1", "properties": []}], "lastEntityId": "1:12", "modelVersion": 5}"#).unwrap();
    let output = run_to_end(
        sync_server(dir.path())
            .args([
                "--unsecured-no-authentication",
                "--bind",
                "ws://127.0.0.1:0",
                "--admin-off",
                "--model",
            ])
            .arg(&bad),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("entities[0].id") && err.contains("1:12:5"),
        "{err}"
    );
}

#[test]
fn a_taken_port_is_refused_clearly() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("ws://127.0.0.1:{port}");
    let output = run_to_end(
        sync_server(dir.path())
            .args([
                "--unsecured-no-authentication",
                "--admin-off",
                "--bind",
                &bind,
                "--model",
            ])
            .arg(example_model()),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("already in use") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn starts_logs_in_the_documented_format_answers_probes_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    let mut server = Running::start(
        dir.path(),
        &[
            "--unsecured-no-authentication",
            "--model",
            model.to_str().unwrap(),
        ],
    );
    server.wait_for(
        "INSECURE no-authentication mode enabled - every client allowed without any validation",
    );
    for expected in [
        "[INFO ] [SySvAp] Default configuration file sync-server-config.json not found",
        "[INFO ] [SchVer] Inserted new schema version ID 1",
        "[INFO ] [SySvAp] Switching schema version ID to 1",
        "[WARN ] [SvSync] INSECURE no-authentication mode enabled",
    ] {
        assert!(
            server.log.iter().any(|l| l.contains(expected)),
            "missing {expected:?} in\n{}",
            server.log.join("\n")
        );
    }
    for line in &server.log {
        assert!(
            is_documented_format(line),
            "not in the documented format: {line:?}"
        );
    }
    assert!(dir.path().join("objectbox/data.mdb").exists());

    let (status, response) = http_get(server.sync_addr, "/");
    assert_eq!(status, 200, "{response}");
    assert!(
        response.contains("text/plain") && body(&response).contains("sync endpoint"),
        "{response}"
    );

    let admin = server.admin_addr.expect("admin address in the log");
    let (status, response) = http_get(admin, "/api/health");
    assert_eq!(status, 200, "{response}");
    let health: serde_json::Value = serde_json::from_str(body(&response)).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["schemaVersion"], 1);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let (status, response) = http_get(admin, "/api/nope");
    assert_eq!(status, 404);
    assert!(body(&response).contains("not_found"), "{response}");

    let (code, log) = server.terminate();
    assert_eq!(code, 0, "{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("Stopped")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn restart_with_an_evolved_model_adds_a_version_and_an_illegal_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let start = |model: &str| {
        Running::start(
            dir.path(),
            &[
                "--unsecured-no-authentication",
                "--admin-off",
                "--model",
                fixture(model).to_str().unwrap(),
            ],
        )
    };
    let (code, _) = start("evolution/v1.json").terminate();
    assert_eq!(code, 0);
    let mut server = start("evolution/v2-add-property-and-entity.json");
    server.wait_for("Inserted new schema version ID 2");
    server.wait_for("Switching schema version ID to 2");
    assert_eq!(server.terminate().0, 0);

    let server = start("evolution/v2-add-property-and-entity.json");
    let (code, log) = server.terminate();
    assert_eq!(code, 0);
    assert!(
        !log.iter()
            .any(|l| l.contains("Inserted new schema version")),
        "{}",
        log.join("\n")
    );

    let output = run_to_end(
        sync_server(dir.path())
            .args([
                "--unsecured-no-authentication",
                "--admin-off",
                "--bind",
                "ws://127.0.0.1:0",
                "--model",
            ])
            .arg(fixture("evolution/illegal-type-change.json")),
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("not a legal update") && err.contains("text"),
        "{err}"
    );
}

#[test]
fn a_config_file_is_read_and_unknown_keys_are_refused_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let model = example_model();
    std::fs::write(
        dir.path().join("sync-server-config.json"),
        serde_json::json!({
            "_comment": "keys starting with _ are comments",
            "modelFile": model,
            "unsecuredNoAuthentication": true,
            "dbDirectory": "from-config",
            "bind": "ws://127.0.0.1:0",
            "adminBind": "http://127.0.0.1:0",
        })
        .to_string(),
    )
    .unwrap();
    let server = Running::spawn(sync_server(dir.path()));
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("sync-server-config.json")),
        "{}",
        server.log.join("\n")
    );
    assert_eq!(server.terminate().0, 0);
    assert!(dir.path().join("from-config/data.mdb").exists());

    std::fs::write(
        dir.path().join("sync-server-config.json"),
        r#"{"dbDirctory": "x"}"#,
    )
    .unwrap();
    let output = run_to_end(&mut sync_server(dir.path()));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("dbDirctory") && err.contains("dbDirectory"),
        "{err}"
    );
}

/// `TTT-HH:MM:SS.ffff [LEVEL] [Tag   ] message` or the same without the tag.
fn is_documented_format(line: &str) -> bool {
    let b = line.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .clone()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let head = digits(0..3)
        && b.get(3) == Some(&b'-')
        && digits(4..6)
        && b.get(6) == Some(&b':')
        && digits(7..9)
        && b.get(9) == Some(&b':')
        && digits(10..12)
        && b.get(12) == Some(&b'.')
        && digits(13..17)
        && line.get(17..19) == Some(" [");
    let level = line
        .get(19..26)
        .is_some_and(|l| ["INFO ] ", "WARN ] ", "ERROR] ", "DEBUG] ", "TRACE] "].contains(&l));
    let tag_ok = match line.get(26..27) {
        Some("[") => line.get(33..35) == Some("] "),
        _ => true,
    };
    head && level && tag_ok
}
