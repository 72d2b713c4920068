//! Tests: recovery. A torn tail is cut, corruption in the middle of the log
//! refuses to open, and deliveries pending at a crash run after the restart
//! exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use interstice_actors::{Runtime, RuntimeError};
use interstice_persist::{Cause, FileStorage, LogEntry, MutationOp, Outcome, PersistError};
use serde_json::json;

use crate::support::{
    as_u64, cli_call, eventually, log_entries, open, open_with, s, stderr_of, tempdir, u, Server,
};

/// Size of a batch header (docs/LOG_FORMAT.md §4).
const BATCH_HEADER: u64 = 52;

/// Where a verified batch is.
#[derive(Debug, Clone)]
struct BatchPos {
    segment: String,
    offset: u64,
    first_ts: u64,
    payload_len: u64,
}

fn batches(dir: &Path) -> Vec<BatchPos> {
    let storage = FileStorage::new(dir.join("log"));
    let mut v = Vec::new();
    interstice_persist::read_log(&storage, &interstice_persist::ReadOptions::default(), |b| {
        v.push(BatchPos {
            segment: b.segment.to_owned(),
            offset: b.offset,
            first_ts: b.first_ts,
            payload_len: b.payload.len() as u64,
        });
        Ok::<(), PersistError>(())
    })
    .expect("reading the log");
    v
}

fn segment_path(dir: &Path, b: &BatchPos) -> PathBuf {
    dir.join("log").join(&b.segment)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).expect("metadata").len()
}

/// bank with alice (100) and five deposits of 10, each its own commit.
/// Returns `(ts, alice's balance after that commit)` for each.
async fn bank_history(dir: &Path) -> Vec<(u64, u64)> {
    let rt = open_with(dir, &["bank"]).await;
    let acc = rt
        .call("bank", "open_account", vec![s("alice"), u(100)])
        .await
        .expect("open_account");
    assert_eq!(acc.value, u(1));
    let mut history = vec![(acc.ts.expect("ts"), 100)];
    for _ in 0..5 {
        let out = rt
            .call("bank", "deposit", vec![u(1), u(10)])
            .await
            .expect("deposit");
        history.push((out.ts.expect("ts"), as_u64(&out.value)));
    }
    rt.shutdown().await.expect("shutdown");
    history
}

async fn alice(rt: &Runtime) -> u64 {
    as_u64(
        &rt.read("bank", "balance", vec![u(1)])
            .await
            .expect("balance")
            .value,
    )
}

