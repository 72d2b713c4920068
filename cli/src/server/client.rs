//! The CLI through a running server (`docs/SERVER.md` §8): when `call` or
//! `load` finds the data directory locked and a serving `run --listen`
//! named in its address file (`DIR/SERVER`), it sends the request there
//! with the full-access token of `DIR/TOKEN` instead of failing with
//! "locked"; `--server URL` names a server explicitly. Both files are read like every file of the data directory:
//! without following symlinks, bounded in size, and checked.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use interstice_actors::RuntimeError;
use interstice_persist::PersistError;
use serde_json::{json, Value as Json};

use super::{auth, ADDRESS_FILE, TOKEN_FILE};
use crate::args::RemoteArgs;
use crate::error::CliError;

/// The address file holds at most this many bytes.
const MAX_ADDRESS_FILE: u64 = 4096;
/// How long a request through the server may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Whether `e` is the data directory being held by another process.
pub fn is_locked(e: &CliError) -> bool {
    matches!(
        e,
        CliError::Runtime(RuntimeError::Persist(PersistError::Locked { .. }))
            | CliError::Persist(PersistError::Locked { .. })
    )
}

/// Where a writing command (`call`, `load`) runs: in the data directory
/// itself, or through the server that holds it.
#[derive(Debug)]
pub enum Target {
    /// The data directory, opened (and locked) by this process.
    Local(interstice_actors::Runtime),
    /// A running server: named by `--server`, or by `DIR/SERVER` when a
    /// serving `run --listen` holds the lock.
    Remote(Remote),
}

/// Opens the data directory, or finds the server to go through instead:
/// `--server` first; otherwise the directory, unless it is locked by a
/// serving `run --listen` (then that server).
pub async fn open_or_remote(
    dir: &crate::args::DataDirArgs,
    remote: &RemoteArgs,
) -> Result<Target, CliError> {
    open_or_remote_with(dir, remote, interstice_actors::Runtime::builder()).await
}

