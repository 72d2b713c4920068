//! `noop`: the cost of a call through the embedding API with nothing to do
//! in it (`t_hostile.noop`, an empty write reducer: each call is still a
//! transaction with a timestamp and a log entry), 64 concurrent callers,
//! against a bare actix echo actor with the same callers and direct
//! wasmtime call loops.
//!
//! - `durability none`: the call path without fsync — module actor,
//!   sequencer and log-writer hops, the log write, the watermark. This is
//!   what the echo actor is compared with.
//! - `durability sync`: the same, acknowledged after the fsync.
//! - one caller, `sync`: the round-trip latency.

use std::sync::Arc;
use std::time::Instant;

use interstice_actors::Durability;
use serde_json::json;

use super::baseline_actix::EchoSystem;
use super::baseline_wasmtime;
use super::driver::{self, Call, CallerFactory};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// Callers of `t_hostile.noop` (also the `serve` workload's baseline).
pub(super) fn factory() -> CallerFactory {
    let module: Arc<str> = Arc::from("t_hostile");
    let args = driver::no_args();
    Arc::new(move |_| {
        let (module, args) = (module.clone(), args.clone());
        Box::new(move || Call {
            module: module.clone(),
            reducer: "noop",
            args: args.clone(),
        })
    })
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "noop",
        json!({
            "callers": s.callers,
            "calls_per_caller": s.noop_per_caller,
            "latency_calls": s.latency_calls,
            "echo_per_caller": s.echo_per_caller,
            "wasm_loop_calls": s.wasm_calls,
            "rounds": s.rounds,
        }),
    );
    let factory = factory();
    let note = format!(
        "{} callers × {} calls, {} rounds",
        s.callers, s.noop_per_caller, s.rounds
    );

    for (label, durability) in [("none", Durability::None), ("sync", Durability::Sync)] {
        let dir = ctx.scratch.path(&format!("noop-{label}"));
        let rt = guests::open(&dir, durability).await?;
        ctx.guests.load(&rt, &["t_hostile"]).await?;
        ctx.progress.step(format!("durability {label}: warm-up"));
        driver::round(&rt, s.callers, s.noop_per_caller.min(50), &factory).await?;
        let mut r = driver::rounds(&rt, s.rounds, s.callers, s.noop_per_caller, &factory, |i| {
            ctx.progress
                .step(format!("durability {label}: round {}/{}", i + 1, s.rounds))
        })
        .await?;
        report.rows.push(r.metrics.annotate(Row::new(
            format!("noop, durability {label}"),
            Role::Interstice,
            "calls/s",
            r.rates,
            Some(&mut r.latencies),
            note.clone(),
        )));
        if durability == Durability::Sync {
            ctx.progress.step("one caller, durability sync");
            let args = driver::no_args();
            let mut lat = Vec::with_capacity(s.latency_calls);
            let start = Instant::now();
            for _ in 0..s.latency_calls {
                let t = Instant::now();
                rt.call_encoded("t_hostile", "noop", args.clone()).await?;
                lat.push(t.elapsed());
            }
            let rate = s.latency_calls as f64 / start.elapsed().as_secs_f64();
            report.rows.push(Row::new(
                "noop, 1 caller, durability sync",
                Role::Interstice,
                "calls/s",
                vec![rate],
                Some(&mut lat),
                format!("{} sequential calls", s.latency_calls),
            ));
        }
        rt.shutdown().await?;
        ctx.scratch.remove(&dir);
    }

    if s.baselines {
        baselines(ctx, &mut report).await?;
    }
    Ok(report)
}

/// The actix echo actor and the wasmtime loops, and the ratios.
async fn baselines(ctx: &Ctx, report: &mut WorkloadReport) -> Result<(), CliError> {
    let s = &ctx.sizes;
    // Baseline: a bare actix echo actor, same callers and call pattern.
    let echo = EchoSystem::start()?;
    ctx.progress.step("actix echo: warm-up");
    echo.round(s.callers, s.echo_per_caller.min(100)).await?;
    let mut rates = Vec::new();
    let mut lat = Vec::new();
    for i in 0..s.rounds {
        ctx.progress
            .step(format!("actix echo: round {}/{}", i + 1, s.rounds));
        let (elapsed, l) = echo.round(s.callers, s.echo_per_caller).await?;
        rates.push((s.callers * s.echo_per_caller) as f64 / elapsed.as_secs_f64());
        lat.extend(l);
    }
    drop(echo);
    report.rows.push(Row::new(
        "actix echo actor",
        Role::Baseline,
        "calls/s",
        rates,
        Some(&mut lat),
        format!(
            "{} callers × {} round trips, tokio oneshot replies",
            s.callers, s.echo_per_caller
        ),
    ));

    // Baselines: direct wasmtime calls on one thread.
    ctx.progress.step("wasmtime TypedFunc loops");
    let hostile = ctx.guests.bytes("t_hostile")?;
    let (calls, rounds) = (s.wasm_calls, s.rounds);
    let (direct, bare) = tokio::task::spawn_blocking(move || {
        Ok::<_, CliError>((
            baseline_wasmtime::hostile_noop(&hostile, calls, rounds)?,
            baseline_wasmtime::wat_noop(calls, rounds)?,
        ))
    })
    .await
    .map_err(|e| CliError::Bench(e.to_string()))??;
    report.rows.push(Row::new(
        "wasmtime loop: __interstice_call(noop)",
        Role::Baseline,
        "calls/s",
        direct,
        None,
        format!("1 thread, {calls} calls/round; fuel set, args copied per call"),
    ));
    report.rows.push(Row::new(
        "wasmtime loop: empty exported func",
        Role::Baseline,
        "calls/s",
        bare,
        None,
        format!("1 thread, {calls} calls/round"),
    ));

    let [none, sync, _, echo, direct, _] = &report.rows[..] else {
        return Err(CliError::Bench("noop: unexpected rows".into()));
    };
    let ratios = vec![
        Ratio::of("noop (none) / actix echo", none.median, echo.median).at_least(0.5),
        Ratio::of("noop (sync) / actix echo", sync.median, echo.median),
        Ratio::of(
            "noop (none) / wasmtime __interstice_call loop",
            none.median,
            direct.median,
        ),
    ];
    report.ratios = ratios;
    Ok(())
}
