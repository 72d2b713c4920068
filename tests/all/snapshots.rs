//! Tests: snapshots and retention. Startup loads the newest valid snapshot
//! and replays only the log suffix after it (running no wasm); corrupt
//! snapshots and snapshots newer than the durable log are skipped; pending
//! deliveries in a snapshot still run exactly once; retention keeps a
//! long-running workload's data directory bounded.

use std::path::{Path, PathBuf};

use interstice_actors::{Durability, Runtime, Value};
use interstice_persist::{
    list_snapshots, read_log, read_snapshot, FileStorage, PersistError, ReadOptions, SNAPSHOTS_DIR,
};

use crate::support::{
    as_u64, commits, eventually, log_entries, open, open_account, s, segment_files, tempdir, u,
};

fn snaps_dir(dir: &Path) -> PathBuf {
    dir.join(SNAPSHOTS_DIR)
}

/// Snapshot timestamps, oldest first.
fn snapshot_ts(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = list_snapshots(&snaps_dir(dir))
        .unwrap()
        .into_iter()
        .map(|(ts, _)| ts)
        .collect();
    v.sort_unstable();
    v
}

async fn read_u64(rt: &Runtime, module: &str, reducer: &str, args: Vec<Value>) -> u64 {
    as_u64(&rt.read(module, reducer, args).await.unwrap().value)
}

async fn wait_for(rt: &Runtime, module: &'static str, reducer: &'static str, want: u64) {
    let rt2 = rt.clone();
    eventually(20, &format!("{module}.{reducer} == {want}"), move || {
        let rt = rt2.clone();
        async move { read_u64(&rt, module, reducer, vec![]).await == want }
    })
    .await;
}

async fn deposits(rt: &Runtime, account: &Value, n: u64) {
    for _ in 0..n {
        rt.call("bank", "deposit", vec![account.clone(), u(1)])
            .await
            .unwrap();
    }
}

/// Cuts the log right after the batch ending at `ts` (that batch must
/// exist), removing later segments: what a lost unsynced tail looks like.
fn cut_log_after(dir: &Path, ts: u64) {
    let storage = FileStorage::new(dir.join("log"));
    let mut cut = None;
    read_log(&storage, &ReadOptions::default(), |b| {
        if b.first_ts + u64::from(b.count) - 1 == ts {
            cut = Some((b.segment.to_owned(), b.offset + 52 + b.payload.len() as u64));
        }
        Ok::<(), PersistError>(())
    })
    .unwrap();
    let (segment, len) = cut.expect("a batch ends at the cut");
    for seg in segment_files(dir) {
        let name = seg.file_name().unwrap().to_str().unwrap().to_owned();
        if name > segment {
            std::fs::remove_file(&seg).unwrap();
        }
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("log").join(&segment))
        .unwrap();
    f.set_len(len).unwrap();
    f.sync_all().unwrap();
}

fn log_len(dir: &Path) -> u64 {
    let storage = FileStorage::new(dir.join("log"));
    let mut last = 0;
    read_log(&storage, &ReadOptions::default(), |b| {
        last = b.first_ts + u64::from(b.count) - 1;
        Ok::<(), PersistError>(())
    })
    .unwrap();
    last
}

