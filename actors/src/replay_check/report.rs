//! The options and the report of [`super::replay_check`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use interstice_persist::EngineInfo;

use super::divergence::Divergence;
use super::engine::{engine_json, EngineDivergence, LoggedEngine};
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
    /// The divergence with the smallest timestamp, if any: the module's
    /// (engine change or not, no engine explains it).
    pub divergence: Option<Divergence>,
    /// The engine of this build, which re-executed the log.
    pub engine: EngineInfo,
    /// The engines the log records, each from the timestamp it first wrote
    /// (the first 64 of them); empty for
    /// a log written before engines were recorded.
    pub logged_engines: Vec<LoggedEngine>,
    /// How many times the log's engine changed (all of them, listed or not).
    pub engines_recorded: u64,
    /// Divergences an engine change explains (fuel or stack ran out on one
    /// side only, under an engine that differs where it decides that), by
    /// timestamp, the first 100: each was passed by adopting the logged
    /// mutations. `ModuleCheck::engine_divergences` counts all of them.
    pub engine_divergences: Vec<EngineDivergence>,
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
    /// Commits whose divergence an engine change explains.
    pub engine_divergences: u64,
}

impl ReplayCheckReport {
    /// True when no module diverged: every transaction re-executed exactly
    /// as logged, or differed only as an engine change explains
    /// ([`ReplayCheckReport::engine_divergences`]).
    pub fn ok(&self) -> bool {
        self.divergence.is_none()
    }

    /// True when some commit was written by an engine other than this
    /// build's, or the log does not record its engine at all.
    pub fn engine_changed(&self) -> bool {
        self.logged_engines.is_empty() && self.checked > 0
            || self.logged_engines.iter().any(|l| l.engine != self.engine)
    }

    /// `{"ok", "checked", "entries", "last_ts", "divergence", "modules",
    /// "engine", "logged_engines", "engine_divergences"}`.
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
                    "engine_divergences": m.engine_divergences,
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
            "engine": engine_json(&self.engine),
            "logged_engines": self.logged_engines.iter().map(|l| json!({
                "from_ts": l.from_ts,
                "engine": engine_json(&l.engine),
            })).collect::<Vec<_>>(),
            "engines_recorded": self.engines_recorded,
            "engine_divergences": self
                .engine_divergences
                .iter()
                .map(EngineDivergence::to_json)
                .collect::<Vec<_>>(),
        })
    }
}
