//! The determinism check (`interstice replay-check`): re-executes every
//! logged write transaction against the installed module binaries, feeding
//! back the recorded non-deterministic inputs, and compares each result with
//! its log record byte for byte.
//!
//! - **Read-only.** The log is read with [`read_log`] over a plain
//!   [`FileStorage`] on `DIR/log`, and binaries straight from
//!   `DIR/modules/`; nothing is written (not even the compiled-module cache)
//!   and the directory lock is not taken, so it is safe on a live directory.
//!   It checks a consistent prefix: every batch up to the first one that is
//!   incomplete (a live writer's batch in flight reads as a torn tail, where
//!   reading stops), each verified against the hash chain.
//! - **Same code as the live runtime.** A transaction runs through
//!   [`run_open`] — the module actor's instance life cycle, commit and
//!   rollback — and its mutations are encoded by [`logged_mutations`].
//!   Each module gets one instance for the whole check (so guest `static`s
//!   behave as in one uninterrupted process), replaced after a trap as live.
//!   Tables start empty at the install and advance by the re-executed
//!   transactions, which match the log's mutations or stop the check of that
//!   module — so they are the tables the log itself rebuilds.
//! - **Parallel per module, and why that is sound.** A transaction reads
//!   only its own module's tables, its arguments, and its non-deterministic
//!   inputs: time, rng seed *and the results of its read calls to other
//!   modules* are all recorded in its commit and fed back, so no other
//!   module's state is ever consulted. Async calls and triggers are inputs
//!   too: each delivery is its own logged commit with its arguments. So a
//!   module's re-execution depends only on its own commits, in timestamp
//!   order: commits are partitioned by module and each module is checked on
//!   its own thread, fed by the log reader through a bounded channel. The
//!   only cross-module question a host call asks — "is module M loaded?",
//!   for a call's target — is answered from the installs read so far (a
//!   module counts as loaded for transactions after its install).
//! - **Report.** Each module stops at its own first divergence; the report's
//!   divergence is the one with the smallest timestamp.
//! - **Engine changes** ([`engine`]). A commit written by another engine
//!   that ran out of fuel or stack on one side only is the engine's
//!   divergence, not the module's: it is listed apart, the logged mutations
//!   are adopted, and the module's check goes on.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use dashmap::DashMap;
use interstice_abi::schema_diff::SchemaDiff;
use interstice_abi::ModuleSchema;
use interstice_persist::{
    for_each_entry, read_log, Cause, CommitRecord, EngineInfo, ErrorKind, FileStorage, LogEntry,
    ModuleInstall, Outcome, ReadOptions,
};

mod divergence;
mod engine;
mod report;
mod rerun;

pub use divergence::{Difference, Divergence, Observed};
pub use engine::{engine_json, EngineCause, EngineDivergence, LoggedEngine};
pub use report::{ModuleCheck, ReplayCheckOptions, ReplayCheckReport};
pub use rerun::{rerun_commit, InstalledModule};

use crate::config::Limits;
use crate::error::{RuntimeError, SnapshotError};
use crate::metrics::MetricsInner;
use crate::recovery::replay::compile_install;
use crate::wasm::engine::{CompiledModule, WasmHost};
use crate::wasm::env::{ModuleEnv, Peers, ReadAnswer, ReadCall, ReadCallError};
use crate::wasm::host_state::{Recorded, TxMode};
use crate::wasm::transaction::{
    logged_mutations, outcome_of, resolve_delivery, run_migration, run_open, GuestSlot, TxOutput,
};
use divergence::{compare, Reexecuted};
use interstice_tables::{Table, Tables};

/// Commits buffered per module between the log reader and its checker.
const CHANNEL_DEPTH: usize = 1024;

/// What the checking threads share.
struct Ctx<'a> {
    dir: &'a Path,
    host: Arc<WasmHost>,
    limits: Limits,
    metrics: Arc<MetricsInner>,
    peers: Arc<OfflinePeers>,
    opts: &'a ReplayCheckOptions,
    checked: AtomicU64,
    /// A checker failed (not diverged): stop feeding anyone.
    abort: AtomicBool,
    /// The modules compiled so far, by `(wasm hash, schema hash)`: a log
    /// that installs one binary many times (hot reloads, load/unload
    /// cycles) compiles it once.
    compiled: std::sync::Mutex<
        HashMap<(interstice_persist::Hash, interstice_persist::Hash), CompiledModule>,
    >,
}

