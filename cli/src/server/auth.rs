//! Access tokens (`docs/SECURITY.md`, "The HTTP API's tokens"): two files in
//! the data directory, [`TOKEN_FILE`] (full access) and [`READ_TOKEN_FILE`]
//! (read-only), each 64 lowercase hex digits (32 bytes from the OS random
//! source) and a newline, mode 0600.
//!
//! - Created on the first `run --listen` with `O_CREAT | O_EXCL |
//!   O_NOFOLLOW` and mode 0600; rotated (`interstice token rotate`) by a new
//!   temporary created the same way, fsynced and renamed over the old file.
//! - Read with `O_NOFOLLOW`: a symlink, a file that is not a regular file, a
//!   file any other user may read or write (mode & 0o077), or one that does
//!   not hold a token is refused with an error naming the file and the
//!   problem; the server does not start.
//! - The server keeps only the tokens' blake3 hashes and compares the hash
//!   of the presented token with them (`blake3::Hash` compares in constant
//!   time). It looks at the files once a second and takes rotated tokens;
//!   if a file became invalid it refuses every token until it is fixed.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::{status, AppState};
use crate::error::CliError;
use crate::output;

/// The full-access token's file, in the data directory.
pub const TOKEN_FILE: &str = "TOKEN";
/// The read-only token's file, in the data directory.
pub const READ_TOKEN_FILE: &str = "READ_TOKEN";
/// A token file holds at most this many bytes (64 hex digits and a newline).
const MAX_TOKEN_FILE: u64 = 65;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Everything.
    Full,
    /// Read reducers, schemas, modules, metrics, hash, subscriptions.
    Read,
}

/// Which tokens `interstice token rotate` replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The full-access token only.
    Full,
    /// The read-only token only.
    Read,
    /// Both.
    Both,
}

/// The hashes of the two tokens and the identity of the files they came
/// from; `None` when a file became invalid (every token is refused).
#[derive(Debug)]
pub(crate) struct Tokens {
    keys: RwLock<Option<Keys>>,
    dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
struct Keys {
    full: blake3::Hash,
    read: blake3::Hash,
    stamp: Vec<FileStamp>,
}

/// What tells a rewritten file apart: inode, size, modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp(u64, u64, i64, i64);

fn token_error(path: &Path, reason: impl Into<String>) -> CliError {
    CliError::Token {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

fn stamp(path: &Path) -> Option<FileStamp> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| FileStamp(m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// Reads a token file, refusing anything but a regular, owner-only file
/// that holds one token.
pub(super) fn read_token(path: &Path) -> Result<String, CliError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => token_error(
                path,
                "is a symbolic link; a token file must be a regular file in the data directory",
            ),
            _ => token_error(path, e.to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| token_error(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(token_error(path, "is not a regular file"));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(token_error(
            path,
            format!(
                "has mode {mode:04o}: other users may read or change it; it must be 0600 \
                 (chmod 600 it, or rotate the token: interstice token rotate)"
            ),
        ));
    }
    if meta.len() > MAX_TOKEN_FILE {
        return Err(token_error(
            path,
            format!("is {} bytes; a token file holds 64 hex digits", meta.len()),
        ));
    }
    let mut text = String::new();
    (&mut file)
        .take(MAX_TOKEN_FILE)
        .read_to_string(&mut text)
        .map_err(|e| token_error(path, e.to_string()))?;
    let token = text.strip_suffix('\n').unwrap_or(&text);
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(token_error(
            path,
            "does not hold a token (64 hex digits); rotate it: interstice token rotate",
        ));
    }
    Ok(token.to_owned())
}

/// A new token: 32 bytes from the OS random source, as hex.
fn new_token() -> Result<String, CliError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::Server(format!("drawing random bytes for a token: {e}")))?;
    Ok(output::hex(&bytes))
}

/// Creates `path` (never an existing file, never through a symlink), mode
/// 0600, holding a new token; fsyncs it.
fn create_token_file(path: &Path) -> Result<(), CliError> {
    let token = new_token()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| token_error(path, format!("cannot create it: {e}")))?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| token_error(path, format!("cannot write it: {e}")))
}

