//! `t_nondet`: a deliberately non-deterministic reducer, for
//! `replay-check`. Its result depends on a guest `static` that survives
//! between calls in a live instance but starts over in a fresh one, so
//! re-executing the log diverges. Never do this in a real module.

use std::sync::atomic::{AtomicU64, Ordering};

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_nondet",
    version: "0.1.0",
    tables: [Tick],
    reducers: [tick],
}

#[table(name = "ticks")]
pub struct Tick {
    #[primary_key(auto_inc)]
    pub id: u64,
    /// The guest-side counter when the row was written.
    pub counter: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Bumps the guest-side counter, writes its value and returns it.
#[reducer]
fn tick(ctx: &mut WriteContext) -> u64 {
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    ctx.tables.ticks().insert(Tick { id: 0, counter });
    counter
}
