//! `interstice generate rust <module.wasm | -d DIR MODULE> [-o FILE]`: typed
//! Rust bindings for calling and subscribing to a module from another one
//! (`docs/SDK.md`, "Bindings"). The schema is read as `schema` reads it: from
//! a `.wasm` file (compiled and validated, not run) or as last installed in
//! a data directory. The output is a function of the schema alone, so
//! regenerating from the same module gives the same bytes.

use std::path::Path;

use interstice_abi::ModuleSchema;

use crate::error::{read_file, CliError};
use crate::output;

mod rust;

#[cfg(test)]
mod tests;

/// The languages `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// A Rust module for a module crate (`mod inventory;`).
    Rust,
}

/// The schema of `module`: a `.wasm` file, or with `data_dir` the module's
/// latest install there.
pub(crate) fn load_schema(module: &str, data_dir: Option<&Path>) -> Result<ModuleSchema, CliError> {
    match data_dir {
        None => {
            let info = interstice_actors::inspect_module(&read_file(Path::new(module))?)?;
            Ok((*info.schema).clone())
        }
        Some(dir) => crate::commands::schema_diff::installed(dir, module)
            .map(|(schema, _)| schema)
            .map_err(|e| CliError::Input(format!("{}: {e}", dir.display()))),
    }
}

/// The Rust bindings of `schema` (what `generate rust` writes): rendered,
/// then formatted with `rustfmt` when it is installed, so that the file
/// passes `cargo fmt --check` in the crate it goes into.
pub(crate) fn rust_bindings(schema: &ModuleSchema) -> Result<String, String> {
    rust::render(schema).map(rustfmt)
}

/// `text` through `rustfmt --edition 2021` (stdin to stdout); `text` as it
/// is if rustfmt is missing or fails (the code compiles either way).
fn rustfmt(text: String) -> String {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        tracing::warn!("rustfmt is not installed: the bindings are written unformatted");
        return text;
    };
    let fed = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(text.as_bytes()));
    match (fed, child.wait_with_output()) {
        (Some(Ok(())), Ok(out)) if out.status.success() && !out.stdout.is_empty() => {
            String::from_utf8(out.stdout).unwrap_or(text)
        }
        _ => {
            tracing::warn!("rustfmt failed: the bindings are written unformatted");
            text
        }
    }
}

/// Whether `name` is a Rust keyword (a module file cannot be named so).
pub(crate) fn is_keyword(name: &str) -> bool {
    rust::KEYWORDS.contains(&name) || ["crate", "self", "super"].contains(&name)
}

/// Writes the bindings of `module` in `language` to `out`, or prints them.
pub fn run(
    language: Language,
    module: &str,
    data_dir: Option<&Path>,
    out: Option<&Path>,
) -> Result<(), CliError> {
    let schema = load_schema(module, data_dir)?;
    let text = match language {
        Language::Rust => rust_bindings(&schema).map_err(CliError::Input)?,
    };
    match out {
        None => output::result(text.trim_end()),
        Some(path) => {
            std::fs::write(path, &text).map_err(|source| CliError::File {
                path: path.display().to_string(),
                source,
            })?;
            // The file written, as `build` prints the .wasm it wrote.
            output::result(path.display());
        }
    }
    Ok(())
}
