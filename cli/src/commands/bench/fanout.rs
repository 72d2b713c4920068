//! `fanout`: one insert into `b_source.events` triggers K subscriber
//! modules (`b_sub_*`, each a transaction bumping a counter), K = 1, 4, 16;
//! 64 callers insert in `sync` durability. A round ends when every trigger
//! it caused is durable; the figure is end-to-end triggers per second.
//!
//! Every call and every trigger takes one timestamp, so a round of N inserts
//! is complete when the durable watermark has moved by N × (1 + K). Each
//! subscriber's counter is checked at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_abi::IntersticeType;
use interstice_actors::Durability;
use serde_json::json;

use super::driver::{self, Call, CallerFactory};
use super::guests::{self, subscriber, SUBSCRIBERS};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::{workload, Ctx};
use crate::error::CliError;

fn factory() -> CallerFactory {
    let module: Arc<str> = Arc::from("b_source");
    Arc::new(move |c| {
        let module = module.clone();
        let mut i = 0u64;
        Box::new(move || {
            i += 1;
            Call {
                module: module.clone(),
                reducer: "emit",
                args: ((c as u64) << 32 | i,).to_bytes(),
            }
        })
    })
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "fanout",
        json!({
            "subscribers": s.fanout_ks,
            "callers": s.callers,
            "inserts_per_caller": s.fanout_per_caller,
            "rounds": s.rounds,
            "durability": "sync",
        }),
    );
    if let Some(&k) = s.fanout_ks.iter().find(|&&k| k == 0 || k > SUBSCRIBERS) {
        return Err(CliError::Bench(format!(
            "fanout: K = {k} asked for; there are 1..={SUBSCRIBERS} subscribers"
        )));
    }
    let dir = ctx.scratch.path("fanout");
    let rt = guests::open(&dir, Durability::Sync).await?;
    ctx.guests.load(&rt, &["b_source"]).await?;
    let factory = factory();
    let events_per_round = s.callers * s.fanout_per_caller;
    // Events emitted so far, and how many there were when each subscriber
    // was loaded (it sees every event after that).
    let mut emitted = 0u64;
    let mut loaded_at: Vec<u64> = Vec::new();
    let mut first_rate = None;
    for &k in &s.fanout_ks {
        while loaded_at.len() < k {
            let name = subscriber(loaded_at.len());
            ctx.progress.step(format!("loading {name}"));
            ctx.guests.load(&rt, &[&name]).await?;
            loaded_at.push(emitted);
        }
        let mut rates = Vec::new();
        let mut emit_rates = Vec::new();
        let mut latencies = Vec::new();
        for i in 0..=s.rounds {
            // Round 0 warms up and is not reported.
            ctx.progress.step(if i == 0 {
                format!("K = {k}: warm-up")
            } else {
                format!("K = {k}: round {i}/{}", s.rounds)
            });
            let base = rt.durable_ts();
            let start = Instant::now();
            let r = driver::round(&rt, s.callers, s.fanout_per_caller, &factory).await?;
            let target = base + (events_per_round * (1 + k)) as u64;
            driver::wait_durable(&rt, target, Duration::from_secs(300)).await?;
            let elapsed = start.elapsed();
            emitted += events_per_round as u64;
            if i > 0 {
                rates.push((events_per_round * k) as f64 / elapsed.as_secs_f64());
                emit_rates.push(r.rate());
                latencies.extend(r.latencies);
            }
        }
        let row = Row::new(
            format!("fanout K={k}: triggers, end to end"),
            Role::Interstice,
            "triggers/s",
            rates,
            Some(&mut latencies),
            format!(
                "{} callers × {} inserts, {} rounds; latency is the insert's",
                s.callers, s.fanout_per_caller, s.rounds
            ),
        )
        .with("inserts_per_sec_median", super::report::median(&emit_rates));
        match first_rate {
            None => first_rate = Some((k, row.median)),
            Some((k0, r0)) => report.ratios.push(Ratio::of(
                format!("triggers/s at K={k} / at K={k0}"),
                row.median,
                r0,
            )),
        }
        report.rows.push(row);
    }
    for (i, &at) in loaded_at.iter().enumerate() {
        let seen = driver::read_u64(&rt, &subscriber(i), "seen").await?;
        if seen != emitted - at {
            return Err(CliError::Bench(format!(
                "fanout: {} saw {seen} events, expected {}",
                subscriber(i),
                emitted - at
            )));
        }
    }
    rt.shutdown().await?;
    ctx.scratch.remove(&dir);
    Ok(report)
}
