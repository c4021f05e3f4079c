//! The sync client: runs the [`Engine`] over a WebSocket, reconnecting with backoff.
//!
//! One tokio task owns the engine and the connection. The application talks to it through
//! [`SyncClient`]: commands go over an unbounded channel (the task is the only receiver; the
//! channel closing means the client was dropped, which stops the task), events come back over a
//! broadcast channel (slow listeners lag and lose events rather than stall sync), and a small
//! mutex-guarded [`Status`] lets callers read the state without a round trip. The store's
//! queue watch wakes the task when the application queues a transaction.
//!
//! Engine calls apply server data to LMDB synchronously on the task; each is one short write
//! transaction. Run the client on a multi-threaded runtime so this never stalls other tasks.

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use shared_types::protocol::{DEFAULT_MAX_MESSAGE_SIZE, LoginCode, RequestUpdatesMode};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};

use crate::credentials::Credentials;
use crate::engine::{Effect, Engine, EngineOptions, Event, Retry, State};
use crate::store::{self, ClientStore};

/// The first reconnect delay; it doubles after each failed attempt (0.5 s, 1 s, 2 s, …).
pub const INITIAL_BACKOFF_MS: u64 = 500;

/// The longest reconnect delay.
pub const MAX_BACKOFF_MS: u64 = 60_000;

/// How long a connection attempt (TCP, TLS and WebSocket handshake) may take.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// How long closing a connection (sending the close frame) may take before it is dropped.
pub const CLOSE_TIMEOUT_MS: u64 = 1_000;

/// How many events a listener may fall behind before it loses the oldest.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// How a [`SyncClient`] connects and logs in.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `ws://host:port` or `wss://host:port` (a path is allowed).
    pub url: String,
    pub credentials: Credentials,
    pub mode: RequestUpdatesMode,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// A PEM file with CA certificates that `wss://` trusts besides the public roots, e.g. the
    /// certificate of a self-signed server. Read once, by [`SyncClient::new`].
    pub ca_certificate: Option<PathBuf>,
}

impl ClientOptions {
    /// Options for `url` with no credentials, mode AUTO and the default timings.
    pub fn new(url: impl Into<String>) -> ClientOptions {
        ClientOptions {
            url: url.into(),
            credentials: Credentials::None,
            mode: RequestUpdatesMode::Auto,
            initial_backoff: Duration::from_millis(INITIAL_BACKOFF_MS),
            max_backoff: Duration::from_millis(MAX_BACKOFF_MS),
            connect_timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
            ca_certificate: None,
        }
    }
}

/// What a [`SyncClient`] is doing, as last reported by its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Set when a login failure stopped the client: the code and what would lift it.
    pub blocked: Option<(LoginCode, Retry)>,
    /// Whether the task has ended (after [`SyncClient::stop`] or a permanent failure).
    pub stopped: bool,
}

/// Errors of the sync client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid server URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("cannot use CA certificate {}: {message}", path.display())]
    CaCertificate { path: PathBuf, message: String },
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// A sync client for one store. Create it with [`SyncClient::new`], subscribe to events, then
/// [`SyncClient::start`] it inside a tokio runtime.
pub struct SyncClient {
    store: ClientStore,
    events: broadcast::Sender<Event>,
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<Status>>,
    server_time: Arc<Mutex<Option<(u64, Instant)>>>,
    /// The engine, command receiver and TLS connector until `start` moves them into the task.
    pending: Mutex<Option<Pending>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SyncClient {
    /// Creates a client; nothing runs until [`Self::start`].
    pub fn new(store: ClientStore, options: ClientOptions) -> Result<SyncClient, Error> {
        check_url(&options.url)?;
        let connector = match &options.ca_certificate {
            Some(path) => Some(tls_connector(path)?),
            None => None,
        };
        let engine = Engine::new(
            store.clone(),
            EngineOptions {
                mode: options.mode,
                credentials: options.credentials.clone(),
            },
        );
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let (commands, command_rx) = mpsc::unbounded_channel();
        Ok(SyncClient {
            store,
            events,
            commands,
            status: Arc::new(Mutex::new(Status {
                state: State::Disconnected,
                blocked: None,
                stopped: false,
            })),
            server_time: Arc::new(Mutex::new(None)),
            pending: Mutex::new(Some((engine, command_rx, options, connector))),
            task: Mutex::new(None),
        })
    }

    /// A receiver of every event from now on. Subscribe before [`Self::start`] to see them all.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Starts connecting, on the current tokio runtime. Later calls do nothing.
    pub fn start(&self) {
        let Some((engine, commands, options, connector)) = lock(&self.pending).take() else {
            return;
        };
        let runner = Runner {
            engine,
            commands,
            queue: self.store.subscribe_queue(),
            events: self.events.clone(),
            status: self.status.clone(),
            server_time: self.server_time.clone(),
            options,
            connector,
            epoch: Instant::now(),
            logged_in: false,
        };
        *lock(&self.task) = Some(tokio::spawn(runner.run()));
    }

    /// Stops the client: closes the connection and ends the task. The store stays usable.
    pub async fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        lock(&self.status).stopped = true;
    }

