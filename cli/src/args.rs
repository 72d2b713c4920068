//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use interstice_actors::Durability;

/// Interstice: run sandboxed WebAssembly modules with transactional tables,
/// subscriptions and a durable, replayable log.
#[derive(Debug, Parser)]
#[command(name = "interstice", version, about)]
pub struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// Log format for diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Diagnostic log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// How a command that produces a report prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object.
    Json,
}

/// Options shared by commands that open a data directory.
#[derive(Debug, clap::Args)]
pub struct DataDirArgs {
    /// The data directory (created if missing; locked while in use).
    #[arg(long, short = 'd', default_value = "interstice-data")]
    pub data_dir: PathBuf,
    /// When writes are acknowledged: sync (after fsync), periodic(MS), none.
    #[arg(long, default_value = "sync", value_parser = parse_durability)]
    pub durability: Durability,
}

fn parse_durability(s: &str) -> Result<Durability, interstice_actors::ParseDurabilityError> {
    s.parse()
}

/// The data directory of `check-log` and `replay-check`: positional, as
/// those two always took it, or `-d/--data-dir` like every other command
/// (exactly one of the two).
#[derive(Debug, Clone, clap::Args)]
pub struct DirArg {
    /// The data directory (positional form).
    #[arg(
        value_name = "DIR",
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    pub dir: Option<PathBuf>,
    /// The data directory.
    #[arg(long, short = 'd', value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DirArg {
    /// The directory given, in either form.
    pub fn path(&self) -> PathBuf {
        self.dir
            .clone()
            .or_else(|| self.data_dir.clone())
            .unwrap_or_default()
    }
}

/// `run` options for segment rotation, snapshots and retention
/// (`docs/SNAPSHOT_FORMAT.md`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SnapshotArgs {
    /// Take a snapshot every N log entries; retention then deletes the log
    /// segments the oldest kept snapshot covers.
    #[arg(long, value_name = "N")]
    pub snapshot_every: Option<u64>,
    /// Take a snapshot every BYTES of log written.
    #[arg(long, value_name = "BYTES")]
    pub snapshot_every_bytes: Option<u64>,
    /// Snapshots retention keeps (default 2).
    #[arg(long, value_name = "K")]
    pub keep_snapshots: Option<usize>,
    /// Start a new log segment once the current one would exceed BYTES
    /// (default 64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub segment_size: Option<u64>,
}

/// `run --trace`: reducer traces (`docs/TOOLS.md`, "Reducer traces").
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceArgs {
    /// Write every reducer execution to FILE in Chrome's Trace Event
    /// format (open it in Perfetto or chrome://tracing): one span per
    /// execution with module, reducer, timestamp, outcome and fuel, read
    /// calls nested, flow arrows from a commit to its deliveries.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write folded stacks (`module;reducer;callee.reducer MICROS`, self
    /// wall time) to FILE at shutdown, for flamegraph tools.
    #[arg(long, value_name = "FILE")]
    pub trace_folded: Option<PathBuf>,
}

impl TraceArgs {
    /// The runtime's trace configuration.
    pub fn config(&self) -> interstice_actors::TraceConfig {
        let mut c = interstice_actors::TraceConfig::default();
        if let Some(p) = &self.trace {
            c = c.with_chrome(p);
        }
        if let Some(p) = &self.trace_folded {
            c = c.with_folded(p);
        }
        c
    }
}

/// `run` options that open the state as of a point of the log, read-only.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReplayArgs {
    /// Inspect the state as of timestamp TS: replay only the log entries up
    /// to TS, then serve read-only (writes are refused: appending after a
    /// truncated replay would fork the log's history).
    #[arg(long, value_name = "TS")]
    pub stop_at: Option<u64>,
    /// Recovery: replay the valid prefix of a damaged log, then resume at
    /// this later position (a segment file name or first timestamp, and a
    /// byte offset where a complete batch starts, or 0 for the segment's
    /// start), accepting the chain break there; serves read-only.
    #[arg(long, value_name = "SEGMENT:OFFSET", value_parser = parse_position)]
    pub skip_to_log_offset: Option<interstice_persist::LogPosition>,
}

