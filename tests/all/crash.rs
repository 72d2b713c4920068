//! Tests: crashes. A real `interstice run` SIGKILLed under load, in each
//! durability mode and in a loop of 20+ kills, loses nothing it
//! acknowledged (a process crash loses nothing the OS already has). And a
//! model-based test: random bank/hello workloads on a fault-injecting log,
//! crashed at random I/O points, reopened and compared with a reference
//! model.
//!
//! `INTERSTICE_CRASH_POINTS` (default 200) sets how many crash points the
//! model-based test runs, `INTERSTICE_CRASH_SEED` its seed, and
//! `INTERSTICE_CRASH_ONLY=N` runs only point N (to reproduce a failure);
//! `scripts/crash-soak.sh` runs thousands. See `docs/TESTING.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use interstice_abi::cbor::Reader;
use interstice_actors::{CallOutput, Durability, RuntimeError, Value};
use interstice_persist::{
    Cause, CrashMode, Fault, FaultPlan, FaultyStorage, LogEntry, Op, Outcome,
};
use serde_json::{json, Value as Json};

use crate::faults::{open_faulty, Rng};
use crate::support::{log_entries, s, tempdir, u, wasm, Server};

// ---------------------------------------------------------------------------
// SIGKILL under load.
// ---------------------------------------------------------------------------

const INITIAL: u64 = 1000;
const AMOUNT: u64 = 3;

fn deposit(id: u64) -> Json {
    json!({"id": id, "op": "call", "module": "bank", "reducer": "deposit", "args": [1, AMOUNT]})
}

/// Timestamps of the successful deposits in the log (stops at a torn tail).
fn logged_deposits(dir: &Path) -> BTreeSet<u64> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Commit(c)
                if c.module == "bank"
                    && c.reducer == "deposit"
                    && matches!(c.outcome, Outcome::Ok(_)) =>
            {
                Some(c.ts)
            }
            _ => None,
        })
        .collect()
}

/// Acknowledged deposits across restarts, checked after every kill.
struct KillLoop<'a> {
    dir: &'a Path,
    /// Timestamps of acknowledged deposits.
    acked: BTreeSet<u64>,
    next_id: u64,
    kills: u64,
    in_flight_at_kills: u64,
}

impl<'a> KillLoop<'a> {
    fn new(dir: &'a Path) -> Self {
        Self {
            dir,
            acked: BTreeSet::new(),
            next_id: 1,
            kills: 0,
            in_flight_at_kills: 0,
        }
    }

