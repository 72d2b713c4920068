//! Tests: durability. Acknowledged commits survive SIGKILL, the data
//! directory's lock keeps a second process out, and `run` flushes at end of
//! input.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use interstice_actors::{Runtime, RuntimeError};
use interstice_persist::{LogEntry, Outcome, PersistError};
use serde_json::{json, Value as Json};

use crate::support::{cli_call, expect_ok, log_entries, open, stderr_of, tempdir, u, Server};

const INITIAL: u64 = 1000;
const AMOUNT: u64 = 7;
/// Most deposits streamed in one round of the SIGKILL test.
const MAX_STREAM: u64 = 20_000;

fn deposit(id: u64) -> Json {
    json!({"id": id, "op": "call", "module": "bank", "reducer": "deposit", "args": [1, AMOUNT]})
}

/// Timestamps of the successful `bank.deposit` commits in the log, and the
/// number of failed ones.
fn deposits_in_log(dir: &Path) -> (BTreeSet<u64>, usize) {
    let mut ok = BTreeSet::new();
    let mut failed = 0;
    for e in log_entries(dir) {
        if let LogEntry::Commit(c) = e {
            if c.module == "bank" && c.reducer == "deposit" {
                match c.outcome {
                    Outcome::Ok(_) => {
                        ok.insert(c.ts);
                    }
                    Outcome::Err { .. } => failed += 1,
                }
            }
        }
    }
    (ok, failed)
}

/// Writes deposit requests `base..base + MAX_STREAM` to `stdin`, a few at a
/// time, until the pipe breaks (the server died) or `stop` is set. Returns
/// how many were written.
fn stream_deposits(
    mut stdin: std::process::ChildStdin,
    base: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut sent = 0;
        while sent < MAX_STREAM && !stop.load(Ordering::Relaxed) {
            let mut chunk = String::new();
            for i in sent..sent + 8 {
                chunk.push_str(&deposit(base + i).to_string());
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
            std::thread::sleep(Duration::from_micros(500));
        }
        sent
    })
}

#[test]
fn acknowledged_commits_survive_sigkill() {
    let d = tempdir();
    let dir = d.path();
    // Acknowledged deposits: reply id -> commit ts.
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut max_acked_balance = 0;
    let mut unacknowledged_commits = 0;
    let mut uncommitted = 0;
    for (round, kill_after) in [20usize, 50, 90].into_iter().enumerate() {
        let mut srv = Server::start(dir, &[], &["bank"]);
        if round == 0 {
            let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
                "reducer": "open_account", "args": ["alice", INITIAL]}));
            assert_eq!(r["ok"], true, "{r}");
            assert_eq!(r["result"], 1, "{r}");
        }
        let (logged_before, _) = deposits_in_log(dir);
        // Deposits keep streaming in while replies come back, so that the
        // kill lands with many requests in flight (executing, committed but
        // not yet durable, or durable but not yet answered).
        let stop = Arc::new(AtomicBool::new(false));
        let writer = stream_deposits(
            srv.take_input(),
            1_000_000 * (round as u64 + 1),
            stop.clone(),
        );
        let mut replies = Vec::new();
        while replies.len() < kill_after {
            match srv.recv(Duration::from_secs(60)) {
                Some(v) => replies.push(v),
                None => panic!(
                    "round {round}: only {} replies before timeout",
                    replies.len()
                ),
            }
        }
        // SIGKILL. Whatever the server wrote before it died was
        // acknowledged too.
        let (rest, stderr) = srv.kill();
        stop.store(true, Ordering::Relaxed);
        let sent = writer.join().expect("writer thread");
        replies.extend(rest);
        let mut acked_now = 0;
        for r in &replies {
            assert_eq!(
                r["ok"], true,
                "round {round}: a deposit failed: {r}\nstderr: {stderr}"
            );
            let ts = r["ts"].as_u64().unwrap_or_else(|| panic!("no ts in {r}"));
            acked.push((r["id"].as_u64().expect("id"), ts));
            acked_now += 1;
            max_acked_balance = max_acked_balance.max(r["result"].as_u64().expect("balance"));
        }

        // Restart (another process) and look.
        let out = cli_call(dir, "bank", "balance", &["1"]);
        let balance: u64 = expect_ok(&out, "balance after the kill")
            .parse()
            .expect("a number");
        let (in_log, failed) = deposits_in_log(dir);
        let logged_now = (in_log.len() - logged_before.len()) as u64;
        eprintln!(
            "round {round}: sent {sent}, acknowledged {acked_now}, in the log {logged_now}; balance {balance}"
        );
        uncommitted += sent - logged_now;
        unacknowledged_commits += logged_now - acked_now;
        assert_eq!(failed, 0, "round {round}: failed deposits in the log");
        for (id, ts) in &acked {
            assert!(
                in_log.contains(ts),
                "round {round}: acknowledged deposit (request {id}, ts {ts}) is not in the log"
            );
        }
        let acked_sum = acked.len() as u64 * AMOUNT;
        assert!(
            balance >= INITIAL + acked_sum,
            "round {round}: balance {balance} < initial {INITIAL} + acknowledged {acked_sum}"
        );
        assert!(
            balance >= max_acked_balance,
            "round {round}: balance went back"
        );
        assert_eq!(
            balance,
            INITIAL + in_log.len() as u64 * AMOUNT,
            "round {round}: the balance does not match the deposits in the log (a partial commit?)"
        );
    }
    eprintln!(
        "at the kills: {uncommitted} requests sent but not committed, \
         {unacknowledged_commits} committed but not acknowledged"
    );
    assert!(
        uncommitted > 0,
        "every request sent was committed: no kill landed mid-stream"
    );
}

