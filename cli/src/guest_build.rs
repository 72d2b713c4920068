//! Building guest modules: `cargo build --release --target
//! wasm32-unknown-unknown` on a module crate, adding the wasm target first
//! if rustup lacks it, and finding the produced `.wasm` from cargo's JSON
//! messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::CliError;

/// The guest target triple.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Adds the wasm target with rustup if it is not installed.
pub fn ensure_wasm_target() -> Result<(), CliError> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if out.status.success() => {
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET)
            {
                return Ok(());
            }
        }
        // No rustup: assume the toolchain manages targets some other way;
        // cargo will say clearly if the target is missing.
        _ => return Ok(()),
    }
    tracing::info!("installing the {WASM_TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| CliError::Build(format!("could not run rustup: {e}")))?;
    if !status.success() {
        return Err(CliError::Build(format!(
            "`rustup target add {WASM_TARGET}` failed ({status})"
        )));
    }
    Ok(())
}

/// Builds the module crate at `dir` (a directory with a Cargo.toml) for
/// wasm32 in release mode and returns the path of its `.wasm`.
pub fn build_module(dir: &Path) -> Result<PathBuf, CliError> {
    let manifest = if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join("Cargo.toml")
    };
    if !manifest.is_file() {
        return Err(CliError::Usage(format!(
            "{} is not a module crate: no Cargo.toml there",
            dir.display()
        )));
    }
    ensure_wasm_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--message-format", "json-render-diagnostics"])
        // Host-specific flags (target-cpu, --cfg loom, coverage) must not
        // leak into the guest build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| CliError::Build(format!("could not run cargo: {e}")))?;
    if !out.status.success() {
        return Err(CliError::Build(format!(
            "cargo build of {} failed ({})",
            manifest.display(),
            out.status
        )));
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let is_ours = msg["manifest_path"]
            .as_str()
            .is_some_and(|p| Path::new(p) == manifest);
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if !(is_ours && is_cdylib) {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    wasm = Some(PathBuf::from(f));
                }
            }
        }
    }
    wasm.ok_or_else(|| {
        CliError::Build(format!(
            "cargo built {} but produced no .wasm: is it a `crate-type = [\"cdylib\"]` crate?",
            manifest.display()
        ))
    })
}

/// The example modules' source folder: `modules/` of this repository.
pub fn modules_dir() -> PathBuf {
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules");
    if embedded.is_dir() {
        return embedded;
    }
    PathBuf::from("modules")
}
