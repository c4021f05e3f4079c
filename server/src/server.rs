//! Start-up, the two listeners (sync and admin) and orderly shutdown.
//!
//! [`run`] is the one entry point shared by `main` and the tests: it checks the configuration,
//! opens the store, sets up the schema version, serves until `shutdown` resolves, then stops
//! accepting, lets in-flight requests and commits finish and closes LMDB.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, NoteLevel};
use crate::logging;
use crate::schema;
use crate::store::{self, Store};
use crate::sync::SyncService;
use crate::tls::{TlsAcceptor, TlsListener};

/// The listening sockets, bound before [`run`] so that tests can bind port 0 and read the port.
#[derive(Debug)]
pub struct Listeners {
    pub sync: TcpListener,
    /// `None` when the admin server is off (`--admin-off`).
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds the sync and admin addresses of `config`.
    pub async fn bind(config: &Config) -> Result<Listeners, Error> {
        let sync = bind_one(
            "--bind",
            &config.bind.to_string(),
            &config.bind.host,
            config.bind.port,
        )
        .await?;
        let admin = match &config.admin_bind {
            Some(admin) => {
                Some(bind_one("--admin-bind", &admin.to_string(), &admin.host, admin.port).await?)
            }
            None => None,
        };
        Ok(Listeners { sync, admin })
    }

    /// The address the sync endpoint listens on.
    pub fn sync_addr(&self) -> Option<SocketAddr> {
        self.sync.local_addr().ok()
    }

    /// The address the admin server listens on, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }
}