#[test]
fn second_process_on_a_locked_data_dir_names_the_holder() {
    let d = tempdir();
    let dir = d.path();
    let mut srv = Server::start(dir, &[], &["bank"]);
    let pid = srv.child.id();

    let out = cli_call(dir, "bank", "total", &[]);
    assert!(
        !out.status.success(),
        "a second process opened a locked data directory"
    );
    let err = stderr_of(&out);
    assert!(err.contains("locked"), "stderr: {err}");
    assert!(
        err.contains(&format!("pid={pid}")),
        "stderr does not name holder pid {pid}: {err}"
    );
    assert!(
        err.contains(&dir.display().to_string()),
        "stderr does not name the directory: {err}"
    );

    // The server was not disturbed, and releases the lock when it exits.
    let r = srv.request(json!({"id": 1, "op": "call", "module": "bank", "reducer": "total"}));
    assert_eq!(r["result"], 0, "{r}");
    srv.close_input();
    let (status, _, stderr) = srv.wait(Duration::from_secs(30));
    assert!(status.success(), "run exited with {status}: {stderr}");
    assert_eq!(
        expect_ok(&cli_call(dir, "bank", "total", &[]), "total after release"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn second_runtime_in_one_process_is_refused() {
    let d = tempdir();
    let first = open(d.path()).await;
    let second = Runtime::builder().data_dir(d.path()).open().await;
    match second {
        Err(RuntimeError::Persist(e @ PersistError::Locked { .. })) => {
            let msg = e.to_string();
            assert!(msg.contains("locked"), "{msg}");
            assert!(
                msg.contains(&format!("pid={}", std::process::id())),
                "{msg}"
            );
        }
        Err(e) => panic!("expected a lock error, got: {e}"),
        Ok(_) => panic!("two runtimes opened the same data directory"),
    }
    first.shutdown().await.expect("shutdown");
    // Released on shutdown.
    let third = open(d.path()).await;
    third.shutdown().await.expect("shutdown");
}

/// Sends an account and `n` deposits, closes stdin, and checks the server
/// replies to all of them, exits 0, and left them in the log.
async fn run_flushes_at_end_of_input(durability: &str) {
    let d = tempdir();
    let dir = d.path();
    let n = 100u64;
    let mut srv = Server::start(dir, &["--durability", durability], &["bank"]);
    let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", INITIAL]}));
    assert_eq!(r["result"], 1, "{r}");
    let reqs: Vec<Json> = (1..=n).map(deposit).collect();
    srv.send(&reqs);
    srv.close_input();
    let (status, replies, stderr) = srv.wait(Duration::from_secs(60));
    assert!(
        status.success(),
        "{durability}: run exited with {status}: {stderr}"
    );
    let mut ids = BTreeSet::new();
    for r in &replies {
        assert_eq!(r["ok"], true, "{durability}: {r}");
        assert!(
            ids.insert(r["id"].as_u64().expect("id")),
            "{durability}: two replies to {r}"
        );
    }
    assert_eq!(
        ids,
        (1..=n).collect(),
        "{durability}: every request gets one reply"
    );

    let (in_log, _) = deposits_in_log(dir);
    assert_eq!(in_log.len() as u64, n, "{durability}: deposits in the log");
    let rt = open(dir).await;
    let bal = rt
        .read("bank", "balance", vec![u(1)])
        .await
        .expect("balance");
    assert_eq!(bal.value, u(INITIAL + n * AMOUNT), "{durability}");
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_flushes_at_end_of_input_sync() {
    run_flushes_at_end_of_input("sync").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_flushes_at_end_of_input_none() {
    run_flushes_at_end_of_input("none").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_exits_cleanly_on_sigterm() {
    let d = tempdir();
    let dir = d.path();
    let n = 20u64;
    let mut srv = Server::start(dir, &["--durability", "none"], &["bank"]);
    let r = srv.request(json!({"id": 0, "op": "call", "module": "bank",
        "reducer": "open_account", "args": ["alice", INITIAL]}));
    assert_eq!(r["result"], 1, "{r}");
    for id in 1..=n {
        let r = srv.request(deposit(id));
        assert_eq!(r["ok"], true, "{r}");
    }
    // SIGTERM (stdin stays open): the server flushes and exits 0.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success());
    let (status, rest, stderr) = srv.wait(Duration::from_secs(10));
    assert!(
        status.success(),
        "run exited with {status} on SIGTERM: {stderr}"
    );
    assert!(rest.is_empty(), "unexpected output: {rest:?}");

    let rt = open(dir).await;
    let bal = rt
        .read("bank", "balance", vec![u(1)])
        .await
        .expect("balance");
    assert_eq!(bal.value, u(INITIAL + n * AMOUNT));
    rt.shutdown().await.expect("shutdown");
}
