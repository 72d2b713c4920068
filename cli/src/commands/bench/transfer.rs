//! `transfer`: 100,000 accounts; each transaction reads two balances,
//! debits one and credits the other (`b_bank.transfer`); accounts drawn
//! from a Zipf distribution with α = 0 (uniform) and α = 1.5; 64 callers in
//! `sync` durability. Baselines: SQLite doing the same transfers (WAL,
//! `synchronous=FULL` and `NORMAL`, single-threaded), and a raw
//! append+fsync loop (the disk's bound on durable, unbatched commits).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_abi::IntersticeType;
use interstice_actors::{Durability, Runtime};
use serde_json::json;

use super::baseline_sqlite;
use super::driver::{self, Call, CallerFactory};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::zipf::{Rng, Zipf};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// The Zipf exponents measured.
pub(super) const ALPHAS: [f64; 2] = [0.0, 1.5];

/// Transfers between Zipf-chosen accounts; caller `c` works on module
/// `modules[c % modules.len()]`, each caller with its own rng stream.
pub(super) fn factory(modules: Vec<Arc<str>>, zipf: Arc<Zipf>, seed: u64) -> CallerFactory {
    let stream = Arc::new(AtomicU64::new(seed << 32));
    Arc::new(move |c| {
        let mut rng = Rng::new(stream.fetch_add(1, Ordering::Relaxed));
        let (module, zipf) = (modules[c % modules.len()].clone(), zipf.clone());
        Box::new(move || {
            let (from, to) = (zipf.sample(&mut rng), zipf.sample(&mut rng));
            Call {
                module: module.clone(),
                reducer: "transfer",
                args: (from, to, 1u64).to_bytes(),
            }
        })
    })
}

/// A fresh runtime (`sync`) in the scratch directory `name` with `b_bank`
/// loaded and its accounts seeded; and that directory.
pub(super) async fn seeded_bank(ctx: &Ctx, name: &str) -> Result<(Runtime, PathBuf), CliError> {
    let s = &ctx.sizes;
    let dir = ctx.scratch.path(name);
    let rt = guests::open(&dir, Durability::Sync).await?;
    ctx.guests.load(&rt, &["b_bank"]).await?;
    ctx.progress
        .step(format!("seeding {} accounts", s.accounts));
    driver::seed_accounts(&rt, "b_bank", s.accounts, s.seed_batch).await?;
    Ok((rt, dir))
}

/// Checks that [`seeded_bank`]'s total balance is conserved, then shuts
/// the runtime down and removes its directory.
pub(super) async fn close_bank(
    ctx: &Ctx,
    rt: Runtime,
    dir: &Path,
    what: &str,
) -> Result<(), CliError> {
    let s = &ctx.sizes;
    let total = driver::read_u64(&rt, "b_bank", "total").await?;
    if total != s.accounts * driver::bench_initial_balance() {
        return Err(CliError::Bench(format!(
            "{what}: the total balance changed to {total}"
        )));
    }
    rt.shutdown().await?;
    ctx.scratch.remove(dir);
    Ok(())
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "transfer",
        json!({
            "accounts": s.accounts,
            "zipf_alphas": ALPHAS,
            "callers": s.callers,
            "transfers_per_caller": s.transfer_per_caller,
            "rounds": s.rounds,
            "durability": "sync",
            "sqlite_full_txs": s.sqlite_full_txs,
            "sqlite_normal_txs": s.sqlite_normal_txs,
        }),
    );

    let (rt, dir) = seeded_bank(ctx, "transfer").await?;
    let mut interstice = Vec::new();
    for (i, alpha) in ALPHAS.into_iter().enumerate() {
        let factory = factory(
            vec![Arc::from("b_bank")],
            Arc::new(Zipf::new(s.accounts, alpha)),
            i as u64,
        );
        ctx.progress.step(format!("α = {alpha}: warm-up"));
        driver::round(&rt, s.callers, s.transfer_per_caller.min(20), &factory).await?;
        let mut r = driver::rounds(
            &rt,
            s.rounds,
            s.callers,
            s.transfer_per_caller,
            &factory,
            |i| {
                ctx.progress
                    .step(format!("α = {alpha}: round {}/{}", i + 1, s.rounds))
            },
        )
        .await?;
        let row = r.metrics.annotate(Row::new(
            format!("transfer α={alpha}, durability sync"),
            Role::Interstice,
            "tx/s",
            r.rates,
            Some(&mut r.latencies),
            format!(
                "{} callers × {} transfers, {} rounds",
                s.callers, s.transfer_per_caller, s.rounds
            ),
        ));
        interstice.push(row.median);
        report.rows.push(row);
    }
    close_bank(ctx, rt, &dir, "transfer").await?;

    for (i, alpha) in ALPHAS.into_iter().enumerate() {
        report.ratios.push(
            Ratio::figure(format!("transfer α={alpha} durable"), interstice[i], "tx/s")
                .at_least(300_000.0),
        );
    }
    if s.baselines {
        baselines(ctx, &mut report, &interstice).await?;
    }
    Ok(report)
}

/// SQLite and the raw fsync loop, and the ratios to them.
async fn baselines(
    ctx: &Ctx,
    report: &mut WorkloadReport,
    interstice: &[f64],
) -> Result<(), CliError> {
    let s = &ctx.sizes;
    // SQLite, single-threaded, same transfers.
    let sqlite = baseline_sqlite::measure(ctx, "transfer-sqlite", None).await?;

    // The disk: append a small record and fsync it, one at a time.
    ctx.progress.step("raw append+fsync loop");
    let file_dir = ctx.scratch.path("fsync");
    std::fs::create_dir_all(&file_dir)?;
    let (n, rounds) = (s.fsyncs, s.rounds);
    let file = file_dir.join("log");
    let (rates, mut lat) = tokio::task::spawn_blocking(move || fsync_loop(&file, n, rounds))
        .await
        .map_err(|e| CliError::Bench(e.to_string()))??;
    ctx.scratch.remove(&file_dir);
    let fsync_row = Row::new(
        "raw append(200 B)+fdatasync loop",
        Role::Baseline,
        "fsyncs/s",
        rates,
        Some(&mut lat),
        format!("1 thread × {n} fsyncs, {} rounds", s.rounds),
    );

    for (i, alpha) in ALPHAS.into_iter().enumerate() {
        let full = &baseline_sqlite::find(&sqlite, alpha, "FULL").quiet;
        let normal = &baseline_sqlite::find(&sqlite, alpha, "NORMAL").quiet;
        report.rows.push(full.clone());
        report.rows.push(normal.clone());
        report.ratios.push(
            Ratio::of(
                format!("transfer α={alpha} / SQLite FULL"),
                interstice[i],
                full.median,
            )
            .at_least(100.0),
        );
        report.ratios.push(
            Ratio::of(
                format!("transfer α={alpha} / SQLite NORMAL"),
                interstice[i],
                normal.median,
            )
            .at_least(2.0),
        );
    }
    report.rows.push(fsync_row);
    Ok(())
}

/// Appends 200 bytes and `fdatasync`s, `n` times per round.
fn fsync_loop(path: &Path, n: usize, rounds: usize) -> Result<(Vec<f64>, Vec<Duration>), CliError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let record = [0x5au8; 200];
    let mut rates = Vec::new();
    let mut lat = Vec::with_capacity(n * rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            f.write_all(&record)?;
            f.sync_data()?;
            lat.push(t.elapsed());
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    Ok((rates, lat))
}
