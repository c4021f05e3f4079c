//! `wss://`: peers and the CLI syncing through a TLS server with a self-signed certificate that
//! they trust through the CA option, and refusals without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sync_client::client::Error;
use sync_client::{ClientOptions, ClientStore, Event, SyncClient};

use crate::support::{Peer, Server, example_model, example_model_path};

/// A self-signed certificate for 127.0.0.1 in `dir/certs` (cert.pem, key.pem); returns the
/// directory and the path of the certificate, which clients trust as their CA.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate");
    std::fs::write(certs.join("cert.pem"), cert.pem()).expect("write");
    std::fs::write(certs.join("key.pem"), signing_key.serialize_pem()).expect("write");
    let ca = certs.join("cert.pem");
    (certs, ca)
}

async fn tls_server(dir: &Path, certs: PathBuf) -> (Server, String) {
    let server = Server::start(dir, |config| {
        config.bind = "wss://127.0.0.1:0".parse().expect("bind");
        config.certificate_path = Some(certs);
    })
    .await;
    let url = format!("wss://{}", server.addr);
    (server, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_sync_over_wss_with_the_ca_option() {
    let dir = tempfile::tempdir().expect("dir");
    let (certs, ca) = certificate(dir.path());
    let (server, url) = tls_server(dir.path(), certs).await;
    let trust = |o: &mut ClientOptions| o.ca_certificate = Some(ca.clone());
    let mut a = Peer::new(&url, trust);
    let mut b = Peer::new(&url, trust);

    a.store
        .put("Task", &json!({"text": "encrypted"}))
        .expect("put");
    a.client.start();
    a.wait_until_acked().await;
    b.client.start();
    b.wait_until("Task", |tasks| {
        tasks.len() == 1 && tasks[0]["text"] == json!("encrypted")
    })
    .await;

    // Without the CA the same server is not trusted: connecting fails (and is retried).
    let mut stranger = Peer::new(&url, |_| {});
    stranger.client.start();
    match stranger
        .wait_for(|e| matches!(e, Event::ConnectFailed { .. }))
        .await
    {
        Event::ConnectFailed { error, .. } => {
            assert!(error.to_lowercase().contains("certificate"), "{error}");
        }
        other => panic!("{other:?}"),
    }

    stranger.client.stop().await;
    a.client.stop().await;
    b.client.stop().await;
    server.stop().await;
}

#[test]
fn an_unusable_ca_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("dir");
    let store = ClientStore::open(&dir.path().join("store"), example_model()).expect("store");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    for (path, expected) in [
        (dir.path().join("missing.pem"), "missing.pem: "),
        (not_pem, "not.pem: no CERTIFICATE block found"),
    ] {
        let mut options = ClientOptions::new("wss://127.0.0.1:1");
        options.ca_certificate = Some(path);
        match SyncClient::new(store.clone(), options) {
            Err(e @ Error::CaCertificate { .. }) => {
                let message = e.to_string();
                assert!(message.contains(expected), "{message}");
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_syncs_over_wss_with_ca_cert() {
    let dir = tempfile::tempdir().expect("dir");
    let (certs, ca) = certificate(dir.path());
    let (server, url) = tls_server(dir.path(), certs).await;
    let store = dir.path().join("cli");
    let output = tokio::task::spawn_blocking(move || {
        let cli = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_sync-client"))
                .arg("--model")
                .arg(example_model_path())
                .arg("--dir")
                .arg(&store)
                .args(args)
                .output()
                .expect("runs")
        };
        let put = cli(&["put", "Task", r#"{"text":"via cli"}"#]);
        assert!(put.status.success(), "{put:?}");
        let ca = ca.to_str().expect("utf-8 path");
        cli(&["--server", &url, "--ca-cert", ca, "--timeout", "20", "sync"])
    })
    .await
    .expect("cli");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut check = Peer::new(&format!("wss://{}", server.addr), |o| {
        o.ca_certificate = Some(dir.path().join("certs/cert.pem"));
    });
    check.client.start();
    check
        .wait_until("Task", |tasks| {
            tasks.len() == 1 && tasks[0]["text"] == json!("via cli")
        })
        .await;
    check.client.stop().await;
    server.stop().await;
}
