//! `interstice bench`: the runtime's workloads side by side with their
//! baselines, measured in one run.
//!
//! | Workload | Interstice | Baselines |
//! |---|---|---|
//! | `noop` | empty reducer, 64 callers, `none` and `sync` durability; 1 caller | bare actix echo actor (64 callers); wasmtime `TypedFunc` loops |
//! | `transfer` | 100k accounts, Zipf α = 0 and 1.5, 64 callers, `sync` | SQLite WAL `synchronous=FULL` and `NORMAL`; a raw append+fsync loop |
//! | `keynote` | the same transfers as SpacetimeDB's keynote benchmark runs them: 64 clients × 40 calls in flight (`--in-flight`), acknowledged after fsync; and 64 × 1 in alternating rounds | SQLite `FULL` and `NORMAL`, one transaction at a time |
//! | `contended` | `transfer` (64 × 1), each round quiet and then beside a CPU hog of `--hog-threads` spinning threads (default: one per core) | SQLite `FULL` and `NORMAL`, quiet and beside the same hog; each one's own quiet figure |
//! | `insert` | 64-byte rows, logged and ephemeral table, `sync` | — |
//! | `scale` | 1, 2, 4, 8 modules with independent transfer workloads | one module |
//! | `fanout` | one insert triggers K = 1, 4, 16 subscriber modules | — |
//! | `replay` | open a log of 1M transfer commits | persist's reader alone over the same log (read, verify, decode); the reader feeding a bare loop that applies every mutation to a `BTreeMap` |
//! | `memory` | resident bytes per row of 1M `(u64, u32, 32-byte string)` rows, and of 1M rows with a secondary index on a `u64` | the encoded payload |
//! | `replay-check` | re-executing a log of 1M transfer commits | the same commits run live, back to back |
//! | `index` | secondary-index point lookups at 10k and 1M rows; a 1% scan with the filter pushed down; inserts with 0, 1, 3 indexes | primary-key lookups; the scan filtered in wasm; inserts without indexes |
//! | `columnar` | inserts into a columnar table; a host-side `sum` of a `u64` column over 1M rows, plain and with a pushed-down 1% filter | the same on a row table |
//! | `serve` | the empty reducer called through `run --listen`'s server by 64 clients over HTTP/1.1 and over WebSocket, `none` and `sync` | the embedding API, same callers |
//!
//! Each workload is repeated for `--rounds` rounds; rows report the median
//! round and p50/p99 latency over every operation. `--quick` runs tiny
//! sizes (the integration test runs it, so the bench keeps working).
//! `docs/PERFORMANCE.md` has the figures and the targets.

mod baseline_actix;
mod baseline_sqlite;
mod baseline_wasmtime;
mod columnar;
mod contended;
mod driver;
mod fanout;
mod guests;
mod hog;
mod index;
mod insert;
mod keynote;
mod machine;
mod memory;
mod noop;
mod recheck;
mod replay;
mod report;
mod scale;
mod serve;
mod transfer;
mod zipf;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use crate::error::CliError;
use crate::output;
use guests::{Guests, Scratch};
use report::{Report, WorkloadReport};

/// Every workload, in report order.
pub const WORKLOADS: [&str; 13] = [
    "noop",
    "transfer",
    "keynote",
    "contended",
    "insert",
    "scale",
    "fanout",
    "replay",
    "replay-check",
    "memory",
    "index",
    "columnar",
    "serve",
];

/// Bench parameters.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    /// Tiny sizes (for CI).
    pub quick: bool,
    /// Where to write the JSON report.
    pub out: Option<PathBuf>,
    /// Concurrent callers.
    pub callers: usize,
    /// Rounds per workload.
    pub rounds: usize,
    /// Run only these workloads (all when empty).
    pub only: Vec<String>,
    /// Measure the baselines too (off to profile the runtime alone).
    pub baselines: bool,
    /// Trace every runtime the workloads open, into this directory.
    pub trace_dir: Option<PathBuf>,
    /// `keynote`: calls each client keeps in flight.
    pub in_flight: usize,
    /// `contended`: spinning threads of the CPU hog (None: one per core).
    pub hog_threads: Option<usize>,
}