/// The log's modules as a re-executed transaction's host calls see them:
/// a module counts as loaded once its install precedes the transaction.
/// Nothing runs them: every read call's result, and every timestamp a
/// transaction asked for, is fed back from the log.
#[derive(Debug, Default)]
pub(crate) struct OfflinePeers {
    /// Each module's first install timestamp and newest schema.
    installs: DashMap<String, (u64, Arc<ModuleSchema>)>,
}

impl Peers for OfflinePeers {
    fn schema(&self, name: &str, ts: Option<u64>) -> Option<Arc<ModuleSchema>> {
        self.installs
            .get(name)
            .filter(|p| ts.is_none_or(|ts| p.0 < ts))
            .map(|p| p.1.clone())
    }

    fn read_call(&self, _call: ReadCall<'_>) -> Result<ReadAnswer, ReadCallError> {
        Err(ReadCallError::Offline)
    }

    fn number_finished(&self) {}

    fn latest_timestamp(&self) -> Option<u64> {
        None
    }
}

/// What the log reader feeds a module's checker, in log order.
enum Item {
    /// A commit, with the engine that wrote it (`None`: not recorded).
    Commit(CommitRecord, Option<Arc<EngineInfo>>),
    /// A later `Install` of the module: an upgrade to new code, or loading
    /// it again after an unload.
    Upgrade(ModuleInstall),
    /// The module was unloaded: its tables are kept for a later install,
    /// or dropped.
    Unload(interstice_persist::UnloadTables),
}

/// The engines the log records, as the log reader meets them.
#[derive(Default)]
struct Engines {
    /// The engine that wrote the entries read so far.
    current: Option<Arc<EngineInfo>>,
    /// Each change, the first [`engine::MAX_ENGINES_LISTED`].
    listed: Vec<LoggedEngine>,
    /// Changes, all of them.
    seen: u64,
}

impl Engines {
    /// An install or engine entry at `ts` recorded engine `e`.
    fn note(&mut self, ts: u64, e: &EngineInfo) {
        if self.current.as_deref() != Some(e) {
            self.current = Some(Arc::new(e.clone()));
            self.seen += 1;
            if self.listed.len() < engine::MAX_ENGINES_LISTED {
                self.listed.push(LoggedEngine {
                    from_ts: ts,
                    engine: e.clone(),
                });
            }
        }
    }
}

/// One module's checker as the log reader sees it.
struct Worker<'scope> {
    tx: std::sync::mpsc::SyncSender<Item>,
    handle: std::thread::ScopedJoinHandle<'scope, Result<Checked, RuntimeError>>,
    install_ts: u64,
    commits: u64,
}

/// A module's result: its counts, its first divergence, and the
/// divergences an engine change explains (the first
/// [`engine::MAX_ENGINE_LISTED`]).
type Checked = (ModuleCheck, Option<Divergence>, Vec<EngineDivergence>);

