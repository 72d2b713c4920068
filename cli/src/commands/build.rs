//! `interstice build`.

use std::path::Path;

use crate::error::{read_file, CliError};
use crate::guest_build::build_module;
use crate::output;

/// Builds, validates, prints a summary and the .wasm path (last line).
pub fn run(path: &Path) -> Result<(), CliError> {
    let wasm = build_module(path)?;
    let bytes = read_file(&wasm)?;
    let info = interstice_actors::inspect_module(&bytes)?;
    output::say(format!(
        "validated module `{}` {} ({} tables, {} reducers, {} bytes, schema {})",
        info.name,
        info.version,
        info.schema.tables.len(),
        info.schema.reducers.len(),
        bytes.len(),
        &output::hex(&info.schema_hash)[..16]
    ));
    output::result(wasm.display());
    Ok(())
}
