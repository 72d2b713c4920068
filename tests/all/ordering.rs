//! Tests: ordering. Log timestamps are gapless and increasing across the
//! whole runtime; async calls and triggers are delivered exactly once, in
//! source-timestamp order.

use std::collections::HashMap;

use interstice_actors::{ErrorKind, Runtime};
use interstice_persist::{Cause, CommitRecord, LogEntry, MutationOp, Outcome};

use crate::support::{
    as_u64, commits, eventually, log_entries, open, reducer_error, s, tempdir, u, wasm,
};

async fn read_u64(rt: &Runtime, module: &str, reducer: &str) -> u64 {
    as_u64(&rt.read(module, reducer, vec![]).await.unwrap().value)
}

/// Waits until `module.reducer()` (a read returning u64) equals `want`.
async fn wait_for(rt: &Runtime, module: &'static str, reducer: &'static str, want: u64) {
    let rt2 = rt.clone();
    eventually(20, &format!("{module}.{reducer} == {want}"), move || {
        let rt = rt2.clone();
        async move { read_u64(&rt, module, reducer).await == want }
    })
    .await;
}

/// Loads hello, waits for its init greeting, then loads caller, so that
/// caller's subscription sees every greeting after the first.
async fn hello_then_caller(rt: &Runtime) {
    rt.load_module(wasm("hello")).await.unwrap();
    wait_for(rt, "hello", "greeting_count", 1).await;
    rt.load_module(wasm("caller")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_timestamps_are_gapless_and_increasing() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    hello_then_caller(&rt).await;
    rt.load_module(wasm("bank")).await.unwrap();
    rt.load_module(wasm("t_hostile")).await.unwrap();

    let mut acknowledged = Vec::new();
    let mut ack = |ts: Option<u64>| acknowledged.push(ts.expect("writes have a ts"));
    ack(rt.call("hello", "hello", vec![s("a")]).await.unwrap().ts);
    let acct = rt
        .call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .unwrap();
    ack(acct.ts);
    // Failures take timestamps too (they are logged).
    for reducer in ["trap", "fail", "panic"] {
        reducer_error(rt.call("t_hostile", reducer, vec![]).await);
    }
    reducer_error(
        rt.call(
            "bank",
            "transfer",
            vec![acct.value.clone(), u(99), u(1_000)],
        )
        .await,
    );
    // Concurrent calls on several modules, with async calls and triggers.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let rt = rt.clone();
            tokio::spawn(async move {
                let (m, r, args) = match i % 4 {
                    0 => ("caller", "greet", vec![s(&format!("g{i}"))]),
                    1 => ("hello", "hello", vec![s(&format!("h{i}"))]),
                    2 => ("bank", "deposit", vec![u(1), u(i)]),
                    _ => ("t_hostile", "mark", vec![s(&format!("m{i}"))]),
                };
                rt.call(m, r, args).await.unwrap().ts.unwrap()
            })
        })
        .collect();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    // Greetings caller saw: "a", 5 direct ones and 5 through greet.
    wait_for(&rt, "caller", "seen_count", 11).await;
    let last = rt.durable_ts();
    let metrics = rt.metrics();
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let stamps: Vec<u64> = entries.iter().map(LogEntry::ts).collect();
    let expected: Vec<u64> = (1..=stamps.len() as u64).collect();
    assert_eq!(stamps, expected, "log timestamps are exactly 1..=N");
    assert!(
        stamps.len() as u64 >= last,
        "durable ts {last} is in the log"
    );
    // 4 installs, the rest commits: every commit and rollback is logged.
    let installs = entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Install(_)))
        .count();
    assert_eq!(installs, 4);
    let all = commits(&entries);
    assert_eq!(
        all.len() as u64,
        metrics.commits + metrics.rollbacks,
        "{metrics:?}"
    );
    let failed: Vec<ErrorKind> = all
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Err { kind, .. } => Some(*kind),
            Outcome::Ok(_) => None,
        })
        .collect();
    assert_eq!(
        failed,
        [
            ErrorKind::Trap,
            ErrorKind::UserError,
            ErrorKind::Panic,
            ErrorKind::UserError
        ]
    );
    // Every acknowledged write is the logged entry at its timestamp.
    for ts in acknowledged {
        let e = &entries[ts as usize - 1];
        assert_eq!(e.ts(), ts);
        assert!(
            matches!(e, LogEntry::Commit(c) if matches!(c.outcome, Outcome::Ok(_))),
            "{e:?}"
        );
    }

    // Timestamps continue after a restart, still without a gap.
    let n = stamps.len() as u64;
    let rt = open(dir.path()).await;
    let out = rt.call("hello", "hello", vec![s("later")]).await.unwrap();
    assert_eq!(out.ts, Some(n + 1));
    wait_for(&rt, "caller", "seen_count", 12).await;
    rt.shutdown().await.unwrap();
    let stamps: Vec<u64> = log_entries(dir.path()).iter().map(LogEntry::ts).collect();
    assert_eq!(stamps, (1..=n + 2).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_and_triggers_arrive_exactly_once_in_order() {
    const N: u64 = 50;
    let dir = tempdir();
    let rt = open(dir.path()).await;
    hello_then_caller(&rt).await;

    // Half sequential, half concurrent.
    let mut greet_ts = Vec::new();
    for i in 0..N / 2 {
        let out = rt
            .call("caller", "greet", vec![s(&format!("n{i}"))])
            .await
            .unwrap();
        greet_ts.push(out.ts.unwrap());
    }
    let tasks: Vec<_> = (N / 2..N)
        .map(|i| {
            let rt = rt.clone();
            tokio::spawn(async move {
                rt.call("caller", "greet", vec![s(&format!("n{i}"))])
                    .await
                    .unwrap()
                    .ts
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        greet_ts.push(t.await.unwrap());
    }
    wait_for(&rt, "caller", "seen_count", N).await;
    wait_for(&rt, "hello", "greeting_count", N + 1).await;
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let all = commits(&entries);
    let by_ts: HashMap<u64, &CommitRecord> = all.iter().map(|c| (c.ts, *c)).collect();
    let caller_installed = entries
        .iter()
        .find_map(|e| match e {
            LogEntry::Install(i) if i.name == "caller" => Some(i.ts),
            _ => None,
        })
        .expect("caller's install is logged");

    // --- Async calls: caller.greet -> hello.hello.
    let greets: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "caller" && c.reducer == "greet")
        .collect();
    assert_eq!(greets.len() as u64, N);
    greet_ts.sort();
    assert_eq!(greets.iter().map(|c| c.ts).collect::<Vec<_>>(), greet_ts);
    for g in &greets {
        assert!(matches!(g.outcome, Outcome::Ok(_)));
        assert_eq!(g.calls.len(), 1, "greet makes one call");
        assert_eq!(
            (g.calls[0].module.as_str(), g.calls[0].reducer.as_str()),
            ("hello", "hello")
        );
    }
    let delivered: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "hello" && matches!(c.cause, Cause::Call { .. }))
        .collect();
    let mut calls_per_source: HashMap<u64, u32> = HashMap::new();
    let mut source_order = Vec::new();
    for d in &delivered {
        let Cause::Call { module, ts, index } = &d.cause else {
            unreachable!()
        };
        assert_eq!(module, "caller");
        assert_eq!(*index, 0);
        assert!(d.ts > *ts, "a call runs after its source commit");
        let src = by_ts.get(ts).expect("the source commit is logged");
        assert_eq!(d.args, src.calls[0].args, "the call carries its arguments");
        assert!(matches!(d.outcome, Outcome::Ok(_)));
        *calls_per_source.entry(*ts).or_default() += 1;
        source_order.push(*ts);
    }
    assert_eq!(
        calls_per_source.len() as u64,
        N,
        "every greet was delivered"
    );
    assert!(
        calls_per_source.values().all(|n| *n == 1),
        "a call was delivered twice: {calls_per_source:?}"
    );
    assert_eq!(
        source_order, greet_ts,
        "calls are delivered in source-ts order"
    );

    // --- Triggers: every insert into hello.greetings after caller was
    // installed fires caller.on_greeting exactly once, in order.
    let inserts: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| {
            c.module == "hello"
                && c.ts > caller_installed
                && c.mutations
                    .iter()
                    .any(|m| matches!(m.op, MutationOp::Insert(_)))
        })
        .collect();
    assert_eq!(inserts.len() as u64, N);
    let triggers: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "caller" && c.reducer == "on_greeting")
        .collect();
    let mut fired: HashMap<u64, u32> = HashMap::new();
    let mut trigger_order = Vec::new();
    for t in &triggers {
        let Cause::Trigger { module, ts, index } = &t.cause else {
            panic!("on_greeting ran for another cause: {:?}", t.cause);
        };
        assert_eq!(module, "hello");
        assert!(t.ts > *ts, "a trigger runs after its source commit");
        let src = by_ts.get(ts).expect("the source commit is logged");
        let MutationOp::Insert(row) = &src.mutations[*index as usize].op else {
            panic!("trigger on a non-insert: {:?}", src.mutations);
        };
        // The trigger's argument array is `[row]`.
        assert_eq!(t.args, [&[0x81u8][..], row].concat());
        assert!(matches!(t.outcome, Outcome::Ok(_)), "{:?}", t.outcome);
        *fired.entry(*ts).or_default() += 1;
        trigger_order.push(*ts);
    }
    let insert_ts: Vec<u64> = inserts.iter().map(|c| c.ts).collect();
    assert!(
        fired.values().all(|n| *n == 1),
        "a trigger fired twice: {fired:?}"
    );
    assert_eq!(
        trigger_order, insert_ts,
        "every insert fired exactly one trigger, in source-ts order"
    );
}
