//! Driving the runtime: concurrent callers through the embedding API
//! (`Runtime::call_encoded`, the fast path), rounds, seeding, metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_abi::IntersticeType;
use interstice_actors::{Metrics, Runtime};

use crate::error::CliError;

/// One call: module, write reducer, encoded argument array.
pub(super) struct Call {
    /// Module name.
    pub module: Arc<str>,
    /// Reducer name.
    pub reducer: &'static str,
    /// The CBOR argument array.
    pub args: Vec<u8>,
}

/// Makes the call generator of one caller (given its index); the generator
/// is then asked for each of the caller's calls in turn.
pub(super) type CallerFactory = Arc<dyn Fn(usize) -> Box<dyn FnMut() -> Call + Send> + Send + Sync>;

/// What one round of concurrent calls did.
pub(super) struct RoundResult {
    /// Wall time of the round.
    pub elapsed: Duration,
    /// Latency of every call.
    pub latencies: Vec<Duration>,
    /// Calls made.
    pub calls: usize,
}

impl RoundResult {
    /// Calls per second.
    pub(super) fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `callers` tokio tasks, each making `per_caller` sequential calls
/// (awaiting each acknowledgement), and returns when all are done. Any
/// call error fails the round.
pub(super) async fn round(
    rt: &Runtime,
    callers: usize,
    per_caller: usize,
    factory: &CallerFactory,
) -> Result<RoundResult, CliError> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    for c in 0..callers {
        let rt = rt.clone();
        let mut next = factory(c);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_caller);
            for _ in 0..per_caller {
                let call = next();
                let t = Instant::now();
                rt.call_encoded(&call.module, call.reducer, call.args)
                    .await?;
                lat.push(t.elapsed());
            }
            Ok::<_, interstice_actors::RuntimeError>(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(callers * per_caller);
    for t in tasks {
        latencies.extend(t.await.map_err(|e| CliError::Bench(e.to_string()))??);
    }
    Ok(RoundResult {
        elapsed: start.elapsed(),
        calls: callers * per_caller,
        latencies,
    })
}

/// Runs `clients` tokio tasks, each keeping up to `in_flight` of its
/// `per_client` calls outstanding at once (a new call starts as soon as one
/// is acknowledged), and returns when all are done: the keynote
/// benchmark's clients. Any call error fails the round.
pub(super) async fn round_in_flight(
    rt: &Runtime,
    clients: usize,
    in_flight: usize,
    per_client: usize,
    factory: &CallerFactory,
) -> Result<RoundResult, CliError> {
    use futures::stream::{FuturesUnordered, StreamExt};
    let in_flight = in_flight.max(1);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let rt = rt.clone();
        let mut next = factory(c);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            let mut pending = FuturesUnordered::new();
            let mut started = 0;
            let mut issue = |pending: &mut FuturesUnordered<_>| {
                let (rt, call) = (rt.clone(), next());
                pending.push(async move {
                    let t = Instant::now();
                    rt.call_encoded(&call.module, call.reducer, call.args)
                        .await
                        .map(|_| t.elapsed())
                });
            };
            while started < per_client.min(in_flight) {
                issue(&mut pending);
                started += 1;
            }
            while let Some(done) = pending.next().await {
                lat.push(done?);
                if started < per_client {
                    issue(&mut pending);
                    started += 1;
                }
            }
            Ok::<_, interstice_actors::RuntimeError>(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(clients * per_client);
    for t in tasks {
        latencies.extend(t.await.map_err(|e| CliError::Bench(e.to_string()))??);
    }
    if latencies.len() != clients * per_client {
        return Err(CliError::Bench(format!(
            "{} calls acknowledged, {} made",
            latencies.len(),
            clients * per_client
        )));
    }
    Ok(RoundResult {
        elapsed: start.elapsed(),
        calls: clients * per_client,
        latencies,
    })
}

/// Per-round rates and all latencies of `rounds` rounds.
pub(super) struct Rounds {
    /// Calls per second of each round.
    pub rates: Vec<f64>,
    /// Every call's latency.
    pub latencies: Vec<Duration>,
    /// Metrics difference over the rounds.
    pub metrics: MetricsDelta,
}

/// Runs `rounds` rounds of [`round`], calling `on_round(i)` before each.
pub(super) async fn rounds(
    rt: &Runtime,
    rounds: usize,
    callers: usize,
    per_caller: usize,
    factory: &CallerFactory,
    mut on_round: impl FnMut(usize),
) -> Result<Rounds, CliError> {
    let before = rt.metrics();
    let mut rates = Vec::with_capacity(rounds);
    let mut latencies = Vec::new();
    for i in 0..rounds {
        on_round(i);
        let r = round(rt, callers, per_caller, factory).await?;
        rates.push(r.rate());
        latencies.extend(r.latencies);
    }
    Ok(Rounds {
        rates,
        latencies,
        metrics: MetricsDelta::between(&before, &rt.metrics()),
    })
}

/// Runs `round`, then checks that the runtime committed exactly the calls
/// it acknowledged; returns the round and the counters it moved.
pub(super) async fn counted(
    rt: &Runtime,
    what: &str,
    round: impl std::future::Future<Output = Result<RoundResult, CliError>>,
) -> Result<(RoundResult, MetricsDelta), CliError> {
    let before = rt.metrics();
    let r = round.await?;
    let delta = MetricsDelta::between(&before, &rt.metrics());
    if delta.commits != r.calls as u64 {
        return Err(CliError::Bench(format!(
            "{what}: {} calls acknowledged, {} commits",
            r.calls, delta.commits
        )));
    }
    Ok((r, delta))
}

/// The rounds of one series measured in turns with others: rates,
/// latencies, counters.
#[derive(Default)]
pub(super) struct Series {
    /// Each round's rate.
    pub rates: Vec<f64>,
    /// Every call's latency.
    pub latencies: Vec<Duration>,
    /// The counters the rounds moved.
    pub metrics: MetricsDelta,
}

impl Series {
    /// Adds a [`counted`] round.
    pub(super) fn push(&mut self, (r, delta): (RoundResult, MetricsDelta)) {
        self.rates.push(r.rate());
        self.latencies.extend(r.latencies);
        self.metrics.add(delta);
    }
}

/// Counter differences over a measurement.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MetricsDelta {
    /// Committed transactions.
    pub commits: u64,
    /// fsyncs of the log.
    pub fsyncs: u64,
}

impl MetricsDelta {
    /// `after - before`.
    pub(super) fn between(before: &Metrics, after: &Metrics) -> Self {
        MetricsDelta {
            commits: after.commits - before.commits,
            fsyncs: after.fsyncs - before.fsyncs,
        }
    }