/// [`open_or_remote`], opening the directory with `builder` (configured
/// further by the caller) when it opens it.
pub async fn open_or_remote_with(
    dir: &crate::args::DataDirArgs,
    remote: &RemoteArgs,
    builder: interstice_actors::RuntimeBuilder,
) -> Result<Target, CliError> {
    if let Some(server) = Remote::explicit(remote, &dir.data_dir)? {
        return Ok(Target::Remote(server));
    }
    match crate::commands::open_with(dir, builder).await {
        Ok(rt) => Ok(Target::Local(rt)),
        Err(e) if is_locked(&e) => match Remote::find(&dir.data_dir)? {
            Some(server) => Ok(Target::Remote(server)),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// A running server of a data directory.
#[derive(Debug)]
pub struct Remote {
    base: String,
    auth: String,
}

impl Remote {
    /// The server `--server URL` names, if given, with the token of
    /// `--token-file`, else of `$INTERSTICE_TOKEN`, else of `DIR/TOKEN`.
    pub fn explicit(args: &RemoteArgs, dir: &Path) -> Result<Option<Remote>, CliError> {
        let Some(url) = &args.server else {
            return Ok(None);
        };
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            CliError::Usage(format!(
                "--server {url}: give http://HOST:PORT (the server speaks plain HTTP)"
            ))
        })?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.is_empty() || host.contains(['/', '?', '#', '@']) || !host.contains(':') {
            return Err(CliError::Usage(format!(
                "--server {url}: give http://HOST:PORT, with no path"
            )));
        }
        let token = match (&args.token_file, std::env::var("INTERSTICE_TOKEN")) {
            (Some(file), _) => auth::read_token(file)?,
            (None, Ok(token)) => token.trim().to_owned(),
            (None, Err(_)) => auth::read_token(&dir.join(TOKEN_FILE))?,
        };
        Ok(Some(Remote {
            base: format!("http://{host}"),
            auth: format!("Bearer {token}"),
        }))
    }

    /// The server named by `DIR/SERVER`, if there is one; its token from
    /// `DIR/TOKEN`. `None` when there is no address file.
    pub fn find(dir: &Path) -> Result<Option<Remote>, CliError> {
        let path = dir.join(ADDRESS_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad_address_file(&path, e.to_string())),
        };
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            return Err(bad_address_file(&path, "is not a regular file".into()));
        }
        let mut text = String::new();
        (&mut file)
            .take(MAX_ADDRESS_FILE)
            .read_to_string(&mut text)
            .map_err(|e| bad_address_file(&path, e.to_string()))?;
        let v: Json = serde_json::from_str(&text)
            .map_err(|e| bad_address_file(&path, format!("is not JSON: {e}")))?;
        let base = v["address"]
            .as_str()
            .and_then(|a| a.strip_prefix("http://"))
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .ok_or_else(|| {
                bad_address_file(&path, "has no \"address\": \"http://IP:PORT\"".into())
            })?;
        let token = auth::read_token(&dir.join(TOKEN_FILE))?;
        Ok(Some(Remote {
            base: format!("http://{base}"),
            auth: format!("Bearer {token}"),
        }))
    }

    /// `POST path` with `body`; the reply's `result`, or the server's error.
    async fn post(&self, path: &str, body: Vec<u8>) -> Result<Json, CliError> {
        let url = format!("{}{path}", self.base);
        let auth = self.auth.clone();
        let answer = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(TIMEOUT))
                .build()
                .into();
            let mut res = agent
                .post(&url)
                .header("Authorization", &auth)
                .send(&body[..])
                .map_err(|e| format!("{url}: {e}"))?;
            res.body_mut()
                .with_config()
                .limit(super::MAX_BODY as u64)
                .read_to_string()
                .map_err(|e| format!("{url}: reading the answer: {e}"))
        })
        .await
        .map_err(|e| CliError::Server(format!("the request task failed: {e}")))?
        .map_err(|e| {
            CliError::Server(format!(
                "the data directory is held by a server, but it did not answer: {e}"
            ))
        })?;
        let v: Json = serde_json::from_str(&answer)
            .map_err(|e| CliError::Server(format!("the server's answer is not JSON: {e}")))?;
        if v["ok"] == true {
            return Ok(v["result"].clone());
        }
        Err(CliError::Remote {
            kind: v["error"]["kind"].as_str().unwrap_or("Error").to_owned(),
            message: v["error"]["message"]
                .as_str()
                .unwrap_or("the server answered with an error")
                .to_owned(),
        })
    }

    /// Calls `module.reducer` (a write or a read, by its mode).
    pub async fn call(&self, module: &str, reducer: &str, args: &[Json]) -> Result<Json, CliError> {
        // Names are identifiers; anything else cannot name a loaded module
        // or reducer (and must not reach the URL).
        for (what, name) in [("module", module), ("reducer", reducer)] {
            if !interstice_abi::schema::valid_ident(name) {
                return Err(CliError::Remote {
                    kind: if what == "module" {
                        "UnknownModule"
                    } else {
                        "UnknownReducer"
                    }
                    .into(),
                    message: format!("unknown {what} `{name}`"),
                });
            }
        }
        let path = format!("/v1/modules/{module}/reducers/{reducer}/call");
        self.post(&path, json!({ "args": args }).to_string().into_bytes())
            .await
    }

    /// Takes a snapshot (`POST /v1/snapshot`): the timestamp it covers.
    pub async fn snapshot(&self) -> Result<u64, CliError> {
        let v = self.post("/v1/snapshot", Vec::new()).await?;
        v["ts"]
            .as_u64()
            .ok_or_else(|| CliError::Server(format!("the server's snapshot answer has no ts: {v}")))
    }

    /// Starts a backup (`POST /v1/backup`): the cut to copy, and how long
    /// the server took to make it (microseconds).
    pub(crate) async fn start_backup(
        &self,
    ) -> Result<(crate::commands::backup::Cut, u64), CliError> {
        let v = match self.post("/v1/backup", Vec::new()).await {
            Err(CliError::Remote { kind, .. }) if kind == "NotFound" => {
                return Err(CliError::Backup(format!(
                    "the server holding the directory ({}) does not offer backups (no POST \
                     /v1/backup: an older interstice); stop it and back up with the lock, or \
                     run a newer one",
                    self.base
                )))
            }
            other => other?,
        };
        let durable_ts = v["durable_ts"].as_u64().ok_or_else(|| {
            CliError::Server(format!("the server's backup answer has no durable_ts: {v}"))
        })?;
        let snapshot_ts = match &v["snapshot_ts"] {
            Json::Null => None,
            t => Some(t.as_u64().filter(|t| *t <= durable_ts).ok_or_else(|| {
                CliError::Server(format!(
                    "the server's backup answer has a bad snapshot_ts: {v}"
                ))
            })?),
        };
        let cut = crate::commands::backup::Cut::Server {
            snapshot_ts,
            durable_ts,
        };
        Ok((cut, v["took_us"].as_u64().unwrap_or(0)))
    }

    /// Loads or upgrades a module; its `{"name", "version", "schema_hash"}`.
    pub async fn load(&self, wasm: Vec<u8>) -> Result<Json, CliError> {
        self.post("/v1/modules", wasm).await
    }

    /// Unloads a module; its `{"name", "version", "ts", "tables"}`.
    pub async fn unload(&self, module: &str, drop_tables: bool) -> Result<Json, CliError> {
        let tables = if drop_tables { "drop" } else { "keep" };
        let body = serde_json::json!({ "tables": tables })
            .to_string()
            .into_bytes();
        self.post(&format!("/v1/modules/{module}/unload"), body)
            .await
    }
}

fn bad_address_file(path: &Path, reason: String) -> CliError {
    CliError::Token {
        path: path.display().to_string(),
        reason,
    }
}
