//! `columnar`: columnar against row storage (`b_columnar`,
//! `docs/PERFORMANCE.md` "Columnar tables").
//!
//! - **Inserts.** Rows per second into a row table and into a columnar
//!   table of the same columns, `index_insert_batch` rows per transaction
//!   (durability `none`: the store's cost, not fsync), filling each to
//!   `columnar_rows` rows. Each fill checks the table's row count.
//! - **Sum.** A host-side `sum` of one `u64` column over the whole table
//!   (one read call, one aggregate host call), on each table. Both sums must
//!   equal the sum the bench computes itself.
//! - **Filtered sum.** The same sum over the 1% of rows a pushed-down
//!   filter (`bucket == 0`) keeps.

use std::time::Instant;

use interstice_actors::{Durability, Runtime, Value};
use serde_json::json;

use super::report::{median, Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// The module the workload loads.
const MODULE: &str = "b_columnar";

/// `b_columnar::amount_of`.
fn amount_of(id: u64) -> u64 {
    id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
}

/// Fills one table to `rows` rows; returns the insert rate (rows/s).
async fn fill(rt: &Runtime, reducer: &str, rows: u64, ctx: &Ctx) -> Result<f64, CliError> {
    let batch = u64::from(ctx.sizes.index_insert_batch);
    let started = Instant::now();
    let mut first = 0u64;
    while first < rows {
        let count = (rows - first).min(batch) as u32;
        let out = rt
            .call(MODULE, reducer, vec![Value::U64(first), Value::U32(count)])
            .await?;
        first += u64::from(count);
        if out.value != Value::U64(first) {
            return Err(CliError::Bench(format!(
                "columnar: {reducer}: the table holds {:?} rows, expected {first}",
                out.value
            )));
        }
        if first % 100_000 < batch {
            ctx.progress.step(format!("{reducer}: {first}/{rows} rows"));
        }
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Rows summed per second by `reducer`, one figure per round; every
/// round's sum must be `want`.
async fn sums(
    rt: &Runtime,
    reducer: &str,
    rows: u64,
    want: u128,
    ctx: &Ctx,
) -> Result<Vec<f64>, CliError> {
    let mut rates = Vec::new();
    for round in 0..ctx.sizes.rounds {
        ctx.progress.step(format!(
            "{reducer}: round {}/{}",
            round + 1,
            ctx.sizes.rounds
        ));
        let started = Instant::now();
        let out = rt.read(MODULE, reducer, Vec::new()).await?;
        let secs = started.elapsed().as_secs_f64();
        if out.value != Value::U128(want) {
            return Err(CliError::Bench(format!(
                "columnar: {reducer} returned {:?}, expected {want}",
                out.value
            )));
        }
        rates.push(rows as f64 / secs);
    }
    Ok(rates)
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let rows = s.columnar_rows;
    let mut report = workload(
        "columnar",
        json!({
            "rows": rows,
            "insert_batch": s.index_insert_batch,
            "rounds": s.rounds,
            "durability": "none",
        }),
    );
    let dir = ctx.scratch.path("columnar");
    let rt = guests::open(&dir, Durability::None).await?;
    ctx.guests.load(&rt, &[MODULE]).await?;
    let total: u128 = (0..rows).map(|id| u128::from(amount_of(id))).sum();
    let bucket: u128 = (0..rows)
        .filter(|id| id % 100 == 0)
        .map(|id| u128::from(amount_of(id)))
        .sum();
    let mut medians = std::collections::HashMap::new();
    let insert_note = format!(
        "{rows} rows of (u64, u64, u32, i64, f64), {} per transaction, durability none",
        s.index_insert_batch
    );
    for (reducer, label, role) in [
        ("fill_rows", "row storage", Role::Baseline),
        ("fill_columns", "columnar storage", Role::Interstice),
    ] {
        let rate = fill(&rt, reducer, rows, ctx).await?;
        medians.insert(reducer, rate);
        report.rows.push(Row::new(
            format!("insert, {label}"),
            role,
            "rows/s",
            vec![rate],
            None,
            insert_note.clone(),
        ));
    }
    for (reducer, label, role, want) in [
        (
            "sum_rows",
            "sum of a u64 column, row storage",
            Role::Baseline,
            total,
        ),
        (
            "sum_columns",
            "sum of a u64 column, columnar storage",
            Role::Interstice,
            total,
        ),
        (
            "bucket_sum_rows",
            "sum over a pushed-down 1% filter, row storage",
            Role::Baseline,
            bucket,
        ),
        (
            "bucket_sum_columns",
            "sum over a pushed-down 1% filter, columnar storage",
            Role::Interstice,
            bucket,
        ),
    ] {
        let rates = sums(&rt, reducer, rows, want, ctx).await?;
        medians.insert(reducer, median(&rates));
        report.rows.push(Row::new(
            format!("{label}, {rows} rows"),
            role,
            "rows/s",
            rates,
            None,
            "one read call: one host-side aggregate over the whole table; the sum checked",
        ));
    }
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);

    let m = |k: &str| medians.get(k).copied().unwrap_or(0.0);
    report.ratios.push(
        Ratio::of(
            format!("sum, columnar / row storage, {rows} rows"),
            m("sum_columns"),
            m("sum_rows"),
        )
        .at_least(3.0),
    );
    report.ratios.push(Ratio::of(
        format!("filtered sum, columnar / row storage, {rows} rows"),
        m("bucket_sum_columns"),
        m("bucket_sum_rows"),
    ));
    report.ratios.push(Ratio::of(
        "inserts, columnar / row storage",
        m("fill_columns"),
        m("fill_rows"),
    ));
    Ok(report)
}
