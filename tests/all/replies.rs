//! Tests: async calls with replies (`ctx.call_with_reply`). A call that
//! names a reply reducer has its outcome (committed, returned `Err`, or
//! failed otherwise) delivered back to the caller as a transaction of its
//! own, exactly once and in timestamp order, across a SIGKILL and a replay;
//! a call without one that fails is still warned, counted and logged; a
//! reply reducer that does not fit is refused when the call is queued.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use interstice_actors::{ErrorKind, Runtime, Value};
use interstice_persist::{Cause, LogEntry, Outcome};
use serde_json::{json, Value as Json};

use crate::support::{
    as_u64, eventually, interstice, log_entries, open, open_with, reducer_error, stdout_of,
    tempdir, u, warn_events, warnings, Server,
};

const CALLER: &str = "t_reply_caller";
const CALLEE: &str = "t_reply_callee";

/// What the log says about `send(n)` -> `work(n)` -> `on_work(reply)`.
#[derive(Debug, Default)]
struct Replies {
    /// Committed `send`s.
    sends: Vec<u64>,
    /// `work` commits caused by a call with a reply: the caller's ts ->
    /// (work's ts, its outcome).
    calls: BTreeMap<u64, Vec<(u64, Outcome)>>,
    /// Reply commits: the replied commit's ts -> (reply ts, committed).
    replies: BTreeMap<u64, Vec<(u64, bool)>>,
    /// The replied commits' timestamps, in the order of their replies.
    reply_order: Vec<u64>,
    entries: usize,
}

impl Replies {
    fn of(dir: &Path) -> Replies {
        let mut r = Replies::default();
        for e in log_entries(dir) {
            r.entries += 1;
            let LogEntry::Commit(c) = e else { continue };
            let ok = matches!(c.outcome, Outcome::Ok(_));
            match (c.module.as_str(), c.reducer.as_str(), &c.cause) {
                (CALLER, "send", _) if ok => {
                    assert_eq!(c.calls.len(), 1, "send makes one call");
                    assert_eq!(c.calls[0].reply.as_deref(), Some("on_work"));
                    r.sends.push(c.ts);
                }
                (
                    CALLEE,
                    "work",
                    Cause::Call {
                        module, ts, reply, ..
                    },
                ) if reply.as_deref() == Some("on_work") => {
                    assert_eq!(module, CALLER);
                    r.calls.entry(*ts).or_default().push((c.ts, c.outcome));
                }
                (CALLER, "on_work", Cause::Reply { module, ts, index }) => {
                    assert_eq!((module.as_str(), *index), (CALLEE, 0), "{:?}", c.cause);
                    assert!(c.ts > *ts, "a reply after its call's commit");
                    r.replies.entry(*ts).or_default().push((c.ts, ok));
                    r.reply_order.push(*ts);
                }
                (CALLER, "on_work", other) => panic!("on_work with cause {other:?}"),
                _ => {}
            }
        }
        r
    }

    /// Calls and replies the log still owes: `(calls, replies)`.
    fn pending(&self) -> (usize, usize) {
        let calls = self
            .sends
            .iter()
            .filter(|t| !self.calls.contains_key(t))
            .count();
        let replies = self
            .calls
            .values()
            .flatten()
            .filter(|(t, _)| !self.replies.contains_key(t))
            .count();
        (calls, replies)
    }

    /// Every send's call ran once, and its reply ran once and committed,
    /// the replies in the order of the commits they reply.
    fn assert_complete(&self) {
        for t in &self.sends {
            let calls = self.calls.get(t).map_or(&[][..], Vec::as_slice);
            let [(work_ts, _)] = calls else {
                panic!("send at ts {t}: its call ran {calls:?}")
            };
            assert_eq!(
                self.replies.get(work_ts).map(Vec::len),
                Some(1),
                "work at ts {work_ts}: its reply ran {:?}",
                self.replies.get(work_ts)
            );
            assert!(
                self.replies[work_ts][0].1,
                "the reply to ts {work_ts} failed"
            );
        }
        assert_eq!(self.calls.len(), self.sends.len(), "a call from no send");
        assert_eq!(self.replies.len(), self.sends.len(), "a reply to no call");
        let mut sorted = self.reply_order.clone();
        sorted.sort_unstable();
        assert_eq!(self.reply_order, sorted, "replies out of timestamp order");
    }
}

