//! `interstice load`: into the data directory, or, when a serving
//! `run --listen` holds it, through that server (`crate::server::client`).

use std::path::PathBuf;

use crate::args::{DataDirArgs, RemoteArgs};
use crate::commands::{close, open};
use crate::error::{read_file, CliError};
use crate::output;
use crate::server::client::{is_locked, Remote};

/// Installs each module into the data directory.
pub async fn run(dir: &DataDirArgs, remote: &RemoteArgs, wasm: &[PathBuf]) -> Result<(), CliError> {
    let through = |server: Remote| async move {
        for path in wasm {
            let info = server.load(read_file(path)?).await?;
            let field = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
            loaded(&field("name"), &field("version"), &field("schema_hash"));
        }
        Ok(())
    };
    if let Some(server) = Remote::explicit(remote, &dir.data_dir)? {
        return through(server).await;
    }
    let rt = match open(dir).await {
        Ok(rt) => rt,
        Err(e) if is_locked(&e) => {
            // Held by a serving `run --listen`: go through it.
            let Some(server) = Remote::find(&dir.data_dir)? else {
                return Err(e);
            };
            return through(server).await;
        }
        Err(e) => return Err(e),
    };
    let res = async {
        for path in wasm {
            let info = rt.load_module(read_file(path)?).await?;
            loaded(&info.name, &info.version, &output::hex(&info.schema_hash));
        }
        Ok(())
    }
    .await;
    close(&rt, res).await
}

/// Prints `loaded NAME VERSION (schema <16 hex digits>)`.
fn loaded(name: &str, version: &str, schema_hash_hex: &str) {
    let short = schema_hash_hex.get(..16).unwrap_or(schema_hash_hex);
    output::result(format!("loaded {name} {version} (schema {short})"));
}
