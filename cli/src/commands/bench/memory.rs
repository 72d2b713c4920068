//! `memory`: resident bytes per row of a table of 1M `(u64, u32, 32-byte
//! string)` rows (`b_bank.rows`, filled by `fill_rows` in transactions of
//! 2,000 rows), measured as the growth of the process's RSS (`VmRSS`) over
//! the same runtime with the module loaded and the table empty; minus the
//! rows' encoded (CBOR) size, that is the per-row overhead. Then, in the
//! same runtime (so no memory freed in between is reused), 1M rows of
//! `b_index.mem_ix` `(u64, u64 with a B-tree index, 32-byte string)`: the
//! growth over the first measurement's end, minus the payload, is the
//! overhead of a row with one secondary index.
//!
//! It runs first in `interstice bench`, so that little freed memory from
//! other workloads is around for the rows to reuse. RSS also counts the
//! allocator's retained free memory and the guest's linear memory growth,
//! so the figure is an upper bound on what the table itself holds.

use std::time::Duration;

use interstice_abi::IntersticeType;
use interstice_actors::Durability;
use serde_json::json;

use super::driver;
use super::machine::rss_bytes;
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// The encoded size of row `id` (`[id, id as u32, "<id as 32 hex digits>"]`).
fn encoded_row(id: u64) -> usize {
    (id, id as u32, format!("{id:032x}")).to_bytes().len()
}

/// The encoded size of `mem_ix` row `id` (`[id, code, "<32 hex digits>"]`,
/// `code` as `b_index` scrambles it).
fn encoded_indexed_row(id: u64) -> usize {
    let code = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (id, code, format!("{id:032x}")).to_bytes().len()
}

/// Calls `module.reducer(first, count)` over `0..rows` in transactions of
/// `batch` rows, then checks `count_reducer` says `rows`.
async fn fill(
    ctx: &Ctx,
    rt: &interstice_actors::Runtime,
    (module, reducer, count_reducer): (&str, &str, &str),
    rows: u64,
) -> Result<(), CliError> {
    let batch = ctx.sizes.seed_batch;
    let mut first = 0u64;
    while first < rows {
        let count = (rows - first).min(u64::from(batch)) as u32;
        rt.call_encoded(module, reducer, (first, count).to_bytes())
            .await?;
        first += u64::from(count);
        if first % 100_000 < u64::from(batch) {
            ctx.progress
                .step(format!("{module}.{reducer}: {first}/{rows} rows"));
        }
    }
    let count = driver::read_u64(rt, module, count_reducer).await?;
    if count != rows {
        return Err(CliError::Bench(format!(
            "memory: {module} holds {count} rows, expected {rows}"
        )));
    }
    Ok(())
}

async fn settled_rss() -> Result<u64, CliError> {
    // Let in-flight work (router, log-writer) finish freeing its buffers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rss_bytes().ok_or_else(|| CliError::Bench("cannot read VmRSS from /proc/self/status".into()))
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let rows = s.memory_rows;
    let mut report = workload(
        "memory",
        json!({
            "rows": rows,
            "row": "(u64 primary key, u32, 32-byte string)",
            "rows_per_transaction": s.seed_batch,
        }),
    );
    let dir = ctx.scratch.path("memory");
    let rt = guests::open(&dir, Durability::Sync).await?;
    ctx.guests.load(&rt, &["b_bank", "b_index"]).await?;
    // Instantiate the guests (empty fills) before the baseline.
    rt.call_encoded("b_bank", "fill_rows", (u64::MAX / 2, 0u32).to_bytes())
        .await?;
    rt.call_encoded("b_index", "fill_mem_ix", (u64::MAX / 2, 0u32).to_bytes())
        .await?;
    let before = settled_rss().await?;
    fill(ctx, &rt, ("b_bank", "fill_rows", "row_count"), rows).await?;
    let after = settled_rss().await?;
    fill(ctx, &rt, ("b_index", "fill_mem_ix", "mem_ix_count"), rows).await?;
    let after_indexed = settled_rss().await?;
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);

    let payload = (0..rows).map(encoded_row).sum::<usize>() as f64 / rows as f64;
    let per_row = after.saturating_sub(before) as f64 / rows as f64;
    let overhead = per_row - payload;
    let note = format!(
        "{rows} rows; RSS {:.1} MB → {:.1} MB",
        before as f64 / 1e6,
        after as f64 / 1e6
    );
    report.rows.push(
        Row::new(
            "resident bytes per row",
            Role::Interstice,
            "bytes/row",
            vec![per_row],
            None,
            note.clone(),
        )
        .with("rss_before", before)
        .with("rss_after", after),
    );
    report.rows.push(Row::new(
        "encoded payload per row (CBOR)",
        Role::Baseline,
        "bytes/row",
        vec![payload],
        None,
        "the row as logged and stored",
    ));
    report.ratios.push(
        Ratio::figure("overhead per row beyond the payload", overhead, "bytes/row").at_most(64.0),
    );
    report
        .ratios
        .push(Ratio::of("resident / payload", per_row, payload));

    let payload_ix = (0..rows).map(encoded_indexed_row).sum::<usize>() as f64 / rows as f64;
    let per_row_ix = after_indexed.saturating_sub(after) as f64 / rows as f64;
    report.rows.push(
        Row::new(
            "resident bytes per row, one secondary index on a u64",
            Role::Interstice,
            "bytes/row",
            vec![per_row_ix],
            None,
            format!(
                "{rows} rows of (u64, u64 indexed, 32-byte string); RSS {:.1} MB → {:.1} MB",
                after as f64 / 1e6,
                after_indexed as f64 / 1e6
            ),
        )
        .with("rss_before", after)
        .with("rss_after", after_indexed),
    );
    report.rows.push(Row::new(
        "encoded payload per indexed row (CBOR)",
        Role::Baseline,
        "bytes/row",
        vec![payload_ix],
        None,
        "the row as logged and stored",
    ));
    report.ratios.push(
        Ratio::figure(
            "overhead per row with one secondary index, beyond the payload",
            per_row_ix - payload_ix,
            "bytes/row",
        )
        .at_most(96.0),
    );
    Ok(report)
}