    /// Starts the server in `mode`, checks the state it recovered, streams
    /// deposits and SIGKILLs it after `kill_after` replies.
    fn round(&mut self, mode: &str, kill_after: usize) {
        let round = self.kills;
        let mut srv = Server::start(self.dir, &["--durability", mode], &["bank"]);
        if round == 0 {
            let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
                "reducer": "open_account", "args": ["alice", INITIAL]}));
            assert_eq!(r["result"], 1, "{r}");
        }
        // After the restart: nothing acknowledged is lost, and the state is
        // exactly the log's deposits.
        let logged = logged_deposits(self.dir);
        let lost: Vec<&u64> = self.acked.difference(&logged).collect();
        assert!(
            lost.is_empty(),
            "round {round} ({mode}): acknowledged deposits lost: {lost:?}"
        );
        let r = srv.request(json!({"id": "b", "op": "read", "module": "bank",
            "reducer": "balance", "args": [1]}));
        assert_eq!(
            r["result"],
            INITIAL + AMOUNT * logged.len() as u64,
            "round {round} ({mode}): the balance is not the log's deposits: {r}"
        );

        let stop = Arc::new(AtomicBool::new(false));
        let mut stdin = srv.take_input();
        let (base, stop2) = (self.next_id, stop.clone());
        let writer = std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop2.load(Ordering::Relaxed) && sent < 20_000 {
                let mut chunk = String::new();
                for i in 0..8 {
                    chunk.push_str(&deposit(base + sent + i).to_string());
                    chunk.push('\n');
                }
                if stdin
                    .write_all(chunk.as_bytes())
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    break;
                }
                sent += 8;
                std::thread::sleep(Duration::from_micros(300));
            }
            sent
        });
        let mut replies = Vec::new();
        while replies.len() < kill_after {
            match srv.recv(Duration::from_secs(60)) {
                Some(v) => replies.push(v),
                None => panic!("round {round} ({mode}): only {} replies", replies.len()),
            }
        }
        let (rest, stderr) = srv.kill();
        stop.store(true, Ordering::Relaxed);
        let sent = writer.join().expect("writer thread");
        self.next_id += sent;
        replies.extend(rest);
        for r in &replies {
            assert_eq!(
                r["ok"], true,
                "round {round} ({mode}): {r}\nstderr: {stderr}"
            );
            self.acked
                .insert(r["ts"].as_u64().unwrap_or_else(|| panic!("no ts: {r}")));
        }
        self.in_flight_at_kills += sent.saturating_sub(replies.len() as u64);
        self.kills += 1;
        // Checked at once too, on the log the kill left.
        let logged = logged_deposits(self.dir);
        let lost: Vec<&u64> = self.acked.difference(&logged).collect();
        assert!(
            lost.is_empty(),
            "round {round} ({mode}): acknowledged deposits are not in the log: {lost:?}"
        );
    }

    /// One last restart to check the final state.
    fn finish(&mut self) {
        let mut srv = Server::start(self.dir, &[], &["bank"]);
        let logged = logged_deposits(self.dir);
        assert!(self.acked.is_subset(&logged));
        let r = srv.request(json!({"id": "b", "op": "read", "module": "bank",
            "reducer": "balance", "args": [1]}));
        assert_eq!(r["result"], INITIAL + AMOUNT * logged.len() as u64, "{r}");
        srv.close_input();
        let (status, _, stderr) = srv.wait(Duration::from_secs(30));
        assert!(status.success(), "{stderr}");
        eprintln!(
            "{} kills: {} deposits acknowledged, all in the log; {} requests were in flight \
             at the kills",
            self.kills,
            self.acked.len(),
            self.in_flight_at_kills
        );
        assert!(
            self.in_flight_at_kills > 0,
            "no kill landed with requests in flight"
        );
    }
}

fn sigkill_under_load(mode: &str) {
    let d = tempdir();
    let mut k = KillLoop::new(d.path());
    for kill_after in [15, 40, 80] {
        k.round(mode, kill_after);
    }
    k.finish();
}

#[test]
fn sigkill_loses_nothing_acknowledged_sync() {
    sigkill_under_load("sync");
}

#[test]
fn sigkill_loses_nothing_acknowledged_periodic() {
    sigkill_under_load("periodic(50)");
}

#[test]
fn sigkill_loses_nothing_acknowledged_none() {
    sigkill_under_load("none");
}

/// 21 SIGKILLs of a loaded `interstice run`, cycling through the modes,
/// each checked after the restart.
#[test]
fn sigkill_loop() {
    let started = Instant::now();
    let d = tempdir();
    let mut k = KillLoop::new(d.path());
    let modes = ["sync", "periodic(50)", "none"];
    let mut rng = Rng(0x6b11);
    for i in 0..21 {
        k.round(modes[i % 3], 5 + rng.below(40) as usize);
    }
    k.finish();
    eprintln!("sigkill loop: {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// Model-based crash test.
// ---------------------------------------------------------------------------

/// One operation of a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Open { owner: String, initial: u64 },
    Deposit { id: u64, amount: u64 },
    Transfer { from: u64, to: u64, amount: u64 },
    Greet { name: String },
}

impl Call {
    fn module(&self) -> &'static str {
        match self {
            Call::Greet { .. } => "hello",
            _ => "bank",
        }
    }

    fn reducer(&self) -> &'static str {
        match self {
            Call::Open { .. } => "open_account",
            Call::Deposit { .. } => "deposit",
            Call::Transfer { .. } => "transfer",
            Call::Greet { .. } => "hello",
        }
    }

    fn args(&self) -> Vec<Value> {
        match self {
            Call::Open { owner, initial } => vec![s(owner), u(*initial)],
            Call::Deposit { id, amount } => vec![u(*id), u(*amount)],
            Call::Transfer { from, to, amount } => vec![u(*from), u(*to), u(*amount)],
            Call::Greet { name } => vec![s(name)],
        }
    }

    /// The call a logged commit records, from its reducer and CBOR args.
    fn from_log(reducer: &str, args: &[u8]) -> Option<Call> {
        let mut r = Reader::new(args);
        let call = match reducer {
            "open_account" => {
                r.array_of(2).ok()?;
                Call::Open {
                    owner: r.str().ok()?.to_owned(),
                    initial: r.u64().ok()?,
                }
            }
            "deposit" => {
                r.array_of(2).ok()?;
                Call::Deposit {
                    id: r.u64().ok()?,
                    amount: r.u64().ok()?,
                }
            }
            "transfer" => {
                r.array_of(3).ok()?;
                Call::Transfer {
                    from: r.u64().ok()?,
                    to: r.u64().ok()?,
                    amount: r.u64().ok()?,
                }
            }
            "hello" => {
                r.array_of(1).ok()?;
                Call::Greet {
                    name: r.str().ok()?.to_owned(),
                }
            }
            _ => return None,
        };
        r.is_at_end().then_some(call)
    }
}

