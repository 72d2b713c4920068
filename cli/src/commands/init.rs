//! `interstice init NAME [--dep MODULE.wasm]… [--sdk DIR]`: a new module
//! crate that builds with `interstice build` and loads as it is
//! (`docs/SDK.md`, "Starting a module"): `Cargo.toml` (a `cdylib` with the
//! guest release profile, a workspace of its own), `src/lib.rs` with a
//! table, a write reducer and a read reducer, and for each `--dep` its
//! generated bindings in `src/<dep>.rs`, declared as a dependency.

use std::path::{Path, PathBuf};

use interstice_abi::schema::valid_ident;

use crate::commands::generate;
use crate::error::CliError;
use crate::output;

/// The repository's SDK, which this binary was built with.
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

fn file_error(path: &Path, source: std::io::Error) -> CliError {
    CliError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Writes the crate; prints its directory.
pub fn run(dir: &Path, deps: &[PathBuf], sdk: Option<&Path>) -> Result<(), CliError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if !valid_ident(&name) {
        return Err(CliError::Usage(format!(
            "`{}`: a module's name (the directory's last component) must match \
             [a-z][a-z0-9_]*",
            name.escape_debug()
        )));
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::Usage(format!(
                    "{} exists and is not empty: init writes a new crate",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(dir, e)),
    }
    let sdk = match sdk {
        Some(s) => s.to_path_buf(),
        None => default_sdk(),
    };
    let sdk = sdk.canonicalize().map_err(|e| {
        CliError::Usage(format!(
            "the SDK directory {} cannot be used ({e}): pass --sdk DIR (the interstice \
             repository's sdk/)",
            sdk.display()
        ))
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        return Err(CliError::Usage(format!(
            "{} has no Cargo.toml: --sdk names the interstice repository's sdk/",
            sdk.display()
        )));
    }
    // Every binding first: nothing is written if one fails.
    let mut bindings = Vec::new();
    for d in deps {
        let path = d
            .to_str()
            .ok_or_else(|| CliError::Usage(format!("{}: not a UTF-8 path", d.display())))?;
        let schema = generate::load_schema(path, None)?;
        if schema.name == name {
            return Err(CliError::Usage(format!(
                "--dep {}: the module cannot depend on itself (`{name}`)",
                d.display()
            )));
        }
        if bindings.iter().any(|(n, _)| *n == schema.name) {
            return Err(CliError::Usage(format!(
                "--dep {}: module `{}` given twice",
                d.display(),
                schema.name
            )));
        }
        if generate::is_keyword(&schema.name) {
            return Err(CliError::Usage(format!(
                "--dep {}: module `{}` is a Rust keyword and cannot name a source file's \
                 module; generate its bindings with `interstice generate rust` into a file of \
                 another name",
                d.display(),
                schema.name
            )));
        }
        let text = generate::rust_bindings(&schema).map_err(CliError::Input)?;
        bindings.push((schema.name.clone(), text));
    }
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(|e| file_error(&src, e))?;
    let write =
        |path: PathBuf, text: &str| std::fs::write(&path, text).map_err(|e| file_error(&path, e));
    write(dir.join("Cargo.toml"), &cargo_toml(&name, &sdk))?;
    write(dir.join(".gitignore"), "/target\n")?;
    let dep_names: Vec<&str> = bindings.iter().map(|(n, _)| n.as_str()).collect();
    write(src.join("lib.rs"), &lib_rs(&name, &dep_names))?;
    for (dep, text) in &bindings {
        write(src.join(format!("{dep}.rs")), text)?;
    }
    output::result(dir.display());
    Ok(())
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"# A module crate made by `interstice init`: `interstice build .` builds it
# for wasm32-unknown-unknown, and prints the .wasm's path.
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
interstice-sdk = {{ path = {sdk:?} }}

# The guest profile: small, whole-program optimised, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true

[profile.dev]
panic = "abort"

# A workspace of its own, even inside another one.
[workspace]
"#,
        sdk = sdk.display().to_string(),
    )
}

fn lib_rs(name: &str, deps: &[&str]) -> String {
    let mods: String = deps
        .iter()
        .map(|d| format!("/// Bindings for `{d}` (`interstice generate rust`; regenerate, do not edit).\nmod {d};\n"))
        .collect();
    let uses: String = deps
        .iter()
        .map(|d| {
            format!(
                "\n// Call `{d}` through its bindings: `{d}::some_reducer(ctx, …)` queues a\n\
                 // write call, a read reducer's function returns its result; a trigger\n\
                 // on one of its tables is `#[reducer(on = {d}::a_table::insert)]`.\n"
            )
        })
        .collect();
    let mods = if mods.is_empty() {
        String::new()
    } else {
        format!("\n{mods}")
    };
    format!(
        r#"//! `{name}`: a module made by `interstice init`. Build it with
//! `interstice build .`, load the .wasm it prints with `interstice load`, and
//! call it: `interstice call -d DIR {name} add_note '"hello"'`.

use interstice_sdk::prelude::*;
{mods}
interstice_module! {{
    name: "{name}",
    version: "0.1.0",
    dependencies: [{deps}],
    tables: [Note],
    reducers: [add_note, note_count],
}}

/// A note, by id.
#[table(name = "notes")]
#[derive(Clone, Debug)]
pub struct Note {{
    #[primary_key(auto_inc)]
    pub id: u64,
    pub text: String,
}}

/// Adds a note; its id.
#[reducer]
fn add_note(ctx: &mut WriteContext, text: String) -> Result<u64, String> {{
    if text.is_empty() {{
        return Err("a note needs text".into());
    }}
    Ok(ctx.tables.notes().insert(Note {{ id: 0, text }}).id)
}}

/// How many notes there are.
#[reducer(mode = "read")]
fn note_count(ctx: &ReadContext) -> u64 {{
    ctx.tables.notes().count()
}}
{uses}"#,
        deps = deps.join(", "),
    )
}
