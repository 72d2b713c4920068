//! Baseline: calling wasm directly with wasmtime `TypedFunc`s in a loop on
//! one thread — no actors, no tables, no log. Two variants:
//!
//! - `t_hostile`'s `noop` reducer through its real entry points, exactly as
//!   the module actor does it per call (`actors/src/wasm/guest.rs`): set the
//!   fuel, `__interstice_alloc`, copy the argument array, `__interstice_call`,
//!   read the result. Its host imports are stubbed (the noop path calls
//!   none).
//! - a minimal `(func (export "noop"))`: the bare cost of entering wasm.
//!
//! The engine is configured like the runtime's (fuel metering on, 1 MiB wasm
//! stack). Calls are timed in batches (timing each one would cost as much as
//! the call), so there are no per-call percentiles.

use std::time::Instant;

use wasmtime::{Config, Engine, Instance, Linker, Module, Store, TypedFunc};

use crate::error::CliError;

/// Fuel per call, as the runtime's default limit.
const FUEL: u64 = 50_000_000;

fn engine() -> Result<Engine, CliError> {
    let mut cfg = Config::new();
    cfg.consume_fuel(true).max_wasm_stack(1 << 20);
    Engine::new(&cfg).map_err(|e| CliError::Bench(format!("wasmtime engine: {e:#}")))
}

fn err(what: &str) -> impl Fn(wasmtime::Error) -> CliError + '_ {
    move |e| CliError::Bench(format!("{what}: {e:#}"))
}

/// Calls `t_hostile`'s reducer #0 (`noop`) `calls` times per round; returns
/// each round's calls per second.
pub(super) fn hostile_noop(wasm: &[u8], calls: u64, rounds: usize) -> Result<Vec<f64>, CliError> {
    let engine = engine()?;
    let module = Module::new(&engine, wasm).map_err(err("compiling t_hostile"))?;
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .define_unknown_imports_as_default_values(&mut store, &module)
        .map_err(err("stubbing imports"))?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(err("instantiating t_hostile"))?;
    let alloc: TypedFunc<i32, i32> = instance
        .get_typed_func(&mut store, "__interstice_alloc")
        .map_err(err("__interstice_alloc"))?;
    let call: TypedFunc<(i32, i32, i32), i64> = instance
        .get_typed_func(&mut store, "__interstice_call")
        .map_err(err("__interstice_call"))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| CliError::Bench("t_hostile has no memory export".into()))?;
    // The empty argument array, as the runtime passes it.
    let args = [0x80u8];
    let one = |store: &mut Store<()>| -> Result<(u32, u32), CliError> {
        store.set_fuel(FUEL).map_err(err("set_fuel"))?;
        let ptr = alloc
            .call(&mut *store, args.len() as i32)
            .map_err(err("alloc"))?;
        let start = ptr as u32 as usize;
        memory.data_mut(&mut *store)[start..start + args.len()].copy_from_slice(&args);
        let packed = call
            .call(&mut *store, (0, ptr, args.len() as i32))
            .map_err(err("noop"))?;
        Ok(((packed as u64 >> 32) as u32, packed as u32))
    };
    // `[0, null]`: the noop reducer's Ok(()) result.
    let (rptr, rlen) = one(&mut store)?;
    let result = &memory.data(&store)[rptr as usize..(rptr + rlen) as usize];
    if result != [0x82, 0x00, 0xf6] {
        return Err(CliError::Bench(format!(
            "t_hostile reducer #0 is not noop: it returned {result:02x?}"
        )));
    }
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..calls {
            one(&mut store)?;
        }
        rates.push(calls as f64 / start.elapsed().as_secs_f64());
    }
    Ok(rates)
}

/// Calls a minimal exported no-op function `calls` times per round.
pub(super) fn wat_noop(calls: u64, rounds: usize) -> Result<Vec<f64>, CliError> {
    let engine = engine()?;
    let wasm = wat::parse_str(r#"(module (func (export "noop")))"#)
        .map_err(|e| CliError::Bench(format!("wat: {e}")))?;
    let module = Module::new(&engine, wasm).map_err(err("compiling the noop module"))?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).map_err(err("instantiating"))?;
    let noop: TypedFunc<(), ()> = instance
        .get_typed_func(&mut store, "noop")
        .map_err(err("noop"))?;
    let mut rates = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        store.set_fuel(u64::MAX / 2).map_err(err("set_fuel"))?;
        let start = Instant::now();
        for _ in 0..calls {
            noop.call(&mut store, ()).map_err(err("noop"))?;
        }
        rates.push(calls as f64 / start.elapsed().as_secs_f64());
    }
    Ok(rates)
}
