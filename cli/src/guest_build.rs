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
    build_module_with_sources(dir).map(|b| b.wasm)
}

/// A module crate built: its `.wasm`, and the local packages it was built
/// from (what `interstice dev` watches).
#[derive(Debug, Clone)]
pub struct BuiltModule {
    /// The `.wasm` cargo produced.
    pub wasm: PathBuf,
    /// Every local (path) package of the build, the crate itself included,
    /// ordered by directory.
    pub sources: Vec<PackageSources>,
}

/// A local package's sources, as cargo reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSources {
    /// The package's directory (where its `Cargo.toml` is).
    pub dir: PathBuf,
    /// The root source file of each of its targets built (`src/lib.rs`,
    /// `build.rs`), sorted.
    pub roots: Vec<PathBuf>,
}

/// [`build_module`], also returning the local packages the build used.
pub fn build_module_with_sources(dir: &Path) -> Result<BuiltModule, CliError> {
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
    let manifest_abs = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
    let built = cargo_build_wasm(&manifest, &[])?;
    let wasm = built
        .wasm
        .into_iter()
        .rev()
        .find(|a| a.manifest == manifest_abs)
        .map(|a| a.wasm)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not a module crate: cargo built it but it produced no .wasm (a module \
                 is a `crate-type = [\"cdylib\"]` crate)",
                manifest.display()
            ))
        })?;
    Ok(BuiltModule {
        wasm,
        sources: built.sources,
    })
}

/// Builds the named packages of the workspace whose root manifest is
/// `workspace` in one cargo run (cargo builds them in parallel) and returns
/// each package's `.wasm`, by crate name (`-` as `_`).
pub fn build_packages(
    workspace: &Path,
    packages: &[&str],
) -> Result<std::collections::HashMap<String, PathBuf>, CliError> {
    ensure_wasm_target()?;
    let built = cargo_build_wasm(workspace, packages)?;
    let mut out = std::collections::HashMap::new();
    for a in built.wasm {
        out.insert(a.name, a.wasm);
    }
    for p in packages {
        if !out.contains_key(&p.replace('-', "_")) {
            return Err(CliError::Build(format!(
                "cargo built {} but produced no .wasm for package {p}",
                workspace.display()
            )));
        }
    }
    Ok(out)
}

/// One `.wasm` cargo produced.
struct WasmArtifact {
    manifest: PathBuf,
    name: String,
    wasm: PathBuf,
}

/// What one cargo run reported.
struct CargoBuild {
    /// The cdylib `.wasm` files.
    wasm: Vec<WasmArtifact>,
    /// The local packages built (or found fresh).
    sources: Vec<PackageSources>,
}

/// Whether a cargo package id names a local (path) package: `path+file://…`
/// (cargo 1.77 and later) or `name version (path+file://…)`.
fn is_local_package(id: &str) -> bool {
    id.starts_with("path+file://") || id.contains("(path+file://")
}

/// `cargo build --release --target wasm32-unknown-unknown` of `manifest`
/// (with `-p` for each of `packages`), and the cdylib `.wasm` files and
/// local packages it reported.
fn cargo_build_wasm(manifest: &Path, packages: &[&str]) -> Result<CargoBuild, CliError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--target", WASM_TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        .args(packages.iter().flat_map(|p| ["-p", p]))
        .args(["--message-format", "json-render-diagnostics"])
        // Host-specific flags (target-cpu, --cfg loom, coverage) must not
        // leak into the guest build, nor a rustc wrapper that adds its own
        // (cargo llvm-cov instruments the crates it names through one, and
        // guests share crate names with the host: interstice_abi, …).
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
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
    let mut built = Vec::new();
    let mut sources = std::collections::BTreeMap::<PathBuf, Vec<PathBuf>>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let manifest_path = Path::new(msg["manifest_path"].as_str().unwrap_or_default());
        if let (true, Some(dir), Some(root)) = (
            is_local_package(msg["package_id"].as_str().unwrap_or_default()),
            manifest_path.parent(),
            msg["target"]["src_path"].as_str(),
        ) {
            let roots = sources.entry(dir.to_path_buf()).or_default();
            roots.push(PathBuf::from(root));
            roots.sort();
            roots.dedup();
        }
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        let manifest = PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default());
        let name = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .replace('-', "_");
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    built.push(WasmArtifact {
                        manifest: manifest.clone(),
                        name: name.clone(),
                        wasm: PathBuf::from(f),
                    });
                }
            }
        }
    }
    Ok(CargoBuild {
        wasm: built,
        sources: sources
            .into_iter()
            .map(|(dir, roots)| PackageSources { dir, roots })
            .collect(),
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
