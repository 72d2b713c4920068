//! `interstice bench`: throughput and latency of the runtime's hot paths.
//!
//! Workloads (each repeated for several rounds; medians reported):
//! - `latency`: one caller, sequential `t_hostile.noop` write calls;
//! - `noop`: 64 concurrent callers of `t_hostile.noop`;
//! - `deposit`: 64 concurrent callers of `bank.deposit`, durable (`sync`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_abi::IntersticeType;
use interstice_actors::{Durability, Runtime};
use serde_json::json;

use crate::error::{read_file, CliError};
use crate::guest_build::{build_module, modules_dir};
use crate::output;

/// Bench parameters.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    /// Tiny sizes (for CI).
    pub quick: bool,
    /// Where to write the JSON report.
    pub out: Option<PathBuf>,
    /// Concurrent callers.
    pub callers: usize,
    /// Rounds per workload.
    pub rounds: usize,
}

struct Stats {
    median_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `callers` tasks, each making `per_caller` calls of `module.reducer`
/// with the argument bytes `args(caller, i)`, for `rounds` rounds.
async fn concurrent(
    rt: &Runtime,
    module: &'static str,
    reducer: &'static str,
    callers: usize,
    per_caller: usize,
    rounds: usize,
    args: Arc<dyn Fn(usize, usize) -> Vec<u8> + Send + Sync>,
) -> Result<Stats, CliError> {
    let mut rates = Vec::new();
    let mut lat = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..callers {
            let (rt, args) = (rt.clone(), args.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_caller);
                for i in 0..per_caller {
                    let t = Instant::now();
                    rt.call_encoded(module, reducer, args(c, i)).await?;
                    lat.push(t.elapsed());
                }
                Ok::<_, interstice_actors::RuntimeError>(lat)
            }));
        }
        for t in tasks {
            lat.extend(t.await.map_err(|e| CliError::Demo(e.to_string()))??);
        }
        rates.push((callers * per_caller) as f64 / start.elapsed().as_secs_f64());
    }
    lat.sort();
    Ok(Stats {
        median_per_sec: median(rates),
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    })
}

/// Runs the benchmarks.
pub async fn run(opts: &BenchOpts) -> Result<(), CliError> {
    let src = modules_dir();
    let hostile = read_file(&build_module(&src.join("testing/t_hostile"))?)?;
    let bank = read_file(&build_module(&src.join("bank"))?)?;
    let dir = tempfile_dir()?;
    let rt = Runtime::builder()
        .data_dir(&dir)
        .durability(Durability::Sync)
        .open()
        .await?;
    rt.load_module(hostile).await?;
    rt.load_module(bank).await?;
    let (per_caller, latency_calls) = if opts.quick { (20, 200) } else { (200, 2000) };
    let callers = opts.callers;
    let rounds = if opts.quick { 2 } else { opts.rounds };
    let noop_args = {
        let mut w = interstice_abi::cbor::Writer::new();
        interstice_abi::Args::encode_args(&(), &mut w);
        w.into_vec()
    };

    output::say(format!(
        "interstice bench: {} build, {callers} callers, {rounds} rounds{}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if opts.quick { " (quick)" } else { "" }
    ));

    // Single-caller latency.
    let mut lat = Vec::with_capacity(latency_calls);
    for _ in 0..latency_calls {
        let t = Instant::now();
        rt.call_encoded("t_hostile", "noop", noop_args.clone())
            .await?;
        lat.push(t.elapsed());
    }
    lat.sort();
    let single = Stats {
        median_per_sec: latency_calls as f64 / lat.iter().map(Duration::as_secs_f64).sum::<f64>(),
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    };

    let noop = concurrent(
        &rt,
        "t_hostile",
        "noop",
        callers,
        per_caller,
        rounds,
        Arc::new(move |_, _| noop_args.clone()),
    )
    .await?;

    let mut ids = Vec::new();
    for i in 0..callers {
        let out = rt
            .call(
                "bank",
                "open_account",
                vec![format!("acct{i}").into(), 0u64.into()],
            )
            .await?;
        ids.push(out.to_json().as_u64().unwrap_or(0));
    }
    let ids = Arc::new(ids);
    let deposit = concurrent(
        &rt,
        "bank",
        "deposit",
        callers,
        per_caller,
        rounds,
        Arc::new(move |c, _| (ids[c], 1u64).to_bytes()),
    )
    .await?;
    let fsyncs = rt.metrics().fsyncs;
    rt.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);

    let rows = [
        ("latency (1 caller, noop, durable)", &single),
        ("noop (concurrent callers, durable)", &noop),
        ("bank.deposit (concurrent callers, durable)", &deposit),
    ];
    output::say(format!(
        "{:<44} {:>12} {:>10} {:>10}",
        "workload", "ops/s (med)", "p50 µs", "p99 µs"
    ));
    for (name, s) in rows {
        output::say(format!(
            "{name:<44} {:>12.0} {:>10.1} {:>10.1}",
            s.median_per_sec, s.p50_us, s.p99_us
        ));
    }
    output::say(format!("fsyncs issued: {fsyncs}"));
    if let Some(path) = &opts.out {
        let report = json!({
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "params": {"callers": callers, "rounds": rounds, "per_caller": per_caller, "quick": opts.quick},
            "results": rows.iter().map(|(n, s)| json!({"workload": n, "ops_per_sec_median": s.median_per_sec, "p50_us": s.p50_us, "p99_us": s.p99_us})).collect::<Vec<_>>(),
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .map_err(|source| CliError::File {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("interstice-bench-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}
