//! `t_hostile`: misbehaving reducers for the runtime's tests. Every reducer
//! that fails writes a row first, so a test can check the rollback with
//! `mark_count`.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_hostile",
    version: "0.1.0",
    tables: [Mark],
    reducers: [
        noop, mark, mark_count, trap, panic, fail, spin, membomb, write_then_trap, busy, deep,
    ],
}

#[table(name = "marks")]
pub struct Mark {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub note: String,
}

fn write_mark(ctx: &WriteContext, note: &str) -> u64 {
    ctx.tables
        .marks()
        .insert(Mark {
            id: 0,
            note: note.to_owned(),
        })
        .id
}

fn wasm_trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Does nothing.
#[reducer]
fn noop(_ctx: &mut WriteContext) {}

/// Writes a row and succeeds; returns its id.
#[reducer]
fn mark(ctx: &mut WriteContext, note: String) -> u64 {
    write_mark(ctx, &note)
}

/// Number of rows in `marks`.
#[reducer(mode = "read")]
fn mark_count(ctx: &ReadContext) -> u64 {
    ctx.tables.marks().count()
}

/// Executes `unreachable` straight away.
#[reducer]
fn trap(_ctx: &mut WriteContext) {
    wasm_trap()
}

/// Panics with the message "boom" after writing a row.
#[reducer]
fn panic(ctx: &mut WriteContext) {
    write_mark(ctx, "panic");
    panic!("boom");
}

/// Writes a row, then returns `Err`.
#[reducer]
fn fail(ctx: &mut WriteContext) -> Result<(), String> {
    write_mark(ctx, "fail");
    Err("failed on purpose".into())
}

/// Writes a row, then loops forever: only the execution budget stops it.
#[reducer]
fn spin(ctx: &mut WriteContext) {
    write_mark(ctx, "spin");
    let mut i: u64 = 0;
    loop {
        i = core::hint::black_box(i.wrapping_add(1));
    }
}

/// Writes a row, then allocates until memory runs out (the allocation
/// failure aborts: a trap).
#[reducer]
fn membomb(ctx: &mut WriteContext) {
    write_mark(ctx, "membomb");
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = 1;
        hoard.push(core::hint::black_box(chunk));
    }
}

/// Writes a row, then traps.
#[reducer]
fn write_then_trap(ctx: &mut WriteContext) {
    write_mark(ctx, "write_then_trap");
    wasm_trap()
}

/// Burns CPU deterministically for `iterations` rounds of xorshift and
/// returns the final state (writes nothing). Tests use it to show two
/// modules running wasm at the same time.
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

/// Recurses `depth` calls deep and returns a hash of the path: each call is
/// a wasm frame on the engine's stack (`max_wasm_stack`), so deep enough it
/// traps with "stack overflow" (`docs/DETERMINISM.md`).
#[reducer]
fn deep(_ctx: &mut WriteContext, depth: u32) -> u64 {
    down(depth)
}

/// Not a tail call, and not an accumulator the compiler could turn into a
/// loop: the result of the inner call is multiplied, then added to.
#[inline(never)]
fn down(n: u32) -> u64 {
    if n == 0 {
        return 1;
    }
    down(n - 1).wrapping_mul(31).wrapping_add(u64::from(n))
}
