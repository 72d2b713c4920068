//! `scale`: 1, 2, 4, 8 modules (`b_shard_*`), each running its own,
//! independent transfer workload (its own accounts, its own 64 callers,
//! uniform account choice, `sync` durability), all at once in one runtime.
//! Reports total transactions per second and the ratio to one module.
//!
//! Every module has its own actor and thread, so on a machine with more
//! cores than modules they run in parallel; they share the sequencer, the
//! log-writer and its fsyncs. Each module brings its own 64 callers, so more
//! modules also means bigger group commits; the series is repeated in `none`
//! durability (no fsync) to show the scaling of the call path alone.

use std::sync::Arc;

use interstice_actors::Durability;
use serde_json::json;

use super::driver::{self};
use super::guests::{self, shard, SHARDS};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::zipf::Zipf;
use super::{workload, Ctx};
use crate::error::CliError;

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "scale",
        json!({
            "modules": s.scale_modules,
            "accounts_per_module": s.scale_accounts,
            "callers_per_module": s.callers,
            "transfers_per_caller": s.scale_per_caller,
            "rounds": s.rounds,
            "durability": if s.scale_none { vec!["sync", "none"] } else { vec!["sync"] },
            "zipf_alpha": 0.0,
        }),
    );
    if let Some(&n) = s.scale_modules.iter().find(|&&n| n == 0 || n > SHARDS) {
        return Err(CliError::Bench(format!(
            "scale: {n} modules asked for; there are 1..={SHARDS}"
        )));
    }
    for (label, durability) in [("sync", Durability::Sync), ("none", Durability::None)] {
        if label == "none" && !s.scale_none {
            continue;
        }
        series(ctx, &mut report, label, durability).await?;
    }
    Ok(report)
}

/// The module counts in one durability mode, in one runtime (shards are
/// loaded and seeded as the count grows).
async fn series(
    ctx: &Ctx,
    report: &mut WorkloadReport,
    label: &str,
    durability: Durability,
) -> Result<(), CliError> {
    let s = &ctx.sizes;
    let dir = ctx.scratch.path(&format!("scale-{label}"));
    let rt = guests::open(&dir, durability).await?;
    let zipf = Arc::new(Zipf::new(s.scale_accounts, 0.0));
    let mut loaded = 0;
    let mut base = None;
    for &n in &s.scale_modules {
        while loaded < n {
            let name = shard(loaded);
            ctx.progress.step(format!(
                "loading {name}, seeding {} accounts",
                s.scale_accounts
            ));
            ctx.guests.load(&rt, &[&name]).await?;
            driver::seed_accounts(&rt, &name, s.scale_accounts, s.seed_batch).await?;
            loaded += 1;
        }
        let names = (0..n).map(|i| Arc::from(shard(i))).collect();
        let factory = super::transfer::factory(names, zipf.clone(), 1 << 8);
        let callers = s.callers * n;
        ctx.progress.step(format!("{label}, {n} modules: warm-up"));
        driver::round(&rt, callers, s.scale_per_caller.min(10), &factory).await?;
        let mut r = driver::rounds(&rt, s.rounds, callers, s.scale_per_caller, &factory, |i| {
            ctx.progress.step(format!(
                "{label}, {n} modules: round {}/{}",
                i + 1,
                s.rounds
            ))
        })
        .await?;
        let row = r.metrics.annotate(Row::new(
            format!("{n} module(s), transfer, durability {label}"),
            Role::Interstice,
            "tx/s",
            r.rates,
            Some(&mut r.latencies),
            format!(
                "{} callers per module × {} transfers, {} rounds",
                s.callers, s.scale_per_caller, s.rounds
            ),
        ));
        match base {
            None => base = Some((n, row.median)),
            Some((b, one)) => {
                let ratio = Ratio::of(
                    format!("{label}: {n} modules / {b} module(s)"),
                    row.median,
                    one,
                );
                report
                    .ratios
                    .push(if n == 2 && b == 1 && durability == Durability::Sync {
                        ratio.at_least(1.7)
                    } else {
                        ratio
                    });
            }
        }
        report.rows.push(row);
    }
    for i in 0..loaded {
        let total = driver::read_u64(&rt, &shard(i), "total").await?;
        if total != s.scale_accounts * driver::bench_initial_balance() {
            return Err(CliError::Bench(format!(
                "scale: {}'s total balance changed to {total}",
                shard(i)
            )));
        }
    }
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);
    Ok(())
}
