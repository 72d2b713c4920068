//! `interstice log-inspect -d DIR [filters] [--format text|json]`: the
//! committed history, one commit at a time in timestamp order, with its
//! reducer and arguments, its cause, its outcome, its mutations as
//! before/after rows, its outbound calls and the deliveries it caused
//! (`docs/TOOLS.md`).
//!
//! Two passes over the log, both read-only (no lock; the hash chain is
//! verified):
//!
//! 1. which commits match the filters, the `--caused-by` chain (causes
//!    always point backwards in timestamp order, so one forward pass with
//!    the set of chain members finds it), and the delivery edges out of
//!    the matching commits: `(cause ts, delivered ts, via, index)`, 24
//!    bytes per delivery of a shown commit;
//!    it also follows every delivery chain (`interstice_actors::ChainCuts`)
//!    to find where `--max-trigger-depth` cut one: the cuts of the
//!    matching commits are kept (rare: one per cut chain);
//! 2. the replay of the logged mutations (no wasm) to know each mutated
//!    row's previous value, printing the matching commits with the
//!    deliveries pass 1 found for them.
//!
//! Memory: the state of the modules the output can show (one copy of each
//! live row of those modules: `--module M` holds only M's rows), the edge
//! list of the shown commits, and the chain set for `--caused-by`; never
//! the log itself.
//!
//! A commit's wall-clock time (when it finished, by the host's clock:
//! `docs/LOG_FORMAT.md` §5) is shown and filtered on with `--since` and
//! `--until`; commits of logs written before wall-clock times were recorded
//! have none, are left out by those filters, and are counted in a note.
//! What a reducer read from `ctx.now()` is shown too (`now_micros`).

use std::collections::HashSet;
use std::path::Path;

use interstice_abi::{ModuleSchema, Trigger, Type};
use interstice_actors::{engine_json, ChainCut, ChainCuts, Limits};
use interstice_persist::{
    for_each_entry, read_log, Cause, CommitRecord, EngineRecord, LogEntry, ModuleInstall,
    MutationOp, Nondet, Outcome,
};
use interstice_tables::Row;
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::inspect::decode::{commit_json, decode_json, mutation_parts, wall_text, Schemas};
use crate::inspect::progress::LogProgress;
use crate::inspect::state::{open_log, warn_torn_tail, LogState};
use crate::output;

/// `--outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutcomeFilter {
    /// Committed.
    Ok,
    /// Failed (rolled back, or a delivery that never ran).
    Err,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    /// Human-readable, a block per commit.
    Text,
    /// One JSON object per commit (and install).
    Json,
}

/// The filters; every one given must hold.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InspectFilters {
    /// Only this module's commits.
    #[arg(long, value_name = "MODULE")]
    pub module: Option<String>,
    /// Only commits of this reducer (`REDUCER` or `MODULE.REDUCER`).
    #[arg(long, value_name = "REDUCER")]
    pub reducer: Option<String>,
    /// Only commits that mutated this table (`TABLE` or `MODULE.TABLE`).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// Only timestamps from TS on.
    #[arg(long, value_name = "TS")]
    pub from_ts: Option<u64>,
    /// Only timestamps up to TS.
    #[arg(long, value_name = "TS")]
    pub to_ts: Option<u64>,
    /// Only committed (`ok`) or failed (`err`) transactions.
    #[arg(long, value_enum)]
    pub outcome: Option<OutcomeFilter>,
    /// Only the chain the commit at TS set off: it and every commit it
    /// caused, transitively (async calls and triggers).
    #[arg(long, value_name = "TS")]
    pub caused_by: Option<u64>,
    /// Only commits that finished at or after TIME: an RFC 3339 time in UTC
    /// (`2026-12-03T05:00:00Z`, the `T` may be a space and the `Z` left
    /// out) or a duration ago (`15m`, `2h 30m`, `1day`).
    #[arg(long, value_name = "TIME", value_parser = parse_wall_time)]
    pub since: Option<u64>,
    /// Only commits that finished at or before TIME (as `--since`).
    #[arg(long, value_name = "TIME", value_parser = parse_wall_time)]
    pub until: Option<u64>,
}