fn parse_position(
    s: &str,
) -> Result<interstice_persist::LogPosition, interstice_persist::ParseLogPositionError> {
    s.parse()
}

/// `run --listen`: serve the HTTP and WebSocket API too (`docs/SERVER.md`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListenArgs {
    /// Serve HTTP/1.1 and WebSocket on ADDR (e.g. 127.0.0.1:7070; port 0
    /// picks a free port, named in the ready line and in DIR/SERVER). Every
    /// request needs a token from DIR/TOKEN or DIR/READ_TOKEN (created on
    /// first use). End of input on stdin then no longer stops the server:
    /// SIGINT or SIGTERM does.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Allow a --listen address that is not loopback (the API is plain
    /// HTTP: put it behind a TLS proxy).
    #[arg(long, requires = "listen")]
    pub listen_public: bool,
    /// Let browser pages from ORIGIN (e.g. `https://dash.example.com`) use
    /// the API; repeatable. The server's own origin (the dashboard at /)
    /// is always allowed; any other Origin is refused.
    #[arg(long, value_name = "ORIGIN", requires = "listen")]
    pub allow_origin: Vec<String>,
}

impl ListenArgs {
    /// The server's options, if `--listen` was given.
    pub fn options(&self) -> Option<crate::server::ServerOptions> {
        self.listen.map(|listen| crate::server::ServerOptions {
            listen,
            public: self.listen_public,
            allowed_origins: self.allow_origin.clone(),
        })
    }
}

/// `call` and `load` through a server named explicitly (`docs/SERVER.md`
/// §8); without it they go through the server holding `-d DIR`, if any.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// Send the request to this server (http://HOST:PORT) instead of opening
    /// the data directory.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// With --server: the file holding the token (mode 0600). Default: the
    /// INTERSTICE_TOKEN environment variable, else DIR/TOKEN.
    #[arg(long, value_name = "PATH", requires = "server")]
    pub token_file: Option<PathBuf>,
}

