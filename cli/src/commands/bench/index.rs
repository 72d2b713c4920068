//! `index`: secondary indexes (`b_index`, `docs/PERFORMANCE.md` "Indexes").
//!
//! - **Lookups.** Point lookups by the B-tree index on `items.code` (a `u64`)
//!   against lookups by primary key on the same table, each read call doing
//!   `lookups_per_call` lookups of pseudo-random keys the guest draws from a
//!   seed, at 10k rows and at 1M rows; every lookup must find its row.
//! - **Pushdown.** A scan of every row keeping the 1% with `bucket == 0`,
//!   with the filter pushed down to the host against the same scan decoding
//!   every row in wasm; both must keep the same rows with the same price
//!   sum. Also the guest's linear-memory growth during the pushed-down scan,
//!   at both table sizes.
//! - **Maintenance.** Inserts per second into tables with 0, 1 and 3
//!   secondary indexes, `index_insert_batch` rows per transaction
//!   (durability `none`: the index cost, not fsync).

use std::time::Instant;

use interstice_actors::{Durability, Runtime, Value};
use serde_json::json;

use super::report::{median, Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;

fn u64_of(v: &Value, what: &str) -> Result<u64, CliError> {
    match v {
        Value::U64(n) => Ok(*n),
        other => Err(CliError::Bench(format!("index: {what} returned {other:?}"))),
    }
}

/// Fills `items` from `from` rows up to `to`, in transactions of `batch`.
async fn fill(rt: &Runtime, from: u64, to: u64, batch: u32, ctx: &Ctx) -> Result<(), CliError> {
    let mut first = from;
    while first < to {
        let count = (to - first).min(u64::from(batch)) as u32;
        rt.call(
            MODULE,
            "fill_items",
            vec![Value::U64(first), Value::U32(count)],
        )
        .await?;
        first += u64::from(count);
        if first % 100_000 < u64::from(batch) {
            ctx.progress.step(format!("filling: {first}/{to} rows"));
        }
    }
    Ok(())
}

/// Lookups per second of `reducer` over a table of `rows` rows: one figure
/// per round of `calls` read calls.
async fn lookups(rt: &Runtime, reducer: &str, rows: u64, ctx: &Ctx) -> Result<Vec<f64>, CliError> {
    let s = &ctx.sizes;
    let per_call = s.index_lookups_per_call;
    let mut rates = Vec::new();
    for round in 0..s.rounds {
        ctx.progress.step(format!(
            "{reducer} at {rows} rows: round {}/{}",
            round + 1,
            s.rounds
        ));
        let started = Instant::now();
        for call in 0..s.index_lookup_calls {
            let seed = (round * s.index_lookup_calls + call) as u64 * 7919 + 1;
            let args = vec![Value::U64(seed), Value::U32(per_call), Value::U64(rows)];
            let found = u64_of(&rt.read(MODULE, reducer, args).await?.value, reducer)?;
            if found != u64::from(per_call) {
                return Err(CliError::Bench(format!(
                    "index: {reducer} found {found} of {per_call} rows at {rows} rows"
                )));
            }
        }
        let n = s.index_lookup_calls as f64 * f64::from(per_call);
        rates.push(n / started.elapsed().as_secs_f64());
    }
    Ok(rates)
}

/// What one scan returned: `(kept, price sum, pages before, pages after)`.
async fn scan(rt: &Runtime, reducer: &str) -> Result<([u64; 4], f64), CliError> {
    let started = Instant::now();
    let out = rt.read(MODULE, reducer, Vec::new()).await?;
    let secs = started.elapsed().as_secs_f64();
    let Value::Tuple(items) = &out.value else {
        return Err(CliError::Bench(format!(
            "index: {reducer} returned {:?}",
            out.value
        )));
    };
    let mut got = [0u64; 4];
    for (slot, v) in got.iter_mut().zip(items) {
        *slot = u64_of(v, reducer)?;
    }
    Ok((got, secs))
}

/// The rows and price sum a scan keeping `bucket == 0` must return over
/// `rows` rows (`price = id % 1000`, `bucket = id % 100`).
fn expected_scan(rows: u64) -> (u64, u64) {
    (0..rows)
        .filter(|id| id % 100 == 0)
        .fold((0, 0), |(n, sum), id| (n + 1, sum + id % 1000))
}

/// What a series of scans measured.
struct Scans {
    /// Rows scanned per second, per round.
    rates: Vec<f64>,
    /// The largest growth of the guest's memory during one scan, bytes.
    growth: u64,
    /// The guest's memory size after the last scan, bytes.
    size: u64,
}

/// Runs `reducer`'s scan over `rows` rows once per round.
async fn scans(rt: &Runtime, reducer: &str, rows: u64, ctx: &Ctx) -> Result<Scans, CliError> {
    let want = expected_scan(rows);
    let mut rates = Vec::new();
    let (mut growth, mut size) = (0u64, 0u64);
    for round in 0..ctx.sizes.rounds {
        ctx.progress.step(format!(
            "{reducer} at {rows} rows: round {}/{}",
            round + 1,
            ctx.sizes.rounds
        ));
        let ([kept, sum, before, after], secs) = scan(rt, reducer).await?;
        if (kept, sum) != want {
            return Err(CliError::Bench(format!(
                "index: {reducer} kept {kept} rows summing to {sum}, expected {want:?}"
            )));
        }
        growth = growth.max(after.saturating_sub(before) * PAGE);
        size = after * PAGE;
        rates.push(rows as f64 / secs);
    }
    Ok(Scans {
        rates,
        growth,
        size,
    })
}

/// A wasm page.
const PAGE: u64 = 65_536;

/// Inserts per second into `reducer`'s table, per round.
async fn inserts(rt: &Runtime, reducer: &str, ctx: &Ctx) -> Result<Vec<f64>, CliError> {
    let s = &ctx.sizes;
    let mut rates = Vec::new();
    let mut first = 0u64;
    for round in 0..s.rounds {
        ctx.progress
            .step(format!("{reducer}: round {}/{}", round + 1, s.rounds));
        let started = Instant::now();
        let end = first + s.index_insert_rows;
        while first < end {
            let count = (end - first).min(u64::from(s.index_insert_batch)) as u32;
            let out = rt
                .call(MODULE, reducer, vec![Value::U64(first), Value::U32(count)])
                .await?;
            first += u64::from(count);
            if u64_of(&out.value, reducer)? != first {
                return Err(CliError::Bench(format!(
                    "index: {reducer}: the table does not hold {first} rows"
                )));
            }
        }
        rates.push(s.index_insert_rows as f64 / started.elapsed().as_secs_f64());
    }
    Ok(rates)
}

/// The module the workload loads.
const MODULE: &str = "b_index";

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let (small, large) = (s.index_small_rows, s.index_rows);
    let mut report = workload(
        "index",
        json!({
            "rows": [small, large],
            "lookups_per_call": s.index_lookups_per_call,
            "lookup_calls_per_round": s.index_lookup_calls,
            "insert_rows_per_round": s.index_insert_rows,
            "insert_batch": s.index_insert_batch,
            "rounds": s.rounds,
            "durability": "none",
        }),
    );
    let dir = ctx.scratch.path("index");
    let rt = guests::open(&dir, Durability::None).await?;
    ctx.guests.load(&rt, &[MODULE]).await?;
    let batch = s.seed_batch;
    let note = |rows: u64| {
        format!(
            "{rows} rows; {} read calls × {} random lookups, {} rounds",
            s.index_lookup_calls, s.index_lookups_per_call, s.rounds
        )
    };
    let mut medians = std::collections::HashMap::new();
    let mut sizes = Vec::new();
    let mut from = 0;
    for rows in [small, large] {
        fill(&rt, from, rows, batch, ctx).await?;
        from = rows;
        for (reducer, label, role) in [
            (
                "lookup_code",
                "secondary-index (B-tree, u64) point lookups",
                Role::Interstice,
            ),
            ("lookup_pk", "primary-key point lookups", Role::Baseline),
        ] {
            let rates = lookups(&rt, reducer, rows, ctx).await?;
            medians.insert((reducer, rows), median(&rates));
            report.rows.push(Row::new(
                format!("{label}, {rows} rows"),
                role,
                "lookups/s",
                rates,
                None,
                note(rows),
            ));
        }
        let pushed = scans(&rt, "scan_pushdown", rows, ctx).await?;
        sizes.push((rows, pushed.growth, pushed.size));
        medians.insert(("scan_pushdown", rows), median(&pushed.rates));
        report.rows.push(
            Row::new(
                format!("scan keeping 1%, filter pushed down, {rows} rows"),
                Role::Interstice,
                "rows/s",
                pushed.rates,
                None,
                "rows of the table examined per second",
            )
            .with("guest_memory_growth_bytes", pushed.growth)
            .with("guest_memory_bytes_after", pushed.size),
        );
    }
    let in_wasm = scans(&rt, "scan_in_wasm", large, ctx).await?;
    medians.insert(("scan_in_wasm", large), median(&in_wasm.rates));
    report.rows.push(
        Row::new(
            format!("scan keeping 1%, filtered in wasm, {large} rows"),
            Role::Baseline,
            "rows/s",
            in_wasm.rates,
            None,
            "every row decoded in the guest",
        )
        .with("guest_memory_growth_bytes", in_wasm.growth)
        .with("guest_memory_bytes_after", in_wasm.size),
    );
    for (reducer, label) in [
        ("insert_plain", "no secondary index"),
        ("insert_one", "1 secondary index"),
        ("insert_three", "3 secondary indexes"),
    ] {
        let rates = inserts(&rt, reducer, ctx).await?;
        medians.insert((reducer, 0), median(&rates));
        report.rows.push(Row::new(
            format!("insert, {label}"),
            if reducer == "insert_plain" {
                Role::Baseline
            } else {
                Role::Interstice
            },
            "rows/s",
            rates,
            None,
            format!(
                "{} rows per round, {} per transaction, durability none",
                s.index_insert_rows, s.index_insert_batch
            ),
        ));
    }
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);

    let m = |k: &'static str, rows: u64| medians.get(&(k, rows)).copied().unwrap_or(0.0);
    report.ratios.push(
        Ratio::of(
            format!("secondary / primary-key lookups, {large} rows"),
            m("lookup_code", large),
            m("lookup_pk", large),
        )
        .at_least(0.5),
    );
    report.ratios.push(
        Ratio::of(
            format!("secondary lookups, {large} / {small} rows"),
            m("lookup_code", large),
            m("lookup_code", small),
        )
        .at_least(0.5),
    );
    report.ratios.push(
        Ratio::of(
            format!("pushed-down / in-wasm scan, {large} rows"),
            m("scan_pushdown", large),
            m("scan_in_wasm", large),
        )
        .at_least(5.0),
    );
    for (rows, growth, _) in &sizes {
        report.ratios.push(Ratio::figure(
            format!("guest memory growth during a pushed-down scan, {rows} rows"),
            *growth as f64,
            "bytes",
        ));
    }
    if let [(_, _, at_small), (_, _, at_large)] = sizes[..] {
        report.ratios.push(
            Ratio::of(
                format!("guest memory after a pushed-down scan, {large} / {small} rows"),
                at_large as f64,
                at_small as f64,
            )
            .at_most(1.0),
        );
    }
    for (reducer, label) in [("insert_one", "1 index"), ("insert_three", "3 indexes")] {
        report.ratios.push(Ratio::of(
            format!("inserts with {label} / with none"),
            m(reducer, 0),
            m("insert_plain", 0),
        ));
    }
    Ok(report)
}
