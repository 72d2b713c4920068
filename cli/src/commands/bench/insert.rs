//! `insert`: one 64-byte row per transaction, 64 callers, `sync` durability,
//! into a logged table (`b_bank.blobs`) and into an ephemeral one
//! (`b_bank.blobs_eph`: its rows are not logged, but the call still is a
//! logged, fsynced commit).

use std::sync::Arc;

use interstice_abi::{Bytes, IntersticeType};
use interstice_actors::Durability;
use serde_json::json;

use super::driver::{self, Call, CallerFactory};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// Payload bytes per row.
pub(super) const ROW_BYTES: usize = 64;

fn factory(reducer: &'static str) -> CallerFactory {
    let module: Arc<str> = Arc::from("b_bank");
    Arc::new(move |c| {
        let module = module.clone();
        let mut i = 0u64;
        Box::new(move || {
            i += 1;
            let mut data = vec![c as u8; ROW_BYTES];
            data[..8].copy_from_slice(&i.to_le_bytes());
            Call {
                module: module.clone(),
                reducer,
                args: (Bytes(data),).to_bytes(),
            }
        })
    })
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "insert",
        json!({
            "row_payload_bytes": ROW_BYTES,
            "callers": s.callers,
            "inserts_per_caller": s.insert_per_caller,
            "rounds": s.rounds,
            "durability": "sync",
        }),
    );
    let dir = ctx.scratch.path("insert");
    let rt = guests::open(&dir, Durability::Sync).await?;
    ctx.guests.load(&rt, &["b_bank"]).await?;
    for (label, reducer) in [("logged", "insert64"), ("ephemeral", "insert64_eph")] {
        let factory = factory(reducer);
        ctx.progress.step(format!("{label}: warm-up"));
        driver::round(&rt, s.callers, s.insert_per_caller.min(20), &factory).await?;
        let mut r = driver::rounds(
            &rt,
            s.rounds,
            s.callers,
            s.insert_per_caller,
            &factory,
            |i| {
                ctx.progress
                    .step(format!("{label}: round {}/{}", i + 1, s.rounds))
            },
        )
        .await?;
        report.rows.push(r.metrics.annotate(Row::new(
            format!("insert 64 B, {label} table, durability sync"),
            Role::Interstice,
            "tx/s",
            r.rates,
            Some(&mut r.latencies),
            format!(
                "{} callers × {} inserts, {} rounds",
                s.callers, s.insert_per_caller, s.rounds
            ),
        )));
    }
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);
    report.ratios.push(Ratio::of(
        "ephemeral / logged",
        report.rows[1].median,
        report.rows[0].median,
    ));
    Ok(report)
}
