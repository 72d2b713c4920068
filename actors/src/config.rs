//! Runtime configuration: data directory, durability mode, limits.

use std::path::PathBuf;
use std::time::Duration;

/// When a write is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge only after the commit is fsynced (group commit). The default.
    #[default]
    Sync,
    /// Acknowledge after the write reaches the OS; fsync every interval.
    /// A crash can lose up to one interval of acknowledged commits (a power
    /// loss can; a process crash cannot, since the OS has the bytes).
    Periodic(Duration),
    /// Acknowledge after the write reaches the OS; never fsync explicitly.
    None,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(Durability::Sync),
            "none" => Ok(Durability::None),
            _ => {
                let ms = s
                    .strip_prefix("periodic(")
                    .and_then(|r| r.strip_suffix(')'))
                    .or_else(|| s.strip_prefix("periodic:"))
                    .and_then(|n| n.trim_end_matches("ms").parse::<u64>().ok())
                    .ok_or_else(|| {
                        format!("`{s}` is not a durability mode: use sync, none or periodic(MS)")
                    })?;
                Ok(Durability::Periodic(Duration::from_millis(ms.max(1))))
            }
        }
    }
}

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (≈ wasm instructions) one reducer call may burn. Deterministic:
    /// a call that runs out does so again when re-executed.
    pub fuel: u64,
    /// Bytes of linear memory a module instance may grow to.
    pub memory_bytes: usize,
    /// Triggers caused by triggers… deeper than this are dropped (with a
    /// warning): the run-time guard against subscription cycles.
    pub max_trigger_depth: u32,
    /// Most module instances alive at once (pooling allocator slots).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 50_000_000,
            memory_bytes: 64 << 20,
            max_trigger_depth: 32,
            max_instances: 128,
        }
    }
}

/// Settings a [`crate::Runtime`] is built with.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// Resource limits.
    pub limits: Limits,
    /// Log segment size before rotation.
    pub segment_size: u64,
    /// Where the log lives. `None` (the default): `log/` in the data
    /// directory. Tests inject a fault-injecting backend here.
    pub log_storage: Option<std::sync::Arc<dyn interstice_persist::Storage>>,
}
