//! What the report says about where it ran: CPU, cores, memory, build
//! profile, git commit; and the process's resident memory.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// The machine and build a report was taken on.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// `MemTotal` from /proc/meminfo, in bytes.
    pub memory_bytes: u64,
    /// The kernel release.
    pub kernel: String,
    /// `debug` or `release`.
    pub profile: &'static str,
    /// `git rev-parse HEAD` of the source tree, or "unknown".
    pub commit: String,
    /// Whether the tree had uncommitted changes (None: unknown).
    pub dirty: Option<bool>,
}

/// The build profile of this binary.
pub(super) fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

impl Machine {
    /// Reads /proc and asks git.
    pub(super) fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = proc_kib(&meminfo, "MemTotal").unwrap_or(0) * 1024;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let tree = source_tree();
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(&tree)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty());
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            kernel,
            profile: profile(),
            commit,
            dirty,
        }
    }
}

/// The source tree this binary was built from, if it is still there; else
/// the current directory.
fn source_tree() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if root.join(".git").exists() {
        root
    } else {
        std::path::PathBuf::from(".")
    }
}

/// A `Key:   123 kB` field of a /proc file, in KiB.
fn proc_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The process's resident set size (`VmRSS` of /proc/self/status), in bytes.
pub(super) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    proc_kib(&status, "VmRSS").map(|k| k * 1024)
}

#[cfg(test)]
mod tests;