    /// The store this client syncs.
    pub fn store(&self) -> &ClientStore {
        &self.store
    }

    /// The current state, blocking login failure and whether the client stopped.
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    /// How many local transactions wait for the server's acknowledgement.
    pub fn outgoing_queue_len(&self) -> Result<u64, Error> {
        Ok(self.store.outgoing_queue_len()?)
    }

    /// The estimated current server time in ms since the Unix epoch: the time the server
    /// reported at the last login plus the local time elapsed since. `None` before a login.
    pub fn server_time_ms(&self) -> Option<u64> {
        lock(&self.server_time).map(|(server_ms, at)| {
            server_ms.saturating_add(u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX))
        })
    }

    /// Replaces the credentials for the next login; lifts a stop caused by rejected credentials.
    pub fn set_credentials(&self, credentials: Credentials) {
        let _ = self.commands.send(Command::SetCredentials(credentials));
    }

    /// Asks for the updates since the last applied `seq` (MANUAL mode), and with `subscribe` for
    /// live pushes afterwards.
    pub fn request_updates(&self, subscribe: bool) {
        let _ = self.commands.send(Command::RequestUpdates(subscribe));
    }

    /// Stops live pushes.
    pub fn cancel_updates(&self) {
        let _ = self.commands.send(Command::CancelUpdates);
    }

    /// Drops the current connection (if any) and connects again at once.
    pub fn trigger_reconnect(&self) {
        let _ = self.commands.send(Command::Reconnect);
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        // Dropping the command sender ends the task at its next wait; abort in case it is
        // stuck in a connection attempt.
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }
}

/// Requests from the application to the task.
#[derive(Debug)]
enum Command {
    SetCredentials(Credentials),
    RequestUpdates(bool),
    CancelUpdates,
    Reconnect,
    Stop,
}

/// How a connection or a wait ended.
enum Outcome {
    Retry(Retry),
    ReconnectNow,
    Stop,
}

/// The task's state: the engine plus the ends of the channels it serves.
struct Runner {
    engine: Engine,
    commands: mpsc::UnboundedReceiver<Command>,
    queue: watch::Receiver<u64>,
    events: broadcast::Sender<Event>,
    status: Arc<Mutex<Status>>,
    server_time: Arc<Mutex<Option<(u64, Instant)>>>,
    options: ClientOptions,
    /// `wss://` with extra trusted roots (`ClientOptions::ca_certificate`); `None` uses
    /// tokio-tungstenite's default (the public roots).
    connector: Option<Connector>,
    /// Zero of the engine's monotonic milliseconds.
    epoch: Instant,
    /// Whether the current connection reached the logged-in state (which resets the backoff).
    logged_in: bool,
}

