//! `b_index`: the index workload of `interstice bench`
//! (`cli/src/commands/bench/index.rs`) and the indexed half of the memory
//! workload.
//!
//! - `items (id, code, bucket, price)` with a B-tree index on `code` (a
//!   bijective scramble of the id, so lookups land all over the index):
//!   point lookups by primary key and by `code`, and a scan keeping the 1%
//!   of rows with `bucket == 0`, pushed down to the host or filtered in wasm;
//! - `plain`, `one`, `three`: the same rows with 0, 1 and 3 secondary
//!   indexes, for insert throughput (index maintenance);
//! - `mem_ix (id, n, s)` with a B-tree index on the `u64` column `n`: bytes
//!   per row with one secondary index.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "b_index",
    tables: [Item, Plain, One, Three, MemIx],
    reducers: [
        fill_items, lookup_pk, lookup_code, scan_pushdown, scan_in_wasm, insert_plain,
        insert_one, insert_three, fill_mem_ix, mem_ix_count
    ],
}

/// A row of the lookup and scan workloads.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    #[index(btree)]
    pub code: u64,
    /// `id % 100`: the scans keep bucket 0, 1% of the rows.
    pub bucket: u32,
    pub price: u64,
}

/// A bijection of `u64` (odd multiplier): the `code` of item `id`.
fn code_of(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Inserts items `first .. first + count` in one transaction; returns the
/// row count.
#[reducer]
fn fill_items(ctx: &mut WriteContext, first: u64, count: u32) -> u64 {
    let items = ctx.tables.items();
    for id in first..first + u64::from(count) {
        items.insert(Item {
            id,
            code: code_of(id),
            bucket: (id % 100) as u32,
            price: id % 1000,
        });
    }
    items.count()
}

/// The ids of `n` pseudo-random lookups in `0..rows`, from `seed`.
fn keys(seed: u64, n: u32, rows: u64) -> impl Iterator<Item = u64> {
    let mut x = seed | 1;
    (0..n).map(move |_| {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % rows.max(1)
    })
}

/// `n` point lookups by primary key; returns how many rows were found (all
/// of them, or the workload fails).
#[reducer(mode = "read")]
fn lookup_pk(ctx: &ReadContext, seed: u64, n: u32, rows: u64) -> u64 {
    let items = ctx.tables.items();
    keys(seed, n, rows)
        .filter(|id| items.get(id).is_some_and(|it| it.id == *id))
        .count() as u64
}

/// The same lookups through the secondary index on `code`.
#[reducer(mode = "read")]
fn lookup_code(ctx: &ReadContext, seed: u64, n: u32, rows: u64) -> u64 {
    let by_code = ctx.tables.items().by_code();
    keys(seed, n, rows)
        .filter(|id| {
            by_code
                .filter(&code_of(*id))
                .first()
                .is_some_and(|it| it.id == *id)
        })
        .count() as u64
}

/// The guest's linear memory, in 64 KiB pages.
fn pages() -> u64 {
    core::arch::wasm32::memory_size::<0>() as u64
}

/// Scans every item with the filter `bucket == 0` evaluated by the host:
/// `(rows kept, sum of their prices, memory pages before, after)`.
#[reducer(mode = "read")]
fn scan_pushdown(ctx: &ReadContext) -> (u64, u64, u64, u64) {
    let before = pages();
    let (mut n, mut sum) = (0u64, 0u64);
    for it in ctx.tables.items().matching(|c| c.bucket.eq(0)).iter() {
        n += 1;
        sum += it.price;
    }
    (n, sum, before, pages())
}

/// The same scan with every row decoded in wasm and filtered there.
#[reducer(mode = "read")]
fn scan_in_wasm(ctx: &ReadContext) -> (u64, u64, u64, u64) {
    let before = pages();
    let (mut n, mut sum) = (0u64, 0u64);
    for it in ctx.tables.items().iter().filter(|it| it.bucket == 0) {
        n += 1;
        sum += it.price;
    }
    (n, sum, before, pages())
}

/// The insert rows: one per secondary-index count.
macro_rules! insert_tables {
    ($( $ty:ident, $name:literal, $accessor:ident, $reducer:ident, [$($a:tt)*], [$($b:tt)*], [$($c:tt)*];)*) => {$(
        #[doc = concat!("A row of `", $name, "` (index maintenance).")]
        #[table(name = $name)]
        #[derive(Clone, Debug)]
        pub struct $ty {
            #[primary_key]
            pub id: u64,
            $($a)* pub a: u64,
            $($b)* pub b: u64,
            $($c)* pub c: u64,
        }

        #[doc = concat!("Inserts rows `first .. first + count` into `", $name, "`.")]
        #[reducer]
        fn $reducer(ctx: &mut WriteContext, first: u64, count: u32) -> u64 {
            let t = ctx.tables.$accessor();
            for id in first..first + u64::from(count) {
                t.insert($ty { id, a: code_of(id), b: id % 1000, c: code_of(id ^ 0x5555) });
            }
            t.count()
        }
    )*};
}

insert_tables! {
    Plain, "plain", plain, insert_plain, [], [], [];
    One, "one", one, insert_one, [#[index(btree)]], [], [];
    Three, "three", three, insert_three, [#[index(btree)]], [#[index(btree)]], [#[index(hash)]];
}

/// The memory workload's indexed row: `(u64, u64, 32-byte string)`, with a
/// B-tree index on `n`.
#[table(name = "mem_ix")]
#[derive(Clone, Debug)]
pub struct MemIx {
    #[primary_key]
    pub id: u64,
    #[index(btree)]
    pub n: u64,
    pub s: String,
}

/// Inserts rows `first .. first + count` into `mem_ix`: `n` is the id
/// scrambled, `s` the id as 32 hex digits.
#[reducer]
fn fill_mem_ix(ctx: &mut WriteContext, first: u64, count: u32) -> u64 {
    let rows = ctx.tables.mem_ix();
    for id in first..first + u64::from(count) {
        rows.insert(MemIx {
            id,
            n: code_of(id),
            s: format!("{id:032x}"),
        });
    }
    rows.count()
}

/// The number of rows in `mem_ix`.
#[reducer(mode = "read")]
fn mem_ix_count(ctx: &ReadContext) -> u64 {
    ctx.tables.mem_ix().count()
}
