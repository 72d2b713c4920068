//! `t_determinism`: reducers whose results could depend on the host CPU
//! without the engine's determinism settings (`docs/DETERMINISM.md`): NaN
//! bit patterns from scalar and SIMD float arithmetic, relaxed-SIMD
//! instructions, and the iteration order of a guest-side hash map. Each
//! writes what it computed to a table (so it is in the log, and
//! `replay-check` compares it) and returns it.

use std::collections::HashMap;

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_determinism",
    version: "0.1.0",
    tables: [Computed],
    reducers: [nan_f32, nan_f64, nan_simd, relaxed_trunc, hash_order],
}

#[table(name = "computed")]
pub struct Computed {
    #[primary_key(auto_inc)]
    pub id: u64,
    /// Which reducer computed it.
    pub what: String,
    /// The raw bits (or values) it computed.
    pub bits: Vec<u64>,
}

fn keep(ctx: &mut WriteContext, what: &str, bits: Vec<u64>) -> Vec<u64> {
    ctx.tables.computed().insert(Computed {
        id: 0,
        what: what.into(),
        bits: bits.clone(),
    });
    bits
}

/// The bits of `f32::from_bits(a) + f32::from_bits(b)`: with a NaN operand,
/// x86-64 and aarch64 can produce different NaN payloads; the engine
/// canonicalises them.
#[reducer]
fn nan_f32(ctx: &mut WriteContext, a: u32, b: u32) -> Vec<u64> {
    let sum = f32::from_bits(a) + f32::from_bits(b);
    let quotient =
        (f32::from_bits(a) - f32::from_bits(a)) / (f32::from_bits(b) - f32::from_bits(b));
    keep(
        ctx,
        "nan_f32",
        vec![sum.to_bits().into(), quotient.to_bits().into()],
    )
}

/// [`nan_f32`] in `f64`.
#[reducer]
fn nan_f64(ctx: &mut WriteContext, a: u64, b: u64) -> Vec<u64> {
    let sum = f64::from_bits(a) + f64::from_bits(b);
    let quotient =
        (f64::from_bits(a) - f64::from_bits(a)) / (f64::from_bits(b) - f64::from_bits(b));
    keep(ctx, "nan_f64", vec![sum.to_bits(), quotient.to_bits()])
}

/// Lane 0 of `f32x4.add` of two splats, and of `f64x2.mul`.
#[reducer]
fn nan_simd(ctx: &mut WriteContext, a: u32, b: u32) -> Vec<u64> {
    let bits = simd_lanes(a, b);
    keep(ctx, "nan_simd", bits.to_vec())
}

#[target_feature(enable = "simd128")]
fn simd_lanes(a: u32, b: u32) -> [u64; 2] {
    use core::arch::wasm32::*;
    let s = f32x4_add(
        f32x4_splat(f32::from_bits(a)),
        f32x4_splat(f32::from_bits(b)),
    );
    let wide_a = f64::from(f32::from_bits(a));
    let d = f64x2_mul(
        f64x2_splat(wide_a),
        f64x2_splat(f64::from(f32::from_bits(b))),
    );
    [
        u64::from(f32x4_extract_lane::<0>(s).to_bits()),
        f64x2_extract_lane::<0>(d).to_bits(),
    ]
}

/// Lane 0 of `i32x4.relaxed_trunc_f32x4_s` of a splat of `f32::from_bits(a)`:
/// for NaN or out-of-range input the native lowerings differ (x86-64 gives
/// `0x80000000`); the engine's deterministic mode gives the saturating
/// result (0 for NaN).
#[reducer]
fn relaxed_trunc(ctx: &mut WriteContext, a: u32) -> Vec<u64> {
    let lane = relaxed_lane(a);
    keep(ctx, "relaxed_trunc", vec![u64::from(lane as u32)])
}

#[target_feature(enable = "simd128,relaxed-simd")]
fn relaxed_lane(a: u32) -> i32 {
    use core::arch::wasm32::*;
    i32x4_extract_lane::<0>(i32x4_relaxed_trunc_f32x4(f32x4_splat(f32::from_bits(a))))
}

/// The iteration order of a `std` `HashMap` holding `0..n`: `RandomState`
/// has no entropy source on `wasm32-unknown-unknown`, so the order is the
/// same in every instance.
#[reducer]
fn hash_order(ctx: &mut WriteContext, n: u32) -> Vec<u64> {
    let map: HashMap<u32, ()> = (0..n).map(|i| (i, ())).collect();
    let order = map.keys().map(|k| u64::from(*k)).collect();
    keep(ctx, "hash_order", order)
}
