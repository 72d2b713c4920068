//! `t_cycle_a`: depends on `t_cycle_b`, which depends on it. Loading both
//! must fail with an error naming the cycle.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_cycle_a",
    version: "0.1.0",
    dependencies: ["t_cycle_b"],
    reducers: [ping],
}

/// Read-calls `t_cycle_b.ping`.
#[reducer(mode = "read")]
fn ping(ctx: &ReadContext) -> u64 {
    ctx.read_call::<u64, ()>("t_cycle_b", "ping", ())
        .unwrap_or_default()
        + 1
}