/// The reference model: what bank and hello hold after a sequence of
/// commits, computed independently of the runtime.
#[derive(Debug, Default)]
struct Model {
    bank: bool,
    hello: bool,
    accounts: BTreeMap<u64, u64>,
    next_account: u64,
    greetings: u64,
    last_greeting: Option<String>,
    /// Money that entered through opens and deposits (transfers move it).
    money_in: u64,
}

impl Model {
    /// Applies a call; returns its result (`Err` = the reducer fails and
    /// changes nothing), `Some(n)` for a `u64` result, `None` for `()`.
    fn apply(&mut self, call: &Call) -> Result<Option<u64>, ()> {
        match call {
            Call::Open { owner, initial } => {
                if owner.is_empty() {
                    return Err(());
                }
                self.next_account += 1;
                self.accounts.insert(self.next_account, *initial);
                self.money_in += initial;
                Ok(Some(self.next_account))
            }
            Call::Deposit { id, amount } => {
                let bal = self.accounts.get_mut(id).ok_or(())?;
                *bal = bal.checked_add(*amount).ok_or(())?;
                self.money_in += amount;
                Ok(Some(*bal))
            }
            Call::Transfer { from, to, amount } => {
                let had = *self.accounts.get(from).ok_or(())?;
                if had < *amount {
                    return Err(());
                }
                let dst = *self.accounts.get(to).ok_or(())?;
                if from != to {
                    dst.checked_add(*amount).ok_or(())?;
                    self.accounts.insert(*from, had - amount);
                    self.accounts.insert(*to, dst + amount);
                }
                Ok(None)
            }
            Call::Greet { name } => {
                self.greetings += 1;
                self.last_greeting = Some(name.clone());
                Ok(Some(self.greetings))
            }
        }
    }
}

/// What one crash point does.
#[derive(Debug, Clone, Copy)]
struct Point {
    durability: Durability,
    crash: CrashMode,
    /// The fault, if any: (op, its nth call, fault).
    fault: Option<(Op, u64, Fault)>,
    /// Crash after this many operations if no fault came first.
    ops: usize,
}

impl Point {
    fn draw(rng: &mut Rng) -> Point {
        let durability = match rng.below(10) {
            0..=5 => Durability::Sync,
            6 | 7 => Durability::None,
            _ => Durability::Periodic(Duration::from_millis(5)),
        };
        let crash = match rng.below(8) {
            0..=2 => CrashMode::DropUnsynced,
            3..=4 => CrashMode::TornUnsynced,
            5 => CrashMode::TornZeroFill,
            _ => CrashMode::KeepAll,
        };
        let ops = 8 + rng.below(30) as usize;
        // About one write per 1.4 operations (concurrent calls share
        // batches) plus the installs; in sync mode about as many fsyncs;
        // otherwise fsyncs only when a segment starts.
        let writes = ops as u64 * 3 / 4 + 4;
        let syncs = if durability == Durability::Sync {
            ops as u64 * 2 / 3 + 3
        } else {
            4
        };
        let fault = match rng.below(10) {
            0 => None,
            1..=3 => Some((Op::Sync, 1 + rng.below(syncs), Fault::Error)),
            4..=6 => Some((Op::Write, 1 + rng.below(writes), Fault::ShortWrite)),
            7 => Some((Op::Write, 1 + rng.below(writes), Fault::NoSpace)),
            8 => Some((Op::Write, 1 + rng.below(writes), Fault::Error)),
            _ => Some((Op::Create, 1 + rng.below(4), Fault::Error)),
        };
        Point {
            durability,
            crash,
            fault,
            ops,
        }
    }