async fn read_u64(rt: &Runtime, module: &str, reducer: &str) -> u64 {
    as_u64(&rt.read(module, reducer, vec![]).await.expect("read").value)
}

/// `t_reply_caller.replies()`: `(n, outcome)` of every reply.
async fn replies(rt: &Runtime) -> Vec<(u64, String)> {
    let out = rt.read(CALLER, "replies", vec![]).await.expect("replies");
    let Value::Vec(rows) = out.value else {
        panic!("replies is a vec: {:?}", out.value)
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Tuple(f) => match &f[..] {
                [Value::U64(n), Value::String(o)] => (*n, o.clone()),
                other => panic!("a reply row: {other:?}"),
            },
            other => panic!("a reply row: {other:?}"),
        })
        .collect()
}

/// What `on_work` records for call `n`: `work` commits `Ok(10 n)`,
/// returns `Err("n")` or panics, by `n % 3`.
fn expected(n: u64) -> &'static str {
    match n % 3 {
        0 => "ok",
        1 => "returned",
        _ => "failed Panic: ",
    }
}

fn assert_reply(n: u64, got: &str) {
    match n % 3 {
        0 => assert_eq!(got, format!("ok {}", n * 10)),
        1 => assert_eq!(got, format!("returned {n}")),
        _ => {
            assert!(got.starts_with(expected(n)), "reply to {n}: {got}");
            assert!(got.contains(&format!("work {n} panics")), "{got}");
        }
    }
}

