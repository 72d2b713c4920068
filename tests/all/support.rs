//! Shared helpers: guest modules built once, temporary data directories,
//! runtimes, and the `interstice` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use interstice_actors::{Limits, Runtime, Value};

/// Builds every guest module (once per test run) and returns the directory
/// holding the `.wasm` files.
pub fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let modules = interstice_cli::guest_build::modules_dir();
        // Building the workspace builds every module in one cargo run.
        let any = interstice_cli::guest_build::build_module(&modules.join("hello"))
            .expect("building guest modules");
        for m in ["caller", "bank", "testing/t_hostile", "testing/t_cycle_a", "testing/t_cycle_b", "testing/t_nondet", "testing/t_busy"] {
            interstice_cli::guest_build::build_module(&modules.join(m))
                .unwrap_or_else(|e| panic!("building {m}: {e}"));
        }
        any.parent().expect("wasm has a directory").to_path_buf()
    })
}

/// The bytes of a built guest module, e.g. `wasm("bank")`.
pub fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Path of a built guest module.
pub fn wasm_path(name: &str) -> PathBuf {
    wasm_dir().join(format!("{name}.wasm"))
}

/// A fresh temporary directory (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Opens a runtime with default settings on `dir`.
pub async fn open(dir: &Path) -> Runtime {
    Runtime::builder()
        .data_dir(dir)
        .open()
        .await
        .expect("opening runtime")
}

/// Opens a runtime with custom limits on `dir`.
pub async fn open_with_limits(dir: &Path, limits: Limits) -> Runtime {
    Runtime::builder()
        .data_dir(dir)
        .limits(limits)
        .open()
        .await
        .expect("opening runtime")
}

/// Opens a runtime on `dir` and loads the named modules.
pub async fn open_with(dir: &Path, modules: &[&str]) -> Runtime {
    let rt = open(dir).await;
    for m in modules {
        rt.load_module(wasm(m)).await.expect("loading module");
    }
    rt
}

/// Shorthand for a string value.
pub fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// Shorthand for a u64 value.
pub fn u(v: u64) -> Value {
    Value::U64(v)
}

/// The `interstice` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_interstice"))
}

/// Polls `f` until it returns true or `secs` pass; panics with `what`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