fn sync_dir(dir: &Path) -> Result<(), CliError> {
    interstice_persist::safe_fs::sync_directory(dir).map_err(|source| CliError::File {
        path: dir.display().to_string(),
        source,
    })
}

impl Tokens {
    /// Reads both token files of `dir`, creating a missing one.
    pub(crate) fn load_or_create(dir: &Path) -> Result<Tokens, CliError> {
        let mut created = false;
        for name in [TOKEN_FILE, READ_TOKEN_FILE] {
            let path = dir.join(name);
            if std::fs::symlink_metadata(&path).is_err() {
                create_token_file(&path)?;
                created = true;
                tracing::info!("created the access token {}", path.display());
            }
        }
        if created {
            sync_dir(dir)?;
        }
        let keys = Keys::read(dir)?;
        Ok(Tokens {
            keys: RwLock::new(Some(keys)),
            dir: dir.to_path_buf(),
        })
    }

    /// The role of a presented token, or `None`; `Err` while the token files
    /// are invalid.
    pub(crate) fn role(&self, presented: &str) -> Result<Option<Role>, ()> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let Some(keys) = keys.as_ref() else {
            return Err(());
        };
        let h = blake3::hash(presented.as_bytes());
        // Both comparisons always run, each in constant time.
        let (full, read) = (h == keys.full, h == keys.read);
        Ok(if full {
            Some(Role::Full)
        } else if read {
            Some(Role::Read)
        } else {
            None
        })
    }

    /// Takes rotated token files; refuses every token while one is invalid.
    fn refresh(&self) {
        let stamps: Vec<_> = [TOKEN_FILE, READ_TOKEN_FILE]
            .iter()
            .map(|n| stamp(&self.dir.join(n)))
            .collect();
        let current = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(k) = &current {
            if stamps
                .iter()
                .zip(&k.stamp)
                .all(|(s, k)| s.as_ref() == Some(k))
            {
                return;
            }
        }
        let next = match Keys::read(&self.dir) {
            Ok(k) => {
                if current
                    .as_ref()
                    .is_none_or(|c| c.full != k.full || c.read != k.read)
                {
                    tracing::info!("access tokens reloaded");
                }
                Some(k)
            }
            Err(e) => {
                if current.is_some() {
                    tracing::error!("{e}; every request is refused until it is fixed");
                }
                None
            }
        };
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = next;
    }
}

impl Keys {
    fn read(dir: &Path) -> Result<Keys, CliError> {
        let (full_path, read_path) = (dir.join(TOKEN_FILE), dir.join(READ_TOKEN_FILE));
        let stamp_of = |p: &Path| stamp(p).unwrap_or(FileStamp(0, 0, 0, 0));
        let stamp = vec![stamp_of(&full_path), stamp_of(&read_path)];
        let full = read_token(&full_path)?;
        let read = read_token(&read_path)?;
        if full == read {
            return Err(token_error(
                &read_path,
                "holds the same token as TOKEN; rotate it: interstice token rotate --which read",
            ));
        }
        Ok(Keys {
            full: blake3::hash(full.as_bytes()),
            read: blake3::hash(read.as_bytes()),
            stamp,
        })
    }
}

/// Looks at the token files once a second until the server stops.
pub(super) fn watch(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = state.stop.cancelled() => return,
            }
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.tokens.refresh()).await;
        }
    });
}

/// The WebSocket subprotocol a browser offers, and the server selects, on
/// a handshake whose token rides in the subprotocol list.
pub(crate) const WS_PROTOCOL: &str = "interstice.v1";
/// The subprotocol that carries the token: `interstice.bearer.TOKEN`
/// (offered, never selected or echoed).
pub(crate) const BEARER_PROTOCOL: &str = "interstice.bearer.";