async fn wait_for_replies(rt: &Runtime, n: u64) {
    let rt2 = rt.clone();
    eventually(30, &format!("{n} replies"), move || {
        let rt = rt2.clone();
        async move {
            read_u64(&rt, CALLER, "waiting_count").await == 0
                && replies(&rt).await.len() as u64 == n
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_replied_once_in_timestamp_order_and_replay_restores_it() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[CALLEE, CALLER]).await;
    const N: u64 = 12;
    for n in 0..N {
        rt.call(CALLER, "send", vec![u(n)]).await.expect("send");
    }
    wait_for_replies(&rt, N).await;
    let got = replies(&rt).await;
    assert_eq!(got.len() as u64, N, "{got:?}");
    for (i, (n, outcome)) in got.iter().enumerate() {
        assert_eq!(*n, i as u64);
        assert_reply(*n, outcome);
    }
    assert_eq!(read_u64(&rt, CALLEE, "done_count").await, N.div_ceil(3));
    let hash = rt.state_hash().await.expect("state hash");
    rt.shutdown().await.expect("shutdown");

    let log = Replies::of(dir.path());
    assert_eq!(log.sends.len() as u64, N);
    log.assert_complete();
    // The callee's `Err` value is in its record (for replay to rebuild the
    // reply), and only there.
    for (i, (_, outcome)) in log.calls.values().flatten().enumerate() {
        match (i % 3, outcome) {
            (0, Outcome::Ok(_)) => {}
            (
                1,
                Outcome::Err {
                    kind: ErrorKind::UserError,
                    value: Some(v),
                    ..
                },
            ) => {
                let mut r = interstice_abi::cbor::Reader::new(v);
                assert_eq!(r.str().expect("a string"), i.to_string());
            }
            (
                2,
                Outcome::Err {
                    kind: ErrorKind::Panic,
                    value: None,
                    ..
                },
            ) => {}
            other => panic!("work #{i} logged {other:?}"),
        }
    }

    // Replay restores it without running wasm, and owes nothing: no call
    // or reply runs again.
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.expect("state hash"), hash);
    let m = rt.metrics();
    assert_eq!((m.instantiations, m.wasm_calls), (0, 0), "{m:?}");
    assert_eq!(replies(&rt).await, got);
    rt.shutdown().await.expect("shutdown");
    assert_eq!(Replies::of(dir.path()).entries, log.entries);

    // And re-executing the log reproduces every commit, replies included.
    let d = dir.path().to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        interstice_actors::replay_check(&d, &Default::default())
    })
    .await
    .expect("replay-check thread")
    .expect("replay-check runs");
    assert_eq!(report.divergence, None, "{report:?}");
    // send and on_work in the caller, work in the callee.
    assert_eq!(report.modules[CALLER].checked, 2 * N, "{report:?}");
    assert_eq!(report.modules[CALLEE].checked, N, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_reducer_that_does_not_fit_is_refused_when_the_call_is_queued() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[CALLEE, CALLER]).await;
    for (reply, why) in [
        ("nope", "module `t_reply_caller` has no reducer `nope`"),
        ("replies", "it is a read reducer"),
        (
            "send",
            "its parameter is u64, but t_reply_callee.work replies",
        ),
        ("on_wrong", "its parameter is"),
    ] {
        let e = reducer_error(
            rt.call(CALLER, "send_named", vec![u(0), crate::support::s(reply)])
                .await,
        );
        assert_eq!(e.kind, ErrorKind::Host, "{reply}: {e}");
        assert!(
            e.message
                .contains(&format!("reply reducer `{reply}` of t_reply_callee.work")),
            "{reply}: {e}"
        );
        assert!(e.message.contains(why), "{reply}: {e}");
    }
    // A fitting name works as `reply_to!` does: the reply comes, and
    // on_work, finding no call waiting (send_named keeps none), fails:
    // a failed delivery like any other.
    let before = rt.metrics().failed_deliveries;
    rt.call(
        CALLER,
        "send_named",
        vec![u(3), crate::support::s("on_work")],
    )
    .await
    .expect("send_named on_work");
    let rt2 = rt.clone();
    eventually(30, "the reply", move || {
        let rt = rt2.clone();
        async move { rt.metrics().failed_deliveries == before + 1 }
    })
    .await;
    rt.shutdown().await.expect("shutdown");
    let entries = log_entries(dir.path());
    let on_work: Vec<_> = crate::support::commits(&entries)
        .into_iter()
        .filter(|c| c.reducer == "on_work")
        .collect();
    let [on_work] = on_work[..] else {
        panic!("one reply: {on_work:?}")
    };
    assert!(matches!(&on_work.cause, Cause::Reply { module, .. } if module == CALLEE));
    match &on_work.outcome {
        Outcome::Err { message, .. } => {
            assert!(
                message.contains("a reply with no call waiting"),
                "{message}"
            )
        }
        other => panic!("on_work: {other:?}"),
    }
    // Each refused call rolled back its transaction: nothing was delivered.
    let works = crate::support::commits(&entries)
        .into_iter()
        .filter(|c| c.reducer == "work")
        .count();
    assert_eq!(works, 1, "only the fitting call ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_warned_counted_and_shown_with_or_without_a_reply() {
    warnings(); // installs the capture before anything runs
    let dir = tempdir();
    let rt = open_with(dir.path(), &[CALLEE, CALLER]).await;
    let before = rt.metrics().failed_deliveries;
    // No reply: work(1) returns `Err`, work(2) panics.
    let plain1 = rt.call(CALLER, "send_plain", vec![u(1)]).await.unwrap();
    let plain2 = rt.call(CALLER, "send_plain", vec![u(2)]).await.unwrap();
    // A reply reducer that fails: work(0) commits, on_bad refuses it.
    let bad = rt.call(CALLER, "send_bad", vec![u(0)]).await.unwrap();
    let rt2 = rt.clone();
    eventually(30, "three failed deliveries", move || {
        let rt = rt2.clone();
        async move { rt.metrics().failed_deliveries == before + 3 }
    })
    .await;
    rt.shutdown().await.expect("shutdown");
    let (plain1, plain2, bad) = (plain1.ts.unwrap(), plain2.ts.unwrap(), bad.ts.unwrap());

    let entries = log_entries(dir.path());
    let all = crate::support::commits(&entries);
    let failed_work = |cause_ts: u64| {
        all.iter()
            .find(|c| {
                c.reducer == "work" && matches!(c.cause, Cause::Call { ts, .. } if ts == cause_ts)
            })
            .unwrap_or_else(|| panic!("the call of ts {cause_ts}"))
    };
    let (w1, w2) = (failed_work(plain1), failed_work(plain2));
    assert!(matches!(
        w1.outcome,
        Outcome::Err {
            kind: ErrorKind::UserError,
            value: None,
            ..
        }
    ));
    assert!(matches!(
        w2.outcome,
        Outcome::Err {
            kind: ErrorKind::Panic,
            ..
        }
    ));
    let work0 = failed_work(bad);
    let on_bad = all
        .iter()
        .find(|c| c.reducer == "on_bad")
        .expect("on_bad ran");
    assert_eq!(
        on_bad.cause,
        Cause::Reply {
            module: CALLEE.into(),
            ts: work0.ts,
            index: 0
        }
    );
    assert!(matches!(on_bad.outcome, Outcome::Err { .. }));

    // Warned, with module, reducer, cause and cause timestamp.
    let events = warn_events();
    let warned = |module: &str, reducer: &str, cause: &str, cause_ts: u64| {
        events
            .iter()
            .find(|e| {
                e.message.starts_with("delivery failed")
                    && e.span_fields.get("module").map(String::as_str) == Some(module)
                    && e.span_fields.get("reducer").map(String::as_str) == Some(reducer)
                    && e.fields.get("cause_ts") == Some(&cause_ts.to_string())
            })
            .unwrap_or_else(|| panic!("no warning for {module}.{reducer} of {cause_ts}"))
            .fields
            .get("cause")
            .map(|c| assert_eq!(c.trim_matches('"'), cause))
    };
    warned(CALLEE, "work", "async call", plain1);
    warned(CALLEE, "work", "async call", plain2);
    warned(CALLER, "on_bad", "reply", work0.ts);

    // And shown by the log tools: `interstice logs` and `log-inspect`.
    let out = interstice([
        "logs".as_ref(),
        "-d".as_ref(),
        dir.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let records: Vec<Json> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .filter(|r: &Json| r["kind"] == "failed_delivery")
        .collect();
    let shown = |module: &str, cause: &str, cause_ts: u64, kind: &str| {
        assert!(
            records.iter().any(|r| r["module"] == module
                && r["cause"] == cause
                && r["cause_ts"] == cause_ts
                && r["error_kind"] == kind),
            "no failed_delivery record for {module} ({cause} of {cause_ts}) in {records:?}"
        )
    };
    shown(CALLEE, "async call", plain1, "UserError");
    shown(CALLEE, "async call", plain2, "Panic");
    shown(CALLER, "reply", work0.ts, "UserError");
    let ts = on_bad.ts.to_string();
    let out = interstice([
        "log-inspect".as_ref(),
        "-d".as_ref(),
        dir.path().as_os_str(),
        "--reducer".as_ref(),
        "on_bad".as_ref(),
        "--from-ts".as_ref(),
        ts.as_ref(),
    ]);
    let text = stdout_of(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains(&format!(
            "reply (delivery #0) of the call {CALLEE} ran at #{}",
            work0.ts
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_resume_after_sigkill_exactly_once() {
    let d = tempdir();
    let dir = d.path();
    let mut crashed_with_pending = 0;
    let mut round = 0u64;
    let mut next = 0u64;
    while round < 2 || (crashed_with_pending == 0 && round < 10) {
        let mut srv = Server::start(dir, &[], &[CALLEE, CALLER]);
        let reqs: Vec<_> = (0..400u64)
            .map(|i| {
                json!({"id": next + i, "op": "call", "module": CALLER,
                    "reducer": "send", "args": [next + i]})
            })
            .collect();
        next += 400;
        srv.send(&reqs);
        for _ in 0..10 {
            let r = srv.recv(Duration::from_secs(60)).expect("a reply");
            assert_eq!(r["ok"], true, "{r}");
        }
        srv.kill();
        let log = Replies::of(dir);
        let (calls, replies) = log.pending();
        eprintln!(
            "round {round}: {} sends committed, {calls} calls and {replies} replies pending \
             at the kill",
            log.sends.len(),
        );
        if replies > 0 {
            crashed_with_pending += 1;
        }
        round += 1;
    }
    assert!(
        crashed_with_pending > 0,
        "no SIGKILL in {round} rounds left a reply pending; the test proved nothing"
    );

    let before = Replies::of(dir);
    let sends = before.sends.len() as u64;
    let rt = open(dir).await;
    wait_for_replies(&rt, sends).await;
    for (n, outcome) in replies(&rt).await {
        assert_reply(n, &outcome);
    }
    rt.shutdown().await.expect("shutdown");
    let after = Replies::of(dir);
    assert_eq!(after.sends, before.sends, "no new sends");
    after.assert_complete();

    // A clean restart owes nothing: nothing runs again.
    let rt = open(dir).await;
    assert_eq!(read_u64(&rt, CALLER, "waiting_count").await, 0);
    rt.shutdown().await.expect("shutdown");
    assert_eq!(
        Replies::of(dir).entries,
        after.entries,
        "a clean restart ran calls or replies again"
    );
}