/// What `interstice token` does.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Replace the access tokens (DIR/TOKEN, DIR/READ_TOKEN) with new random
    /// ones; a running server takes them within a second.
    Rotate {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Which token to replace.
        #[arg(long, value_enum, default_value_t = crate::server::Which::Both)]
        which: crate::server::Which,
    },
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a module crate for wasm32 and validate it; prints the .wasm path last.
    Build {
        /// The module crate's directory (or its Cargo.toml).
        path: PathBuf,
    },
    /// Install modules into a data directory; with --dry-run, print what
    /// it would do (install, or the upgrade plan) and change nothing.
    Load {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// Print the plan (as `schema-diff DIR:MODULE NEW.wasm` does) without
        /// loading: exit 0 if every module would load as it is, 1 if one
        /// needs a migration, 2 if one is breaking. Reads the directory
        /// without the lock.
        #[arg(long)]
        dry_run: bool,
        /// Format of the --dry-run plan.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text, requires = "dry_run")]
        format: ReportFormat,
        /// A server to go through.
        #[command(flatten)]
        remote: RemoteArgs,
        /// The .wasm files.
        #[arg(required = true)]
        wasm: Vec<PathBuf>,
    },
    /// Unload a module: refused while another loaded module depends on
    /// it; its tables are kept (loading it again brings them back) unless
    /// --drop-tables.
    Unload {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// Drop the module's tables (logged): loading it again starts empty.
        #[arg(long)]
        drop_tables: bool,
        /// A server to go through.
        #[command(flatten)]
        remote: RemoteArgs,
        /// Module name.
        module: String,
    },
    /// Call a reducer; one JSON value per argument; prints the result as JSON.
    Call {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// A server to go through.
        #[command(flatten)]
        remote: RemoteArgs,
        /// Module name.
        module: String,
        /// Reducer name.
        reducer: String,
        /// Arguments, one JSON value each (strings need quotes: '"alice"').
        args: Vec<String>,
    },
    /// Serve: load modules, then answer JSON-lines requests on stdin until
    /// end of input or Ctrl+C.
    Run {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// Where to stop or resume replay (a read-only run).
        #[command(flatten)]
        replay: ReplayArgs,
        /// Snapshots and retention.
        #[command(flatten)]
        snapshots: SnapshotArgs,
        /// The HTTP and WebSocket API.
        #[command(flatten)]
        listen: ListenArgs,
        /// Reducer traces.
        #[command(flatten)]
        trace: TraceArgs,
        /// Modules to load first.
        wasm: Vec<PathBuf>,
    },
    /// Develop modules: build each module crate, serve them over HTTP and
    /// WebSocket (as `run --listen`), watch their sources and, on a change,
    /// rebuild and upgrade the running module (an incompatible upgrade is
    /// refused with the upgrade plan and the old module keeps serving).
    /// Stops at SIGINT, SIGTERM or end of input on stdin.
    Dev {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// Where to serve (port 0: a free port, printed on stdout and
        /// written to DIR/SERVER).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Allow a --listen address that is not loopback.
        #[arg(long)]
        listen_public: bool,
        /// Let browser pages from ORIGIN use the API, as `run --allow-origin`
        /// (repeatable).
        #[arg(long, value_name = "ORIGIN")]
        allow_origin: Vec<String>,
        /// How long the sources must stay unchanged before a rebuild starts
        /// (a burst of saves is one rebuild), in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        debounce_ms: u64,
        /// Do not read stdin: only SIGINT or SIGTERM stops it (for running
        /// it in the background with no input).
        #[arg(long)]
        no_stdin: bool,
        /// The module crates (directories with a Cargo.toml), loaded in this
        /// order.
        #[arg(required = true, value_name = "CRATE_DIR")]
        crates: Vec<PathBuf>,
    },
    /// The HTTP API's access tokens (`docs/SECURITY.md`).
    Token {
        /// What to do.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Verify the whole log: report every problem with its segment, byte
    /// offset and timestamp (exit code 1 if there is any), or a summary.
    /// Without --repair it only reads (no lock is taken).
    CheckLog {
        /// The data directory.
        #[command(flatten)]
        dir: DirArg,
        /// Keep the valid prefix and move everything after the first problem
        /// into `<segment>.broken` files (never deletes a byte), so the log
        /// opens again. Takes the data directory's lock.
        #[arg(long)]
        repair: bool,
    },
    /// Take a snapshot now (`docs/SNAPSHOT_FORMAT.md`) and print
    /// `{"ts": N}`, the timestamp it covers; retention then runs. Through the
    /// serving `run --listen` when one holds the directory (`POST
    /// /v1/snapshot`: that server needs snapshots enabled), else with the
    /// directory's lock.
    Snapshot {
        /// The data directory.
        #[command(flatten)]
        dir: DataDirArgs,
        /// A server named explicitly.
        #[command(flatten)]
        remote: RemoteArgs,
        /// Snapshots retention keeps when the directory is opened here
        /// (default 2); a server keeps what its own --keep-snapshots says.
        #[arg(long, value_name = "K")]
        keep_snapshots: Option<usize>,
    },
    /// Write a consistent, verified copy of a data directory to DEST (a new
    /// directory), while a server holding it keeps serving: through the
    /// server when one holds the directory, else with the directory's lock.
    /// DEST opens like any data directory (restoring is opening it).
    Backup {
        /// The data directory.
        #[arg(long, short = 'd', default_value = "interstice-data")]
        data_dir: PathBuf,
        /// Where to write the backup: a path that does not exist (or an
        /// empty directory), outside the data directory, not a symlink.
        dest: PathBuf,
    },
    /// Re-execute every logged transaction against the installed module
    /// binaries, feeding back the recorded non-deterministic inputs, and
    /// compare each with the log; report the first divergence (exit code 1).
    /// Read-only: safe on a directory a runtime has open.
    ReplayCheck {
        /// The data directory.
        #[command(flatten)]
        dir: DirArg,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Fuel budget per call the log was written with (default: the
        /// runtime's default).
        #[arg(long)]
        fuel: Option<u64>,
        /// Memory cap per instance, in bytes, the log was written with
        /// (default: the runtime's default).
        #[arg(long)]
        memory_bytes: Option<usize>,
    },
    /// The module logs the runtime keeps in DIR/logs/: guest log lines
    /// with the timestamp, module and reducer of their commit, failed
    /// deliveries and cut trigger chains. Read-only: no lock is taken.
    Logs {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Only this module's records.
        #[arg(long, value_name = "MODULE")]
        module: Option<String>,
        /// Only records at this level or more severe: error, warn, info,
        /// debug or trace.
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        /// After the records so far, wait for new ones (until stdout closes
        /// or the process is interrupted).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::commands::logs::LogsFormat::Text)]
        format: crate::commands::logs::LogsFormat,
    },
    /// An interactive debugger over the committed history: step, back,
    /// goto, breakpoints, table state, diffs and re-execution of a commit,
    /// one command per line on stdin (a prompt at a terminal; scriptable,
    /// `help` lists the commands). A bad line is reported on stderr and
    /// skipped, and the session reads on; the exit code at the end of input
    /// says whether any line failed. Read-only: no lock is taken.
    ReplayDebug {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Replies as text, or one JSON object per command line.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Resume from a session's `export FILE` (its checkpoints are
        /// checked against the log).
        #[arg(long, value_name = "FILE")]
        load: Option<PathBuf>,
        /// Take a checkpoint every N entries (the spacing doubles when
        /// checkpoints are evicted).
        #[arg(long, value_name = "N", default_value_t = crate::commands::replay_debug::DEFAULT_EVERY)]
        checkpoint_every: u64,
        /// Keep at most this many checkpoints (each a copy of the state)
        /// besides the start of the log.
        #[arg(long, value_name = "N", default_value_t = crate::commands::replay_debug::DEFAULT_MAX)]
        max_checkpoints: usize,
        /// Fuel budget per call the log was written with (for `rerun`).
        #[arg(long)]
        fuel: Option<u64>,
        /// Memory cap per instance, in bytes, the log was written with (for
        /// `rerun`).
        #[arg(long)]
        memory_bytes: Option<usize>,
    },
    /// Export the log for analysis: one JSON object per entry, or one CSV
    /// line per mutation (rows decoded with the logged schema). Read-only:
    /// no lock is taken.
    LogDump {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::commands::log_dump::DumpFormat::Json)]
        format: crate::commands::log_dump::DumpFormat,
    },
    /// The committed history: commits in timestamp order with their cause,
    /// outcome, mutations (before and after), calls and the deliveries
    /// they caused, filtered. Read-only: no lock is taken.
    LogInspect {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Which commits.
        #[command(flatten)]
        filters: crate::commands::log_inspect::InspectFilters,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::commands::log_inspect::InspectFormat::Text)]
        format: crate::commands::log_inspect::InspectFormat,
        /// The `Limits::max_trigger_depth` the log was written with: where
        /// it cut a chain is shown at the commit (default: the runtime's).
        #[arg(long, value_name = "N", default_value_t = interstice_actors::Limits::default().max_trigger_depth)]
        max_trigger_depth: u32,
    },
    /// The transaction graph (commits as nodes, async calls, triggers and
    /// read calls as edges) of a ts window or a --caused-by chain, written
    /// as .dot, .graphml, .svg or one offline .html page by OUT's
    /// extension. Read-only: no lock is taken.
    GraphTrace {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// The file to write: `.html`, `.graphml`, `.svg` or `.dot`.
        out: PathBuf,
        /// Only timestamps from TS on.
        #[arg(long, value_name = "TS")]
        from_ts: Option<u64>,
        /// Only timestamps up to TS.
        #[arg(long, value_name = "TS")]
        to_ts: Option<u64>,
        /// Only the chain the commit at TS set off (it and every commit it
        /// caused, transitively).
        #[arg(long, value_name = "TS")]
        caused_by: Option<u64>,
        /// Refuse a selection of more nodes than this.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        max_nodes: usize,
    },
    /// The subscription and dependency graph of the modules installed in
    /// -d DIR and/or given as .wasm files: tables, reducers, triggers (table
    /// → trigger), the tables each trigger may write (declared, or any),
    /// read-call dependencies; subscription cycles in red and listed.
    /// Written as .dot, .graphml, .svg or .html by OUT's extension.
    /// Read-only: no lock is taken.
    GraphSubs {
        /// The data directory whose installed modules to draw.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// MODULE.wasm files (each in place of an installed module of its
        /// name), then OUT: `.html`, `.graphml`, `.svg` or `.dot`.
        #[arg(value_name = "MODULE.wasm... OUT", required = true)]
        paths: Vec<PathBuf>,
    },
    /// The tables' state at the end of the log or at --at-ts, rebuilt from
    /// the log (no wasm runs, no lock is taken): row counts per table, or a
    /// table's rows.
    Tables {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// The module (every module's counts when absent).
        module: Option<String>,
        /// The table (the module's counts when absent).
        table: Option<String>,
        /// The state as of timestamp TS.
        #[arg(long, value_name = "TS")]
        at_ts: Option<u64>,
        /// Only rows matching PRED, e.g. 'balance >= 10 and owner != "bob"'
        /// (=, !=, <, <=, >, >=, is none, and, or, not, parentheses; values
        /// as JSON). Evaluated by the host's filter code.
        #[arg(long = "where", value_name = "PRED")]
        predicate: Option<String>,
        /// At most N rows.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::commands::tables::TablesFormat::Table)]
        format: crate::commands::tables::TablesFormat,
    },
    /// Compare two versions of a module's schema: each difference
    /// classified compatible, needs migration or breaking, with its rule;
    /// exit 0, 1 or 2 for the worst, 3 for unusable input. Each side is a
    /// .wasm file or DIR:MODULE (a module installed in a data directory).
    SchemaDiff {
        /// The old version: FILE.wasm or DIR:MODULE.
        old: String,
        /// The new version: FILE.wasm or DIR:MODULE.
        new: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Check a module without loading it: the runtime's compile checks, its
    /// declared memory against the cap and, with -d, the upgrade,
    /// subscription and dependency checks against the installed modules;
    /// every problem listed, exit 1 if any. Runs no reducer, changes
    /// nothing, takes no lock.
    Validate {
        /// The .wasm file.
        wasm: PathBuf,
        /// A data directory to check the load against.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Memory cap per instance, in bytes (default: the runtime's).
        #[arg(long)]
        memory_bytes: Option<usize>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Print a module's schema (from a .wasm file, or as installed in a
    /// data directory with -d) as JSON (the default), YAML, human-readable
    /// text, TypeScript declarations or JSON Schema (`docs/SDK.md`).
    Schema {
        /// The .wasm file; with -d, the module's name.
        module: String,
        /// Read the module's latest install from this data directory's log.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::commands::schema::SchemaFormat::Json)]
        format: crate::commands::schema::SchemaFormat,
    },
    /// Typed bindings of a module, for the modules that call it or subscribe
    /// to its tables: `generate rust inventory.wasm -o src/inventory.rs`
    /// (docs/SDK.md, "Bindings").
    Generate {
        /// The language.
        #[arg(value_enum)]
        language: crate::commands::generate::Language,
        /// The .wasm file; with -d, the module's name.
        module: String,
        /// Read the module's latest install from this data directory's log.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Write the bindings to this file (and print its path) instead of
        /// printing them.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A new module crate in directory NAME: Cargo.toml, src/lib.rs with a
    /// table, a write and a read reducer, and bindings for each --dep
    /// (docs/SDK.md, "Starting a module").
    Init {
        /// The crate's directory; its last component is the module's name.
        name: PathBuf,
        /// A module the new one depends on: its bindings are generated into
        /// src/ and it is declared a dependency. Repeatable.
        #[arg(long = "dep", value_name = "MODULE.wasm")]
        deps: Vec<PathBuf>,
        /// The interstice-sdk dependency line's path (default: this
        /// repository's sdk/, as the running binary was built from it).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
    },
    /// Measure the workloads against their baselines: prints a table, writes
    /// JSON with --out (release builds only give meaningful figures).
    Bench {
        /// Tiny sizes, for CI.
        #[arg(long)]
        quick: bool,
        /// Write a JSON report here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Concurrent callers.
        #[arg(long, default_value_t = 64)]
        callers: usize,
        /// Rounds per workload (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Run only these workloads (comma-separated): noop, transfer,
        /// keynote, contended, insert, scale, fanout, replay, replay-check,
        /// memory, index, columnar, serve.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// keynote: calls each client keeps in flight.
        #[arg(long, default_value_t = 40, value_name = "N")]
        in_flight: usize,
        /// contended: threads of the CPU hog spinning beside the contended
        /// rounds (default: one per core).
        #[arg(long, value_name = "N")]
        hog_threads: Option<usize>,
        /// Skip the baselines (to profile the runtime's workloads alone).
        #[arg(long)]
        no_baselines: bool,
        /// Trace every runtime the workloads open: a Chrome trace per data
        /// directory, `DIR/<workload dir>.json` (to see what tracing costs;
        /// the files are large).
        #[arg(long, value_name = "DIR")]
        trace_dir: Option<PathBuf>,
    },
    /// The tour: modules, reducers, a cross-module call, a subscription, a
    /// rollback, a restart and a replay. With `--app`: the economy
    /// application end to end (load, an upgrade with a migration, a SIGKILL
    /// mid-run, a restart, every acknowledged action checked, replay-check).
    Demo {
        /// Where to keep the demo's data (wiped at the start).
        #[arg(long, default_value = ".interstice-demo")]
        data_dir: PathBuf,
        /// Where the example module crates are.
        #[arg(long)]
        modules_dir: Option<PathBuf>,
        /// Run the economy application (modules/examples/economy) instead.
        #[arg(long)]
        app: bool,
        /// With --app: simulated players in each phase.
        #[arg(long, default_value_t = 32, requires = "app")]
        players: u32,
        /// With --app: seconds of play, split between the two phases.
        #[arg(long, default_value_t = 6.0, requires = "app")]
        seconds: f64,
    },
    /// The economy application's load generator: simulated players join,
    /// gather, craft, list and buy; installs the economy's modules first if
    /// the data directory lacks them.
    AppLoad {
        /// The data directory.
        #[arg(long, short = 'd', value_name = "DIR")]
        data_dir: PathBuf,
        /// Simulated players.
        #[arg(long, default_value_t = 32)]
        players: u32,
        /// Seconds of play.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Tells this run's player names and nonces from earlier runs' on
        /// the same directory (1 to 255).
        #[arg(long, default_value_t = 1)]
        phase: u8,
        /// Append every acknowledged action to FILE, one JSON line each.
        #[arg(long, value_name = "FILE")]
        acks: Option<PathBuf>,
        /// Where the module crates are (to build the economy if needed).
        #[arg(long)]
        modules_dir: Option<PathBuf>,
        /// Play nothing: open the data directory (replaying it), check that
        /// every action in --acks survived and the economy's invariants
        /// hold, print a summary; exit code 1 if not (e.g. after a SIGKILL).
        #[arg(long, requires = "acks")]
        verify_only: bool,
    },
}
