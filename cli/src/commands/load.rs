//! `interstice load`: into the data directory, or, when a serving
//! `run --listen` holds it, through that server (`crate::server::client`).

use std::path::PathBuf;

use crate::args::DataDirArgs;
use crate::commands::{close, open};
use crate::error::{read_file, CliError};
use crate::output;

/// Installs each module into the data directory.
pub async fn run(dir: &DataDirArgs, wasm: &[PathBuf]) -> Result<(), CliError> {
    let rt = match open(dir).await {
        Ok(rt) => rt,
        Err(e) if crate::server::client::is_locked(&e) => {
            // Held by a serving `run --listen`: go through it.
            let Some(remote) = crate::server::client::Remote::find(&dir.data_dir)? else {
                return Err(e);
            };
            for path in wasm {
                let info = remote.load(read_file(path)?).await?;
                let field = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
                loaded(&field("name"), &field("version"), &field("schema_hash"));
            }
            return Ok(());
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