/// Whether `req` asks for a WebSocket upgrade.
pub(super) fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The subprotocols a WebSocket handshake offers (every
/// `Sec-WebSocket-Protocol` header, comma-separated).
pub(super) fn offered_protocols(req: &Request) -> Vec<&str> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect()
}

/// The token a request presents: `Authorization: Bearer TOKEN`, or, on a
/// WebSocket handshake (a browser cannot set that header there), the
/// offered subprotocol `interstice.bearer.TOKEN`.
fn presented_token(req: &Request) -> Option<&str> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    if header.is_some() || !is_upgrade(req) {
        return header;
    }
    offered_protocols(req)
        .into_iter()
        .find_map(|p| p.strip_prefix(BEARER_PROTOCOL))
}

/// The middleware every route but the dashboard's page is behind: the
/// request's role from its token, or 401.
pub(super) async fn require_token(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(presented) = presented_token(&req) else {
        let how = if is_upgrade(&req) {
            "missing `Authorization: Bearer TOKEN` (from a browser: the WebSocket subprotocols \
             `interstice.v1` and `interstice.bearer.TOKEN`)"
        } else {
            "missing `Authorization: Bearer TOKEN`"
        };
        return status::error(
            "Unauthorized",
            format!("{how}; the tokens are in the data directory's TOKEN and READ_TOKEN files"),
        );
    };
    match state.tokens.role(presented) {
        Ok(Some(role)) => {
            req.extensions_mut().insert(role);
            next.run(req).await
        }
        Ok(None) => status::error("Unauthorized", "the token is not valid"),
        Err(()) => status::error(
            "Unauthorized",
            "the server's token files are invalid (see its log); every token is refused",
        ),
    }
}

/// The origins of the server itself: `http://ADDR`, and for a loopback
/// address `http://localhost:PORT` too.
pub(super) fn own_origins(addr: SocketAddr) -> Vec<String> {
    let mut v = vec![format!("http://{addr}")];
    if addr.ip().is_loopback() {
        v.push(format!("http://localhost:{}", addr.port()));
    }
    v
}

/// An `--allow-origin` value: `http://` or `https://`, a host, maybe a
/// port, nothing after; compared in lower case.
pub(super) fn parse_origin(o: &str) -> Result<String, CliError> {
    let lower = o.trim_end_matches('/').to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    if !ok {
        return Err(CliError::Usage(format!(
            "--allow-origin {o:?}: expected an origin, `http://HOST[:PORT]` or \
             `https://HOST[:PORT]` (no path)"
        )));
    }
    Ok(lower)
}

/// Refuses a request from a browser page of another origin (its `Origin`
/// header names neither the server nor an `--allow-origin`): a page on
/// another site must not drive the API with a token it got hold of, nor
/// open a WebSocket (cross-site WebSocket hijacking). Requests without
/// `Origin` (curl, the CLI, non-browser clients) pass.
pub(super) async fn check_origin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let o = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if !state.origins.contains(&o) {
            let shown: String = o.chars().take(100).collect();
            return status::error(
                "Forbidden",
                format!(
                    "a request from a page of another origin ({shown:?}) is refused; allow it \
                     with `run --allow-origin ORIGIN`"
                ),
            );
        }
    }
    next.run(req).await
}

/// `interstice token rotate -d DIR [--which full|read|both]`: replaces the
/// tokens (a running server takes them within a second). Prints the files
/// written, never the tokens.
pub fn rotate(dir: &Path, which: Which) -> Result<(), CliError> {
    crate::commands::require_data_dir(dir)?;
    let names: &[&str] = match which {
        Which::Full => &[TOKEN_FILE],
        Which::Read => &[READ_TOKEN_FILE],
        Which::Both => &[TOKEN_FILE, READ_TOKEN_FILE],
    };
    for name in names {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(token_error(&tmp, e.to_string())),
        }
        create_token_file(&tmp)?;
        std::fs::rename(&tmp, &path).map_err(|e| token_error(&path, e.to_string()))?;
        sync_dir(dir)?;
        output::result(format!("rotated {}", path.display()));
    }
    Ok(())
}