/// `--since`/`--until`: microseconds since the Unix epoch.
fn parse_wall_time(s: &str) -> Result<u64, String> {
    let micros = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .map_err(|_| format!("{s:?} is before 1970"))
    };
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return micros(t);
    }
    match humantime::parse_duration(s) {
        Ok(ago) => std::time::SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("{s:?} ago is before the clock's range"))
            .and_then(micros),
        Err(_) => Err(format!(
            "{s:?} is neither an RFC 3339 time in UTC (2026-12-03T05:00:00Z) nor a duration \
             ago (15m, 2h 30m)"
        )),
    }
}

/// `MODULE.NAME` or `NAME`.
fn split_qualified(s: &str) -> (Option<&str>, &str) {
    match s.split_once('.') {
        Some((m, n)) => (Some(m), n),
        None => (None, s),
    }
}

/// The timestamp a cause points at, how (`call`, `trigger`) and the
/// index of the call or mutation.
pub(crate) fn cause_ts(c: &Cause) -> Option<(u64, &'static str, u32)> {
    match c {
        Cause::Call { ts, index, .. } => Some((*ts, "call", *index)),
        Cause::Trigger { ts, index, .. } => Some((*ts, "trigger", *index)),
        Cause::Reply { ts, index, .. } => Some((*ts, "reply", *index)),
        Cause::External | Cause::Init | Cause::Migration { .. } => None,
    }
}

