//! TLS: `wss://` sync and `https://` admin with a self-signed certificate generated per test,
//! a broken or silent handshake that must not stop the server, and start-up refusals for
//! unusable certificate files.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use shared_types::protocol::*;
use sync_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::Connector;

use crate::protocol::{Raw, Server, apply, put_task, texts};
use crate::support::*;

/// A certificate directory for 127.0.0.1 and localhost; returns it with the certificate's PEM,
/// which clients add as their trusted root.
fn certificate(dir: &Path) -> (PathBuf, String) {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    std::fs::write(certs.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(certs.join("key.pem"), signing_key.serialize_pem()).unwrap();
    (certs, cert.pem())
}

/// A rustls client configuration that trusts exactly `ca_pem`.
fn client_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

async fn connect_tls(addr: SocketAddr, ca_pem: &str) -> Raw {
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{addr}/"),
        None,
        true,
        Some(Connector::Rustls(client_config(ca_pem))),
    )
    .await
    .expect("wss connect");
    Raw::from_ws(ws).await
}

async fn login_tls(addr: SocketAddr, ca_pem: &str, peer: u64, mode: RequestUpdatesMode) -> Raw {
    let mut raw = connect_tls(addr, ca_pem).await;
    match raw.login(peer, 0, mode).await {
        ServerMessage::LoginResult {
            code: LoginCode::Ok,
            ..
        } => raw,
        other => panic!("login failed: {other:?}"),
    }
}

async fn tls_server(dir: &Path, certs: PathBuf) -> Server {
    Server::start(dir, |config: &mut Config| {
        config.bind = "wss://127.0.0.1:0".parse().unwrap();
        config.certificate_path = Some(certs);
    })
    .await
}

#[tokio::test]
async fn wss_login_and_transaction_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, ca) = certificate(dir.path());
    let server = tls_server(dir.path(), certs).await;

    let mut a = login_tls(server.addr, &ca, 0xA, RequestUpdatesMode::Auto).await;
    assert_eq!(a.until_complete().await.1, 0);
    a.send(&apply(1, vec![put_task(0xA, 1, "over tls", 1)]))
        .await;
    loop {
        match a.recv().await {
            ServerMessage::Ack { tx_id, seq, .. } => {
                assert_eq!((tx_id, seq), (1, 1));
                break;
            }
            ServerMessage::Push { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let mut b = login_tls(server.addr, &ca, 0xB, RequestUpdatesMode::AutoNoPushes).await;
    let (messages, seq) = b.until_complete().await;
    assert_eq!(seq, 1);
    assert_eq!(
        texts(&messages),
        vec![(GlobalId(0xA, 1), "over tls".into())]
    );
    server.stop().await;
}

#[tokio::test]
async fn plain_silent_and_garbage_connections_do_not_stop_the_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, ca) = certificate(dir.path());
    let server = tls_server(dir.path(), certs).await;

    // A client that connects and says nothing holds a handshake slot but blocks no one.
    let _silent = TcpStream::connect(server.addr).await.unwrap();

    // Plain ws:// to the TLS port: the server's handshake fails, so the upgrade does too.
    let plain = tokio_tungstenite::connect_async(format!("ws://{}/", server.addr)).await;
    assert!(plain.is_err(), "plain ws:// must not work on a wss:// port");

    // A TLS record header followed by garbage, then the connection is closed by the server.
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = garbage.read_to_end(&mut rest).await;

    // A wrong trust root fails on the client side; the server goes on.
    let (_, other_ca) = certificate(&dir.path().join("other"));
    let untrusted = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{}/", server.addr),
        None,
        true,
        Some(Connector::Rustls(client_config(&other_ca))),
    )
    .await;
    assert!(
        untrusted.is_err(),
        "a certificate from another CA must be refused"
    );

    let mut ok = login_tls(server.addr, &ca, 0xC, RequestUpdatesMode::Auto).await;
    assert_eq!(ok.until_complete().await.1, 0);
    server.stop().await;
}

/// A config with an `https://` admin bind and the test certificate; returns the CA's PEM too.
fn https_admin_config(dir: &Path) -> (Config, String) {
    let (certs, ca) = certificate(dir);
    let mut config = Config::for_tests(Some(example_model()), dir.join("db"));
    config.log_level = sync_server::logging::LogLevel::Warn;
    config.admin_bind = Some("https://127.0.0.1:0".parse().unwrap());
    config.certificate_path = Some(certs);
    (config, ca)
}