impl Runner {
    async fn run(mut self) {
        let mut backoff = self.options.initial_backoff;
        loop {
            if let Some((code, retry)) = self.engine.blocked() {
                tracing::info!("sync stopped after login failure {code:?}");
                if retry == Retry::Never {
                    break;
                }
                // Wait for new credentials (or stop).
                match self.wait(None).await {
                    Outcome::Stop => break,
                    _ => continue,
                }
            }
            let outcome = match self.connect().await {
                Ok(ws) => {
                    self.logged_in = false;
                    let outcome = self.serve(ws).await;
                    if self.logged_in {
                        backoff = self.options.initial_backoff;
                    }
                    outcome
                }
                Err(error) => {
                    let retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX);
                    tracing::debug!("connecting to {} failed: {error}", self.options.url);
                    self.emit(Event::ConnectFailed { error, retry_in_ms });
                    Outcome::Retry(Retry::Backoff)
                }
            };
            let wait = match outcome {
                Outcome::Stop => break,
                Outcome::ReconnectNow => continue,
                Outcome::Retry(Retry::Never) => break,
                Outcome::Retry(Retry::WhenCredentialsChange) => continue,
                Outcome::Retry(Retry::Backoff) => backoff,
            };
            match self.wait(Some(wait)).await {
                Outcome::Stop => break,
                Outcome::ReconnectNow => backoff = self.options.initial_backoff,
                Outcome::Retry(_) => backoff = (backoff * 2).min(self.options.max_backoff),
            }
        }
        let mut status = lock(&self.status);
        status.stopped = true;
        status.state = State::Disconnected;
    }

    async fn connect(
        &mut self,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        String,
    > {
        let config = WebSocketConfig::default().max_message_size(Some(DEFAULT_MAX_MESSAGE_SIZE));
        #[cfg(feature = "tls")]
        let attempt = tokio_tungstenite::connect_async_tls_with_config(
            self.options.url.as_str(),
            Some(config),
            true,
            self.connector.clone(),
        );
        // Without TLS support `SyncClient::new` refuses a CA certificate, so there is no connector.
        #[cfg(not(feature = "tls"))]
        let attempt = {
            debug_assert!(self.connector.is_none());
            tokio_tungstenite::connect_async_with_config(
                self.options.url.as_str(),
                Some(config),
                true,
            )
        };
        match tokio::time::timeout(self.options.connect_timeout, attempt).await {
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no connection within {} ms",
                self.options.connect_timeout.as_millis()
            )),
        }
    }

    /// Runs one connection until it closes.
    async fn serve<S>(&mut self, mut ws: S) -> Outcome
    where
        S: Stream<Item = Result<Message, tungstenite::Error>>
            + Sink<Message, Error = tungstenite::Error>
            + Unpin,
    {
        let effects = self.engine.on_connected(self.now_ms());
        let mut outcome = self.perform(&mut ws, effects).await;
        // Transactions queued before this connection are sent after login; mark them seen.
        self.queue.mark_unchanged();
        while outcome.is_none() {
            let deadline = self.engine.next_deadline().map_or_else(
                || Instant::now() + Duration::from_secs(3600),
                |ms| self.at(ms),
            );
            let effects = tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Binary(bytes))) => self.engine.on_frame(&bytes, self.now_ms()),
                    Some(Ok(Message::Text(_))) => {
                        tracing::warn!("closing the connection: the server sent a text frame");
                        vec![Effect::Close { retry: Retry::Backoff }]
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        outcome = Some(Outcome::Retry(Retry::Backoff));
                        break;
                    }
                    // Pings are answered by tungstenite itself.
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        tracing::debug!("connection error: {e}");
                        outcome = Some(Outcome::Retry(Retry::Backoff));
                        break;
                    }
                },
                changed = self.queue.changed() => match changed {
                    Ok(()) => self.engine.on_queue_changed(self.now_ms()),
                    // The store (sender) lives as long as the engine holds it; never closes.
                    Err(_) => Vec::new(),
                },
                command = self.commands.recv() => match command {
                    Some(command) => match self.command(command) {
                        Ok(effects) => effects,
                        Err(end) => {
                            outcome = Some(end);
                            break;
                        }
                    },
                    None => {
                        outcome = Some(Outcome::Stop);
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => self.engine.on_tick(self.now_ms()),
            };
            outcome = self.perform(&mut ws, effects).await;
        }
        // A dead peer must not hold up the reconnect: the close frame gets a short grace period.
        let _ = tokio::time::timeout(Duration::from_millis(CLOSE_TIMEOUT_MS), ws.close()).await;
        let effects = self.engine.on_disconnected();
        self.publish_status();
        for effect in effects {
            if let Effect::Emit(event) = effect {
                self.emit(event);
            }
        }
        outcome.unwrap_or(Outcome::Retry(Retry::Backoff))
    }

    /// Carries out effects; returns how the connection ends if one of them closes it.
    async fn perform<S>(&mut self, ws: &mut S, effects: Vec<Effect>) -> Option<Outcome>
    where
        S: Sink<Message, Error = tungstenite::Error> + Unpin,
    {
        let mut sent = false;
        let mut end = None;
        for effect in effects {
            match effect {
                Effect::Send(frame) => {
                    if let Err(e) = ws.feed(Message::Binary(frame.into())).await {
                        tracing::debug!("send failed: {e}");
                        end = Some(Outcome::Retry(Retry::Backoff));
                        break;
                    }
                    sent = true;
                }
                Effect::Emit(event) => {
                    if let Event::LoggedIn { .. } = event {
                        self.logged_in = true;
                        let estimate = self.engine.server_time_ms(self.now_ms());
                        *lock(&self.server_time) = estimate.map(|ms| (ms, Instant::now()));
                    }
                    self.emit(event);
                }
                Effect::Close { retry } => {
                    end = Some(Outcome::Retry(retry));
                    break;
                }
            }
        }
        if sent && end.is_none() && ws.flush().await.is_err() {
            end = Some(Outcome::Retry(Retry::Backoff));
        }
        self.publish_status();
        end
    }

    /// Handles an application command while connected.
    fn command(&mut self, command: Command) -> Result<Vec<Effect>, Outcome> {
        let now = self.now_ms();
        match command {
            Command::SetCredentials(credentials) => {
                self.engine.set_credentials(credentials);
                Ok(Vec::new())
            }
            Command::RequestUpdates(subscribe) => Ok(self.engine.request_updates(subscribe, now)),
            Command::CancelUpdates => Ok(self.engine.cancel_updates(now)),
            Command::Reconnect => Err(Outcome::ReconnectNow),
            Command::Stop => Err(Outcome::Stop),
        }
    }

    /// Waits `delay` (or, with `None`, until a command) while serving commands. Returns
    /// `Retry(Backoff)` when the delay passed.
    async fn wait(&mut self, delay: Option<Duration>) -> Outcome {
        let until = delay.map(|d| Instant::now() + d);
        loop {
            let sleep = async {
                match until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => return Outcome::Retry(Retry::Backoff),
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => return Outcome::Stop,
                    Some(Command::Reconnect) => return Outcome::ReconnectNow,
                    Some(Command::SetCredentials(credentials)) => {
                        let was_blocked = self.engine.blocked().is_some();
                        self.engine.set_credentials(credentials);
                        if was_blocked && self.engine.blocked().is_none() {
                            return Outcome::ReconnectNow;
                        }
                        self.publish_status();
                    }
                    // Not connected: the mode applies from the next login.
                    Some(Command::RequestUpdates(_) | Command::CancelUpdates) => {}
                },
            }
        }
    }

    fn emit(&self, event: Event) {
        // No listener is fine: events are informational.
        let _ = self.events.send(event);
    }

    fn publish_status(&self) {
        let mut status = lock(&self.status);
        status.state = self.engine.state();
        status.blocked = self.engine.blocked();
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }
}