    /// Whether every acknowledged commit must survive this crash: always
    /// in `sync` mode; in every mode when the OS survives (a process crash).
    fn keeps_acknowledged(&self) -> bool {
        self.durability == Durability::Sync || self.crash == CrashMode::KeepAll
    }
}

fn draw_call(rng: &mut Rng, accounts_hint: u64) -> Call {
    let id = |rng: &mut Rng| 1 + rng.below(accounts_hint + 2);
    match rng.below(10) {
        0 | 1 => Call::Open {
            owner: if rng.below(8) == 0 {
                String::new()
            } else {
                format!("o{}", rng.below(100))
            },
            initial: rng.below(100),
        },
        2..=4 => Call::Deposit {
            id: id(rng),
            amount: 1 + rng.below(50),
        },
        5..=7 => Call::Transfer {
            from: id(rng),
            to: id(rng),
            amount: rng.below(120),
        },
        _ => Call::Greet {
            name: format!("g{}", rng.below(1000)),
        },
    }
}

/// A call and what the runtime answered.
#[derive(Debug)]
struct Answered {
    call: Call,
    result: Result<CallOutput, RuntimeError>,
}

/// [`open_faulty`] with segments of 2 KiB, so workloads rotate segments.
async fn open_small_segments(
    dir: &Path,
    disk: &FaultyStorage,
    durability: Durability,
) -> Result<interstice_actors::Runtime, RuntimeError> {
    crate::support::open_retrying(
        interstice_actors::Runtime::builder()
            .data_dir(dir)
            .durability(durability)
            .limits(crate::faults::small_limits())
            .segment_size(2048)
            .log_storage(Arc::new(disk.clone())),
    )
    .await
}

/// What one crash point saw.
#[derive(Debug, Default)]
struct PointStats {
    /// A fault was injected.
    faulted: bool,
    /// Commits acknowledged before the crash.
    acked: u64,
    /// Of those, lost by the crash (allowed only for a power loss in `none`
    /// or `periodic` mode).
    lost: u64,
}

