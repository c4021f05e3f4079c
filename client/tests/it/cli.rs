//! The `sync-client` binary: local commands and `sync` against the real server.

use std::process::{Command, Output};

use crate::support::{Server, example_model_path};

fn cli(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sync-client"))
        .arg("--model")
        .arg(example_model_path())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8(output.stderr.clone()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_sync_and_list_on_another_store() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), |_| {}).await;
    let url = server.url();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));

    // The CLI blocks, so run it off the runtime the server uses.
    let (a2, b2, url2) = (a.clone(), b.clone(), url.clone());
    let (listed, status) = tokio::task::spawn_blocking(move || {
        assert_eq!(
            stdout(&cli(&a2, &["put", "Project", r#"{"name":"Home"}"#])),
            "1\n"
        );
        assert_eq!(
            stdout(&cli(
                &a2,
                &["put", "Task", r#"{"text":"dishes","projectId":1}"#]
            )),
            "1\n"
        );
        stdout(&cli(&a2, &["--server", &url2, "sync"]));
        stdout(&cli(&b2, &["--server", &url2, "--mode", "manual", "sync"]));
        (
            stdout(&cli(&b2, &["list", "Task"])),
            stdout(&cli(&b2, &["status"])),
        )
    })
    .await
    .expect("cli");
    assert!(
        listed.starts_with(r#"{"id":1,"text":"dishes","dateCreated":null,"dateFinished":null,"projectId":1,"syncClock":"#),
        "{listed}"
    );
    assert!(status.contains(r#""outgoingQueueLen":0"#), "{status}");
    server.stop().await;
}

#[test]
fn errors_go_to_stderr_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().expect("dir");
    let err = stderr(&cli(dir.path(), &["put", "Task", r#"{"text":5}"#]));
    assert!(
        err.contains("Task.text (String): expected a string, found 5"),
        "{err}"
    );
    let err = stderr(&cli(dir.path(), &["get", "Task", "9"]));
    assert!(err.contains("Task 9 does not exist"), "{err}");
    let err = stderr(&cli(dir.path(), &["list", "Nope"]));
    assert!(err.contains("no entity \"Nope\""), "{err}");
    // Nobody listens on port 1: bounded attempts, then a clear reason.
    let err = stderr(&cli(
        dir.path(),
        &[
            "--server",
            "ws://127.0.0.1:1",
            "--max-attempts",
            "2",
            "sync",
        ],
    ));
    assert!(err.contains("cannot connect to ws://127.0.0.1:1"), "{err}");
    assert!(err.contains("after 2 attempts"), "{err}");
}
