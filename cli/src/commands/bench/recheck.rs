//! `replay-check`: the determinism check's speed against live execution,
//! back to back on the same machine. `replay_commits` `b_bank.transfer`
//! commits are run live (64 callers, durability `none`, so the figure is
//! execution and not fsync), then `replay_check` re-executes the whole log
//! (every transaction through the guest again, compared byte for byte) and
//! must find no divergence. The ratio is re-executed transactions per
//! second over live commits per second (`docs/DETERMINISM.md`).

use std::sync::Arc;
use std::time::Instant;

use interstice_actors::{Durability, Limits, ReplayCheckOptions};
use serde_json::json;

use super::driver;
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::transfer;
use super::zipf::Zipf;
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let commits = s.replay_commits;
    let per_caller = (commits as usize).div_ceil(s.callers);
    let mut report = workload(
        "replay-check",
        json!({
            "commits": per_caller * s.callers,
            "accounts": s.accounts,
            "callers": s.callers,
            "live_durability": "none",
        }),
    );
    let dir = ctx.scratch.path("replay-check");
    let rt = guests::open(&dir, Durability::None).await?;
    ctx.guests.load(&rt, &["b_bank"]).await?;
    ctx.progress
        .step(format!("seeding {} accounts", s.accounts));
    driver::seed_accounts(&rt, "b_bank", s.accounts, s.seed_batch).await?;
    let zipf = Arc::new(Zipf::new(s.accounts, 0.0));
    let factory = transfer::factory(vec![Arc::from("b_bank")], zipf, 7);
    ctx.progress
        .step(format!("live: {} transfers", per_caller * s.callers));
    let live = driver::round(&rt, s.callers, per_caller, &factory).await?;
    rt.shutdown().await?;

    ctx.progress.step("replay-check of the whole log");
    let opts = ReplayCheckOptions::default().with_limits(Limits::default().with_fuel(guests::FUEL));
    let check_dir = dir.clone();
    let started = Instant::now();
    let checked =
        tokio::task::spawn_blocking(move || interstice_actors::replay_check(&check_dir, &opts))
            .await
            .map_err(|e| CliError::Bench(format!("replay-check thread: {e}")))??;
    let secs = started.elapsed().as_secs_f64();
    ctx.scratch.remove(&dir);
    if let Some(d) = &checked.divergence {
        return Err(CliError::Bench(format!(
            "replay-check: the benchmark's own log diverged: {d}"
        )));
    }
    let transfers = (per_caller * s.callers) as u64;
    if checked.checked < transfers {
        return Err(CliError::Bench(format!(
            "replay-check: {} transactions re-executed, {transfers} transfers were committed",
            checked.checked
        )));
    }
    let live_rate = live.rate();
    let check_rate = checked.checked as f64 / secs;
    report.rows.push(Row::new(
        "replay-check: transactions re-executed per second",
        Role::Interstice,
        "tx/s",
        vec![check_rate],
        None,
        format!(
            "{} transactions (seeding included), {} log entries, one pass",
            checked.checked, checked.entries
        ),
    ));
    report.rows.push(Row::new(
        "live: transfers committed per second",
        Role::Baseline,
        "tx/s",
        vec![live_rate],
        None,
        format!("{} callers, durability none, the same run", s.callers),
    ));
    report
        .ratios
        .push(Ratio::of("replay-check / live", check_rate, live_rate).at_least(0.5));
    Ok(report)
}