async fn open_snapshotting(dir: &Path) -> Runtime {
    Runtime::builder()
        .data_dir(dir)
        .snapshots(true)
        .keep_snapshots(3)
        .open()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_snapshot_replays_only_the_suffix_and_runs_no_wasm() {
    let dir = tempdir();
    let rt = open_snapshotting(dir.path()).await;
    rt.load_module(crate::support::wasm("bank")).await.unwrap();
    let alice = open_account(&rt, "alice", 100).await;
    deposits(&rt, &alice, 40).await;
    let snap_ts = rt.snapshot_now().await.unwrap();
    assert_eq!(snap_ts, rt.durable_ts());
    let bob = open_account(&rt, "bob", 7).await;
    deposits(&rt, &bob, 25).await;
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    assert_eq!(snapshot_ts(dir.path()), vec![snap_ts]);
    let last = log_len(dir.path());
    assert!(last > snap_ts);

    let rt = open(dir.path()).await;
    let m = rt.metrics();
    assert_eq!(m.replayed_entries, last - snap_ts, "only the suffix: {m:?}");
    assert_eq!(m.instantiations, 0, "{m:?}");
    assert_eq!(m.wasm_calls, 0, "{m:?}");
    assert_eq!(rt.durable_ts(), last);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(
        read_u64(&rt, "bank", "balance", vec![alice.clone()]).await,
        140
    );
    assert_eq!(
        read_u64(&rt, "bank", "balance", vec![bob.clone()]).await,
        32
    );
    // Writing goes on from there, and a restart still agrees.
    deposits(&rt, &alice, 1).await;
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_too_new_snapshots_are_skipped_for_older_ones() {
    let dir = tempdir();
    let rt = open_snapshotting(dir.path()).await;
    rt.load_module(crate::support::wasm("bank")).await.unwrap();
    let alice = open_account(&rt, "alice", 0).await;
    deposits(&rt, &alice, 10).await;
    let s1 = rt.snapshot_now().await.unwrap();
    deposits(&rt, &alice, 10).await;
    let s2 = rt.snapshot_now().await.unwrap();
    deposits(&rt, &alice, 10).await;
    let s3 = rt.snapshot_now().await.unwrap();
    deposits(&rt, &alice, 5).await;
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    assert_eq!(snapshot_ts(dir.path()), vec![s1, s2, s3]);
    let last = log_len(dir.path());

    // Flip one bit of the newest snapshot: it is skipped, s2 is used.
    let newest = snaps_dir(dir.path()).join(format!("{s3:020}.snap"));
    let mut bytes = std::fs::read(&newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&newest, &bytes).unwrap();
    assert!(read_snapshot(&newest).is_err());
    let rt = open(dir.path()).await;
    assert_eq!(rt.metrics().replayed_entries, last - s2);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    rt.shutdown().await.unwrap();

    // Cut the log back to s1 + a few entries: s2 is now newer than the
    // durable log and is skipped; s1 is used.
    let cut = s1 + 4;
    cut_log_after(dir.path(), cut);
    let rt = open(dir.path()).await;
    assert_eq!(rt.durable_ts(), cut);
    assert_eq!(rt.metrics().replayed_entries, cut - s1);
    let balance = read_u64(&rt, "bank", "balance", vec![alice.clone()]).await;
    assert_eq!(balance, 10 + 4, "s1 covers 10 deposits, then 4 more");
    rt.shutdown().await.unwrap();

    // With no usable snapshot left, the whole log is replayed.
    std::fs::remove_file(snaps_dir(dir.path()).join(format!("{s1:020}.snap"))).unwrap();
    let rt = open(dir.path()).await;
    assert_eq!(rt.metrics().replayed_entries, cut);
    assert_eq!(
        read_u64(&rt, "bank", "balance", vec![alice.clone()]).await,
        14
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_in_a_snapshot_run_exactly_once() {
    let dir = tempdir();
    // A snapshot after every batch: one of them falls between a `greet`
    // commit and the `hello.hello` call it queued.
    let rt = Runtime::builder()
        .data_dir(dir.path())
        .durability(Durability::None)
        .snapshot_every_commits(1)
        .keep_snapshots(100_000)
        .open()
        .await
        .unwrap();
    for m in ["hello", "caller"] {
        rt.load_module(crate::support::wasm(m)).await.unwrap();
    }
    for name in ["a", "b", "c"] {
        rt.call("caller", "greet", vec![s(name)]).await.unwrap();
    }
    wait_for(&rt, "hello", "greeting_count", 4).await;
    wait_for(&rt, "caller", "seen_count", 3).await;
    rt.shutdown().await.unwrap();

    let with_pending = list_snapshots(&snaps_dir(dir.path()))
        .unwrap()
        .into_iter()
        .rev()
        .map(|(_, p)| read_snapshot(&p).unwrap())
        .find(|snap| {
            snap.pending
                .iter()
                .any(|d| d.target == "hello" && d.reducer == "hello")
        })
        .expect("a snapshot with a pending call to hello.hello");
    let ts = with_pending.ts;
    // After cutting the log at `ts`, what must happen is exactly what the
    // greets up to `ts` cause: one greeting each (plus hello's init one),
    // each seen once by `caller`.
    let greets = commits(&log_entries(dir.path()))
        .iter()
        .filter(|c| c.ts <= ts && c.module == "caller" && c.reducer == "greet")
        .count() as u64;
    assert!(greets >= 1);

    // Keep only that snapshot and cut the log back to it: the deliveries
    // pending there must run after the restart, once.
    for (t, p) in list_snapshots(&snaps_dir(dir.path())).unwrap() {
        if t != ts {
            std::fs::remove_file(p).unwrap();
        }
    }
    cut_log_after(dir.path(), ts);
    let rt = open(dir.path()).await;
    assert_eq!(
        rt.metrics().replayed_entries,
        0,
        "the snapshot is the whole log: snapshot at {ts}, log at {}",
        rt.durable_ts()
    );
    wait_for(&rt, "hello", "greeting_count", 1 + greets).await;
    wait_for(&rt, "caller", "seen_count", greets).await;
    rt.shutdown().await.unwrap();
    // Nothing ran twice: a restart (replaying what ran) shows the same
    // counts, and each pending call was committed exactly once.
    let rt = open(dir.path()).await;
    assert_eq!(
        read_u64(&rt, "hello", "greeting_count", vec![]).await,
        1 + greets
    );
    assert_eq!(read_u64(&rt, "caller", "seen_count", vec![]).await, greets);
    rt.shutdown().await.unwrap();
    let hello_calls = commits(&log_entries(dir.path()))
        .iter()
        .filter(|c| c.module == "hello" && c.reducer == "hello")
        .count() as u64;
    assert_eq!(hello_calls, greets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_workload_keeps_the_data_directory_bounded() {
    const SEGMENT: u64 = 32 * 1024;
    const EVERY: u64 = 2_000;
    const KEEP: usize = 2;
    const DEPOSITS: u64 = 20_000;
    const WORKERS: u64 = 8;
    let dir = tempdir();
    let rt = Runtime::builder()
        .data_dir(dir.path())
        .durability(Durability::None)
        .segment_size(SEGMENT)
        .snapshot_every_commits(EVERY)
        .keep_snapshots(KEEP)
        .open()
        .await
        .unwrap();
    rt.load_module(crate::support::wasm("bank")).await.unwrap();
    let mut accounts = Vec::new();
    for w in 0..WORKERS {
        accounts.push(open_account(&rt, &format!("acc{w}"), 0).await);
    }
    let mut tasks = Vec::new();
    for acc in accounts.clone() {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            deposits(&rt, &acc, DEPOSITS / WORKERS).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    // The biggest log record of this workload bounds the bytes per entry.
    let storage = FileStorage::new(dir.path().join("log"));
    let kept = snapshot_ts(dir.path());
    assert_eq!(
        kept.len(),
        KEEP,
        "retention keeps {KEEP} snapshots: {kept:?}"
    );
    let oldest = kept[0];
    let mut max_record = 0u64;
    let mut entries_kept = 0u64;
    read_log(
        &storage,
        &ReadOptions::default().with_start(Some(interstice_persist::LogStart {
            ts: oldest,
            hash: read_snapshot(&snaps_dir(dir.path()).join(format!("{oldest:020}.snap")))
                .unwrap()
                .log_hash,
        })),
        |b| {
            max_record = max_record.max(52 + b.payload.len() as u64);
            entries_kept += u64::from(b.count);
            Ok::<(), PersistError>(())
        },
    )
    .unwrap();
    // Everything after the oldest kept snapshot is at most KEEP snapshot
    // intervals plus the entries since the last snapshot (< EVERY, plus one
    // batch of overshoot per snapshot).
    assert!(
        entries_kept <= (KEEP as u64 + 1) * EVERY + 64,
        "{entries_kept} entries after the oldest kept snapshot {oldest}"
    );
    // So the log holds those entries, plus at most one segment's worth of
    // covered entries before them, plus one oversized batch per segment.
    let log_bound = (KEEP as u64 + 1) * EVERY * max_record + 2 * SEGMENT;
    let segments = segment_files(dir.path());
    let log_bytes: u64 = segments
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        log_bytes <= log_bound,
        "log is {log_bytes} bytes, bound {log_bound}"
    );
    assert!(
        segments.len() as u64 <= log_bound / SEGMENT + 2,
        "{} segments",
        segments.len()
    );
    // Retention really deleted the covered start of the log.
    let first = segments[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, format!("{:020}.log", 1), "no segment was deleted");
    let snap_bytes: u64 = list_snapshots(&snaps_dir(dir.path()))
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    // A snapshot holds the 8 accounts and one module: small and fixed.
    assert!(snap_bytes < 64 * 1024, "{snap_bytes} snapshot bytes");

    // And the state survives retention: restart from the snapshot.
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(read_u64(&rt, "bank", "total", vec![]).await, DEPOSITS);
    assert!(rt.metrics().replayed_entries < (KEEP as u64 + 1) * EVERY + 64);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_log_and_replay_check_report_a_retained_log_clearly() {
    let dir = tempdir();
    let rt = Runtime::builder()
        .data_dir(dir.path())
        .durability(Durability::None)
        .segment_size(4096)
        .snapshot_every_commits(50)
        .keep_snapshots(1)
        .open()
        .await
        .unwrap();
    rt.load_module(crate::support::wasm("bank")).await.unwrap();
    let alice = open_account(&rt, "alice", 0).await;
    deposits(&rt, &alice, 300).await;
    rt.shutdown().await.unwrap();
    let first = segment_files(dir.path())[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".log")
        .parse::<u64>()
        .unwrap();
    assert!(first > 1, "retention deleted the first segments");
    let d = dir.path().to_str().unwrap();

    let out = crate::support::interstice(["check-log", d]);
    let stdout = crate::support::expect_ok(&out, "check-log");
    assert!(
        stdout.contains(&format!("the log starts at timestamp {first}")),
        "{stdout}"
    );
    assert!(stdout.contains("log OK"), "{stdout}");

    let out = crate::support::interstice(["replay-check", d]);
    assert!(!out.status.success());
    let stderr = crate::support::stderr_of(&out);
    assert!(
        stderr.contains(&format!("the first available timestamp is {first}")),
        "{stderr}"
    );

    // A corrupt lone snapshot: check-log says nothing covers the gap.
    let snaps = list_snapshots(&snaps_dir(dir.path())).unwrap();
    assert_eq!(snaps.len(), 1);
    std::fs::write(&snaps[0].1, b"not a snapshot").unwrap();
    let out = crate::support::interstice(["check-log", d]);
    assert!(!out.status.success());
    let stdout = crate::support::stdout_of(&out);
    assert!(
        stdout.contains("no valid snapshot covers the entries before it"),
        "{stdout}"
    );
}

#[test]
fn run_flags_rotate_snapshot_and_retain() {
    use serde_json::json;
    let dir = tempdir();
    let mut srv = crate::support::Server::start(
        dir.path(),
        &[
            "--durability",
            "none",
            "--segment-size",
            "2048",
            "--snapshot-every",
            "20",
            "--keep-snapshots",
            "1",
        ],
        &["bank"],
    );
    let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", 0]}));
    assert_eq!(r["result"], 1, "{r}");
    for i in 1..=200 {
        let r = srv.request(json!({"id": i, "op": "call", "module": "bank",
            "reducer": "deposit", "args": [1, 1]}));
        assert!(r.get("error").is_none(), "{r}");
    }
    srv.close_input();
    let (status, _, stderr) = srv.wait(std::time::Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    assert_eq!(snapshot_ts(dir.path()).len(), 1, "--keep-snapshots 1");
    let first = segment_files(dir.path())[0].clone();
    assert_ne!(
        first.file_name().unwrap().to_str().unwrap(),
        format!("{:020}.log", 1),
        "retention deleted the covered segments"
    );
    let mut srv = crate::support::Server::start(dir.path(), &[], &[]);
    let r = srv.request(json!({"id": "b", "op": "read", "module": "bank",
        "reducer": "balance", "args": [1]}));
    assert_eq!(r["result"], 200, "{r}");
    srv.close_input();
    let (status, _, stderr) = srv.wait(std::time::Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_follow_a_module_upgrade() {
    let dir = tempdir();
    let rt = open_snapshotting(dir.path()).await;
    rt.load_module(crate::support::wasm("t_upgrade_v1"))
        .await
        .unwrap();
    rt.call("t_upgrade", "open", vec![s("ann"), u(10)])
        .await
        .unwrap();
    let s1 = rt.snapshot_now().await.unwrap();
    rt.load_module(crate::support::wasm("t_upgrade_v2"))
        .await
        .unwrap();
    rt.call("t_upgrade", "deposit", vec![u(1), u(5)])
        .await
        .unwrap();
    // Taken by the snapshotter's state, which applied the upgrade itself.
    let s2 = rt.snapshot_now().await.unwrap();
    rt.call("t_upgrade", "deposit", vec![u(1), u(2)])
        .await
        .unwrap();
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    let last = log_len(dir.path());
    let snap = read_snapshot(&snaps_dir(dir.path()).join(format!("{s2:020}.snap"))).unwrap();
    assert_eq!(snap.modules.len(), 1);
    assert_eq!(snap.modules[0].version, "2.0.0");

    let rt = open(dir.path()).await;
    assert_eq!(rt.metrics().replayed_entries, last - s2);
    assert_eq!(rt.modules()[0].version, "2.0.0");
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    rt.shutdown().await.unwrap();

    // From the snapshot before the upgrade, the upgrade is in the suffix.
    std::fs::remove_file(snaps_dir(dir.path()).join(format!("{s2:020}.snap"))).unwrap();
    let rt = open(dir.path()).await;
    assert_eq!(rt.metrics().replayed_entries, last - s1);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    rt.shutdown().await.unwrap();
}

#[test]
fn stop_at_starts_from_a_snapshot_at_or_before_it_so_a_retained_log_can_be_inspected() {
    use serde_json::json;
    let dir = tempdir();
    let flags = [
        "--segment-size",
        "2048",
        "--snapshot-every",
        "20",
        "--keep-snapshots",
        "2",
    ];
    let mut srv = crate::support::Server::start(dir.path(), &flags, &["bank"]);
    let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", 0]}));
    assert_eq!(r["result"], 1, "{r}");
    for i in 1..=100 {
        let r = srv.request(json!({"id": i, "op": "call", "module": "bank",
            "reducer": "deposit", "args": [1, 1]}));
        assert!(r.get("error").is_none(), "{r}");
    }
    srv.close_input();
    let (status, _, stderr) = srv.wait(std::time::Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let snaps = snapshot_ts(dir.path());
    let first = segment_files(dir.path())[0].clone();
    let first_ts: u64 = first
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first_ts > 1, "retention deleted the start of the log");
    let (older, newer) = (*snaps.iter().min().unwrap(), *snaps.iter().max().unwrap());
    assert!(older < newer, "{snaps:?}");
    // Timestamp 2 is the account's open (1 is bank's install); each later
    // one is a deposit of 1. Between the snapshots, at the newer one, and
    // after it: the balance as of that timestamp, read-only.
    for at in [older, older + 3, newer, newer + 2] {
        let mut srv =
            crate::support::Server::start(dir.path(), &["--stop-at", &at.to_string()], &[]);
        let r = srv.request(json!({"id": "b", "op": "read", "module": "bank",
            "reducer": "balance", "args": [1]}));
        assert_eq!(r["result"], at - 2, "--stop-at {at}: {r}");
        let r = srv.request(json!({"id": "w", "op": "call", "module": "bank",
            "reducer": "deposit", "args": [1, 1]}));
        assert_eq!(r["error"]["kind"], "ReadOnly", "{r}");
        srv.close_input();
        let (status, _, stderr) = srv.wait(std::time::Duration::from_secs(30));
        assert!(status.success(), "--stop-at {at}: {stderr}");
    }
}
