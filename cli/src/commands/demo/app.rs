//! `interstice demo --app`: the economy application end to end. Builds the
//! economy's modules (`modules/examples/economy`), loads them into a fresh
//! data directory and has simulated players play (`app-load`'s generator,
//! in process), upgrading the leaderboard from version 1 to 2 (a code
//! migration) while they play. Then it plays again in a child process
//! (`interstice app-load`) and SIGKILLs it mid-run, reopens the directory,
//! shows that every action the runtime acknowledged before the kill is in
//! the state and that the economy's invariants hold, runs `replay-check`,
//! writes the graphs and prints how to open them and the dashboard.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_actors::{ReplayCheckOptions, Runtime};

use crate::commands::app_load::{self, AckLog, LoadOpts};
use crate::commands::{graph_subs, graph_trace};
use crate::error::{read_file, CliError};
use crate::output::{hex, say};

/// What `demo --app` is asked for.
#[derive(Debug, Clone)]
pub struct AppOpts {
    /// Simulated players per phase.
    pub players: u32,
    /// Play time, split between the two phases.
    pub seconds: f64,
}

/// A file beside `dir`, named after it: `DIR.<suffix>`.
fn beside(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir.file_name().map_or_else(
        || "interstice-demo".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    dir.with_file_name(format!("{name}.{suffix}"))
}

/// Runs the application demo.
pub async fn run(data_dir: &Path, modules: Option<&Path>, opts: &AppOpts) -> Result<(), CliError> {
    if opts.players == 0 || !(opts.seconds > 0.0 && opts.seconds <= 86_400.0) {
        return Err(CliError::Usage(
            "demo --app needs --players ≥ 1 and --seconds in (0, 86400]".into(),
        ));
    }
    let half = Duration::from_secs_f64(opts.seconds / 2.0);
    say("== building the economy's modules (wasm32-unknown-unknown, release)");
    let wasm = app_load::build_all(modules)?;
    for w in &wasm {
        say(format!("   {}", w.display()));
    }
    super::fresh_dir(data_dir)?;
    let acks_path = beside(data_dir, "acks.jsonl");
    match std::fs::remove_file(&acks_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }

    say(format!("== opening a runtime in {}", data_dir.display()));
    let rt = Runtime::builder().data_dir(data_dir).open().await?;
    let res = first_phase(&rt, &wasm, opts, half, &acks_path).await;
    rt.shutdown().await?;
    res?;

    let killed_at = crash_phase(data_dir, opts, half, &acks_path)?;

    say("== restart: reopening the data directory after the SIGKILL");
    let t = Instant::now();
    let rt = Runtime::builder()
        .data_dir(data_dir)
        .limits(app_load::audit_limits())
        .open()
        .await?;
    say(format!(
        "   recovered in {:.1} ms ({} log entries replayed)",
        t.elapsed().as_secs_f64() * 1000.0,
        rt.metrics().replayed_entries
    ));
    let res = survival(&rt, &acks_path, killed_at).await;
    rt.shutdown().await?;
    res?;

    say("== replay-check: re-executing the whole log");
    let report = interstice_actors::replay_check(data_dir, &ReplayCheckOptions::default())?;
    if let Some(d) = &report.divergence {
        return Err(CliError::Demo(format!(
            "replay-check diverged at ts {} ({}.{})",
            d.ts, d.module, d.reducer
        )));
    }
    say(format!(
        "   ok: {} transactions re-executed exactly as logged (log up to ts {})",
        report.checked, report.last_ts
    ));
    graphs(data_dir, report.last_ts)?;
    say("== done");
    Ok(())
}

/// Loads version 1, plays for `half`, and upgrades the leaderboard to
/// version 2 halfway through.
async fn first_phase(
    rt: &Runtime,
    wasm: &[PathBuf],
    opts: &AppOpts,
    half: Duration,
    acks_path: &Path,
) -> Result<(), CliError> {
    app_load::install(rt, wasm).await?;
    for m in rt.modules() {
        say(format!(
            "   loaded {} {} ({} tables, {} reducers, {} dependencies)",
            m.name,
            m.version,
            m.schema.tables.len(),
            m.schema.reducers.len(),
            m.schema.dependencies.len()
        ));
    }
    say(format!(
        "== playing: {} players for {:.1} s (join, gather, craft, list, buy)",
        opts.players,
        half.as_secs_f64()
    ));
    let log = Arc::new(AckLog::open(Some(acks_path))?);
    let load = LoadOpts {
        players: opts.players,
        duration: half,
        phase: 1,
    };
    let game = {
        let rt = rt.clone();
        let log = log.clone();
        tokio::spawn(async move { app_load::play(&rt, &load, log).await })
    };
    tokio::time::sleep(half / 2).await;
    say("== upgrading eco_leaderboard 1.0.0 -> 2.0.0 while they play (code migration of `scores`)");
    let v2 = rt.load_module(read_file(&wasm[4])?).await?;
    say(format!(
        "   loaded eco_leaderboard {}: every score rewritten with its tier",
        v2.version
    ));
    let report = game
        .await
        .map_err(|e| CliError::Demo(format!("the players stopped: {e}")))??;
    say(format!(
        "   {} actions acknowledged, {} refused by the economy (no ingredients, sold meanwhile, …)",
        report.acked, report.refused
    ));
    let stats = rt.call_json("eco_market", "stats", &[]).await?.to_json();
    say(format!(
        "   market: {} trades moving {} gold",
        stats[0], stats[1]
    ));
    let top = rt
        .call_json("eco_leaderboard", "top", &[serde_json::json!(3)])
        .await?
        .to_json();
    say(format!("   leaderboard top 3 (player, volume): {top}"));
    for tier in ["gold", "silver", "bronze"] {
        let n = rt
            .call_json("eco_leaderboard", "in_tier", &[serde_json::json!(tier)])
            .await?
            .to_json();
        say(format!("   players in tier {tier}: {n}"));
    }
    say(format!("   state hash: {}", hex(&rt.state_hash().await?)));
    Ok(())
}

/// Plays in a child `interstice app-load` and SIGKILLs it halfway; the
/// number of acknowledgements on file at the kill.
fn crash_phase(
    data_dir: &Path,
    opts: &AppOpts,
    half: Duration,
    acks_path: &Path,
) -> Result<usize, CliError> {
    let before = app_load::read_acks(acks_path)?.len();
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Demo(format!("finding the interstice binary: {e}")))?;
    say(format!(
        "== playing again in a child process (interstice app-load), to be SIGKILLed after {:.1} s",
        half.as_secs_f64() / 2.0
    ));
    let mut child = Command::new(exe)
        .arg("app-load")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--players")
        .arg(opts.players.to_string())
        .arg("--seconds")
        .arg(format!("{}", half.as_secs_f64() * 4.0))
        .arg("--phase")
        .arg("2")
        .arg("--acks")
        .arg(acks_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CliError::Demo(format!("starting interstice app-load: {e}")))?;
    // Kill once it has played for a while and acknowledged something, so
    // that the kill lands mid-run.
    let start = Instant::now();
    let mut first_ack = None;
    let outcome = loop {
        if let Some(status) = child.try_wait()? {
            break Err(CliError::Demo(format!(
                "interstice app-load exited by itself ({status}) before it was killed"
            )));
        }
        let now = app_load::read_acks(acks_path)?.len();
        if now > before && first_ack.is_none() {
            first_ack = Some(Instant::now());
        }
        if first_ack.is_some_and(|t| t.elapsed() >= half / 2) {
            break Ok(());
        }
        if start.elapsed() > half * 4 + Duration::from_secs(60) {
            break Err(CliError::Demo(
                "interstice app-load acknowledged nothing in time".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // `Child::kill` is SIGKILL on Unix: no shutdown, no flush.
    let _ = child.kill();
    let status = child.wait()?;
    outcome?;
    let at_kill = app_load::read_acks(acks_path)?.len();
    say(format!(
        "   SIGKILLed pid {} ({status}) after {} acknowledged actions in the child",
        child.id(),
        at_kill - before
    ));
    Ok(at_kill)
}

/// Checks every acknowledgement on file against the reopened state.
async fn survival(rt: &Runtime, acks_path: &Path, at_kill: usize) -> Result<(), CliError> {
    let acks = app_load::read_acks(acks_path)?;
    if acks.len() < at_kill {
        return Err(CliError::Demo(format!(
            "the acknowledgement file shrank from {at_kill} to {} lines",
            acks.len()
        )));
    }
    let s = app_load::verify(rt, &acks, Duration::from_secs(30)).await?;
    say(format!(
        "   all {} acknowledged actions survived (joins, receipts, listings, orders)",
        s.checked
    ));
    say(format!(
        "   every reply and trigger delivered, those owed at the kill after the restart: {} trades \
         moving {} gold, leaderboard volume {} (twice the gold traded: each trade counted once)",
        s.trades, s.traded, s.volume
    ));
    say(format!(
        "   invariants hold: {} players, {} gold in their wallets ({} each), every item held or in escrow",
        s.players,
        s.gold,
        app_load::START_GOLD
    ));
    say(format!(
        "   state hash after the restart: {}",
        hex(&rt.state_hash().await?)
    ));
    Ok(())
}

/// How many of the last timestamps the transaction graph shows.
const TRACE_TAIL: u64 = 60;

/// Writes the subscription graph and the transaction graph beside the
/// data directory and prints how to look at them and at the dashboard.
fn graphs(data_dir: &Path, last_ts: u64) -> Result<(), CliError> {
    say("== the graphs and the dashboard");
    let subs = beside(data_dir, "subs.html");
    graph_subs::run(&graph_subs::SubsArgs {
        data_dir: Some(data_dir.to_path_buf()),
        wasm: Vec::new(),
        out: subs.clone(),
    })?;
    let trace = beside(data_dir, "trace.html");
    graph_trace::run(&graph_trace::GraphArgs {
        data_dir: data_dir.to_path_buf(),
        out: trace.clone(),
        from_ts: Some(last_ts.saturating_sub(TRACE_TAIL)),
        to_ts: None,
        caused_by: None,
        max_nodes: 4 * TRACE_TAIL as usize,
    })?;
    say(format!(
        "   subscription and dependency graph: open {}",
        subs.display()
    ));
    say(format!(
        "   transaction graph of the last {TRACE_TAIL} timestamps: open {} (any other: \
         `interstice graph-trace -d {} --from-ts TS --to-ts TS out.html`)",
        trace.display(),
        data_dir.display()
    ));
    say(format!(
        "   dashboard: `interstice run -d {} --listen 127.0.0.1:7070`, then open \
         http://127.0.0.1:7070/#token=<the content of {}>",
        data_dir.display(),
        data_dir.join("READ_TOKEN").display()
    ));
    Ok(())
}