/// The determinism check: re-executes every logged transaction of the data
/// directory `dir` against its installed module binary, feeding back the
/// recorded time, rng seeds and read-call results, and compares the
/// mutations, outbound calls and outcome with the log record, byte for byte.
/// Read-only (no lock, no writes), so it is safe on a directory a runtime
/// has open; it checks the consistent prefix of the log readable now.
/// Modules are checked in parallel; each stops at its first divergence and
/// the report names the earliest (`docs/ARCHITECTURE.md`, "Determinism
/// check").
///
/// `Err` means the check could not run (unreadable or corrupt log, missing
/// module binary, or a log whose start retention deleted); a divergence is a finished check whose
/// [`ReplayCheckReport::ok`] is false.
pub fn replay_check(
    dir: &Path,
    opts: &ReplayCheckOptions,
) -> Result<ReplayCheckReport, RuntimeError> {
    let log_dir = dir.join("log");
    if !log_dir.is_dir() {
        return Err(RuntimeError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "{}: not an Interstice data directory (no log/)",
                dir.display()
            ),
        )));
    }
    // Re-execution needs every commit from the first install on: a log whose
    // start retention deleted (covered by a snapshot) cannot be checked.
    if let Some(&(first, _)) =
        interstice_persist::reader::list_segments(&FileStorage::new(log_dir.clone()))?.first()
    {
        if first > 1 {
            return Err(RuntimeError::Snapshot(SnapshotError::LogStartsLater {
                log_dir: log_dir.clone(),
                first_ts: first,
            }));
        }
    }
    // The wall-clock limit is the one limit that depends on the machine:
    // the check does not apply it (a transaction that timed out live is not
    // re-executed at all, see `check_commit`).
    let limits = Limits {
        tx_time: std::time::Duration::from_secs(24 * 3600),
        ..opts.limits
    };
    let ctx = Ctx {
        dir,
        host: Arc::new(WasmHost::new(limits)?),
        limits,
        metrics: Arc::default(),
        peers: Arc::default(),
        opts,
        checked: AtomicU64::new(0),
        abort: AtomicBool::new(false),
        compiled: Default::default(),
    };
    let storage = FileStorage::new(log_dir);
    std::thread::scope(|s| {
        let mut workers: HashMap<String, Worker<'_>> = HashMap::new();
        let mut engines = Engines::default();
        // Modules unloaded and not installed again.
        let mut unloaded: std::collections::HashSet<String> = std::collections::HashSet::new();
        let on_entry = |entry: LogEntry| -> Result<(), RuntimeError> {
            match entry {
                LogEntry::Engine(e) => engines.note(e.ts, &e.engine),
                LogEntry::Unload(u) => {
                    let Some(w) = workers.get(&u.name).filter(|_| !unloaded.contains(&u.name))
                    else {
                        let reason = format!("unload of module `{}`, which is not loaded", u.name);
                        return Err(RuntimeError::replay(u.ts, u.name, reason));
                    };
                    // Not loaded for transactions after the unload.
                    ctx.peers.installs.remove(&u.name);
                    if !ctx.abort.load(Ordering::Relaxed) {
                        let _ = w.tx.send(Item::Unload(u.tables));
                    }
                    unloaded.insert(u.name);
                }
                LogEntry::Install(i) => {
                    if let Some(e) = &i.engine {
                        engines.note(i.ts, e);
                    }
                    if unloaded.remove(&i.name) {
                        // Loaded again: from this install on.
                        if let Ok(schema) = ModuleSchema::decode(&i.schema) {
                            ctx.peers
                                .installs
                                .insert(i.name.clone(), (i.ts, Arc::new(schema)));
                        }
                    }
                    if let Some(w) = workers.get(&i.name) {
                        // An upgrade: the module counts as loaded from its
                        // first install on, with the newest schema.
                        if let Ok(schema) = ModuleSchema::decode(&i.schema) {
                            if let Some(mut p) = ctx.peers.installs.get_mut(&i.name) {
                                p.1 = Arc::new(schema);
                            }
                        }
                        if !ctx.abort.load(Ordering::Relaxed) {
                            let _ = w.tx.send(Item::Upgrade(i));
                        }
                    } else {
                        let w = start_worker(s, &ctx, i, &workers)?;
                        workers.insert(w.0, w.1);
                    }
                }
                LogEntry::Commit(c) => {
                    let Some(w) = workers
                        .get_mut(&c.module)
                        .filter(|_| !unloaded.contains(&c.module))
                    else {
                        let reason = format!(
                            "commit of {}.{} before the module was installed",
                            c.module, c.reducer
                        );
                        return Err(RuntimeError::replay(c.ts, c.module, reason));
                    };
                    w.commits += 1;
                    if !ctx.abort.load(Ordering::Relaxed) {
                        // A checker that stopped (diverged) takes no more.
                        let _ = w.tx.send(Item::Commit(c, engines.current.clone()));
                    }
                }
            }
            Ok(())
        };
        let read = read_log(&storage, &ReadOptions::default(), for_each_entry(on_entry));
        let mut results = Vec::new();
        for (name, w) in workers {
            drop(w.tx);
            let joined = w.handle.join().unwrap_or_else(|_| {
                Err(RuntimeError::Internal(format!(
                    "replay-check of module {name} panicked"
                )))
            });
            results.push((w.install_ts, name, w.commits, joined));
        }
        let summary = read?.summary;
        results.sort_by_key(|r| r.0);
        let mut report = ReplayCheckReport {
            checked: 0,
            entries: summary.entries,
            last_ts: summary.next_ts - 1,
            modules: BTreeMap::new(),
            divergence: None,
            engine: ctx.host.engine_info.clone(),
            logged_engines: engines.listed,
            engines_recorded: engines.seen,
            engine_divergences: Vec::new(),
        };
        for (_, name, commits, result) in results {
            let (mut m, divergence, by_engine) = result?;
            m.commits = commits;
            report.checked += m.checked;
            report.engine_divergences.extend(by_engine);
            if let Some(d) = divergence {
                if report
                    .divergence
                    .as_ref()
                    .is_none_or(|first| d.ts < first.ts)
                {
                    report.divergence = Some(d);
                }
            }
            report.modules.insert(name, m);
        }
        report.engine_divergences.sort_by_key(|d| d.divergence.ts);
        report
            .engine_divergences
            .truncate(engine::MAX_ENGINE_LISTED);
        Ok(report)
    })
}

