//! `interstice load`.

use std::path::PathBuf;

use crate::args::DataDirArgs;
use crate::commands::{close, open};
use crate::error::{read_file, CliError};
use crate::output;

/// Installs each module into the data directory.
pub async fn run(dir: &DataDirArgs, wasm: &[PathBuf]) -> Result<(), CliError> {
    let rt = open(dir).await?;
    let res = async {
        for path in wasm {
            let info = rt.load_module(read_file(path)?).await?;
            output::result(format!(
                "loaded {} {} (schema {})",
                info.name,
                info.version,
                &output::hex(&info.schema_hash)[..16]
            ));
        }
        Ok(())
    }
    .await;
    close(&rt, res).await
}
