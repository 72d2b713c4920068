//! `interstice load`: into the data directory, or, when a serving
//! `run --listen` holds it, through that server (`crate::server::client`);
//! and `load --dry-run`: the upgrade plan of each module against the data
//! directory, printed without changing anything (`docs/TOOLS.md`).

use std::path::PathBuf;

use crate::args::{DataDirArgs, RemoteArgs, ReportFormat};
use crate::commands::close;
use crate::commands::schema_diff::{installed, print_plan, verdict};
use crate::error::{read_file, CliError};
use crate::inspect::plan::{Class, Plan};
use crate::output;
use crate::server::client::{open_or_remote, Remote, Target};

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
    let rt = match open_or_remote(dir, remote).await? {
        Target::Local(rt) => rt,
        Target::Remote(server) => return through(server).await,
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

/// `load --dry-run`: for each module, what a load would do — install a new
/// module, or upgrade an installed one with the plan `schema-diff
/// DIR:MODULE NEW.wasm` prints — reading the data directory without the
/// lock and writing nothing (a missing directory is not created). Exit 0
/// if every module would load as it is, 1 if one needs a migration, 2 if
/// one is breaking.
pub fn dry_run(dir: &DataDirArgs, wasm: &[PathBuf], format: ReportFormat) -> Result<(), CliError> {
    let exists = dir
        .data_dir
        .join(interstice_persist::datadir::LOG_DIR)
        .is_dir();
    let mut worst = Class::Compatible;
    for path in wasm {
        let info = interstice_actors::inspect_module(&read_file(path)?)?;
        let current = if exists {
            match installed(&dir.data_dir, &info.name) {
                Ok(found) => Some(found),
                Err(CliError::Input(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        match current {
            Some((schema, tables)) => {
                let plan = Plan::between(&schema, &info.schema, Some(&tables));
                worst = worst.max(plan.verdict());
                print_plan(&plan, format);
            }
            None => {
                let tables: Vec<&str> =
                    info.schema.tables.iter().map(|t| t.name.as_str()).collect();
                match format {
                    ReportFormat::Json => output::result(serde_json::json!({
                        "module": info.name,
                        "new": { "module": info.name, "version": info.version },
                        "install": true,
                        "tables": tables,
                        "verdict": Class::Compatible.name(),
                    })),
                    ReportFormat::Text => output::result(format!(
                        "{} {}: new module, would be installed (tables: {})",
                        info.name,
                        info.version,
                        tables.join(", ")
                    )),
                }
            }
        }
    }
    verdict(worst)
}

/// Prints `loaded NAME VERSION (schema <16 hex digits>)`.
fn loaded(name: &str, version: &str, schema_hash_hex: &str) {
    let short = schema_hash_hex.get(..16).unwrap_or(schema_hash_hex);
    output::result(format!("loaded {name} {version} (schema {short})"));
}
