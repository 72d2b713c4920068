//! The encoding of index queries, filters and aggregates (`docs/ABI.md`
//! §4.1): the constants both sides share and the guest-side writers.
//!
//! ```text
//! query     = [index, lower, upper, filter]
//! index     = null (the primary key) | uint (position in the table's `indexes`)
//! bound     = null (open) | [0, values] (included) | [1, values] (excluded)
//! values    = [v1, …, vk]   1 ≤ k ≤ the index's column count (a prefix)
//! filter    = null | [0..=5, column, value] | [6, [filter…]] | [7, [filter…]]
//!           | [8, filter] | [9, column]
//! aggregate = [query, op, column]   op 0 count, 1 sum, 2 min, 3 max
//! ```

use crate::cbor::Writer;

/// `column = value`.
pub const OP_EQ: u64 = 0;
/// `column ≠ value`.
pub const OP_NE: u64 = 1;
/// `column < value`.
pub const OP_LT: u64 = 2;
/// `column ≤ value`.
pub const OP_LE: u64 = 3;
/// `column > value`.
pub const OP_GT: u64 = 4;
/// `column ≥ value`.
pub const OP_GE: u64 = 5;
/// Every sub-filter holds (`[6, [f…]]`; an empty list holds).
pub const OP_AND: u64 = 6;
/// Some sub-filter holds (`[7, [f…]]`; an empty list does not).
pub const OP_OR: u64 = 7;
/// The sub-filter does not hold (`[8, f]`).
pub const OP_NOT: u64 = 8;
/// An `Option` column is `None` (`[9, column]`).
pub const OP_IS_NONE: u64 = 9;

/// Bound tag: the values are included.
pub const BOUND_INCLUDED: u64 = 0;
/// Bound tag: the values are excluded.
pub const BOUND_EXCLUDED: u64 = 1;

/// Aggregate: number of matching rows (`u64`).
pub const AGG_COUNT: u64 = 0;
/// Aggregate: sum of a numeric column (`u128`, `i128` or `f64`).
pub const AGG_SUM: u64 = 1;
/// Aggregate: least value of a column (`null` if no row has one).
pub const AGG_MIN: u64 = 2;
/// Aggregate: greatest value of a column (`null` if no row has one).
pub const AGG_MAX: u64 = 3;

/// Most nodes a filter may have.
pub const MAX_FILTER_NODES: usize = 256;
/// Most nesting levels of a filter.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most bytes a query (with its filter) may have.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Most rows one page holds, whatever the guest asks.
pub const MAX_PAGE_ROWS: u32 = 1024;
/// Most bytes of rows one page holds (a page always holds at least one
/// row if any is left).
pub const MAX_PAGE_BYTES: usize = 256 * 1024;
/// Most entries one `query_page` call examines; a page with no row that
/// is not the end is an empty array, and the guest asks again.
pub const MAX_PAGE_EXAMINED: usize = 16 * 1024;
/// Most entries one `query_aggregate` call examines (2^20): a range that
/// holds more is refused with a `Host` error, so that one host call's time
/// stays bounded (the wall-clock limit is checked between host calls).
pub const MAX_AGGREGATE_EXAMINED: usize = 1 << 20;
/// Fuel a transaction is charged for each entry a `query_page` or
/// `query_aggregate` call examines (matching its filter or not): host-side
/// query work counts against `Limits::fuel` like the guest's own
/// instructions, so a pushed-down scan cannot outrun the budget a scan in
/// wasm would have. Deterministic: the count depends only on the tables.
pub const FUEL_PER_EXAMINED_ENTRY: u64 = 64;
/// The version of the host's fuel charges ([`FUEL_PER_EXAMINED_ENTRY`] and
/// any charge added later): bump it whenever one changes, so that a log
/// records which charges its transactions ran under and `replay-check` on
/// a build with other charges can say so (`docs/DETERMINISM.md`).
pub const FUEL_SCHEDULE: u32 = 1;

/// Writes a bound: `None` = open, else `[tag, values]` with `values`
/// already an encoded array.
pub fn write_bound(w: &mut Writer, bound: Option<(bool, &[u8])>) {
    match bound {
        None => w.null(),
        Some((included, values)) => {
            w.array(2);
            w.u64(if included {
                BOUND_INCLUDED
            } else {
                BOUND_EXCLUDED
            });
            w.raw(values);
        }
    }
}