    /// Adds `other`'s counts to these (measurements taken in turns).
    pub(super) fn add(&mut self, other: MetricsDelta) {
        self.commits += other.commits;
        self.fsyncs += other.fsyncs;
    }

    /// Commits per fsync (0 when there was no fsync).
    pub(super) fn commits_per_fsync(&self) -> f64 {
        if self.fsyncs == 0 {
            0.0
        } else {
            self.commits as f64 / self.fsyncs as f64
        }
    }

    /// Adds the counters (and commits per fsync) to a report row.
    pub(super) fn annotate(&self, row: super::report::Row) -> super::report::Row {
        let row = row
            .with("commits", self.commits)
            .with("fsyncs", self.fsyncs);
        if self.fsyncs > 0 {
            row.with(
                "commits_per_fsync",
                (self.commits_per_fsync() * 10.0).round() / 10.0,
            )
        } else {
            row
        }
    }
}

/// The argument array of a reducer without parameters.
pub(super) fn no_args() -> Vec<u8> {
    let mut w = interstice_abi::cbor::Writer::new();
    interstice_abi::Args::encode_args(&(), &mut w);
    w.into_vec()
}

/// Creates accounts `0..n` in `module` with `seed`, `batch` per transaction.
pub(super) async fn seed_accounts(
    rt: &Runtime,
    module: &str,
    n: u64,
    batch: u32,
) -> Result<(), CliError> {
    let mut first = 0u64;
    while first < n {
        let count = (n - first).min(u64::from(batch)) as u32;
        rt.call_encoded(
            module,
            "seed",
            (first, count, bench_initial_balance()).to_bytes(),
        )
        .await?;
        first += u64::from(count);
    }
    Ok(())
}

/// `bench_common::INITIAL_BALANCE`: every seeded account's balance.
pub(super) fn bench_initial_balance() -> u64 {
    1_000_000_000
}

/// Reads a read reducer's `u64` result.
pub(super) async fn read_u64(rt: &Runtime, module: &str, reducer: &str) -> Result<u64, CliError> {
    let out = rt.read(module, reducer, Vec::new()).await?;
    out.to_json()
        .as_u64()
        .ok_or_else(|| CliError::Bench(format!("{module}.{reducer} did not return a u64")))
}

/// Waits until the durable watermark reaches `ts` (polling), or fails after
/// `timeout`.
pub(super) async fn wait_durable(rt: &Runtime, ts: u64, timeout: Duration) -> Result<(), CliError> {
    let deadline = Instant::now() + timeout;
    while rt.durable_ts() < ts {
        if Instant::now() > deadline {
            return Err(CliError::Bench(format!(
                "timed out waiting for timestamp {ts} to be durable (at {})",
                rt.durable_ts()
            )));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}
