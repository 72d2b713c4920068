//! `interstice schema <module.wasm | -d DIR MODULE> [--format …]`: a
//! module's schema, from a `.wasm` file (compiled and validated, not run) or
//! as last installed in a data directory (rebuilt from the log without the
//! lock).
//!
//! Formats (`docs/SDK.md`, "Exporting a module's types"):
//!
//! - `json` (the default, unchanged): `{name, schema, schema_hash, version}`;
//! - `yaml`: the same document as YAML (`schema/yaml.rs`);
//! - `human`: tables and reducers, one line each, with Rust-like types;
//! - `typescript`: declarations for every custom type, table row and reducer
//!   signature in the JSON encoding the CLI and `run` use (`docs/ABI.md` §7),
//!   `schema/typescript.rs`;
//! - `json-schema`: the same as JSON Schema draft 2020-12,
//!   `schema/json_schema.rs`.

use std::path::Path;

use interstice_abi::ModuleSchema;

use crate::error::{read_file, CliError};
use crate::output;

mod human;
mod json_schema;
mod names;
mod typescript;
mod yaml;

#[cfg(test)]
mod tests;

/// The output formats of `schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    /// Tables and reducers, one line each.
    Human,
    /// The schema document as JSON (the default).
    Json,
    /// The schema document as YAML.
    Yaml,
    /// TypeScript type declarations (a `.ts` module).
    Typescript,
    /// JSON Schema (draft 2020-12).
    JsonSchema,
}

/// A schema with what identifies it.
pub(crate) struct Described {
    /// The schema.
    pub(crate) schema: ModuleSchema,
    /// blake3 of its canonical encoding, in hex.
    pub(crate) hash: String,
}

/// Prints the module's schema in `format`.
pub fn run(module: &str, data_dir: Option<&Path>, format: SchemaFormat) -> Result<(), CliError> {
    let described = match data_dir {
        None => {
            let info = interstice_actors::inspect_module(&read_file(Path::new(module))?)?;
            Described {
                hash: output::hex(&info.schema_hash),
                schema: (*info.schema).clone(),
            }
        }
        Some(dir) => {
            let (schema, _) = crate::commands::schema_diff::installed(dir, module)
                .map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
            Described {
                hash: output::hex(&schema.hash()),
                schema,
            }
        }
    };
    let text = match format {
        SchemaFormat::Json => serde_json::to_string_pretty(&document(&described))
            .map_err(|e| CliError::Input(format!("cannot render the schema as JSON: {e}")))?,
        SchemaFormat::Yaml => yaml::render(&document(&described)),
        SchemaFormat::Human => human::render(&described),
        SchemaFormat::Typescript => typescript::render(&described),
        SchemaFormat::JsonSchema => serde_json::to_string_pretty(&json_schema::render(&described))
            .map_err(|e| CliError::Input(format!("cannot render the JSON Schema: {e}")))?,
    };
    output::result(text.trim_end());
    Ok(())
}

/// The `json`/`yaml` document: name, version, schema hash and the schema.
fn document(d: &Described) -> serde_json::Value {
    serde_json::json!({
        "name": d.schema.name,
        "version": d.schema.version,
        "schema_hash": d.hash,
        "schema": serde_json::to_value(&d.schema).unwrap_or_default(),
    })
}
