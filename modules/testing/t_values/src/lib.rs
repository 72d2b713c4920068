//! `t_values`: every primitive value type through the real ABI, for
//! `tests/all/values.rs`. Echo reducers for each integer width and both
//! float widths (the value is decoded by the guest and encoded again), a
//! table with a column of each type, an `i128`-keyed table the guest fills
//! with values it computes itself, and a two-parameter reducer for the
//! argument-numbering tests (read and write).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_values",
    version: "0.1.0",
    tables: [Row, Wide],
    reducers: [
        echo_u8, echo_u16, echo_u32, echo_u64, echo_u128,
        echo_i8, echo_i16, echo_i32, echo_i64, echo_i128,
        echo_f32, echo_f64, echo_write_i128,
        store_rows, load_rows, store_shifts, wide_keys, wide_get,
        pair, pair_write,
    ],
}

/// One column of every primitive numeric type.
#[table(name = "rows")]
#[derive(Clone, Debug)]
pub struct Row {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub a_u8: u8,
    pub a_u16: u16,
    pub a_u32: u32,
    pub a_u64: u64,
    pub a_u128: u128,
    pub a_i8: i8,
    pub a_i16: i16,
    pub a_i32: i32,
    pub a_i64: i64,
    pub a_i128: i128,
    pub a_f32: f32,
    pub a_f64: f64,
}

/// `i128` keys and values, `u128` values, written by the guest.
#[table(name = "wide")]
#[derive(Clone, Debug)]
pub struct Wide {
    #[primary_key]
    pub key: i128,
    pub signed: i128,
    pub unsigned: u128,
}

macro_rules! echo {
    ($($name:ident: $t:ty),* $(,)?) => {$(
        /// Returns its argument, decoded and re-encoded by the guest.
        #[reducer(mode = "read")]
        fn $name(_ctx: &ReadContext, v: $t) -> $t {
            v
        }
    )*};
}
echo!(
    echo_u8: u8, echo_u16: u16, echo_u32: u32, echo_u64: u64, echo_u128: u128,
    echo_i8: i8, echo_i16: i16, echo_i32: i32, echo_i64: i64, echo_i128: i128,
    echo_f32: f32, echo_f64: f64,
);

/// `echo_i128` as a write reducer: its arguments and result are logged.
#[reducer]
fn echo_write_i128(_ctx: &mut WriteContext, v: i128) -> i128 {
    v
}

/// Inserts the rows (ids assigned) and returns what the table gives back
/// for each, read again by key.
#[reducer]
fn store_rows(ctx: &mut WriteContext, rows: Vec<Row>) -> Result<Vec<Row>, String> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = ctx.tables.rows().insert(Row { id: 0, ..row });
        let back = ctx
            .tables
            .rows()
            .get(&stored.id)
            .ok_or_else(|| format!("row {} vanished", stored.id))?;
        out.push(back);
    }
    Ok(out)
}

/// Every row, in id order.
#[reducer(mode = "read")]
fn load_rows(ctx: &ReadContext) -> Vec<Row> {
    ctx.tables.rows().iter().collect()
}

/// For each `k`, stores `1 << k` and `-(1 << k)` (and `-(1 << k) - 1`) as
/// keys and values of `wide`, with `u128` `1 << k` beside them, all
/// computed and encoded by the guest; returns the rows read back.
#[reducer]
fn store_shifts(ctx: &mut WriteContext, ks: Vec<u32>) -> Result<Vec<Wide>, String> {
    let mut out = Vec::new();
    for k in ks {
        if k > 127 {
            return Err(format!("shift {k} is wider than 127"));
        }
        let p = 1i128.checked_shl(k).filter(|p| *p > 0).unwrap_or(i128::MIN);
        let candidates = if p == i128::MIN {
            vec![i128::MIN]
        } else {
            vec![p, -p, -p - 1]
        };
        for v in candidates {
            let row = Wide {
                key: v,
                signed: v,
                unsigned: 1u128 << k,
            };
            if ctx.tables.wide().get(&v).is_none() {
                ctx.tables.wide().insert(row);
            }
            let back = ctx
                .tables
                .wide()
                .get(&v)
                .ok_or_else(|| format!("key {v} vanished"))?;
            out.push(back);
        }
    }
    Ok(out)
}

/// The keys of `wide`, in key order.
#[reducer(mode = "read")]
fn wide_keys(ctx: &ReadContext) -> Vec<i128> {
    ctx.tables.wide().iter().map(|w| w.key).collect()
}

/// The row of `wide` at `key`.
#[reducer(mode = "read")]
fn wide_get(ctx: &ReadContext, key: i128) -> Option<Wide> {
    ctx.tables.wide().get(&key)
}

/// Two parameters, for the argument-numbering tests.
#[reducer(mode = "read")]
fn pair(_ctx: &ReadContext, first: u8, amount: i128) -> (u8, i128) {
    (first, amount)
}

/// [`pair`] as a write reducer, for `Runtime::call_encoded`.
#[reducer]
fn pair_write(_ctx: &mut WriteContext, first: u8, amount: i128) -> (u8, i128) {
    (first, amount)
}