/// After the tail was damaged: reopening cuts it back to `valid_len`, alice
/// has `expected`, and new commits continue the log at `next_ts`.
async fn check_recovers(dir: &Path, segment: &Path, valid_len: u64, expected: u64, next_ts: u64) {
    let rt = open(dir).await;
    assert_eq!(alice(&rt).await, expected, "state after recovery");
    assert_eq!(file_len(segment), valid_len, "the torn tail was not cut");
    assert_eq!(rt.durable_ts(), next_ts - 1);
    let out = rt
        .call("bank", "deposit", vec![u(1), u(1000)])
        .await
        .expect("a commit after recovery");
    assert_eq!(
        out.ts,
        Some(next_ts),
        "timestamps continue gaplessly after the cut"
    );
    assert_eq!(as_u64(&out.value), expected + 1000);
    rt.shutdown().await.expect("shutdown");

    let problems = interstice_persist::check(&FileStorage::new(dir.join("log")), None);
    assert!(
        problems.is_empty(),
        "the recovered log has problems: {problems:?}"
    );
    let rt = open(dir).await;
    assert_eq!(
        alice(&rt).await,
        expected + 1000,
        "state after another restart"
    );
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_last_batch_is_cut_and_state_is_before_it() {
    let d = tempdir();
    let dir = d.path();
    let history = bank_history(dir).await;
    let bs = batches(dir);
    let last = bs.last().expect("batches").clone();
    assert!(
        last.first_ts > history[0].0,
        "the last batch should hold only deposits"
    );
    let seg = segment_path(dir, &last);
    assert_eq!(
        file_len(&seg),
        last.offset + BATCH_HEADER + last.payload_len
    );
    // The state before the torn batch: after the last commit it does not hold.
    let expected = history
        .iter()
        .rev()
        .find(|(ts, _)| *ts < last.first_ts)
        .expect("a commit before the last batch")
        .1;
    assert!(expected < history.last().expect("history").1);

    // Cut the last batch in the middle of its payload, as a crash would.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    f.set_len(last.offset + BATCH_HEADER + last.payload_len / 2)
        .expect("truncating");
    drop(f);
    check_recovers(dir, &seg, last.offset, expected, last.first_ts).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_after_the_last_batch_is_cut() {
    let garbage: [(&str, Vec<u8>); 2] = [
        (
            "random bytes",
            (0..100u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect(),
        ),
        // A batch header that starts right but ends early.
        ("a partial batch header", b"CTAB\x10\x00\x00".to_vec()),
    ];
    for (what, bytes) in garbage {
        let d = tempdir();
        let dir = d.path();
        let history = bank_history(dir).await;
        let bs = batches(dir);
        let last = bs.last().expect("batches").clone();
        let seg = segment_path(dir, &last);
        let valid_len = file_len(&seg);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .expect("open segment");
        std::io::Write::write_all(&mut f, &bytes).expect("appending garbage");
        drop(f);
        let (last_ts, expected) = *history.last().expect("history");
        eprintln!("garbage tail: {what}");
        check_recovers(dir, &seg, valid_len, expected, last_ts + 1).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_header_of_a_new_segment_is_removed() {
    let d = tempdir();
    let dir = d.path();
    let history = bank_history(dir).await;
    let last = batches(dir).last().expect("batches").clone();
    let seg = segment_path(dir, &last);
    let valid_len = file_len(&seg);
    let (last_ts, expected) = *history.last().expect("history");
    // A crash while starting the next segment: its header is half written.
    let torn = dir.join("log").join(format!("{:020}.log", last_ts + 1));
    std::fs::write(&torn, b"INTRSTCE\x01\x00\x00\x00\x00\x00").expect("writing a torn header");
    check_recovers(dir, &seg, valid_len, expected, last_ts + 1).await;
    assert!(
        !torn.exists(),
        "the torn segment {} was not removed",
        torn.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corruption_in_the_middle_refuses_to_open() {
    let d = tempdir();
    let dir = d.path();
    bank_history(dir).await;
    let bs = batches(dir);
    assert!(bs.len() >= 4, "want several batches, got {bs:?}");
    let victim = bs[1].clone();
    let seg = segment_path(dir, &victim);
    let mut bytes = std::fs::read(&seg).expect("reading segment");
    let at = (victim.offset + BATCH_HEADER + victim.payload_len / 2) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(&seg, &bytes).expect("writing segment");

    match Runtime::builder().data_dir(dir).open().await {
        Err(RuntimeError::Persist(e @ PersistError::Corrupt { .. })) => {
            let msg = e.to_string();
            let PersistError::Corrupt {
                segment, offset, ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!(segment, victim.segment, "{msg}");
            assert_eq!(offset, victim.offset, "{msg}");
            assert!(
                msg.contains(&victim.segment),
                "message does not name the segment: {msg}"
            );
            assert!(
                msg.contains(&victim.offset.to_string()),
                "message does not name the offset: {msg}"
            );
        }
        Err(e) => panic!("expected PersistError::Corrupt, got: {e} ({e:?})"),
        Ok(_) => panic!("a log corrupt in the middle opened"),
    }
    // Refusing is not repairing: the bytes are untouched.
    assert_eq!(std::fs::read(&seg).expect("reading segment"), bytes);

    // Through the CLI too (which also shows the failed open released the lock).
    let out = cli_call(dir, "bank", "balance", &["1"]);
    assert!(!out.status.success(), "call on a corrupt log succeeded");
    let err = stderr_of(&out);
    assert!(err.contains("corrupt"), "stderr: {err}");
    assert!(err.contains(&victim.segment), "stderr: {err}");
    assert_eq!(std::fs::read(&seg).expect("reading segment"), bytes);
}

/// What the log says about caller.greet -> hello.hello -> caller.on_greeting.
#[derive(Debug, Default)]
struct Chain {
    caller_install: u64,
    /// Committed `caller.greet`s.
    greets: BTreeSet<u64>,
    /// Committed hello inserts into `greetings` (init and calls).
    inserts: BTreeSet<u64>,
    /// hello commits caused by a caller call: source ts -> (index, ok).
    calls: BTreeMap<u64, Vec<(u32, bool)>>,
    /// caller trigger commits: source ts -> (index, ok).
    triggers: BTreeMap<u64, Vec<(u32, bool)>>,
    entries: usize,
}

impl Chain {
    fn of(dir: &Path) -> Chain {
        let mut ch = Chain::default();
        for e in log_entries(dir) {
            ch.entries += 1;
            let c = match e {
                LogEntry::Install(i) => {
                    if i.name == "caller" {
                        ch.caller_install = i.ts;
                    }
                    continue;
                }
                LogEntry::Engine(_) | LogEntry::Unload(_) => continue,
                LogEntry::Commit(c) => c,
            };
            let ok = matches!(c.outcome, Outcome::Ok(_));
            match (c.module.as_str(), c.reducer.as_str()) {
                ("caller", "greet") if ok => {
                    assert_eq!(c.calls.len(), 1, "greet makes one call");
                    ch.greets.insert(c.ts);
                }
                ("hello", _) => {
                    if ok
                        && c.mutations
                            .iter()
                            .any(|m| m.table == 0 && matches!(m.op, MutationOp::Insert(_)))
                    {
                        ch.inserts.insert(c.ts);
                    }
                    if let Cause::Call {
                        module, ts, index, ..
                    } = &c.cause
                    {
                        assert_eq!(module, "caller");
                        ch.calls.entry(*ts).or_default().push((*index, ok));
                    }
                }
                ("caller", "on_greeting") => match &c.cause {
                    Cause::Trigger { module, ts, index } if module == "hello" => {
                        ch.triggers.entry(*ts).or_default().push((*index, ok));
                    }
                    other => panic!("on_greeting with cause {other:?}"),
                },
                _ => {}
            }
        }
        ch
    }

    /// Deliveries the log still owes: calls of committed greets and
    /// triggers of hello inserts made after caller was installed.
    fn pending(&self) -> usize {
        let calls = self
            .greets
            .iter()
            .filter(|t| !self.calls.contains_key(t))
            .count();
        let triggers = self
            .inserts
            .iter()
            .filter(|t| **t > self.caller_install && !self.triggers.contains_key(t))
            .count();
        calls + triggers
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_deliveries_resume_after_sigkill_exactly_once() {
    let d = tempdir();
    let dir = d.path();
    let mut crashed_with_pending = 0;
    let mut round = 0u64;
    while round < 2 || (crashed_with_pending == 0 && round < 10) {
        let mut srv = Server::start(dir, &[], &["hello", "caller"]);
        let reqs: Vec<_> = (0..600u64)
            .map(|i| {
                json!({"id": round * 1000 + i, "op": "call", "module": "caller",
                    "reducer": "greet", "args": [format!("r{round}-{i}")]})
            })
            .collect();
        srv.send(&reqs);
        for _ in 0..10 {
            let r = srv.recv(Duration::from_secs(60)).expect("a reply");
            assert_eq!(r["ok"], true, "{r}");
        }
        srv.kill();
        let chain = Chain::of(dir);
        assert!(chain.caller_install > 0, "caller is installed");
        eprintln!(
            "round {round}: {} greets committed, {} deliveries pending at the kill",
            chain.greets.len(),
            chain.pending()
        );
        if chain.pending() > 0 {
            crashed_with_pending += 1;
        }
        round += 1;
    }
    assert!(
        crashed_with_pending > 0,
        "no SIGKILL in {round} rounds left a delivery pending; the test proved nothing"
    );

    let before = Chain::of(dir);
    let greets = before.greets.len() as u64;
    let early = before
        .inserts
        .iter()
        .filter(|t| **t < before.caller_install)
        .count() as u64;
    // hello: its init greeting ("world") plus one per greet; caller sees
    // every greeting committed after it was installed.
    let (want_hello, want_seen) = (greets + 1, greets + 1 - early);

    let rt = open(dir).await;
    let read = |m: &'static str, r: &'static str| {
        let rt = rt.clone();
        async move { as_u64(&rt.read(m, r, vec![]).await.expect("read").value) }
    };
    eventually(60, "the pending deliveries to run", || async {
        read("hello", "greeting_count").await == want_hello
            && read("caller", "seen_count").await == want_seen
    })
    .await;
    rt.shutdown().await.expect("shutdown");

    let after = Chain::of(dir);
    assert_eq!(after.greets, before.greets, "no new greets");
    assert_eq!(after.inserts.len() as u64, want_hello);
    for t in &after.greets {
        assert_eq!(
            after.calls.get(t),
            Some(&vec![(0, true)]),
            "greet at ts {t}: its call ran {:?}",
            after.calls.get(t)
        );
    }
    assert!(
        after.calls.keys().all(|t| after.greets.contains(t)),
        "a call from no greet"
    );
    for t in &after.inserts {
        let want = (*t > after.caller_install).then(|| vec![(0, true)]);
        assert_eq!(
            after.triggers.get(t).cloned(),
            want,
            "trigger of the hello insert at ts {t}"
        );
    }
    assert!(
        after.triggers.keys().all(|t| after.inserts.contains(t)),
        "a trigger from no insert"
    );
    assert_eq!(after.triggers.len() as u64, want_seen);

    // A clean restart owes nothing: nothing runs again.
    let rt = open(dir).await;
    assert_eq!(read_seen(&rt).await, want_seen);
    rt.shutdown().await.expect("shutdown");
    assert_eq!(
        Chain::of(dir).entries,
        after.entries,
        "a clean restart ran deliveries again"
    );
}

async fn read_seen(rt: &Runtime) -> u64 {
    as_u64(
        &rt.read("caller", "seen_count", vec![])
            .await
            .expect("seen_count")
            .value,
    )
}