/// Registers an install and starts its module's checker.
fn start_worker<'scope, 'env: 'scope>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    ctx: &'scope Ctx<'scope>,
    i: ModuleInstall,
    workers: &HashMap<String, Worker<'scope>>,
) -> Result<(String, Worker<'scope>), RuntimeError> {
    let fail = |reason: String| RuntimeError::replay(i.ts, &i.name, reason);
    if workers.contains_key(&i.name) {
        return Err(fail("module installed twice".into()));
    }
    let schema = ModuleSchema::decode(&i.schema)
        .map_err(|e| fail(format!("logged schema is invalid: {e}")))?;
    ctx.peers
        .installs
        .insert(i.name.clone(), (i.ts, Arc::new(schema)));
    let (tx, rx) = sync_channel(CHANNEL_DEPTH);
    let (name, install_ts) = (i.name.clone(), i.ts);
    let handle = std::thread::Builder::new()
        .name(format!("replay-check {name}"))
        .spawn_scoped(s, move || {
            let r = check_module(ctx, i, rx);
            if r.is_err() {
                ctx.abort.store(true, Ordering::Relaxed);
            }
            r
        })?;
    let worker = Worker {
        tx,
        handle,
        install_ts,
        commits: 0,
    };
    Ok((name, worker))
}

/// Checks one module's commits, in order, until the first divergence.
fn check_module(
    ctx: &Ctx<'_>,
    install: ModuleInstall,
    rx: Receiver<Item>,
) -> Result<Checked, RuntimeError> {
    let mut slot = load_slot(ctx, &install)?;
    let mut tables = Tables::new(&slot.env.schema.tables);
    let mut m = ModuleCheck::default();
    let mut by_engine = Vec::new();
    // The old rows of the tables the last upgrade migrates by code, for
    // the migration commits that follow its install.
    let mut shadows: Vec<(String, Table)> = Vec::new();
    // Unloaded with its tables dropped: the next install starts empty.
    let mut dropped = false;
    for item in rx {
        let (c, engine) = match item {
            Item::Commit(c, engine) => (c, engine),
            Item::Unload(mode) => {
                shadows.clear();
                dropped = mode == interstice_persist::UnloadTables::Drop;
                continue;
            }
            Item::Upgrade(i) if dropped => {
                // A first install again: a fresh instance, empty tables.
                slot = load_slot(ctx, &i)?;
                tables = Tables::new(&slot.env.schema.tables);
                dropped = false;
                continue;
            }
            Item::Upgrade(i) => {
                let next = load_slot(ctx, &i)?;
                let diff = SchemaDiff::between(&slot.env.schema, &next.env.schema);
                if let Some((table, change)) = diff.first_incompatibility(|t| tables.rows_of(t)) {
                    let reason = format!(
                        "incompatible upgrade of module `{}`: table `{table}`: {change}",
                        i.name
                    );
                    return Err(RuntimeError::replay(i.ts, i.name, reason));
                }
                shadows = tables.upgrade(&next.env.schema.tables, &diff);
                slot = next;
                continue;
            }
        };
        m.checked += 1;
        let checked = match &c.cause {
            Cause::Migration { table, .. } => {
                let old = shadows
                    .iter()
                    .position(|(t, _)| t == table)
                    .map(|at| shadows.remove(at).1);
                CommitCheck::of_module(check_migration(&mut slot, &mut tables, &ctx.peers, &c, old))
            }
            _ => {
                shadows.clear();
                let engines = (engine.as_deref(), &ctx.host.engine_info);
                check_commit(&mut slot, &mut tables, &ctx.peers, &c, engines)
            }
        };
        let n = ctx.checked.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(progress) = &ctx.opts.progress {
            if n.is_multiple_of(ctx.opts.progress_every.max(1)) {
                progress(n);
            }
        }
        let differences = match checked {
            CommitCheck::Module(differences) => differences,
            CommitCheck::Engine(d) => {
                m.engine_divergences += 1;
                if by_engine.len() < engine::MAX_ENGINE_LISTED {
                    by_engine.push(*d);
                }
                continue;
            }
        };
        if !differences.is_empty() {
            m.divergence_ts = Some(c.ts);
            let d = Divergence {
                ts: c.ts,
                module: c.module,
                reducer: c.reducer,
                differences,
            };
            return Ok((m, Some(d), by_engine));
        }
        if matches!(c.outcome, Outcome::Err { .. }) {
            m.failed += 1;
        }
    }
    Ok((m, None, by_engine))
}

