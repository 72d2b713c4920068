//! Interstice integration tests: one binary, one module per topic
//! (wasmtime's `tests/all` style). They build the guest modules once per
//! run (adding the wasm target if needed) and drive the runtime through its
//! embedding API and, for process-level behaviour, the real `interstice`
//! binary.

mod support;

mod cli;
mod concurrency;
mod durability;
mod errors;
mod ordering;
mod recovery;
mod replay;
mod rollback;
