//! The guest modules the benchmarks load (`modules/bench/b_*` and
//! `modules/testing/t_hostile`), built in one cargo run, and fresh runtimes
//! in scratch data directories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use interstice_actors::{Durability, Limits, Runtime, TraceConfig};

use crate::error::{read_file, CliError};
use crate::guest_build::{build_packages, modules_dir};

/// Scale shards available (`b_shard_0` … `b_shard_7`).
pub(super) const SHARDS: usize = 8;
/// Fanout subscribers available (`b_sub_00` … `b_sub_15`).
pub(super) const SUBSCRIBERS: usize = 16;

/// The name of shard `i`.
pub(super) fn shard(i: usize) -> String {
    format!("b_shard_{i}")
}

/// The name of subscriber `i`.
pub(super) fn subscriber(i: usize) -> String {
    format!("b_sub_{i:02}")
}

/// Built module binaries, by name.
pub struct Guests {
    wasm: HashMap<String, PathBuf>,
}

impl Guests {
    /// Builds every module the benchmarks use (a no-op when up to date).
    pub fn build() -> Result<Self, CliError> {
        let mut names = vec![
            "t_hostile".to_owned(),
            "b_bank".to_owned(),
            "b_bank_ix".to_owned(),
            "b_index".to_owned(),
            "b_columnar".to_owned(),
            "b_source".to_owned(),
        ];
        names.extend((0..SHARDS).map(shard));
        names.extend((0..SUBSCRIBERS).map(subscriber));
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let wasm = build_packages(&modules_dir().join("Cargo.toml"), &refs)?;
        Ok(Guests { wasm })
    }

    /// The bytes of module `name`.
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, CliError> {
        let path = self
            .wasm
            .get(name)
            .ok_or_else(|| CliError::Bench(format!("module {name} was not built")))?;
        read_file(path)
    }

    /// Loads the named modules into `rt`, in order.
    pub async fn load(&self, rt: &Runtime, names: &[&str]) -> Result<(), CliError> {
        for n in names {
            rt.load_module(self.bytes(n)?).await?;
        }
        Ok(())
    }
}

/// A scratch directory for the run, removed when dropped.
pub struct Scratch {
    root: PathBuf,
    next: std::cell::Cell<u32>,
}

impl Scratch {
    /// Creates `interstice-bench-<pid>` in the temporary directory.
    pub fn new() -> Result<Self, CliError> {
        let root = std::env::temp_dir().join(format!("interstice-bench-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        std::fs::create_dir_all(&root)?;
        Ok(Scratch {
            root,
            next: std::cell::Cell::new(0),
        })
    }

    /// A fresh, not yet existing path under the scratch directory.
    pub fn path(&self, what: &str) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.root.join(format!("{n:02}-{what}"))
    }

    /// Removes a directory made under the scratch directory (best effort).
    pub fn remove(&self, dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Fuel per call in the benchmarks' runtimes: the default limits, except
/// that the checking scans (`total` over 100,000 accounts) need more than
/// the default 50M. The limit does not change what metering costs.
pub(super) const FUEL: u64 = 2_000_000_000;

/// `bench --trace-dir`: set once, before the workloads run.
pub(super) static TRACE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Opens a runtime on a data directory (created if missing), traced into
/// `TRACE_DIR/<dir name>.json` with `bench --trace-dir`.
pub(super) async fn open(dir: &Path, durability: Durability) -> Result<Runtime, CliError> {
    let mut b = Runtime::builder()
        .data_dir(dir)
        .durability(durability)
        .limits(Limits::default().with_fuel(FUEL));
    if let Some(t) = TRACE_DIR.get() {
        let name = dir
            .file_name()
            .map_or("runtime".into(), |n| n.to_string_lossy());
        b = b.trace(TraceConfig::default().with_chrome(t.join(format!("{name}.json"))));
    }
    Ok(b.open().await?)
}
