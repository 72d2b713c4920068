//! The recovery layer: the state the log describes (`log_state.rs`), the
//! deliveries still owed after a commit and the fan-out budget
//! (`deliveries.rs`), where the depth limit cut a chain
//! (`chain_cuts.rs`, for the inspection tools), the replay of the log at open (`replay.rs`) and the
//! snapshotter (`snapshot.rs`).
//!
//! `docs/ARCHITECTURE.md` "Layers" gives the dependency directions.

pub(crate) mod chain_cuts;
pub(crate) mod deliveries;
pub(crate) mod log_state;
pub(crate) mod replay;
pub(crate) mod snapshot;
