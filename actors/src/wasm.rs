//! The wasm layer: the wasmtime engine and the compiled-module cache
//! (`engine.rs`), a module's instance (`guest.rs`) and the state its store
//! holds (`host_state.rs`), the host calls a guest imports (`hostcalls.rs`),
//! the guest log's budget (`guest_log.rs`) and the transaction driver that
//! runs one reducer call over the tables (`transaction.rs`).
//!
//! `docs/ARCHITECTURE.md` "Layers" gives the dependency directions.

pub(crate) mod engine;
pub(crate) mod env;
pub(crate) mod guest;
pub(crate) mod guest_log;
pub(crate) mod host_state;
pub(crate) mod hostcalls;
pub(crate) mod schema;
pub(crate) mod transaction;
