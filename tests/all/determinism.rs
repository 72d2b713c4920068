//! Tests: determinism classes that the engine mediates
//! (`docs/DETERMINISM.md`). NaN bit patterns from scalar and SIMD float
//! arithmetic are canonical, relaxed-SIMD instructions take their
//! deterministic semantics, and modules cannot reach a clock, entropy or
//! threads: such imports and features are refused at load with a message
//! that says why. Each live result is also re-executed by `replay-check`.
//! A guest hash map's order is guest state, which `replay-check` detects.

use std::path::Path;

use interstice_actors::{ReplayCheckOptions, Runtime, RuntimeError, Value};

use crate::support::{open, open_with, tempdir, u};

/// Calls `t_determinism.reducer`; returns the `Vec<u64>` it computed.
async fn bits(rt: &Runtime, reducer: &str, args: Vec<Value>) -> Vec<u64> {
    let out = rt
        .call("t_determinism", reducer, args)
        .await
        .unwrap_or_else(|e| panic!("t_determinism.{reducer}: {e}"));
    match out.value {
        Value::Vec(items) => items.iter().map(crate::support::as_u64).collect(),
        other => panic!("t_determinism.{reducer} returned {other:?}"),
    }
}

fn u32v(v: u32) -> Value {
    Value::U32(v)
}

/// `replay-check` of `dir` finds nothing.
async fn replays_exactly(dir: &Path) {
    let dir = dir.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        interstice_actors::replay_check(&dir, &ReplayCheckOptions::default())
    })
    .await
    .expect("replay-check thread")
    .expect("replay-check runs");
    assert!(report.ok(), "{:?}", report.divergence);
    assert!(report.checked > 0);
}

const F32_CANONICAL_NAN: u64 = 0x7fc0_0000;
const F64_CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;
/// A signalling f32 NaN with a payload, and 1.0.
const F32_SNAN: u32 = 0x7fa0_0001;
const F32_ONE: u32 = 0x3f80_0000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_bit_patterns_from_float_and_simd_arithmetic_are_canonical() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_determinism"]).await;
    // sNaN + 1.0 propagates the payload on x86-64 and aarch64 alike, and
    // 0.0 / 0.0 is the CPU's default NaN (sign bit set on x86-64): both
    // come out canonical.
    assert_eq!(
        bits(&rt, "nan_f32", vec![u32v(F32_SNAN), u32v(F32_ONE)]).await,
        [F32_CANONICAL_NAN, F32_CANONICAL_NAN]
    );
    assert_eq!(
        bits(&rt, "nan_f32", vec![u32v(0), u32v(0)]).await,
        [0, F32_CANONICAL_NAN]
    );
    assert_eq!(
        bits(
            &rt,
            "nan_f64",
            vec![u(0x7ff4_0000_0000_0001), u(0x3ff0_0000_0000_0000)]
        )
        .await,
        [F64_CANONICAL_NAN, F64_CANONICAL_NAN]
    );
    assert_eq!(
        bits(&rt, "nan_f64", vec![u(0), u(0)]).await,
        [0, F64_CANONICAL_NAN]
    );
    assert_eq!(
        bits(&rt, "nan_simd", vec![u32v(F32_SNAN), u32v(F32_ONE)]).await,
        [F32_CANONICAL_NAN, F64_CANONICAL_NAN]
    );
    // Ordinary values are untouched.
    assert_eq!(
        bits(&rt, "nan_simd", vec![u32v(F32_ONE), u32v(F32_ONE)]).await,
        [0x4000_0000, 0x3ff0_0000_0000_0000]
    );
    rt.shutdown().await.unwrap();
    replays_exactly(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_simd_takes_its_deterministic_semantics() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_determinism"]).await;
    // `i32x4.relaxed_trunc_f32x4_s` of NaN and of 1e10: x86-64's native
    // lowering gives 0x80000000 for both; the deterministic semantics
    // saturate (0 for NaN, i32::MAX above range).
    assert_eq!(
        bits(&rt, "relaxed_trunc", vec![u32v(0x7fc0_0000)]).await,
        [0]
    );
    assert_eq!(
        bits(&rt, "relaxed_trunc", vec![u32v(1e10f32.to_bits())]).await,
        [0x7fff_ffff]
    );
    assert_eq!(
        bits(&rt, "relaxed_trunc", vec![u32v((-2.5f32).to_bits())]).await,
        [(-2i32) as u32 as u64]
    );
    rt.shutdown().await.unwrap();
    replays_exactly(dir.path()).await;
}

