//! The concurrent core of Interstice, kept small so that loom can model it.
//!
//! - [`CommitOrder`]: module threads take global, gapless timestamps for
//!   transactions that have finished (validated, for a transaction that
//!   read other modules, against the [`ModuleClock`]s of what it read) and
//!   hand their finished commits back in any order; the sequencer releases
//!   them strictly in timestamp order, with no gap and no duplicate. The
//!   protocol, and why it makes timestamp order a serial order, is
//!   described on [`CommitOrder`].
//! - [`Watermark`]: the durability watermark. The log-writer publishes the
//!   highest timestamp covered by an fsync; callers wait on it (or register
//!   a callback with `on_reach`) before they acknowledge, so no
//!   acknowledgement can precede the fsync that covers it.
//! - [`WriteGate`]: whether writes are accepted; closed for good, with one
//!   [`Refusal`], by a storage fault or by opening read-only.
//!
//! Everything here uses [`sync`] primitives, which are `loom`'s under
//! `--cfg loom` and `std`'s otherwise. The loom models live in
//! `tests/loom.rs`; run them with
//! `RUSTFLAGS="--cfg loom" cargo test -p interstice-sync --release --test loom`.

mod gate;
mod order;
mod watermark;

pub use gate::{Refusal, WriteGate};
pub use order::{CommitOrder, ModuleClock, OrderViolation, Stale};
pub use watermark::{Watermark, WatermarkError};

/// `std` or `loom` synchronization primitives.
pub mod sync {
    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    #[cfg(loom)]
    pub use loom::sync::{Arc, Mutex};

    #[cfg(not(loom))]
    pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    #[cfg(not(loom))]
    pub use std::sync::{Arc, Mutex};
}
