//! One module per subcommand.

pub mod app_load;
pub mod backup;
pub mod bench;
pub mod build;
pub mod call;
pub mod check_log;
pub mod demo;
pub mod dev;
pub mod generate;
pub mod graph_subs;
pub mod graph_trace;
pub mod init;
pub mod load;
pub mod log_dump;
pub mod log_inspect;
pub mod logs;
pub mod replay_check;
pub mod replay_debug;
pub mod run;
pub mod schema;
pub mod schema_diff;
pub mod snapshot;
pub mod tables;
pub mod unload;
pub mod validate;

use interstice_actors::{Runtime, RuntimeError};

use crate::args::DataDirArgs;
use crate::error::CliError;

/// Opens the runtime on a data directory.
pub async fn open(dir: &DataDirArgs) -> Result<Runtime, CliError> {
    open_with(dir, Runtime::builder()).await
}

/// [`open`] with a builder the caller configured further (snapshots, …).
pub async fn open_with(
    dir: &DataDirArgs,
    builder: interstice_actors::RuntimeBuilder,
) -> Result<Runtime, CliError> {
    Ok(builder
        .data_dir(&dir.data_dir)
        .durability(dir.durability)
        .open()
        .await?)
}

/// Refuses `dir` unless it is a data directory already (it has a `log/`
/// directory), for the commands that act on existing state only and must
/// not create one the way `open` does.
pub fn require_data_dir(dir: &std::path::Path) -> Result<(), CliError> {
    if dir.join(interstice_persist::datadir::LOG_DIR).is_dir() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} is not a data directory (it has no log/)",
        dir.display()
    )))
}

/// Shuts down, keeping the first error.
pub async fn close<T>(rt: &Runtime, res: Result<T, CliError>) -> Result<T, CliError> {
    let closed = rt.shutdown().await.map_err(CliError::from);
    match (res, closed) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e),
        (Ok(v), Ok(())) => Ok(v),
    }
}

/// The JSON form of an error, for `run` replies: `{"kind", "message"}`, and
/// `"value"` for a reducer's own `Err` value. Every `kind` is listed in
/// `docs/PROTOCOL.md` §6; keep the two in step.
pub fn error_json(e: &RuntimeError) -> serde_json::Value {
    let mut v = serde_json::json!({ "kind": e.kind(), "message": e.to_string() });
    if let RuntimeError::Reducer { error, .. } = e {
        if let Some(val) = &error.value {
            v["value"] = val.clone();
        }
    }
    v
}