/// What [`SyncClient::new`] keeps for [`SyncClient::start`].
type Pending = (
    Engine,
    mpsc::UnboundedReceiver<Command>,
    ClientOptions,
    Option<Connector>,
);

/// A rustls connector trusting the public roots plus the CA certificates in the PEM file `path`.
#[cfg(feature = "tls")]
fn tls_connector(path: &Path) -> Result<Connector, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let error = |message: String| Error::CaCertificate {
        path: path.to_owned(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| error(format!("invalid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| error(format!("not a usable CA certificate: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(error("no CERTIFICATE block found".to_owned()));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| error(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

#[cfg(not(feature = "tls"))]
fn tls_connector(path: &Path) -> Result<Connector, Error> {
    Err(Error::CaCertificate {
        path: path.to_owned(),
        message: "wss:// needs the client built with the `tls` feature".to_owned(),
    })
}

/// Checks the URL's scheme before any connection attempt.
fn check_url(url: &str) -> Result<(), Error> {
    let invalid = |message: &str| Error::InvalidUrl {
        url: url.to_owned(),
        message: message.to_owned(),
    };
    let rest = if let Some(rest) = url.strip_prefix("ws://") {
        rest
    } else if let Some(rest) = url.strip_prefix("wss://") {
        if cfg!(not(feature = "tls")) {
            return Err(invalid(
                "wss:// needs the client built with the `tls` feature",
            ));
        }
        rest
    } else {
        return Err(invalid("expected ws://host:port or wss://host:port"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("the host is missing"));
    }
    Ok(())
}

/// Locks a mutex, ignoring poisoning: the guarded values are plain data that stay valid.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