/// A TLS connection to the admin server that trusts `ca`.
async fn connect_admin(admin: SocketAddr, ca: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(client_config(ca));
    let tcp = TcpStream::connect(admin).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.expect("TLS handshake")
}

#[tokio::test]
async fn https_admin_uses_the_same_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (config, ca) = https_admin_config(dir.path());
    let server = InProcess::start(config).await;
    let admin = server.admin.expect("admin runs");

    let mut tls = connect_admin(admin, &ca).await;
    tls.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    // Plain http:// to the https:// port gets no HTTP answer.
    let mut plain = TcpStream::connect(admin).await.unwrap();
    plain
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_on_an_https_admin() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, ca) = https_admin_config(dir.path());
    config.admin_unsecured_no_authentication = false;
    config.admin_user = Some("root".into());
    config.admin_password = Some("root-password".into());
    let server = InProcess::start(config).await;
    let admin = server.admin.expect("admin runs");

    let mut tls = connect_admin(admin, &ca).await;
    let body = r#"{"user":"root","password":"root-password"}"#;
    let request = format!(
        "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie in {response}"));
    assert!(cookie.contains("sync_session="), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    server.stop().await;
}

#[test]
fn the_binary_logs_tls_and_refuses_unusable_certificate_files() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, _) = certificate(dir.path());
    let model = example_model();
    let start = |certs: &Path| {
        let mut cmd = sync_server(dir.path());
        cmd.args([
            "--unsecured-no-authentication",
            "--bind",
            "wss://127.0.0.1:0",
            "--admin-off",
            "--model",
        ])
        .arg(&model)
        .arg("--cert")
        .arg(certs);
        cmd
    };

    let running = Running::spawn(start(&certs));
    assert!(
        running
            .log
            .iter()
            .any(|l| l.contains("Listening on 127.0.0.1, port") && l.contains("with TLS")),
        "{:#?}",
        running.log
    );
    let (code, _) = running.terminate();
    assert_eq!(code, 0);

    // Each broken directory: (cert.pem, key.pem, text the error must contain).
    let (_, other) = certificate(&dir.path().join("other"));
    let other_key = std::fs::read_to_string(dir.path().join("other/certs/key.pem")).unwrap();
    let good_cert = std::fs::read_to_string(certs.join("cert.pem")).unwrap();
    let good_key = std::fs::read_to_string(certs.join("key.pem")).unwrap();
    let cases = [
        (
            good_cert.as_str(),
            "not a key",
            "cannot read private key {dir}/key.pem: no PRIVATE KEY",
        ),
        (
            "not a certificate",
            good_key.as_str(),
            "cannot read certificate {dir}/cert.pem: no CERTIFICATE block found",
        ),
        (
            other.as_str(),
            good_key.as_str(),
            "certificate {dir}/cert.pem and private key {dir}/key.pem cannot be used together",
        ),
        (
            good_cert.as_str(),
            other_key.as_str(),
            "cannot be used together",
        ),
    ];
    for (i, (cert, key, expected)) in cases.into_iter().enumerate() {
        let broken = dir.path().join(format!("broken{i}"));
        std::fs::create_dir(&broken).unwrap();
        std::fs::write(broken.join("cert.pem"), cert).unwrap();
        std::fs::write(broken.join("key.pem"), key).unwrap();
        let output = run_to_end(&mut start(&broken));
        let err = String::from_utf8_lossy(&output.stderr);
        let expected = expected.replace("{dir}", &broken.display().to_string());
        assert!(!output.status.success(), "case {i} must fail: {err}");
        assert!(
            err.contains(&expected),
            "case {i}: expected {expected:?} in:\n{err}"
        );
    }

    // A missing key.pem is caught while reading the configuration.
    std::fs::remove_file(dir.path().join("broken0/key.pem")).unwrap();
    let output = run_to_end(&mut start(&dir.path().join("broken0")));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(err.contains("has no key.pem"), "{err}");
}

#[tokio::test]
async fn a_tls_bind_without_certificates_is_refused_when_configured_in_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(Some(example_model()), dir.path().join("db"));
    config.admin_bind = None;
    config.log_level = sync_server::logging::LogLevel::Warn;
    config.bind = "wss://127.0.0.1:0".parse().unwrap();
    let listeners = sync_server::Listeners::bind(&config).await.unwrap();
    let err = sync_server::run(config, listeners, async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("needs a certificate directory"),
        "{err}"
    );
}