/// A `std` `HashMap` on `wasm32-unknown-unknown` has no entropy source: its
/// `RandomState` keys start from a constant and move on with every map an
/// instance creates. So its order is guest state — the same in every fresh
/// instance, different from one call to the next — and a restart, which
/// starts a fresh instance, is what `replay-check` (one instance from the
/// start of the log) catches: the class is *detected*, like any guest
/// `static` (`docs/DETERMINISM.md`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_hash_maps_order_is_instance_state_and_a_restart_shows_it() {
    let dir = tempdir();
    let (first, second) = {
        let rt = open_with(dir.path(), &["t_determinism"]).await;
        let first = bits(&rt, "hash_order", vec![u32v(64)]).await;
        let second = bits(&rt, "hash_order", vec![u32v(64)]).await;
        rt.shutdown().await.unwrap();
        (first, second)
    };
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..64).collect::<Vec<u64>>(), "every key, once");
    assert_ne!(
        first, second,
        "a second map in the same instance has new keys"
    );
    // A restart means a fresh instance, which starts the keys over.
    let rt = open(dir.path()).await;
    let out = rt
        .call("t_determinism", "hash_order", vec![u32v(64)])
        .await
        .expect("hash_order after a restart");
    let after_restart_ts = out.ts.expect("a write has a timestamp");
    assert_eq!(bits(&rt, "hash_order", vec![u32v(64)]).await, second);
    rt.shutdown().await.unwrap();

    let dir = dir.path().to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        interstice_actors::replay_check(&dir, &ReplayCheckOptions::default())
    })
    .await
    .expect("replay-check thread")
    .expect("replay-check runs");
    let d = report
        .divergence
        .expect("the restart's fresh keys are caught");
    assert_eq!(
        (d.ts, d.module.as_str(), d.reducer.as_str()),
        (after_restart_ts, "t_determinism", "hash_order")
    );
    assert!(
        d.to_string().contains("mutation 0 on table computed"),
        "{d}"
    );
}

/// A minimal module: the exports the host requires, plus `extra`.
fn module_with(extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  {extra}
  (func (export "__interstice_abi_version") (result i32) (i32.const 1))
  (func (export "__interstice_schema") (result i64) (i64.const 0))
  (func (export "__interstice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "__interstice_call") (param i32 i32 i32) (result i64) (i64.const 0))
)"#
    ))
    .expect("valid wat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_entropy_and_threads_are_refused_at_load() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let memory = r#"(memory (export "memory") 1)"#;
    for (import, name) in [
        ("wasi_snapshot_preview1", "clock_time_get"),
        ("wasi_snapshot_preview1", "random_get"),
    ] {
        let wasm = module_with(&format!(
            r#"(import "{import}" "{name}" (func (param i32 i32) (result i32))) {memory}"#
        ));
        match rt.load_module(wasm).await {
            Err(e @ RuntimeError::UnknownImport { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("`{import}::{name}`"))
                        && text.contains("ctx.now() and ctx.rng()"),
                    "{text}"
                );
            }
            other => panic!("importing {import}::{name}: {other:?}"),
        }
    }
    for (what, extra) in [
        (
            "a shared memory",
            r#"(memory (export "memory") 1 1 shared)"#.to_owned(),
        ),
        (
            "an atomic instruction",
            format!(r#"{memory} (func (result i32) (i32.atomic.load (i32.const 0)))"#),
        ),
    ] {
        match rt.load_module(module_with(&extra)).await {
            Err(RuntimeError::MalformedWasm(text)) => assert!(
                text.contains("uses wasm threads") && text.contains("refuses"),
                "{what}: {text}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    }
    rt.shutdown().await.unwrap();
}
