//! TLS for the `wss://` sync bind and the `https://` admin bind: certificate loading and a
//! listener that hands axum finished TLS streams.
//!
//! Both binds use the certificate directory (`--cert` / `certificatePath`) with
//! [`CERT_FILE_NAME`] (the chain, leaf first) and [`KEY_FILE_NAME`] (PKCS#8, PKCS#1 or SEC1).
//! ObjectBox takes a single PEM file for the admin server; we reuse the sync endpoint's pair.
//!
//! Handshakes run in their own tasks with a deadline, so a slow or broken client never blocks
//! accepting others; a failed handshake is logged at debug level and the loop goes on.
//!
//! Invariant: only this module names rustls; the rest of the server sees [`TlsAcceptor`] and
//! [`TlsListener`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;

use crate::config::{CERT_FILE_NAME, KEY_FILE_NAME};

pub use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake after the TCP connect.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many handshakes may be in flight per listener; beyond that, accepting pauses until one
/// finishes (the kernel's backlog queues the rest).
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Why the certificate directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "a wss:// or https:// bind needs a certificate directory with {CERT_FILE_NAME} and \
         {KEY_FILE_NAME}; set --cert or certificatePath"
    )]
    NoCertificateDirectory,
    #[error("cannot read certificate {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read private key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("certificate {} and private key {} cannot be used together: {reason}", cert.display(), key.display())]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Loads `cert.pem` and `key.pem` from `dir` and builds the acceptor (ring provider, TLS 1.2
/// and 1.3, no client certificates).
pub fn load_acceptor(dir: &Path) -> Result<TlsAcceptor, Error> {
    let cert_path = dir.join(CERT_FILE_NAME);
    let key_path = dir.join(KEY_FILE_NAME);
    let certs = read_certificates(&cert_path)?;
    let key = read_key(&key_path)?;
    let pair = |reason: String| Error::Pair {
        cert: cert_path.clone(),
        key: key_path.clone(),
        reason,
    };
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| pair(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| pair(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener whose connections come out after a completed TLS handshake.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    /// Handshakes in flight, each in its own task. Dropping the listener (at shutdown) aborts
    /// them.
    pending: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        TlsListener {
            tcp,
            acceptor,
            pending: JoinSet::new(),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel safety: axum drops this future at shutdown; both branches are cancel safe, and the
    // handshake tasks live in `self.pending`, not in the future.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept(), if self.pending.len() < MAX_PENDING_HANDSHAKES => {
                    match accepted {
                        Ok((tcp, peer)) => {
                            self.pending.spawn(handshake(self.acceptor.clone(), tcp, peer));
                        }
                        Err(e) => accept_error(e).await,
                    }
                }
                Some(done) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let error = |reason: String| Error::Certificate {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(error("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let error = |reason: String| Error::Key {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            error("no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".to_owned())
        }
        e => error(format!("invalid PEM: {e}")),
    })
}

/// Completes one handshake within [`HANDSHAKE_TIMEOUT`]; failures are the client's problem and
/// only logged.
async fn handshake(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    // No Nagle delay for the small protocol messages (as on plain connections).
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => Some((stream, peer)),
        Ok(Err(e)) => {
            tracing::debug!(target: "SvrTls", "TLS handshake with {peer} failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(
                target: "SvrTls",
                "TLS handshake with {peer} did not finish within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
            None
        }
    }
}

/// What axum's own TCP listener does on an accept error: per-connection errors are ignored,
/// others (e.g. too many open files) are logged and retried after a pause.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(target: "SvrTls", "accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
