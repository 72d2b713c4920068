//! `keynote`: the transfer workload the way SpacetimeDB's keynote benchmark
//! runs it: 100,000 accounts, Zipf α = 0 and 1.5, 64 clients each keeping
//! 40 calls in flight (`--in-flight`), every call acknowledged after its
//! commit is fsynced (`sync`). In the same runtime, in alternating rounds,
//! the 64 × 1 shape of `transfer` (each client one call at a time), so the
//! two figures and their ratios come from the same moments of the run.
//! Baselines: SQLite's transfers with `synchronous=FULL` and `NORMAL`, one
//! transaction at a time (`baseline_sqlite`: a single writer has no honest
//! way to keep calls in flight).
//!
//! Checks: the total balance is conserved, and every acknowledged call is
//! exactly one commit (the runtime's commit counter moved by the number of
//! calls acknowledged in each round).

use std::sync::Arc;

use serde_json::json;

use super::driver::{self, counted, CallerFactory, Series};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::transfer::{close_bank, factory, seeded_bank, ALPHAS};
use super::zipf::Zipf;
use super::{baseline_sqlite, workload, Ctx};
use crate::error::CliError;

/// The row names, shared by the rows and the ratios.
fn keynote_row(alpha: f64, clients: usize, in_flight: usize) -> String {
    format!("keynote α={alpha}: {clients} clients × {in_flight} in flight, sync")
}
fn single_row(alpha: f64, clients: usize) -> String {
    format!("transfer α={alpha}: {clients} clients × 1 in flight, sync")
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let (clients, in_flight) = (s.callers, s.in_flight);
    let mut report = workload(
        "keynote",
        json!({
            "accounts": s.accounts,
            "zipf_alphas": ALPHAS,
            "clients": clients,
            "in_flight_per_client": in_flight,
            "calls_per_client": s.keynote_per_client,
            "single_calls_per_client": s.transfer_per_caller,
            "rounds": s.rounds,
            "durability": "sync",
            "sqlite_full_txs": s.sqlite_full_txs,
            "sqlite_normal_txs": s.sqlite_normal_txs,
        }),
    );
    let (rt, dir) = seeded_bank(ctx, "keynote").await?;

    // Per α: the keynote figure and the 64 × 1 figure.
    let mut figures = Vec::new();
    for (i, alpha) in ALPHAS.into_iter().enumerate() {
        let factory: CallerFactory = factory(
            vec![Arc::from("b_bank")],
            Arc::new(Zipf::new(s.accounts, alpha)),
            100 + i as u64,
        );
        ctx.progress.step(format!("α = {alpha}: warm-up"));
        driver::round_in_flight(
            &rt,
            clients,
            in_flight,
            s.keynote_per_client.min(2 * in_flight),
            &factory,
        )
        .await?;
        driver::round(&rt, clients, s.transfer_per_caller.min(20), &factory).await?;
        let (mut pipelined, mut single) = (Series::default(), Series::default());
        for r in 0..s.rounds {
            ctx.progress.step(format!(
                "α = {alpha}: round {}/{}, {clients} × {in_flight} in flight",
                r + 1,
                s.rounds
            ));
            pipelined.push(
                counted(
                    &rt,
                    "keynote",
                    driver::round_in_flight(
                        &rt,
                        clients,
                        in_flight,
                        s.keynote_per_client,
                        &factory,
                    ),
                )
                .await?,
            );
            ctx.progress.step(format!(
                "α = {alpha}: round {}/{}, {clients} × 1",
                r + 1,
                s.rounds
            ));
            single.push(
                counted(
                    &rt,
                    "keynote (one call in flight per client)",
                    driver::round(&rt, clients, s.transfer_per_caller, &factory),
                )
                .await?,
            );
        }
        let keynote = pipelined.metrics.annotate(Row::new(
            keynote_row(alpha, clients, in_flight),
            Role::Interstice,
            "tx/s",
            pipelined.rates,
            Some(&mut pipelined.latencies),
            format!(
                "{clients} clients × {} transfers, {in_flight} in flight each, {} rounds",
                s.keynote_per_client, s.rounds
            ),
        ));
        let one = single.metrics.annotate(Row::new(
            single_row(alpha, clients),
            Role::Interstice,
            "tx/s",
            single.rates,
            Some(&mut single.latencies),
            format!(
                "{clients} clients × {} transfers, one at a time, {} rounds (alternating \
                 with the keynote rounds)",
                s.transfer_per_caller, s.rounds
            ),
        ));
        figures.push((
            keynote.median,
            one.median,
            pipelined.metrics.commits_per_fsync(),
            single.metrics.commits_per_fsync(),
        ));
        report.rows.push(keynote);
        report.rows.push(one);
    }
    close_bank(ctx, rt, &dir, "keynote").await?;

    for (alpha, &(keynote, one, k_cpf, one_cpf)) in ALPHAS.into_iter().zip(&figures) {
        report.ratios.push(Ratio::figure(
            format!("keynote α={alpha} commits per fsync"),
            k_cpf,
            "commits",
        ));
        report.ratios.push(Ratio::figure(
            format!("{clients}×1 α={alpha} commits per fsync"),
            one_cpf,
            "commits",
        ));
        report.ratios.push(Ratio::of(
            format!("keynote α={alpha} / {clients}×1"),
            keynote,
            one,
        ));
    }
    if s.baselines {
        let sqlite = baseline_sqlite::measure(ctx, "keynote-sqlite", None).await?;
        for (alpha, &(keynote, one, _, _)) in ALPHAS.into_iter().zip(&figures) {
            let full = &baseline_sqlite::find(&sqlite, alpha, "FULL").quiet;
            let normal = &baseline_sqlite::find(&sqlite, alpha, "NORMAL").quiet;
            report.ratios.push(
                Ratio::of(
                    format!("keynote α={alpha} / SQLite NORMAL"),
                    keynote,
                    normal.median,
                )
                .at_least(6.5),
            );
            report.ratios.push(Ratio::of(
                format!("keynote α={alpha} / SQLite FULL"),
                keynote,
                full.median,
            ));
            report.ratios.push(
                Ratio::of(
                    format!("{clients}×1 α={alpha} / SQLite NORMAL"),
                    one,
                    normal.median,
                )
                .at_least(4.0),
            );
            report.ratios.push(
                Ratio::of(
                    format!("{clients}×1 α={alpha} / SQLite FULL"),
                    one,
                    full.median,
                )
                .at_least(30.0),
            );
        }
        for series in sqlite {
            report.rows.push(series.quiet);
        }
    }
    Ok(report)
}