/// Runs one crash point.
async fn crash_point(dir: &Path, seed: u64, index: u64) -> PointStats {
    let mut rng = Rng(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let p = Point::draw(&mut rng);
    let what = format!(
        "crash point {index} (INTERSTICE_CRASH_SEED={seed} INTERSTICE_CRASH_ONLY={index}): {p:?}"
    );
    let disk = FaultyStorage::with_plan(match p.fault {
        Some((op, n, f)) => FaultPlan::seeded(rng.next()).fail_nth(op, n, f),
        None => FaultPlan::seeded(rng.next()),
    });
    let rt = open_small_segments(dir, &disk, p.durability)
        .await
        .unwrap_or_else(|e| panic!("{what}: opening: {e}"));

    // The workload, until it is done or the storage fails.
    let mut answered: Vec<Answered> = Vec::new();
    let mut faulted = false;
    for m in ["bank", "hello"] {
        match rt.load_module(wasm(m)).await {
            Ok(_) => {}
            Err(RuntimeError::StorageFault(_)) => {
                faulted = true;
                break;
            }
            Err(e) => panic!("{what}: loading {m}: {e}"),
        }
    }
    let mut done = 0;
    let mut opened = 0u64;
    while !faulted && done < p.ops {
        let group = (1 + rng.below(4) as usize).min(p.ops - done);
        let calls: Vec<Call> = (0..group).map(|_| draw_call(&mut rng, opened)).collect();
        opened += calls
            .iter()
            .filter(|c| matches!(c, Call::Open { .. }))
            .count() as u64;
        let results = futures::future::join_all(calls.iter().map(|c| {
            let rt = rt.clone();
            let c = c.clone();
            async move { rt.call(c.module(), c.reducer(), c.args()).await }
        }))
        .await;
        for (call, result) in calls.into_iter().zip(results) {
            match &result {
                Ok(_) | Err(RuntimeError::Reducer { .. }) => {}
                Err(RuntimeError::StorageFault(_)) => faulted = true,
                Err(e) => panic!("{what}: {call:?}: unexpected error {e}"),
            }
            answered.push(Answered { call, result });
        }
        done += group;
    }
    let injected = !disk.injected().is_empty();
    assert!(
        !faulted || injected,
        "{what}: a storage fault with none injected"
    );
    if injected && !faulted {
        // The fault hit a batch whose calls all failed in the reducer (a
        // failed call is answered at once); the runtime is poisoned all the
        // same: the next write is refused.
        let probe = rt
            .call("bank", "open_account", vec![s("probe"), u(0)])
            .await;
        assert!(
            matches!(probe, Err(RuntimeError::StorageFault(_))),
            "{what}: a write after the fault got {probe:?}"
        );
    }

    // The crash, with the runtime still up; then a reopen on what survived.
    disk.crash(p.crash);
    disk.clear_faults();
    let _ = rt.shutdown().await;
    let rt = open_small_segments(dir, &disk, p.durability)
        .await
        .unwrap_or_else(|e| panic!("{what}: reopening after the crash: {e}"));
    let problems = interstice_persist::check(&disk, None);
    assert!(problems.is_empty(), "{what}: after reopening: {problems:?}");
    let read_entries = || {
        crate::support::read_entries(&disk)
            .unwrap_or_else(|e| panic!("{what}: reading the log: {e}"))
    };
    // A crash between hello's install and its init leaves the init
    // pending: the reopened runtime runs it. Wait until it is in the log.
    if rt.modules().iter().any(|m| m.name == "hello") {
        crate::support::eventually(30, "hello's init to be logged", || {
            let found = read_entries().iter().any(|e| {
                matches!(e, LogEntry::Commit(c) if c.module == "hello" && c.cause == Cause::Init)
            });
            async move { found }
        })
        .await;
    }

    // The model, fed exactly the commits the log holds.
    let entries = read_entries();
    let mut model = Model::default();
    let mut logged: BTreeMap<u64, (Call, Result<Option<u64>, ()>)> = BTreeMap::new();
    for e in &entries {
        let c = match e {
            LogEntry::Install(i) => {
                match i.name.as_str() {
                    "bank" => model.bank = true,
                    "hello" => model.hello = true,
                    other => panic!("{what}: unexpected install of {other}"),
                }
                continue;
            }
            LogEntry::Engine(e) => panic!("{what}: one build wrote this log, yet {e:?}"),
            LogEntry::Unload(u) => panic!("{what}: nothing unloads here, yet {u:?}"),
            LogEntry::Commit(c) => c,
        };
        let ok = matches!(c.outcome, Outcome::Ok(_));
        if c.module == "hello" && c.cause == Cause::Init {
            assert!(ok, "{what}: hello's init failed");
            model.greetings += 1;
            model.last_greeting = Some("world".into());
            continue;
        }
        let call = Call::from_log(&c.reducer, &c.args)
            .unwrap_or_else(|| panic!("{what}: unexpected commit {c:?}"));
        assert_eq!(c.cause, Cause::External, "{what}: {c:?}");
        let want = model.apply(&call);
        assert_eq!(
            want.is_ok(),
            ok,
            "{what}: the log says {}.{} at ts {} {}, the model says otherwise",
            c.module,
            c.reducer,
            c.ts,
            if ok { "succeeded" } else { "failed" }
        );
        logged.insert(c.ts, (call, want));
    }
    let last_ts = entries.last().map_or(0, LogEntry::ts);

    // Every acknowledged commit: in the log (when the mode and the crash
    // promise it), as that call, with the result the caller saw.
    let mut acked = 0u64;
    let mut lost = 0u64;
    for a in &answered {
        let Ok(out) = &a.result else { continue };
        acked += 1;
        let ts = out.ts.expect("a write has a ts");
        let Some((call, want)) = logged.get(&ts) else {
            assert!(
                !p.keeps_acknowledged(),
                "{what}: the acknowledged {:?} at ts {ts} is lost (the log ends at {last_ts})",
                a.call
            );
            assert!(ts > last_ts, "{what}: a gap in the log at {ts}");
            lost += 1;
            continue;
        };
        assert_eq!(call, &a.call, "{what}: ts {ts} holds another call");
        let seen = match &out.value {
            Value::U64(n) => Some(*n),
            Value::Unit => None,
            other => panic!("{what}: unexpected result {other:?}"),
        };
        assert_eq!(
            want,
            &Ok(seen),
            "{what}: {:?} at ts {ts} returned {seen:?}, the model says {want:?}",
            a.call
        );
    }

    // The reopened state is exactly the model's: no partial commit.
    let read = |m: &'static str, r: &'static str, args: Vec<Value>| {
        let rt = rt.clone();
        async move { rt.read(m, r, args).await }
    };
    assert_eq!(
        rt.modules()
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>(),
        [("bank", model.bank), ("hello", model.hello)]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| n.to_string())
            .collect::<Vec<_>>(),
        "{what}"
    );
    if model.bank {
        for (id, bal) in &model.accounts {
            let got = read("bank", "balance", vec![u(*id)])
                .await
                .unwrap_or_else(|e| panic!("{what}: balance {id}: {e}"));
            assert_eq!(got.value, u(*bal), "{what}: account {id}");
        }
        let extra = read("bank", "balance", vec![u(model.next_account + 1)]).await;
        assert!(extra.is_err(), "{what}: an account the log never opened");
        let total = read("bank", "total", vec![]).await.expect("total");
        let sum: u64 = model.accounts.values().sum();
        assert_eq!(total.value, u(sum), "{what}: total");
        assert_eq!(sum, model.money_in, "{what}: money was created or lost");
    }
    if model.hello {
        let n = read("hello", "greeting_count", vec![])
            .await
            .expect("count");
        assert_eq!(n.value, u(model.greetings), "{what}: greetings");
        let last = read("hello", "last_greeting", vec![]).await.expect("last");
        let want = match &model.last_greeting {
            Some(name) => Value::Option(Some(Box::new(s(name)))),
            None => Value::Option(None),
        };
        assert_eq!(last.value, want, "{what}: last greeting");
    }
    rt.shutdown().await.expect("shutdown after the check");
    PointStats {
        faulted: injected,
        acked,
        lost,
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn model_based_crash_points() {
    let points = env_u64("INTERSTICE_CRASH_POINTS").unwrap_or(200);
    let seed = env_u64("INTERSTICE_CRASH_SEED").unwrap_or(0x00c0_ffee);
    let only = env_u64("INTERSTICE_CRASH_ONLY");
    // One data directory for every point: the modules are stored and
    // compiled once (cache/); each point's log is its own FaultyStorage.
    let d = tempdir();
    {
        let warm = FaultyStorage::new();
        let rt = open_faulty(d.path(), &warm, Durability::Sync)
            .await
            .expect("open");
        rt.load_module(wasm("bank")).await.expect("bank");
        rt.load_module(wasm("hello")).await.expect("hello");
        rt.shutdown().await.expect("shutdown");
    }
    let started = Instant::now();
    let (mut faults, mut acked, mut lost) = (0u64, 0u64, 0u64);
    let range: Vec<u64> = match only {
        Some(i) => vec![i],
        None => (0..points).collect(),
    };
    for &i in &range {
        let st = crash_point(d.path(), seed, i).await;
        faults += u64::from(st.faulted);
        acked += st.acked;
        lost += st.lost;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "model-based crash test: {} crash points (seed {seed}), {faults} with an injected \
         fault; {acked} commits acknowledged, {lost} of them lost by power losses in \
         none/periodic mode; {elapsed:?} ({:?} per point)",
        range.len(),
        elapsed / range.len().max(1) as u32
    );
    if only.is_none() {
        assert!(
            faults * 2 > range.len() as u64,
            "only {faults} of {} points hit a fault: the fault ranges are off",
            range.len()
        );
    }
}
