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

fn parse_durability(s: &str) -> Result<Durability, String> {
    s.parse()
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a module crate for wasm32 and validate it; prints the .wasm path last.
    Build {
        /// The module crate's directory (or its Cargo.toml).
        path: PathBuf,
    },
    /// Install modules into a data directory.
    Load {
        #[command(flatten)]
        dir: DataDirArgs,
        /// The .wasm files.
        #[arg(required = true)]
        wasm: Vec<PathBuf>,
    },
    /// Call a reducer; one JSON value per argument; prints the result as JSON.
    Call {
        #[command(flatten)]
        dir: DataDirArgs,
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
        #[command(flatten)]
        dir: DataDirArgs,
        /// Modules to load first.
        wasm: Vec<PathBuf>,
    },
    /// Print a module's schema (from a .wasm file) as JSON.
    Schema {
        /// The .wasm file.
        wasm: PathBuf,
    },
    /// Measure throughput and latency of the hot paths (release builds only
    /// give meaningful figures).
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
    },
    /// The tour: modules, reducers, a cross-module call, a subscription, a
    /// rollback, a restart and a replay.
    Demo {
        /// Where to keep the demo's data (wiped at the start).
        #[arg(long, default_value = ".interstice-demo")]
        data_dir: PathBuf,
        /// Where the example module crates are.
        #[arg(long)]
        modules_dir: Option<PathBuf>,
    },
}
