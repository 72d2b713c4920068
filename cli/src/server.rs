//! `interstice run --listen ADDR`: the runtime served over HTTP/1.1 and
//! WebSocket on one port, beside the JSON-lines protocol on stdin. The API
//! (every path, body, status and the token) is specified in
//! `docs/SERVER.md`; `tests/all/server.rs` drives it over real sockets.
//!
//! The shape of the server:
//! - [`start`] binds the listener (loopback only unless asked otherwise),
//!   loads or creates the access tokens (`auth.rs`), writes the address file
//!   and spawns the accept loop; [`Running::stop`] ends it and removes the
//!   file.
//! - The accept loop is hyper's HTTP/1.1 connection driver (not
//!   `axum::serve`) so that each connection has a header-read timeout
//!   ([`HEADER_TIMEOUT`]): a client that never finishes its request head
//!   is dropped, and each connection is its own task, so it stalls nobody
//!   else. At most [`MAX_CONNECTIONS`] connections are open at once.
//! - Every request passes the bounds (`limits` below: at most
//!   [`MAX_IN_FLIGHT`] at once, [`REQUEST_TIMEOUT`] for reading the body and
//!   answering, bodies of at most [`MAX_BODY`] bytes), then the token check
//!   (`auth.rs`), then its route (`routes.rs`); WebSocket sessions are in
//!   `ws.rs`, the catch-up of a resumed subscription from the log in
//!   `resume.rs`, the Prometheus text in `prometheus.rs`, the mapping of
//!   error kinds to statuses in `status.rs`.
//! - `GET /` is the live dashboard (`dashboard.rs`: one page with its
//!   script and style compiled in, fed by the API with the token the page
//!   is given); its chart's samples are taken by `stats.rs`. Requests from
//!   a browser page of another origin are refused (`auth.rs`,
//!   [`ServerOptions::allowed_origins`]).

mod auth;
pub mod client;
mod dashboard;
mod prometheus;
mod resume;
mod routes;
mod stats;
mod status;
mod ws;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use interstice_actors::Runtime;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use auth::{rotate, Which, READ_TOKEN_FILE, TOKEN_FILE};

use crate::error::CliError;

/// Largest request body (a call's JSON, a module's wasm), the same bound as
/// a `run` request line.
pub const MAX_BODY: usize = 16 << 20;
/// Requests (and WebSocket calls) served at once; more wait for a slot, up
/// to [`REQUEST_TIMEOUT`].
pub const MAX_IN_FLIGHT: usize = 1024;
/// Open connections at once; the accept loop waits at the limit.
pub const MAX_CONNECTIONS: usize = 4096;
/// From a request's head to its response: waiting for a slot, reading the
/// body, running the call.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to send a request head (request line and
/// headers), the first one or the next one on a kept-alive connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head (hyper's read buffer).
pub const MAX_HEAD: usize = 64 << 10;
/// How long [`Running::stop`] waits for the requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);
/// The address file in the data directory, written while serving.
pub const ADDRESS_FILE: &str = "SERVER";

/// What `run --listen` was asked for.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Whether a non-loopback address is allowed.
    pub public: bool,
    /// Browser origins allowed besides the server's own (`--allow-origin`,
    /// e.g. `https://dash.example.com`): a request with an `Origin` header
    /// naming any other is refused (`docs/SECURITY.md`).
    pub allowed_origins: Vec<String>,
}

/// What every request handler reaches.
pub(crate) struct AppState {
    rt: Runtime,
    data_dir: PathBuf,
    tokens: auth::Tokens,
    permits: Arc<Semaphore>,
    ws_sessions: Arc<Semaphore>,
    stop: CancellationToken,
    requests: AtomicU64,
    /// The `Origin`s a browser request may come from.
    origins: Vec<String>,
    samples: stats::Samples,
}

/// A serving server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: CancellationToken,
    accept: tokio::task::JoinHandle<()>,
    address_file: PathBuf,
}

impl Running {
    /// The address it listens on (with the port chosen for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets the requests in flight finish (up to
    /// [`DRAIN`]), closes every connection and WebSocket session, and
    /// removes the address file.
    pub async fn stop(self) {
        self.stop.cancel();
        if tokio::time::timeout(DRAIN + Duration::from_secs(1), self.accept)
            .await
            .is_err()
        {
            tracing::warn!("server: connections still open after {DRAIN:?}; dropped");
        }
        if let Err(e) = std::fs::remove_file(&self.address_file) {
            tracing::warn!("removing {}: {e}", self.address_file.display());
        }
    }
}

/// Checks the address, binds it, loads (or creates) the tokens and starts
/// serving `rt`.
pub async fn start(rt: &Runtime, opts: &ServerOptions) -> Result<Running, CliError> {
    if !opts.listen.ip().is_loopback() && !opts.public {
        return Err(CliError::Usage(format!(
            "--listen {} is not a loopback address: the API would be reachable from other \
             machines (over plain HTTP). Add --listen-public to allow it.",
            opts.listen
        )));
    }
    let data_dir = rt
        .data_dir()
        .ok_or_else(|| CliError::Server("the runtime has no data directory".into()))?;
    let mut origins = Vec::new();
    for o in &opts.allowed_origins {
        origins.push(auth::parse_origin(o)?);
    }
    let tokens = auth::Tokens::load_or_create(&data_dir)?;
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|e| CliError::Server(format!("cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::Server(format!("the listener has no address: {e}")))?;
    origins.extend(auth::own_origins(addr));
    let stop = CancellationToken::new();
    let state = Arc::new(AppState {
        rt: rt.clone(),
        data_dir: data_dir.clone(),
        tokens,
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        ws_sessions: Arc::new(Semaphore::new(ws::MAX_SESSIONS)),
        stop: stop.clone(),
        requests: AtomicU64::new(0),
        origins,
        samples: stats::Samples::default(),
    });
    auth::watch(state.clone());
    stats::spawn(state.clone());
    let address_file = data_dir.join(ADDRESS_FILE);
    write_address_file(&address_file, addr)?;
    let app = routes::router(state);
    let accept = tokio::spawn(accept_loop(listener, app, stop.clone()));
    tracing::info!("serving HTTP and WebSocket on http://{addr}");
    Ok(Running {
        addr,
        stop,
        accept,
        address_file,
    })
}

/// Writes `{"address": "http://ADDR", "pid": N}` to the address file
/// (replacing one left by a server that crashed: the data directory's lock
/// says no other server holds it).
fn write_address_file(path: &Path, addr: SocketAddr) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let body = serde_json::json!({"address": format!("http://{addr}"), "pid": std::process::id()});
    interstice_persist::safe_fs::write_atomically(
        dir,
        &format!("{ADDRESS_FILE}.tmp"),
        ADDRESS_FILE,
        format!("{body}\n").as_bytes(),
    )
    .map_err(|source| CliError::File {
        path: path.display().to_string(),
        source,
    })
}

async fn accept_loop(listener: TcpListener, app: axum::Router, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => break },
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait a little instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let stop = stop.clone();
        conns.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEAD);
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::pin!(conn);
            let res = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(DRAIN, conn.as_mut()).await {
                        Ok(r) => r,
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = res {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests;

/// The full-access token of the data directory `dir` (`DIR/TOKEN`, read
/// with the same checks as the server's), for an in-process client such
/// as `interstice bench`'s `serve` workload.
pub(crate) fn full_token(dir: &Path) -> Result<String, CliError> {
    auth::read_token(&dir.join(TOKEN_FILE))
}
