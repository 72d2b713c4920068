//! `t_busy`: a CPU burner under its own module name, so a test can keep two
//! modules inside wasm at the same time (each module runs on its own
//! thread). Its `busy` is the same as `t_hostile`'s.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_busy",
    version: "0.1.0",
    reducers: [busy],
}

/// Burns CPU deterministically for `iterations` rounds of xorshift and
/// returns the final state (writes nothing).
#[reducer]
fn busy(_ctx: &mut WriteContext, iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = core::hint::black_box(x);
    }
    x
}
