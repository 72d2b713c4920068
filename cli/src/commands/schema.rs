//! `interstice schema`.

use std::path::Path;

use crate::error::{read_file, CliError};
use crate::output;

/// Prints the module's schema as JSON.
pub fn run(path: &Path) -> Result<(), CliError> {
    let info = interstice_actors::inspect_module(&read_file(path)?)?;
    let v = serde_json::json!({
        "name": info.name,
        "version": info.version,
        "schema_hash": output::hex(&info.schema_hash),
        "schema": serde_json::to_value(&*info.schema).unwrap_or_default(),
    });
    output::result(serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
