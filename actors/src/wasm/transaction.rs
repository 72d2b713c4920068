//! One write transaction against a module's instance and tables, shared by
//! the live module actor and `replay-check`, so that re-execution runs the
//! very code the live runtime ran: the same instance life cycle (created
//! lazily, discarded after a trap), the same commit/rollback, the same
//! encoding of the logged mutations.

use std::sync::Arc;

use interstice_abi::{ModuleSchema, RowEvent};
use interstice_persist::{
    ErrorKind, Mutation, MutationOpRef, MutationRef, Nondet, OutboundCall, Outcome,
};

use crate::wasm::engine::{CompiledModule, WasmHost};
use crate::wasm::env::ModuleEnv;
use crate::wasm::guest::{CallEffects, Guest};
use crate::wasm::host_state::{Recorded, TxMode, TxStart, TxState};
use crate::wasm::schema::params_type;
use interstice_abi::cbor::Writer;
use interstice_tables::{Change, Table, Tables};

/// A module's instance, created on first use and discarded after any
/// failure that may have left the guest's memory inconsistent, so the next
/// call starts from a fresh instance.
pub(crate) struct GuestSlot {
    pub env: Arc<ModuleEnv>,
    pub host: Arc<WasmHost>,
    pub compiled: CompiledModule,
    guest: Option<Guest>,
}

impl GuestSlot {
    pub(crate) fn new(env: Arc<ModuleEnv>, host: Arc<WasmHost>, compiled: CompiledModule) -> Self {
        Self {
            env,
            host,
            compiled,
            guest: None,
        }
    }

    /// Runs reducer `idx` in wasm on `tables` (no commit or rollback here).
    pub(crate) fn call(
        &mut self,
        tables: &mut Tables,
        idx: u32,
        args: &[u8],
        start: TxStart,
    ) -> (Result<Vec<u8>, Failure>, CallEffects) {
        if self.guest.is_none() {
            match Guest::instantiate(&self.host, &self.compiled, self.env.clone()) {
                Ok(g) => self.guest = Some(g),
                Err(f) => {
                    let effects = CallEffects {
                        tx: TxState::new(),
                        fuel: 0,
                    };
                    return (Err(f), effects);
                }
            }
        }
        let guest = self.guest.as_mut().expect("instantiated above");
        let schema = self.env.schema.clone();
        let rs = &schema.reducers[idx as usize];
        let (result, effects, discard) = guest.invoke(tables, (idx, rs), args, start);
        if discard {
            self.guest = None;
        }
        (result, effects)
    }

    /// Discards the instance, as a failure that may have left its memory
    /// inconsistent does: the next call starts from a fresh one.
    pub(crate) fn discard_instance(&mut self) {
        self.guest = None;
    }

    /// How a call of this module's starts under the runtime's limits, now.
    pub(crate) fn start(&self, mode: TxMode, recorded: Option<Recorded>) -> TxStart {
        TxStart {
            mode,
            recorded,
            fuel: self.host.limits.fuel,
            deadline: std::time::Instant::now() + self.host.limits.tx_time,
            observer: None,
        }
    }
}

/// A reducer failure (the transaction is rolled back).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    /// The encoded `Err` value, for [`ErrorKind::UserError`].
    pub value: Option<Vec<u8>>,
}

impl Failure {
    /// A failure of `kind` other than a user error.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            value: None,
        }
    }

    /// The reducer returned `Err(value)` (encoded), described by `message`.
    pub(crate) fn user_error(message: impl Into<String>, value: Vec<u8>) -> Failure {
        Failure {
            kind: ErrorKind::UserError,
            message: message.into(),
            value: Some(value),
        }
    }
}

/// What a write transaction did, after it was committed or rolled back.
pub(crate) struct TxOutput {
    /// The encoded `Ok` value, or the failure.
    pub result: Result<Vec<u8>, Failure>,
    /// The committed changes (none after a rollback).
    pub changes: Vec<Change>,
    /// The queued async calls (none after a rollback).
    pub calls: Vec<OutboundCall>,
    /// The non-deterministic inputs the call used, in order.
    pub nondet: Vec<Nondet>,
    /// The guest's log lines (kept whatever the outcome).
    pub lines: Vec<crate::wasm::guest_log::GuestLine>,
}

impl TxOutput {
    /// The outcome as the log records it (`replied`: see [`outcome_of`]).
    pub(crate) fn outcome(&self, replied: bool) -> Outcome {
        outcome_of(&self.result, replied)
    }
}

/// A transaction's result as the log records it. The `Err` value of a
/// user error is kept only when the commit is `replied` (its cause is a
/// call made with a reply, `Cause::reply_to`): the reply carries it, and
/// replay rebuilds the reply from the record.
pub(crate) fn outcome_of(result: &Result<Vec<u8>, Failure>, replied: bool) -> Outcome {
    match result {
        Ok(v) => Outcome::Ok(v.clone()),
        Err(f) => Outcome::Err {
            kind: f.kind,
            message: f.message.clone(),
            value: if replied { f.value.clone() } else { None },
        },
    }
}

