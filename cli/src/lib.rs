//! The `interstice` command-line tool, as a library so that the integration
//! tests can reuse its guest-module builder.
//!
//! Commands: `build`, `load`, `call`, `run` (JSON-lines server on stdin and
//! stdout, and HTTP/WebSocket with `--listen`: `server`), `check-log` (verify
//! and repair the log), `schema`, `replay-check`, `token`, `demo`, and the
//! inspection tools over a data directory (`log-dump`, `log-inspect`,
//! `tables`, `schema-diff`, `load --dry-run`, `validate`; their read-only
//! layer is [`inspect`]). See `interstice --help`.

pub mod args;
pub mod commands;
pub mod error;
pub mod graph;
pub mod guest_build;
pub mod inspect;
pub mod output;
pub mod server;

pub use error::CliError;
