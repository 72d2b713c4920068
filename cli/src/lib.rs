//! The `interstice` command-line tool, as a library so that the integration
//! tests can reuse its guest-module builder.
//!
//! Commands: `build`, `load`, `call`, `run` (JSON-lines server on stdin and
//! stdout, and HTTP/WebSocket with `--listen`: `server`), `check-log` (verify
//! and repair the log), `schema`, `replay-check`, `token`, `demo`. See `interstice --help`.

pub mod args;
pub mod commands;
pub mod error;
pub mod guest_build;
pub mod output;
pub mod server;

pub use error::CliError;