/// Runs write reducer `idx` as one transaction, leaving its changes open
/// in `tables` for [`finish`] (the module actor first takes its timestamp,
/// which may send it back to run again). Returns the fuel it burnt too.
pub(crate) fn run_open(
    slot: &mut GuestSlot,
    tables: &mut Tables,
    idx: u32,
    args: &[u8],
    start: TxStart,
) -> (Result<Vec<u8>, Failure>, TxState, u64) {
    tables.begin();
    let (result, effects) = slot.call(tables, idx, args, start);
    (result, effects.tx, effects.fuel)
}

/// Ends a transaction [`run_open`] ran: commits on success, rolls every
/// change back on any failure.
pub(crate) fn finish(
    tables: &mut Tables,
    result: Result<Vec<u8>, Failure>,
    tx: TxState,
) -> TxOutput {
    let (changes, calls) = match &result {
        Ok(_) => (tables.commit(), tx.calls),
        Err(_) => {
            tables.rollback();
            (Vec::new(), Vec::new())
        }
    };
    TxOutput {
        result,
        changes,
        calls,
        nondet: tx.nondet,
        lines: tx.lines,
    }
}

/// Runs the code migration `idx` (a reducer of `slot`'s schema with a
/// `Trigger::Migration`) as one transaction over the upgraded `tables`:
/// the old rows `old` are exposed, unlogged, as the table after the
/// schema's, and the migration is called with that table id. Commits on
/// success, rolls back on any failure; a migration that queues async calls
/// or makes read calls fails (it must depend on the module's own data
/// only). `logged_ts` (the logged timestamp) and `recorded` (the logged
/// non-deterministic inputs, fed back) are for `replay-check`,
/// `None` live. The old rows are detached again either way. Returns the
/// output, the argument array the migration was called with and the fuel
/// it burnt.
pub(crate) fn run_migration(
    slot: &mut GuestSlot,
    tables: &mut Tables,
    idx: u32,
    old: Table,
    logged_ts: Option<u64>,
    recorded: Option<Recorded>,
) -> (TxOutput, Vec<u8>, u64) {
    let id = tables.attach_shadow(old);
    let mut w = Writer::new();
    w.array(1);
    w.u64(u64::from(id));
    let args = w.into_vec();
    let start = slot.start(TxMode::Write { logged_ts }, recorded);
    let (mut result, tx, fuel) = run_open(slot, tables, idx, &args, start);
    if result.is_ok() {
        if !tx.calls.is_empty() {
            result = Err(Failure::new(
                ErrorKind::Host,
                "a migration may not queue async calls (ctx.call)",
            ));
        } else if tx
            .nondet
            .iter()
            .any(|n| matches!(n, Nondet::ReadCall { .. }))
        {
            result = Err(Failure::new(
                ErrorKind::Host,
                "a migration may not make read calls to other modules",
            ));
        }
    }
    let out = finish(tables, result, tx);
    tables.detach_shadow();
    (out, args, fuel)
}

/// The mutations of `changes` that go to the log (logged tables only).
pub(crate) fn logged_mutations(tables: &Tables, changes: &[Change]) -> Vec<Mutation> {
    logged_mutation_refs(tables, changes)
        .into_iter()
        .map(|m| Mutation {
            table: m.table,
            op: m.op.to_owned(),
        })
        .collect()
}

/// [`logged_mutations`], borrowing the rows and keys from `changes`: what
/// the module actor encodes a commit from.
pub(crate) fn logged_mutation_refs<'a>(
    tables: &Tables,
    changes: &'a [Change],
) -> Vec<MutationRef<'a>> {
    changes
        .iter()
        .filter(|c| tables.table(c.table).is_some_and(|t| t.is_logged()))
        .map(|c| MutationRef {
            table: c.table,
            op: match c.event {
                RowEvent::Insert => MutationOpRef::Insert(c.new.as_deref().unwrap_or_default()),
                RowEvent::Update => MutationOpRef::Update(c.new.as_deref().unwrap_or_default()),
                RowEvent::Delete => MutationOpRef::Delete(&c.key_value),
            },
        })
        .collect()
}

/// Resolves a delivery's reducer (an async call or a trigger) by name
/// against the module's current schema: `(index, name)`, or `(name, why)`
/// when the reducer no longer exists or its arguments no longer fit (the
/// module was upgraded since the delivery was made). The module actor logs
/// the latter as a failed commit ([`ErrorKind::Host`]), so the delivery is
/// consumed exactly once; `replay-check` resolves the same way.
///
/// [`ErrorKind::Host`]: interstice_persist::ErrorKind::Host
pub(crate) fn resolve_delivery(
    schema: &ModuleSchema,
    name: &str,
    args: &[u8],
) -> Result<(u32, String), (String, String)> {
    let Some((idx, rs)) = schema.reducer(name) else {
        return Err((
            name.to_owned(),
            format!(
                "delivery to {}.{name}: version {} of the module has no reducer `{name}`",
                schema.name, schema.version
            ),
        ));
    };
    if rs.is_migration() {
        return Err((
            name.to_owned(),
            format!(
                "delivery to {}.{name}: `{name}` is a migration, which the runtime runs only at \
                 the upgrade that migrates its table",
                schema.name
            ),
        ));
    }
    if let Err(e) = params_type(rs).validate_exact(args) {
        return Err((
            name.to_owned(),
            format!(
                "delivery to {}.{name}: its arguments do not fit the parameters of version {} \
                 of the module: {e}",
                schema.name, schema.version
            ),
        ));
    }
    Ok((idx, rs.name.clone()))
}

#[cfg(test)]
mod tests;