/// Workload sizes, full or `--quick`.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Tiny sizes.
    pub quick: bool,
    /// Concurrent callers (per module in `scale`).
    pub callers: usize,
    /// Rounds per measurement.
    pub rounds: usize,
    /// Whether baselines are measured.
    pub baselines: bool,
    /// noop: calls per caller per round.
    pub noop_per_caller: usize,
    /// noop: sequential calls of the single caller.
    pub latency_calls: usize,
    /// actix echo: round trips per caller per round.
    pub echo_per_caller: usize,
    /// wasmtime loops: calls per round.
    pub wasm_calls: u64,
    /// transfer: accounts.
    pub accounts: u64,
    /// transfer: transfers per caller per round.
    pub transfer_per_caller: usize,
    /// keynote: calls each client keeps in flight.
    pub in_flight: usize,
    /// keynote: transfers per client per round.
    pub keynote_per_client: usize,
    /// contended: spinning threads of the CPU hog.
    pub hog_threads: usize,
    /// SQLite `synchronous=FULL`: transactions per round.
    pub sqlite_full_txs: usize,
    /// SQLite `synchronous=NORMAL`: transactions per round.
    pub sqlite_normal_txs: usize,
    /// Raw append+fsync loop: fsyncs per round.
    pub fsyncs: usize,
    /// insert: inserts per caller per round.
    pub insert_per_caller: usize,
    /// scale: module counts.
    pub scale_modules: Vec<usize>,
    /// scale: accounts per module.
    pub scale_accounts: u64,
    /// scale: transfers per caller per round.
    pub scale_per_caller: usize,
    /// scale: also run the series in `none` durability.
    pub scale_none: bool,
    /// fanout: subscriber counts.
    pub fanout_ks: Vec<usize>,
    /// fanout: inserts per caller per round.
    pub fanout_per_caller: usize,
    /// replay: transfer commits in the log.
    pub replay_commits: u64,
    /// memory: rows.
    pub memory_rows: u64,
    /// Rows or accounts per seeding transaction.
    pub seed_batch: u32,
    /// index: the smaller table.
    pub index_small_rows: u64,
    /// index: the larger table.
    pub index_rows: u64,
    /// index: lookups per read call.
    pub index_lookups_per_call: u32,
    /// index: read calls per round.
    pub index_lookup_calls: usize,
    /// index: rows inserted per round, per table.
    pub index_insert_rows: u64,
    /// index: rows per insert transaction.
    pub index_insert_batch: u32,
    /// columnar: rows in each table.
    pub columnar_rows: u64,
    /// serve: calls per client per round.
    pub serve_per_client: usize,
}

impl Sizes {
    /// The sizes for `opts`.
    pub fn new(opts: &BenchOpts) -> Self {
        let callers = opts.callers.max(1);
        let in_flight = opts.in_flight.max(1);
        let hog_threads = opts.hog_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if opts.quick {
            Sizes {
                quick: true,
                callers,
                rounds: opts.rounds.clamp(1, 2),
                baselines: opts.baselines,
                noop_per_caller: 10,
                latency_calls: 50,
                echo_per_caller: 50,
                wasm_calls: 10_000,
                accounts: 2_000,
                transfer_per_caller: 10,
                in_flight,
                keynote_per_client: 2 * in_flight,
                hog_threads,
                sqlite_full_txs: 30,
                sqlite_normal_txs: 300,
                fsyncs: 30,
                insert_per_caller: 10,
                scale_modules: vec![1, 2],
                scale_accounts: 1_000,
                scale_per_caller: 5,
                scale_none: false,
                fanout_ks: vec![1, 2],
                fanout_per_caller: 3,
                replay_commits: 10_000,
                memory_rows: 20_000,
                seed_batch: 2_000,
                index_small_rows: 1_000,
                index_rows: 10_000,
                index_lookups_per_call: 100,
                index_lookup_calls: 5,
                index_insert_rows: 2_000,
                index_insert_batch: 1_000,
                columnar_rows: 5_000,
                serve_per_client: 10,
            }
        } else {
            Sizes {
                quick: false,
                callers,
                rounds: opts.rounds.max(1),
                baselines: opts.baselines,
                noop_per_caller: 1_000,
                latency_calls: 2_000,
                echo_per_caller: 5_000,
                wasm_calls: 1_000_000,
                accounts: 100_000,
                transfer_per_caller: 1_000,
                in_flight,
                keynote_per_client: 2_000,
                hog_threads,
                sqlite_full_txs: 1_000,
                sqlite_normal_txs: 50_000,
                fsyncs: 1_000,
                insert_per_caller: 1_000,
                scale_modules: vec![1, 2, 4, 8],
                scale_accounts: 100_000,
                scale_per_caller: 300,
                scale_none: true,
                fanout_ks: vec![1, 4, 16],
                fanout_per_caller: 100,
                replay_commits: 1_000_000,
                memory_rows: 1_000_000,
                seed_batch: 2_000,
                index_small_rows: 10_000,
                index_rows: 1_000_000,
                index_lookups_per_call: 1_000,
                index_lookup_calls: 100,
                index_insert_rows: 100_000,
                index_insert_batch: 1_000,
                columnar_rows: 1_000_000,
                serve_per_client: 500,
            }
        }
    }
}

