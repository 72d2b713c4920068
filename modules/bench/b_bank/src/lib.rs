//! `b_bank`: the main benchmark module of `interstice bench`.
//!
//! - `accounts`, `seed`, `transfer`, `balance`, `total` (from `bench_common::accounts!`):
//!   the transfer and replay workloads;
//! - `blobs` (logged) and `blobs_eph` (ephemeral) with `insert64` and
//!   `insert64_eph`: the insert workload;
//! - `rows` of `(u64, u32, 32-byte string)` with `fill_rows`: the memory
//!   workload.

use interstice_sdk::prelude::*;

bench_common::accounts!();

interstice_module! {
    name: "b_bank",
    tables: [Account, Blob, EphBlob, MemRow],
    reducers: [seed, transfer, balance, total, insert64, insert64_eph, fill_rows, row_count],
}

/// A logged row with a byte payload (64 bytes in the benchmark).
#[table(name = "blobs")]
#[derive(Clone, Debug)]
pub struct Blob {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub data: Bytes,
}

/// The same row in an ephemeral (unlogged) table.
#[table(name = "blobs_eph", ephemeral)]
#[derive(Clone, Debug)]
pub struct EphBlob {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub data: Bytes,
}

/// The memory workload's row: `(u64, u32, 32-byte string)`.
#[table(name = "rows")]
#[derive(Clone, Debug)]
pub struct MemRow {
    #[primary_key]
    pub id: u64,
    pub n: u32,
    pub s: String,
}

/// Inserts one row into the logged `blobs` table.
#[reducer]
fn insert64(ctx: &mut WriteContext, data: Bytes) {
    ctx.tables.blobs().insert(Blob { id: 0, data });
}

/// Inserts one row into the ephemeral `blobs_eph` table.
#[reducer]
fn insert64_eph(ctx: &mut WriteContext, data: Bytes) {
    ctx.tables.blobs_eph().insert(EphBlob { id: 0, data });
}

/// Inserts rows `first .. first + count` into `rows` in one transaction:
/// `n` is the low 32 bits of the id, `s` the id as 32 hex digits.
#[reducer]
fn fill_rows(ctx: &mut WriteContext, first: u64, count: u32) -> u64 {
    let rows = ctx.tables.rows();
    for id in first..first + u64::from(count) {
        rows.insert(MemRow {
            id,
            n: id as u32,
            s: format!("{id:032x}"),
        });
    }
    rows.count()
}

/// The number of rows in `rows`.
#[reducer(mode = "read")]
fn row_count(ctx: &ReadContext) -> u64 {
    ctx.tables.rows().count()
}