impl InspectFilters {
    fn check(&self) -> Result<(), CliError> {
        if let (Some(a), Some(b)) = (self.from_ts, self.to_ts) {
            if a > b {
                return Err(CliError::Usage(format!(
                    "--from-ts {a} is after --to-ts {b}"
                )));
            }
        }
        if let (Some(a), Some(b)) = (self.since, self.until) {
            if a > b {
                return Err(CliError::Usage(format!(
                    "--since {} is after --until {}",
                    wall_text(a),
                    wall_text(b)
                )));
            }
        }
        for (flag, v) in [("--reducer", &self.reducer), ("--table", &self.table)] {
            if let Some(v) = v {
                let (m, n) = split_qualified(v);
                if n.is_empty() || m.is_some_and(str::is_empty) || n.contains('.') {
                    return Err(CliError::Usage(format!(
                        "{flag} {v:?}: expected NAME or MODULE.NAME"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether a module's tables must be rebuilt for the output.
    fn tracks(&self, module: &str) -> bool {
        let named = self
            .module
            .as_deref()
            .or_else(|| self.table.as_deref().and_then(|t| split_qualified(t).0));
        named.is_none_or(|m| m == module)
    }

    /// Whether the install at `ts` is shown: only when no filter is about
    /// commits alone.
    fn shows_install(&self, i: &ModuleInstall) -> bool {
        self.no_commit_filter()
            && self.module.as_deref().is_none_or(|m| m == i.name)
            && self.in_range(i.ts)
    }

    /// An unload is shown like an install of its module.
    fn shows_unload(&self, u: &interstice_persist::UnloadRecord) -> bool {
        self.no_commit_filter()
            && self.module.as_deref().is_none_or(|m| m == u.name)
            && self.in_range(u.ts)
    }

    /// An engine entry is shown unless a filter asks for commits or one
    /// module only.
    fn shows_engine(&self, ts: u64) -> bool {
        self.no_commit_filter() && self.module.is_none() && self.in_range(ts)
    }

    /// Whether no filter is about commits alone (installs and engine
    /// entries have no reducer, outcome, cause or wall-clock time).
    fn no_commit_filter(&self) -> bool {
        self.reducer.is_none()
            && self.table.is_none()
            && self.outcome.is_none()
            && self.caused_by.is_none()
            && !self.by_wall_time()
    }

    /// Whether `--since` or `--until` was given.
    fn by_wall_time(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    fn in_wall_range(&self, wall_micros: Option<u64>) -> bool {
        if !self.by_wall_time() {
            return true;
        }
        wall_micros
            .is_some_and(|w| self.since.is_none_or(|s| w >= s) && self.until.is_none_or(|u| w <= u))
    }

    fn in_range(&self, ts: u64) -> bool {
        self.from_ts.is_none_or(|f| ts >= f) && self.to_ts.is_none_or(|t| ts <= t)
    }

    /// Whether commit `c` is shown (`chain`: the `--caused-by` members).
    fn matches(&self, c: &CommitRecord, schema: Option<&ModuleSchema>, chain: &Chain) -> bool {
        if !self.in_range(c.ts) || !self.in_wall_range(c.wall_micros) {
            return false;
        }
        if self.module.as_deref().is_some_and(|m| m != c.module) {
            return false;
        }
        if let Some(r) = &self.reducer {
            let (m, n) = split_qualified(r);
            if n != c.reducer || m.is_some_and(|m| m != c.module) {
                return false;
            }
        }
        if let Some(t) = &self.table {
            let (m, n) = split_qualified(t);
            if m.is_some_and(|m| m != c.module) {
                return false;
            }
            let names = |i: u32| {
                schema
                    .and_then(|s| s.tables.get(i as usize))
                    .map(|t| &t.name)
            };
            if !c
                .mutations
                .iter()
                .any(|mu| names(mu.table).is_some_and(|t| t == n))
            {
                return false;
            }
        }
        match (self.outcome, &c.outcome) {
            (Some(OutcomeFilter::Ok), Outcome::Err { .. })
            | (Some(OutcomeFilter::Err), Outcome::Ok(_)) => return false,
            _ => {}
        }
        chain.contains(c.ts)
    }
}

/// The `--caused-by` chain: `None` when not asked for.
struct Chain(Option<HashSet<u64>>);

impl Chain {
    fn contains(&self, ts: u64) -> bool {
        self.0.as_ref().is_none_or(|s| s.contains(&ts))
    }
}

/// A delivery out of a shown commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    cause_ts: u64,
    ts: u64,
    via: &'static str,
    index: u32,
}

/// The `(module, table)` pairs some installed module's trigger watches:
/// only a commit with a call or a mutation of one of them can cause a
/// delivery.
fn watched_tables(schemas: &Schemas) -> HashSet<(String, String)> {
    schemas
        .all()
        .flat_map(|s| &s.reducers)
        .filter_map(|r| match &r.trigger {
            Some(Trigger::Table { module, table, .. }) => Some((module.clone(), table.clone())),
            _ => None,
        })
        .collect()
}

/// The table or reducer names any install in the log declared, bare and
/// as `module.name` (a name an upgrade removed still counts).
#[derive(Default)]
struct Names {
    qualified: HashSet<String>,
    bare: HashSet<String>,
}

impl Names {
    fn add(&mut self, module: &str, name: &str) {
        self.qualified.insert(format!("{module}.{name}"));
        self.bare.insert(name.to_owned());
    }

    fn has(&self, given: &str) -> bool {
        match split_qualified(given) {
            (Some(_), _) => self.qualified.contains(given),
            (None, n) => self.bare.contains(n),
        }
    }
}

/// Records the tables and reducers of an installed schema.
fn add_names(schema: Option<&ModuleSchema>, tables: &mut Names, reducers: &mut Names) {
    if let Some(s) = schema {
        for t in &s.tables {
            tables.add(&s.name, &t.name);
        }
        for r in &s.reducers {
            reducers.add(&s.name, &r.name);
        }
    }
}

/// What pass 1 found.
struct FirstPass {
    chain: Chain,
    /// Sorted by cause.
    edges: Vec<Edge>,
    /// The depth limit's cuts at matching commits, in timestamp order.
    cuts: Vec<ChainCut>,
    /// Whether the `--caused-by` commit exists.
    seen_root: bool,
    /// The schemas at the end of the log.
    schemas: Schemas,
    /// Every table name the log's installs declared.
    tables: Names,
    /// Every reducer name the log's installs declared.
    reducers: Names,
    /// The last timestamp read: pass 2 stops there, so that entries a
    /// live runtime appends in between are not shown without their
    /// deliveries.
    last_ts: u64,
    /// Commits in the timestamp window with no wall-clock time, which
    /// `--since`/`--until` left out.
    undated: u64,
}

/// Pass 1: the chain and the delivery edges out of matching commits.
fn first_pass(dir: &Path, filters: &InspectFilters, max_depth: u32) -> Result<FirstPass, CliError> {
    let source = open_log(dir)?;
    let limits = Limits::default().with_max_trigger_depth(max_depth);
    let mut chains = match &source.snapshot {
        Some(snap) => ChainCuts::from_snapshot(snap, &limits)?,
        None => ChainCuts::new(&limits),
    };
    let mut cuts = Vec::new();
    let mut schemas = Schemas::default();
    let (mut tables, mut reducers) = (Names::default(), Names::default());
    if let Some(snap) = &source.snapshot {
        for m in &snap.modules {
            schemas.install(&m.name, &m.schema)?;
            add_names(schemas.get(&m.name), &mut tables, &mut reducers);
        }
    }
    let mut watched = watched_tables(&schemas);
    let mut chain = Chain(filters.caused_by.map(|ts| HashSet::from([ts])));
    let mut seen_root = false;
    let mut undated = 0u64;
    // Matching commits that can have caused something (committed, with
    // calls or a mutation of a table some trigger watches), in timestamp
    // order.
    let mut causers: Vec<u64> = Vec::new();
    let mut edges = Vec::new();
    let mut progress = LogProgress::new("log-inspect: finding deliveries");
    let report = read_log(
        &source.storage,
        &source.opts,
        for_each_entry(|entry| {
            progress.entry(entry.ts());
            match &entry {
                LogEntry::Install(i) => {
                    schemas.install(&i.name, &i.schema)?;
                    add_names(schemas.get(&i.name), &mut tables, &mut reducers);
                    watched = watched_tables(&schemas);
                    if let Some(s) = schemas.get(&i.name) {
                        chains.install(s);
                    }
                }
                LogEntry::Engine(_) | LogEntry::Unload(_) => {}
                LogEntry::Commit(c) => {
                    if let Some((from, via, index)) = cause_ts(&c.cause) {
                        if let Some(set) = &mut chain.0 {
                            if set.contains(&from) {
                                set.insert(c.ts);
                            }
                        }
                        if causers.binary_search(&from).is_ok() {
                            edges.push(Edge {
                                cause_ts: from,
                                ts: c.ts,
                                via,
                                index,
                            });
                        }
                    }
                    if filters.caused_by == Some(c.ts) {
                        seen_root = true;
                    }
                    if filters.by_wall_time() && c.wall_micros.is_none() && filters.in_range(c.ts) {
                        undated += 1;
                    }
                    let ok = matches!(c.outcome, Outcome::Ok(_));
                    let schema = schemas.get(&c.module);
                    let cut = schema.and_then(|s| chains.commit(c, s));
                    if let Some(cut) = cut {
                        if filters.matches(c, schema, &chain) {
                            cuts.push(cut);
                        }
                    }
                    let fires = |t: u32| {
                        schema
                            .and_then(|s| s.tables.get(t as usize))
                            .is_some_and(|t| watched.contains(&(c.module.clone(), t.name.clone())))
                    };
                    if ok
                        && (!c.calls.is_empty() || c.mutations.iter().any(|m| fires(m.table)))
                        && filters.matches(c, schema, &chain)
                    {
                        causers.push(c.ts);
                    }
                }
            }
            Ok::<(), CliError>(())
        }),
    )?;
    edges.sort_unstable();
    Ok(FirstPass {
        chain,
        edges,
        cuts,
        seen_root,
        schemas,
        tables,
        reducers,
        last_ts: report.last_ts,
        undated,
    })
}

/// Runs the command.
pub fn run(
    dir: &Path,
    filters: &InspectFilters,
    format: InspectFormat,
    max_trigger_depth: u32,
) -> Result<(), CliError> {
    filters.check()?;
    let FirstPass {
        chain,
        edges,
        cuts,
        seen_root,
        schemas,
        tables,
        reducers,
        last_ts,
        undated,
    } = first_pass(dir, filters, max_trigger_depth)?;
    if undated > 0 {
        output::progress(format!(
            "note: {undated} commit(s) have no wall-clock time (the log was written by a \
             version that did not record it), so --since/--until left them out"
        ));
    }
    for (flag, given, names) in [
        ("--table", &filters.table, &tables),
        ("--reducer", &filters.reducer, &reducers),
    ] {
        if let Some(g) = given {
            if !names.has(g) {
                return Err(CliError::Usage(format!(
                    "{flag} {g}: no installed module declares it (modules: {})",
                    schemas.names().join(", ")
                )));
            }
        }
    }
    if let Some(m) = &filters.module {
        if schemas.get(m).is_none() {
            return Err(CliError::Usage(format!(
                "--module {m}: no module of that name is installed in the log (installed: {})",
                schemas.names().join(", ")
            )));
        }
    }
    if let Some(ts) = filters.caused_by {
        if !seen_root {
            return Err(CliError::Usage(format!(
                "--caused-by {ts}: there is no commit at timestamp {ts} in the log"
            )));
        }
    }
    let mut source = open_log(dir)?;
    let stop = filters.to_ts.map_or(last_ts, |to| to.min(last_ts));
    source.opts = source.opts.with_stop_at(Some(stop));
    if let Some(snap) = &source.snapshot {
        output::progress(format!(
            "note: the log before timestamp {} was deleted by retention; starting from the \
             snapshot at ts {}",
            snap.ts + 1,
            snap.ts
        ));
    }
    let owned = filters.clone();
    let mut state = LogState::start(&source, move |m| owned.tracks(m))?;
    let mut next_edge = 0usize;
    let mut progress = LogProgress::new("log-inspect");
    let report = read_log(
        &source.storage,
        &source.opts,
        for_each_entry(|entry| {
            progress.entry(entry.ts());
            if output::stdout_closed() {
                return Ok(());
            }
            match &entry {
                LogEntry::Install(i) => {
                    state.install(i)?;
                    if filters.shows_install(i) {
                        show_install(i, format);
                    }
                }
                LogEntry::Engine(e) => {
                    if filters.shows_engine(e.ts) {
                        show_engine(e, format);
                    }
                }
                LogEntry::Unload(u) => {
                    state.unload(u);
                    if filters.shows_unload(u) {
                        match format {
                            InspectFormat::Json => output::result(crate::inspect::unload_json(u)),
                            InspectFormat::Text => output::result(format!(
                                "#{} {}\n",
                                u.ts,
                                crate::inspect::unload_text(u)
                            )),
                        }
                    }
                }
                LogEntry::Commit(c) => {
                    let before = state.commit(c)?;
                    if filters.matches(c, state.schemas.get(&c.module), &chain) {
                        while edges.get(next_edge).is_some_and(|e| e.cause_ts < c.ts) {
                            next_edge += 1;
                        }
                        let mut end = next_edge;
                        while edges.get(end).is_some_and(|e| e.cause_ts == c.ts) {
                            end += 1;
                        }
                        let cut = cuts
                            .binary_search_by_key(&c.ts, |k| k.ts)
                            .ok()
                            .map(|i| &cuts[i]);
                        let shown = Shown {
                            caused: &edges[next_edge..end],
                            cut,
                        };
                        show_commit(c, &state.schemas, &before, shown, format);
                        next_edge = end;
                    }
                }
            }
            Ok::<(), CliError>(())
        }),
    )?;
    drop(progress);
    warn_torn_tail(&report, "shown up to");
    Ok(())
}

fn show_engine(e: &EngineRecord, format: InspectFormat) {
    match format {
        InspectFormat::Json => output::result(json!({
            "kind": "engine",
            "ts": e.ts,
            "engine": engine_json(&e.engine),
        })),
        InspectFormat::Text => output::result(format!(
            "#{} engine: from here on written by {}\n",
            e.ts, e.engine
        )),
    }
}

fn show_install(i: &ModuleInstall, format: InspectFormat) {
    match format {
        InspectFormat::Json => output::result(json!({
            "kind": "install",
            "ts": i.ts,
            "module": i.name,
            "version": i.version,
            "schema_hash": output::hex(&i.schema_hash),
            "engine": i.engine.as_ref().map(engine_json),
        })),
        InspectFormat::Text => output::result(format!(
            "#{} install {} {} (schema {})\n",
            i.ts,
            i.name,
            i.version,
            &output::hex(&i.schema_hash)[..16]
        )),
    }
}

/// The cause, as text.
pub(crate) fn cause_text(c: &Cause) -> String {
    match c {
        Cause::External => "external call".into(),
        Cause::Init => "init (the module's install)".into(),
        Cause::Call {
            module,
            ts,
            index,
            reply,
        } => match reply {
            Some(r) => format!("async call #{index} of {module} at #{ts}, replied to {module}.{r}"),
            None => format!("async call #{index} of {module} at #{ts}"),
        },
        Cause::Reply { module, ts, index } => {
            format!("reply (delivery #{index}) of the call {module} ran at #{ts}")
        }
        Cause::Trigger { module, ts, index } => {
            format!("trigger of mutation #{index} of {module} at #{ts}")
        }
        Cause::Migration {
            table,
            from_version,
            to_version,
        } => format!("migration of table {table} from version {from_version} to {to_version}"),
    }
}

/// What pass 1 found out of a shown commit.
struct Shown<'a> {
    caused: &'a [Edge],
    /// The depth limit dropped its deliveries.
    cut: Option<&'a ChainCut>,
}

fn show_commit(
    c: &CommitRecord,
    schemas: &Schemas,
    before: &[Option<Row>],
    shown: Shown<'_>,
    format: InspectFormat,
) {
    let caused = shown.caused;
    let schema = schemas.get(&c.module);
    let mut j = commit_json(c, schema);
    // Outbound calls' arguments, decoded with the callee's schema.
    if let Some(calls) = j["calls"].as_array_mut() {
        for (call, jc) in c.calls.iter().zip(calls.iter_mut()) {
            let params = schemas
                .get(&call.module)
                .and_then(|s| s.reducer(&call.reducer))
                .map(|(_, r)| Type::Tuple(r.params.iter().map(|p| p.ty.clone()).collect()));
            if let Some(ty) = params {
                jc["args"] = decode_json(Some(&ty), &call.args);
            }
        }
    }
    let table_ty = |i: u32| {
        schema
            .and_then(|s| s.tables.get(i as usize))
            .map(|t| t.row_type())
    };
    if let Some(muts) = j["mutations"].as_array_mut() {
        for ((m, jm), old) in c.mutations.iter().zip(muts.iter_mut()).zip(before) {
            jm["before"] = match old {
                Some(row) => decode_json(table_ty(m.table).as_ref(), row),
                None => Json::Null,
            };
        }
    }
    j["caused"] = caused
        .iter()
        .map(|e| json!({ "ts": e.ts, "via": e.via, "index": e.index }))
        .collect();
    if let Some(cut) = shown.cut {
        j["cut"] = json!({
            "dropped": cut.dropped,
            "depth": cut.depth,
            "max_trigger_depth": cut.max_depth,
        });
    }
    let now = c.nondet.iter().find_map(|n| match n {
        Nondet::Now(t) => Some(*t),
        _ => None,
    });
    if let Some(t) = now {
        j["now_micros"] = json!(t);
    }
    match format {
        InspectFormat::Json => output::result(j),
        InspectFormat::Text => output::result(commit_text(c, schema, &j, now)),
    }
}

fn commit_text(
    c: &CommitRecord,
    schema: Option<&ModuleSchema>,
    j: &Json,
    now: Option<i64>,
) -> String {
    let mut out = format!("#{} {}.{} {}\n", c.ts, c.module, c.reducer, j["args"]);
    out += &format!("  cause    {}\n", cause_text(&c.cause));
    match &c.outcome {
        Outcome::Ok(_) => out += &format!("  outcome  ok {}\n", j["outcome"]["ok"]),
        Outcome::Err { kind, message, .. } => {
            out += &format!("  outcome  error {}: {message}\n", kind.name())
        }
    }
    if let Some(w) = c.wall_micros {
        out += &format!("  time     {}\n", wall_text(w));
    }
    if let Some(t) = now {
        out += &format!("  now      {t} µs since the Unix epoch (ctx.now())\n");
    }
    for (m, jm) in c
        .mutations
        .iter()
        .zip(j["mutations"].as_array().into_iter().flatten())
    {
        let (table, op, key, _) = mutation_parts(schema, m.table, &m.op);
        let change = match &m.op {
            MutationOp::Insert(_) => format!("{}", jm["row"]),
            MutationOp::Update(_) => format!("{} -> {}", jm["before"], jm["row"]),
            MutationOp::Delete(_) => format!("{} (deleted)", jm["before"]),
        };
        out += &format!("  {op:<8} {table} {key}: {change}\n");
    }
    for (i, call) in j["calls"].as_array().into_iter().flatten().enumerate() {
        out += &format!(
            "  call #{i}  {}.{} {}\n",
            call["module"].as_str().unwrap_or_default(),
            call["reducer"].as_str().unwrap_or_default(),
            call["args"]
        );
    }
    let caused: Vec<String> = j["caused"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "#{} ({} #{})",
                e["ts"],
                e["via"].as_str().unwrap_or_default(),
                e["index"]
            )
        })
        .collect();
    if !caused.is_empty() {
        out += &format!("  caused   {}\n", caused.join(", "));
    }
    if let Some(cut) = j.get("cut") {
        out += &format!(
            "  cut      {} deliveries dropped: trigger depth {} exceeds \
             Limits::max_trigger_depth = {}\n",
            cut["dropped"], cut["depth"], cut["max_trigger_depth"]
        );
    }
    out
}
