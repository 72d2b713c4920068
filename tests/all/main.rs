//! Interstice integration tests: one binary, one module per topic
//! (wasmtime's `tests/all` style). They build the guest modules once per
//! run (adding the wasm target if needed) and drive the runtime through its
//! embedding API and, for process-level behaviour, the real `interstice`
//! binary.

mod support;

mod app;
mod backup;
mod bench;
mod bindings;
mod cli;
mod columnar;
mod concurrency;
mod containment;
mod crash;
mod dashboard;
mod datadir;
mod deliveries;
mod determinism;
mod dev;
mod durability;
mod engines;
mod errors;
mod example;
mod faults;
mod filters;
mod graph_subs;
mod graph_trace;
mod indexes;
mod isolation;
mod layers;
mod log_dump;
mod log_inspect;
mod migrations;
mod module_logs;
mod named_types;
mod ordering;
mod recovery;
mod replay;
mod replay_check;
mod replay_debug;
mod replies;
mod rollback;
mod run_protocol;
mod schema_diff;
mod schema_export;
mod server;
mod snapshots;
mod stress;
mod tables;
mod traces;
mod ts_client;
mod unload;
mod upgrade;
mod validate;
mod values;