/// What re-executing one commit found.
enum CommitCheck {
    /// How it differs from its record (empty: not at all): the module's.
    Module(Vec<Difference>),
    /// A divergence the engine change explains; the logged mutations were
    /// adopted in its place.
    Engine(Box<EngineDivergence>),
}

impl CommitCheck {
    fn of_module(differences: Vec<Difference>) -> Self {
        CommitCheck::Module(differences)
    }
}

/// Compiles an install's binary (no cache directory: the check never writes
/// into the data directory) and gives it a fresh instance slot.
fn load_slot(ctx: &Ctx<'_>, install: &ModuleInstall) -> Result<GuestSlot, RuntimeError> {
    let key = (install.wasm_hash, install.schema_hash);
    let memo = ctx
        .compiled
        .lock()
        .expect("compiled lock")
        .get(&key)
        .cloned();
    let compiled = match memo {
        Some(c) => c,
        None => {
            let hex = blake3::Hash::from(install.wasm_hash).to_hex();
            let path = ctx.dir.join("modules").join(format!("{hex}.wasm"));
            let wasm = std::fs::read(&path).map_err(|e| {
                let reason = format!("installed module binary {}: {e}", path.display());
                RuntimeError::replay(install.ts, &install.name, reason)
            })?;
            let c = compile_install(&ctx.host, install, &wasm, None)?;
            ctx.compiled
                .lock()
                .expect("compiled lock")
                .insert(key, c.clone());
            c
        }
    };
    let schema = compiled.schema.clone();
    let env = Arc::new(ModuleEnv::new(
        schema,
        ctx.limits,
        ctx.metrics.clone(),
        // No secret: every seed is fed back from the log.
        [0; 32],
        Arc::default(),
        ctx.peers.clone(),
    ));
    Ok(GuestSlot::new(env, ctx.host.clone(), compiled))
}

/// Re-executes a logged migration over the old rows `old` its upgrade set
/// aside; returns how it differs from its record.
fn check_migration(
    slot: &mut GuestSlot,
    tables: &mut Tables,
    peers: &OfflinePeers,
    c: &CommitRecord,
    old: Option<Table>,
) -> Vec<Difference> {
    let schema = slot.env.schema.clone();
    let text = |s: String| Observed::Text(s);
    let found = schema
        .reducer(&c.reducer)
        .filter(|(_, rs)| rs.is_migration());
    let (Some(old), Some((idx, _))) = (old, found) else {
        return vec![Difference {
            what: "migration".into(),
            expected: text(format!("{} ({:?})", c.reducer, c.cause)),
            actual: text(
                "no such migration is pending: the commit does not follow the install of an \
                 upgrade that migrates this table with this reducer"
                    .into(),
            ),
        }];
    };
    let recorded = Recorded {
        inputs: c.nondet.iter().cloned().collect(),
    };
    let (out, _, _) = run_migration(slot, tables, idx, old, Some(c.ts), Some(recorded));
    compare(&schema, peers, c, &reexecuted(tables, out))
}

/// What a re-executed transaction did, as its record would say.
fn reexecuted(tables: &Tables, out: TxOutput) -> Reexecuted {
    Reexecuted {
        outcome: out.outcome(false),
        mutations: logged_mutations(tables, &out.changes),
        calls: out.calls,
        nondet: out.nondet,
    }
}

/// Re-executes one commit; returns how it differs from its record, and
/// whose the difference is. `engines`: the engine that wrote the commit
/// (`None`: not recorded) and this build's.
fn check_commit(
    slot: &mut GuestSlot,
    tables: &mut Tables,
    peers: &OfflinePeers,
    c: &CommitRecord,
    engines: (Option<&EngineInfo>, &EngineInfo),
) -> CommitCheck {
    CommitCheck::of_module(match reexecute(slot, tables, peers, c, engines) {
        Ok(differences) => differences,
        Err(by_engine) => return CommitCheck::Engine(by_engine),
    })
}

