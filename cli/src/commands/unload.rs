//! `interstice unload NAME [--drop-tables]`: unloads a module from the data
//! directory (`Runtime::unload_module`), or, when a serving `run --listen`
//! holds it, through that server (`POST /v1/modules/{module}/unload`).

use crate::args::{DataDirArgs, RemoteArgs};
use crate::commands::{close, require_data_dir};
use crate::error::CliError;
use crate::output;
use crate::server::client::{open_or_remote, Target};

/// Unloads `module`, keeping its tables unless `drop_tables`.
pub async fn run(
    dir: &DataDirArgs,
    remote: &RemoteArgs,
    module: &str,
    drop_tables: bool,
) -> Result<(), CliError> {
    // Unloading acts on existing state: a directory that is not one yet is
    // a mistyped path, not a place to create a runtime in.
    if remote.server.is_none() {
        require_data_dir(&dir.data_dir)?;
    }
    let rt = match open_or_remote(dir, remote).await? {
        Target::Local(rt) => rt,
        Target::Remote(server) => {
            let v = server.unload(module, drop_tables).await?;
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            unloaded(
                &field("name"),
                &field("version"),
                v["ts"].as_u64().unwrap_or_default(),
                drop_tables,
            );
            return Ok(());
        }
    };
    let options = if drop_tables {
        interstice_actors::UnloadOptions::drop_tables()
    } else {
        interstice_actors::UnloadOptions::keep_tables()
    };
    let res = async {
        let u = rt.unload_module(module, options).await?;
        unloaded(&u.info.name, &u.info.version, u.ts, drop_tables);
        Ok(())
    }
    .await;
    close(&rt, res).await
}

/// Prints `unloaded NAME VERSION at ts TS (tables kept|dropped)`.
fn unloaded(name: &str, version: &str, ts: u64, dropped: bool) {
    let what = if dropped { "dropped" } else { "kept" };
    output::result(format!(
        "unloaded {name} {version} at ts {ts} (tables {what})"
    ));
}
