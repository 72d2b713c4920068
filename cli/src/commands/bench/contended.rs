//! `contended`: the transfer workload (100,000 accounts, Zipf α = 0 and
//! 1.5, 64 callers one call at a time, `sync`) and its SQLite baselines,
//! each round run twice: quiet, then beside a CPU hog (`hog`: threads of
//! this process spinning, `--hog-threads`, by default one per core) that
//! runs only for that round. The figures are each workload's contended
//! rate and its ratio to its own quiet rate in the same run; the target
//! asks the runtime to keep half its quiet rate and to hold up at least as
//! well as SQLite does.
//!
//! Checks: the total balance is conserved, every acknowledged call is one
//! commit, and the hog ran (its threads counted their spins).

use std::sync::Arc;

use serde_json::json;

use super::driver::{self, counted, Series};
use super::hog::Hog;
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::transfer::{close_bank, factory, seeded_bank, ALPHAS};
use super::zipf::Zipf;
use super::{baseline_sqlite, workload, Ctx};
use crate::error::CliError;

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let hog = s.hog_threads;
    let mut report = workload(
        "contended",
        json!({
            "accounts": s.accounts,
            "zipf_alphas": ALPHAS,
            "callers": s.callers,
            "transfers_per_caller": s.transfer_per_caller,
            "rounds": s.rounds,
            "durability": "sync",
            "hog_threads": hog,
            "sqlite_full_txs": s.sqlite_full_txs,
            "sqlite_normal_txs": s.sqlite_normal_txs,
        }),
    );
    let (rt, dir) = seeded_bank(ctx, "contended").await?;
    let note = format!(
        "{} callers × {} transfers, {} rounds",
        s.callers, s.transfer_per_caller, s.rounds
    );
    // Per α: (quiet, contended) medians.
    let mut figures = Vec::new();
    for (i, alpha) in ALPHAS.into_iter().enumerate() {
        let factory = factory(
            vec![Arc::from("b_bank")],
            Arc::new(Zipf::new(s.accounts, alpha)),
            200 + i as u64,
        );
        ctx.progress.step(format!("α = {alpha}: warm-up"));
        driver::round(&rt, s.callers, s.transfer_per_caller.min(20), &factory).await?;
        let (mut quiet, mut hogged) = (Series::default(), Series::default());
        for r in 0..s.rounds {
            ctx.progress
                .step(format!("α = {alpha}: round {}/{}, quiet", r + 1, s.rounds));
            quiet.push(
                counted(
                    &rt,
                    "contended (quiet)",
                    driver::round(&rt, s.callers, s.transfer_per_caller, &factory),
                )
                .await?,
            );
            ctx.progress.step(format!(
                "α = {alpha}: round {}/{}, {hog}-thread CPU hog",
                r + 1,
                s.rounds
            ));
            let spinning = Hog::start(hog);
            let started = std::time::Instant::now();
            let round = counted(
                &rt,
                "contended (hog)",
                driver::round(&rt, s.callers, s.transfer_per_caller, &factory),
            )
            .await;
            spinning.stop_checked("contended", started.elapsed())?;
            hogged.push(round?);
        }
        let q = quiet.metrics.annotate(Row::new(
            format!("transfer α={alpha}, sync, quiet"),
            Role::Interstice,
            "tx/s",
            quiet.rates,
            Some(&mut quiet.latencies),
            format!("{note} (alternating with the hog's rounds)"),
        ));
        let h = hogged.metrics.annotate(Row::new(
            format!("transfer α={alpha}, sync, {hog}-thread CPU hog"),
            Role::Interstice,
            "tx/s",
            hogged.rates,
            Some(&mut hogged.latencies),
            format!("{note}, beside {hog} spinning threads"),
        ));
        figures.push((q.median, h.median));
        report.rows.push(q);
        report.rows.push(h);
    }
    close_bank(ctx, rt, &dir, "contended").await?;

    for (alpha, &(quiet, hogged)) in ALPHAS.into_iter().zip(&figures) {
        report.ratios.push(
            Ratio::of(
                format!("transfer α={alpha}: contended / quiet"),
                hogged,
                quiet,
            )
            .at_least(0.5),
        );
    }
    if !s.baselines {
        return Ok(report);
    }
    let sqlite = baseline_sqlite::measure(ctx, "contended-sqlite", Some(hog)).await?;
    for (alpha, &(quiet, hogged)) in ALPHAS.into_iter().zip(&figures) {
        let ours = if quiet > 0.0 { hogged / quiet } else { 0.0 };
        for mode in baseline_sqlite::MODES {
            let series = baseline_sqlite::find(&sqlite, alpha, mode);
            let Some(theirs_hogged) = &series.hogged else {
                return Err(CliError::Bench(
                    "contended: sqlite was not measured beside the hog".into(),
                ));
            };
            let theirs = Ratio::of(
                format!("SQLite α={alpha} {mode}: contended / quiet"),
                theirs_hogged.median,
                series.quiet.median,
            );
            report.ratios.push(
                Ratio::of(
                    format!("transfer α={alpha} (contended/quiet) / SQLite {mode}'s"),
                    ours,
                    theirs.value,
                )
                .at_least(1.0),
            );
            report.ratios.push(theirs);
            report.ratios.push(Ratio::of(
                format!("transfer α={alpha} contended / SQLite {mode} contended"),
                hogged,
                theirs_hogged.median,
            ));
        }
    }
    for series in sqlite {
        report.rows.push(series.quiet);
        report.rows.extend(series.hogged);
    }
    Ok(report)
}