/// [`check_commit`]'s work: `Err` for a divergence the engine explains.
fn reexecute(
    slot: &mut GuestSlot,
    tables: &mut Tables,
    peers: &OfflinePeers,
    c: &CommitRecord,
    engines: (Option<&EngineInfo>, &EngineInfo),
) -> Result<Vec<Difference>, Box<EngineDivergence>> {
    let schema = slot.env.schema.clone();
    let text = |s: String| Observed::Text(s);
    if c.schema_hash != slot.compiled.schema_hash {
        return Ok(vec![Difference {
            what: "schema hash".into(),
            expected: text(blake3::Hash::from(c.schema_hash).to_hex().to_string()),
            actual: text(
                blake3::Hash::from(slot.compiled.schema_hash)
                    .to_hex()
                    .to_string(),
            ),
        }]);
    }
    if let Outcome::Err {
        kind: ErrorKind::Timeout | ErrorKind::FanOut,
        ..
    } = c.outcome
    {
        // Not re-executed: a timeout depends on the machine it ran on, and
        // a delivery the fan-out budget cut never ran. Neither changed
        // anything (a failed transaction has no mutations and no calls).
        let actual = Reexecuted {
            outcome: c.outcome.clone(),
            mutations: Vec::new(),
            calls: Vec::new(),
            nondet: c.nondet.clone(),
        };
        return Ok(compare(&schema, peers, c, &actual));
    }
    let idx = if matches!(
        c.cause,
        Cause::Call { .. } | Cause::Trigger { .. } | Cause::Reply { .. }
    ) {
        // A delivery: resolved by name, as the module actor does; one that
        // no longer fits the (upgraded) module is a logged failure.
        match resolve_delivery(&schema, &c.reducer, &c.args) {
            Ok((idx, _)) => idx,
            Err((_, message)) => {
                let actual = Reexecuted {
                    outcome: Outcome::Err {
                        kind: ErrorKind::Host,
                        message,
                        value: None,
                    },
                    mutations: Vec::new(),
                    calls: Vec::new(),
                    nondet: Vec::new(),
                };
                return Ok(compare(&schema, peers, c, &actual));
            }
        }
    } else {
        let Some((idx, _)) = schema.reducer(&c.reducer) else {
            return Ok(vec![Difference {
                what: "reducer".into(),
                expected: text(c.reducer.clone()),
                actual: text("no such reducer in the installed schema".into()),
            }]);
        };
        idx
    };
    let recorded = Recorded {
        inputs: c.nondet.iter().cloned().collect(),
    };
    // The changes stay open until it is known whose a
    // divergence is: the engine's is rolled back and the log's adopted.
    let start = slot.start(
        TxMode::Write {
            logged_ts: Some(c.ts),
        },
        Some(recorded),
    );
    let (result, tx, _fuel) = run_open(slot, tables, idx, &c.args, start);
    let ok = result.is_ok();
    let actual = Reexecuted {
        outcome: outcome_of(&result, c.cause.reply_to().is_some()),
        mutations: if ok {
            logged_mutations(tables, tables.pending_changes())
        } else {
            Vec::new()
        },
        calls: if ok { tx.calls } else { Vec::new() },
        nondet: tx.nondet,
    };
    let differences = compare(&schema, peers, c, &actual);
    let (logged, current) = engines;
    let by_engine = if differences.is_empty() {
        None
    } else {
        engine::attribute(logged, current, &c.outcome, &actual.outcome)
    };
    let Some((cause, changes)) = by_engine else {
        if ok {
            tables.commit();
        } else {
            tables.rollback();
        }
        return Ok(differences);
    };
    tables.rollback();
    let mut d = EngineDivergence {
        divergence: Divergence {
            ts: c.ts,
            module: c.module.clone(),
            reducer: c.reducer.clone(),
            differences,
        },
        cause,
        logged: logged.cloned(),
        changes,
    };
    for m in &c.mutations {
        if let Err(e) = tables.apply_logged(m.table, &m.op) {
            // The log's own mutations do not apply to the re-executed
            // tables: that is the module's divergence after all.
            d.divergence.differences.push(Difference {
                what: format!("logged mutation on table {}", m.table),
                expected: text("applies".into()),
                actual: text(e.to_string()),
            });
            return Ok(d.divergence.differences);
        }
    }
    if matches!(
        c.outcome,
        Outcome::Err {
            kind: ErrorKind::Budget | ErrorKind::Trap,
            ..
        }
    ) {
        // The live instance was replaced after its failure.
        slot.discard_instance();
    }
    Err(Box::new(d))
}
