//! `memory`: resident bytes per row of a table of 1M `(u64, u32, 32-byte
//! string)` rows (`b_bank.rows`, filled by `fill_rows` in transactions of
//! 2,000 rows), measured as the growth of the process's RSS (`VmRSS`) over
//! the same runtime with the module loaded and the table empty; minus the
//! rows' encoded (CBOR) size, that is the per-row overhead.
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
    ctx.guests.load(&rt, &["b_bank"]).await?;
    // Instantiate the guest (an empty fill) before the baseline.
    rt.call_encoded("b_bank", "fill_rows", (u64::MAX / 2, 0u32).to_bytes())
        .await?;
    let before = settled_rss().await?;
    let mut first = 0u64;
    while first < rows {
        let count = (rows - first).min(u64::from(s.seed_batch)) as u32;
        rt.call_encoded("b_bank", "fill_rows", (first, count).to_bytes())
            .await?;
        first += u64::from(count);
        if first % 100_000 < u64::from(s.seed_batch) {
            ctx.progress.step(format!("{first}/{rows} rows"));
        }
    }
    let after = settled_rss().await?;
    let count = driver::read_u64(&rt, "b_bank", "row_count").await?;
    if count != rows {
        return Err(CliError::Bench(format!(
            "memory: the table holds {count} rows, expected {rows}"
        )));
    }
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
    Ok(report)
}
