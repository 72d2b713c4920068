//! The options and the report of [`super::replay_check`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::divergence::Divergence;
use crate::config::Limits;

/// How [`super::replay_check`] runs.
#[derive(Clone, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct ReplayCheckOptions {
    /// The limits the log was written under: the fuel budget decides which
    /// calls run out of budget, the memory cap which run out of memory.
    pub limits: Limits,
    /// Called (from a checking thread) with the number of transactions
    /// checked so far, every `progress_every` transactions.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
    /// See `progress`.
    pub progress_every: u64,
}

impl Default for ReplayCheckOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            progress: None,
            progress_every: 10_000,
        }
    }
}

impl std::fmt::Debug for ReplayCheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCheckOptions")
            .field("limits", &self.limits)
            .field("progress", &self.progress.is_some())
            .field("progress_every", &self.progress_every)
            .finish()
    }
}

/// What [`super::replay_check`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayCheckReport {
    /// Transactions re-executed, over all modules.
    pub checked: u64,
    /// Log entries read (installs and commits): the consistent prefix.
    pub entries: u64,
    /// The last timestamp of that prefix (0 for an empty log).
    pub last_ts: u64,
    /// Per module, by name.
    pub modules: BTreeMap<String, ModuleCheck>,
    /// The divergence with the smallest timestamp, if any.
    pub divergence: Option<Divergence>,
}

/// One module's part of a [`ReplayCheckReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleCheck {
    /// Its commits in the log prefix.
    pub commits: u64,
    /// Of those, re-executed (all, unless the module diverged).
    pub checked: u64,
    /// Of those, logged failures that failed again the same way.
    pub failed: u64,
    /// The timestamp of the module's first divergence.
    pub divergence_ts: Option<u64>,
}

impl ReplayCheckReport {
    /// True when every transaction re-executed exactly as logged.
    pub fn ok(&self) -> bool {
        self.divergence.is_none()
    }

    /// `{"ok", "checked", "entries", "last_ts", "divergence", "modules"}`.
    pub fn to_json(&self) -> serde_json::Value {
        let modules: serde_json::Map<String, serde_json::Value> = self
            .modules
            .iter()
            .map(|(name, m)| {
                let v = json!({
                    "commits": m.commits,
                    "checked": m.checked,
                    "failed": m.failed,
                    "divergence_ts": m.divergence_ts,
                });
                (name.clone(), v)
            })
            .collect();
        json!({
            "ok": self.ok(),
            "checked": self.checked,
            "entries": self.entries,
            "last_ts": self.last_ts,
            "divergence": self.divergence.as_ref().map(Divergence::to_json),
            "modules": modules,
        })
    }
}
