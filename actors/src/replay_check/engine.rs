//! Telling an engine change from a module's divergence
//! (`docs/DETERMINISM.md`, "Engine upgrades").
//!
//! The log records which engine wrote each commit: an `Install` carries the
//! engine of the runtime that installed it, and a runtime that opens a log
//! last written by another engine appends an `Engine` entry first
//! (`docs/LOG_FORMAT.md` §5). Two things a module cannot control depend on
//! the engine: how much fuel an instruction (or a host call) costs, and how
//! deep the wasm stack goes before it runs out. So when `replay-check` runs
//! on a different engine than the one that wrote a commit, and the commit's
//! logged or re-executed outcome is fuel or stack exhaustion, and the
//! engines differ in a field that decides it, the divergence is the
//! engine's: it is reported as such, the check adopts the logged mutations
//! and goes on. Any other divergence is the module's, engine change or not.

use interstice_persist::{EngineChange, EngineInfo, ErrorKind, Outcome};
use serde_json::{json, Value as Json};

use super::divergence::Divergence;
use crate::wasm::guest::STACK_OVERFLOW;

/// Most engine divergences a report lists (all are counted).
pub(crate) const MAX_ENGINE_LISTED: usize = 100;

/// Most distinct engines a report lists (a hostile log can hold many).
pub(crate) const MAX_ENGINES_LISTED: usize = 64;

/// What an engine change can decide about a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineCause {
    /// Running out of fuel (`ErrorKind::Budget`): fuel costs per instruction
    /// are wasmtime's, per host call the runtime's fuel schedule.
    Fuel,
    /// Running out of wasm stack (a trap "stack overflow"): frame sizes
    /// are the compiler's, for its target, under the configured stack size.
    Stack,
}

impl EngineCause {
    /// `fuel` or `stack`.
    pub fn name(self) -> &'static str {
        match self {
            EngineCause::Fuel => "fuel",
            EngineCause::Stack => "stack",
        }
    }

    /// The engine fields that decide it.
    fn fields(self) -> &'static [&'static str] {
        match self {
            EngineCause::Fuel => &["wasmtime", "fuel_schedule"],
            EngineCause::Stack => &["wasmtime", "target", "max_wasm_stack", "code"],
        }
    }

    /// Whether `outcome` is this kind of exhaustion.
    fn ran_out(self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (EngineCause::Fuel, Outcome::Err { kind, .. }) => *kind == ErrorKind::Budget,
            (EngineCause::Stack, Outcome::Err { kind, message, .. }) => {
                *kind == ErrorKind::Trap && message == STACK_OVERFLOW
            }
            _ => false,
        }
    }
}

/// A divergence an engine change explains.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineDivergence {
    /// What differs, as for a module's divergence.
    pub divergence: Divergence,
    /// Which exhaustion it is.
    pub cause: EngineCause,
    /// The engine that wrote the commit; `None` if the log does not record
    /// one (written before engines were recorded).
    pub logged: Option<EngineInfo>,
    /// The fields in which the writing engine and this build's differ that
    /// decide `cause` (empty when `logged` is `None`).
    pub changes: Vec<EngineChange>,
}

impl EngineDivergence {
    /// The machine-readable form.
    pub fn to_json(&self) -> Json {
        json!({
            "ts": self.divergence.ts,
            "module": self.divergence.module,
            "reducer": self.divergence.reducer,
            "cause": self.cause.name(),
            "logged_engine": self.logged.as_ref().map(engine_json),
            "changes": changes_json(&self.changes),
            "differences": self.divergence.differences.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        })
    }
}

impl std::fmt::Display for EngineDivergence {
    /// `ts 9 t_determinism.burn: fuel, wasmtime 47.0.0 → 48.0.8: outcome: …`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.divergence;
        write!(
            f,
            "ts {} {}.{}: {}",
            d.ts,
            d.module,
            d.reducer,
            self.cause.name()
        )?;
        if self.logged.is_none() {
            f.write_str(", the log does not record its engine")?;
        }
        for c in &self.changes {
            write!(f, ", {} {} → {}", c.field, c.before, c.after)?;
        }
        for diff in &d.differences {
            write!(f, "; {diff}")?;
        }
        Ok(())
    }
}

/// An engine the log records, from the timestamp on which it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEngine {
    /// The first timestamp it wrote (the install or engine entry's).
    pub from_ts: u64,
    /// The engine.
    pub engine: EngineInfo,
}

/// Whether the divergence of a commit whose logged outcome is `expected`
/// and re-executed outcome `actual`, written by `logged` and checked by
/// `current`, is the engine's: either side ran out of fuel (or stack) and
/// the engines differ in a field that decides it, or the log does not
/// record its engine.
pub(crate) fn attribute(
    logged: Option<&EngineInfo>,
    current: &EngineInfo,
    expected: &Outcome,
    actual: &Outcome,
) -> Option<(EngineCause, Vec<EngineChange>)> {
    if logged == Some(current) {
        return None;
    }
    let changes = logged.map(|l| l.changes_to(current)).unwrap_or_default();
    [EngineCause::Fuel, EngineCause::Stack]
        .into_iter()
        .filter(|cause| cause.ran_out(expected) || cause.ran_out(actual))
        .find_map(|cause| {
            let deciding: Vec<EngineChange> = changes
                .iter()
                .filter(|c| cause.fields().contains(&c.field))
                .cloned()
                .collect();
            (logged.is_none() || !deciding.is_empty()).then_some((cause, deciding))
        })
}

/// An engine as JSON, field by field (`docs/LOG_FORMAT.md` §5), `code` in
/// hex: how `replay-check`, `log-inspect` and `log-dump` show it.
pub fn engine_json(e: &EngineInfo) -> Json {
    json!({
        "runtime": e.runtime,
        "wasmtime": e.wasmtime,
        "target": e.target,
        "fuel_schedule": e.fuel_schedule,
        "max_wasm_stack": e.max_wasm_stack,
        "code": blake3::Hash::from(e.code).to_hex().to_string(),
    })
}

fn changes_json(changes: &[EngineChange]) -> Json {
    changes
        .iter()
        .map(|c| json!({ "field": c.field, "logged": c.before, "current": c.after }))
        .collect()
}

#[cfg(test)]
mod tests;
