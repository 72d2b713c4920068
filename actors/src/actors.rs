//! The actors layer: one actor per loaded module (`module_actor.rs`, with
//! its outbox of finished, unnumbered transactions), the sequencer, the
//! log-writer and the subscription router, started by `system.rs`; the
//! messages between them (`messages.rs`); and the registry every part of
//! the runtime reaches them through (`shared.rs`); the module-log and
//! reducer-trace writer threads (`module_log.rs`, `trace.rs`).
//!
//! `docs/ARCHITECTURE.md` "Layers" gives the dependency directions and
//! "Life of a call" the order a call passes through these files.

pub(crate) mod log_writer;
pub(crate) mod messages;
pub(crate) mod module_actor;
pub(crate) mod module_log;
pub(crate) mod outbox;
pub(crate) mod peers;
pub(crate) mod router;
pub(crate) mod sequencer;
pub(crate) mod shared;
pub(crate) mod system;
pub(crate) mod trace;