/// Progress on stderr (hidden when stderr is not a terminal): one step per
/// workload, the current measurement as the message.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(workloads: u64) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(workloads), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} {prefix}: {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }

    /// Starts workload `name`.
    pub fn begin(&self, name: &'static str) {
        self.bar.set_prefix(name);
        self.bar.set_message("setting up");
    }

    /// Says what is being measured now.
    pub fn step(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    fn done(&self) {
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What every workload gets.
pub struct Ctx {
    /// Sizes.
    pub sizes: Sizes,
    /// Built modules.
    pub guests: Guests,
    /// Scratch directories.
    pub scratch: Scratch,
    /// The progress bar.
    pub progress: Progress,
}

/// Runs the benchmarks.
pub async fn run(opts: &BenchOpts) -> Result<(), CliError> {
    for w in &opts.only {
        if !WORKLOADS.contains(&w.as_str()) {
            return Err(CliError::Usage(format!(
                "unknown workload `{w}`: expected one of {}",
                WORKLOADS.join(", ")
            )));
        }
    }
    let selected: Vec<&'static str> = WORKLOADS
        .into_iter()
        .filter(|w| opts.only.is_empty() || opts.only.iter().any(|o| o == w))
        .collect();
    if let Some(dir) = &opts.trace_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Usage(format!("--trace-dir {}: {e}", dir.display())))?;
        let _ = guests::TRACE_DIR.set(dir.clone());
    }
    let sizes = Sizes::new(opts);
    let machine = machine::Machine::detect();
    output::say(format!(
        "interstice bench: {} build, {} callers, {} rounds{}; {} ({} cores)",
        machine.profile,
        sizes.callers,
        sizes.rounds,
        if sizes.quick { ", quick sizes" } else { "" },
        machine.cpu_model,
        machine.cores,
    ));
    if machine.profile == "debug" && !sizes.quick {
        output::say("note: a debug build's figures mean little; build with --release");
    }
    let guests = Guests::build()?;
    let ctx = Ctx {
        sizes,
        guests,
        scratch: Scratch::new()?,
        progress: Progress::new(selected.len() as u64),
    };
    // The memory workload measures the process's resident size, so it runs
    // first, before the other workloads leave freed memory in the allocator
    // that its rows would reuse.
    let mut order = selected.clone();
    order.sort_by_key(|w| *w != "memory");
    let mut workloads = Vec::new();
    for w in order {
        ctx.progress.begin(w);
        let started = Instant::now();
        let mut r = match w {
            "noop" => noop::run(&ctx).await,
            "transfer" => transfer::run(&ctx).await,
            "keynote" => keynote::run(&ctx).await,
            "contended" => contended::run(&ctx).await,
            "insert" => insert::run(&ctx).await,
            "scale" => scale::run(&ctx).await,
            "fanout" => fanout::run(&ctx).await,
            "replay" => replay::run(&ctx).await,
            "replay-check" => recheck::run(&ctx).await,
            "memory" => memory::run(&ctx).await,
            "index" => index::run(&ctx).await,
            "columnar" => columnar::run(&ctx).await,
            "serve" => serve::run(&ctx).await,
            _ => unreachable!("workload names are checked above"),
        }
        .inspect_err(|_| ctx.progress.finish())?;
        r.seconds = started.elapsed().as_secs_f64();
        workloads.push(r);
        ctx.progress.done();
    }
    ctx.progress.finish();
    workloads.sort_by_key(|w| WORKLOADS.iter().position(|n| *n == w.workload));
    let report = Report {
        machine,
        params: json!({
            "quick": ctx.sizes.quick,
            "callers": ctx.sizes.callers,
            "rounds": ctx.sizes.rounds,
            "workloads": selected,
            "sizes": ctx.sizes,
        }),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        workloads,
    };
    output::say("");
    output::say(report.table());
    if let Some(path) = &opts.out {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Bench(format!("encoding the report: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|source| CliError::File {
            path: path.display().to_string(),
            source,
        })?;
        output::say(format!("report written to {}", path.display()));
    }
    Ok(())
}

/// A workload report with no rows yet.
fn workload(name: &'static str, params: serde_json::Value) -> WorkloadReport {
    WorkloadReport {
        workload: name,
        params,
        rows: Vec::new(),
        ratios: Vec::new(),
        seconds: 0.0,
    }
}