/// Why the server did not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "no authenticator is configured: set one in the config file (auth.sharedSecret, auth.jwt, \
         auth.obxAdmin) or, for development only, start with --unsecured-no-authentication"
    )]
    NoAuthenticator,
    #[error(
        "not supported yet by this version of sync-server: {0}; remove it from the command line or config file"
    )]
    Unsupported(String),
    #[error("cannot listen on {url} ({option}): {reason}")]
    Bind {
        option: &'static str,
        url: String,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("authentication setup: {0}")]
    Auth(crate::credentials::Error),
    #[error(transparent)]
    Schema(#[from] schema::Error),
    #[error("admin users: {0}")]
    AdminUsers(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Records when the process started, so that the "started in N ms" line covers the whole
/// start-up. Call it first thing in `main`; without it, time is counted from [`run`].
pub fn mark_process_start() {
    let _ = PROCESS_START.set(Instant::now());
}

/// Runs the server until `shutdown` resolves.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let started = *PROCESS_START.get_or_init(Instant::now);
    let level = logging::init(config.log_level);
    preflight(&config)?;
    let tls = load_tls(&config)?;

    let store = Store::open(&config.db_directory, config.db_max_size)?;
    let schema = match schema::init(&store, config.model_file.as_deref()) {
        Ok(schema) => schema,
        Err(e) => {
            store.close();
            return Err(e.into());
        }
    };
    tracing::info!(target: "SySvAp", "Starting the server with a schema version ID {}", schema.record.id);
    if let Err(e) = crate::trial::configure(&store, config.trial_days) {
        store.close();
        return Err(e.into());
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let users = crate::users::Users::new(store.clone());
    let auth = match crate::credentials::Authenticator::from_config(&config) {
        Ok(auth) => std::sync::Arc::new(auth.with_admin_users(users.clone())),
        Err(e) => {
            store.close();
            return Err(Error::Auth(e));
        }
    };
    let sync = match SyncService::new(
        store.clone(),
        &schema,
        &config,
        auth.clone(),
        stop_rx.clone(),
    ) {
        Ok(sync) => sync,
        Err(e) => {
            store.close();
            return Err(e.into());
        }
    };
    let sessions = crate::admin::sessions::Sessions::new(users, config.admin_session_ttl);
    if let Err(message) = sessions.prepare(&config).await {
        drop(sessions);
        drop(sync);
        store.close();
        return Err(Error::AdminUsers(message));
    }
    if config.admin_unsecured_no_authentication && config.admin_bind.is_some() {
        tracing::warn!(target: "HttpSv", "INSECURE admin mode: no login required");
    }
    let config = std::sync::Arc::new(config);
    let series = std::sync::Arc::new(crate::sync::series::Series::new());
    let admin_state = crate::admin::AdminState(std::sync::Arc::new(crate::admin::AdminShared {
        store: store.clone(),
        schema,
        started,
        sync: sync.clone(),
        level,
        config: config.clone(),
        series: series.clone(),
        listening: crate::admin::status::Listening {
            sync: listeners.sync.local_addr()?,
            sync_tls: config.bind.tls,
            admin: listeners.admin_addr(),
            admin_tls: config.admin_bind.as_ref().is_some_and(|a| a.tls),
        },
        auth: sessions,
    }));
    // Samples the sync counters once a second for the admin statistics; stops with the servers.
    let sampler = tokio::spawn(crate::sync::series::run_sampler(
        series,
        sync.hub.clone(),
        stop_rx.clone(),
    ));

    let sync_tls = tls.as_ref().filter(|_| config.bind.tls);
    let admin_tls = tls
        .as_ref()
        .filter(|_| config.admin_bind.as_ref().is_some_and(|a| a.tls));
    tracing::info!(
        target: "SvrMsg",
        "Registering server transport for {}",
        if sync_tls.is_some() { "wss" } else { "ws" }
    );
    let sync_addr = listeners.sync.local_addr()?;
    tracing::info!(
        target: "SvrWs",
        "Listening on {} port {} {} TLS",
        describe_ip(sync_addr),
        sync_addr.port(),
        if sync_tls.is_some() { "with" } else { "without" }
    );
    if config.unsecured_no_authentication {
        tracing::warn!(
            target: "SvSync",
            "INSECURE no-authentication mode enabled - every client allowed without any validation"
        );
    }
    for method in auth.describe() {
        tracing::info!(target: "SvSync", "Authenticator: {method}");
    }
    let header_timeout = config.limits.handshake_timeout;
    let sync_server = tokio::spawn(serve(
        listeners.sync,
        sync_tls.cloned(),
        sync.clone().router(),
        header_timeout,
        stop_rx.clone(),
    ));
    tracing::info!(target: "SvSync", "Started on port {}", sync_addr.port());

    let admin_server = match listeners.admin {
        Some(admin) => {
            let addr = admin.local_addr()?;
            let scheme = if admin_tls.is_some() { "https" } else { "http" };
            tracing::info!(target: "SySvAp", "Starting admin server on {scheme}://{addr}");
            tracing::info!(target: "HttpSv", "Listening on {scheme}://{addr}");
            Some(tokio::spawn(serve(
                admin,
                admin_tls.cloned(),
                crate::admin::router(admin_state.clone()),
                header_timeout,
                stop_rx.clone(),
            )))
        }
        None => None,
    };
    tracing::info!(
        target: "SySvAp",
        "Sync server started in {:.2} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    crate::events::record_blocking(
        &store,
        crate::events::Event::new(
            shared_types::admin::events::EventType::Important,
            "server",
            format!("Started sync-server {}", crate::VERSION),
        )
        .with("schemaVersion", admin_state.schema.record.id),
    );

    shutdown.await;
    tracing::info!(target: "SySvAp", "Stopping: no new connections; finishing in-flight requests");
    crate::events::record(
        &store,
        crate::events::Event::new(
            shared_types::admin::events::EventType::Important,
            "server",
            "Stopping",
        ),
    );
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    for server in [Some(sync_server), admin_server].into_iter().flatten() {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(Error::Io(e)),
            Err(e) => result = Err(Error::Io(std::io::Error::other(e))),
        }
    }
    let _ = sampler.await;
    // Upgraded WebSockets run in tasks of their own, each holding a connection slot and the
    // store until it ends; they were told to close. Wait for them, so the database is closed
    // when `run` returns (an embedder can reopen it at once), but not for ever: a client that
    // does not read can hold its connection's last send.
    let deadline = Instant::now() + CONNECTIONS_CLOSE_TIMEOUT;
    while sync.admission.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let open = sync.admission.open();
    if open > 0 {
        tracing::warn!(target: "SySvAp", "{open} sync connections did not close within {} s; stopping anyway", CONNECTIONS_CLOSE_TIMEOUT.as_secs());
    }
    drop(admin_state);
    drop(sync);
    // Closing joins the writer thread after its queue is committed; do it off the runtime.
    let _ = tokio::task::spawn_blocking(move || store.close()).await;
    tracing::info!(target: "SySvAp", "Stopped");
    result
}

/// Checks what can be checked before touching the disk or the network.
pub fn preflight(config: &Config) -> Result<(), Error> {
    for note in &config.notes {
        match note.level {
            NoteLevel::Info => tracing::info!(target: "SySvAp", "{}", note.message),
            _ => tracing::warn!(target: "SySvAp", "{}", note.message),
        }
    }
    if let Some(first) = config.unsupported.first() {
        let all = config.unsupported.join(", ");
        tracing::debug!(target: "SySvAp", "unsupported options: {all} (first: {first})");
        return Err(Error::Unsupported(all));
    }
    if !config.unsecured_no_authentication && !config.has_authenticator() {
        return Err(Error::NoAuthenticator);
    }
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed when this is called
/// (not when the future is first polled), so a signal that arrives during start-up already
/// shuts down cleanly. Call it inside the runtime, before start-up.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    tracing::error!(target: "SySvAp", "cannot install signal handlers; stop the server with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// Loads the certificate directory when a bind asks for TLS. `Config::load` already refuses a
/// TLS bind without one; this also covers a `Config` built in code, which must not fall back to
/// plain text.
fn load_tls(config: &Config) -> Result<Option<TlsAcceptor>, Error> {
    let wanted = config.bind.tls || config.admin_bind.as_ref().is_some_and(|a| a.tls);
    match &config.certificate_path {
        Some(dir) if wanted => Ok(Some(crate::tls::load_acceptor(dir)?)),
        None if wanted => Err(crate::tls::Error::NoCertificateDirectory.into()),
        _ => Ok(None),
    }
}

/// Serves `router` on `listener`, through TLS when `tls` is set, until `stop` turns true.
async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    header_timeout: Duration,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    match tls {
        // No Nagle delay: pushes and ACKs are small messages that should leave at once.
        None => {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            serve_http1(listener, router, header_timeout, stop).await;
        }
        Some(acceptor) => {
            serve_http1(
                TlsListener::new(listener, acceptor),
                router,
                header_timeout,
                stop,
            )
            .await;
        }
    }
    Ok(())
}

/// How long stopping waits for open sync connections to close after telling them to.
const CONNECTIONS_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The accept loop: one task per connection serving HTTP/1.1 (with upgrades, for WebSockets);
/// on `stop` it stops accepting, asks open connections to finish their request and close, and
/// returns when they have. Upgraded WebSockets run in their own tasks and watch `stop`
/// themselves.
///
/// Not `axum::serve`, which has no way to bound how long a client may take to send its request
/// headers: a client that opens connections and sends nothing, or a byte now and then
/// (slowloris), would hold them for ever. hyper's HTTP/1 connection has that bound
/// (`header_read_timeout`, which also closes keep-alive connections idle that long).
async fn serve_http1<L>(
    mut listener: L,
    router: Router,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use tower_service::Service as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // Every connection task holds a receiver; `closed()` resolves when the last one is gone.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let ready = std::future::poll_fn(|cx| {
            tower_service::Service::<SocketAddr>::poll_ready(&mut make_service, cx)
        });
        let service = match ready.await {
            Ok(()) => match make_service.call(addr).await {
                Ok(service) => service,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let connection = http
            .serve_connection(
                hyper_util::rt::TokioIo::new(io),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .with_upgrades();
        let mut stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(target: "HttpSv", "connection from {addr} ended: {e}");
            }
            drop(open);
        });
    }
    drop(open_rx);
    open_tx.closed().await;
}

/// Resolves once `stop` is true.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn bind_one(
    option: &'static str,
    url: &str,
    host: &str,
    port: u16,
) -> Result<TcpListener, Error> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::Bind {
            option,
            url: url.to_owned(),
            reason: format!("cannot resolve host {host:?}: {e}"),
        })?
        .collect();
    let mut last_error = None;
    for addr in addrs {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    let reason = match last_error {
        Some(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            format!("port {port} is already in use by another process ({e})")
        }
        Some(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            format!("{host} is not an address of this machine ({e})")
        }
        Some(e) => e.to_string(),
        None => format!("host {host:?} resolved to no address"),
    };
    Err(Error::Bind {
        option,
        url: url.to_owned(),
        reason,
    })
}

fn describe_ip(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        "all interfaces,".to_owned()
    } else {
        format!("{},", addr.ip())
    }
}
