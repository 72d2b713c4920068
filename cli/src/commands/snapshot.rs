//! `interstice snapshot -d DIR`: a snapshot now (`docs/SNAPSHOT_FORMAT.md`),
//! through the serving `run --listen` when one holds the directory (`POST
//! /v1/snapshot`, `docs/SERVER.md` §4), else with the directory's lock and
//! the snapshotter started for this one snapshot. Prints `{"ts": N}`, the
//! timestamp the snapshot covers; retention runs after it either way.

use serde_json::json;

use crate::args::{DataDirArgs, RemoteArgs};
use crate::commands::close;
use crate::error::CliError;
use crate::output;
use crate::server::client::{open_or_remote_with, Target};

/// Runs the command.
pub async fn run(
    dir: &DataDirArgs,
    remote: &RemoteArgs,
    keep_snapshots: Option<usize>,
) -> Result<(), CliError> {
    let mut builder = interstice_actors::Runtime::builder().snapshots(true);
    if let Some(k) = keep_snapshots {
        builder = builder.keep_snapshots(k);
    }
    let ts = match open_or_remote_with(dir, remote, builder).await? {
        Target::Remote(server) => server.snapshot().await?,
        Target::Local(rt) => {
            let res = rt.snapshot_now().await.map_err(CliError::from);
            close(&rt, res).await?
        }
    };
    output::result(json!({ "ts": ts }));
    Ok(())
}
