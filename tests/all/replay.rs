//! Tests: replay. Opening a data directory replays the log without running
//! any wasm and restores exactly the state that was there; ids, init
//! reducers and reads behave across restarts.

use interstice_actors::{Runtime, Value};
use interstice_persist::{Cause, LogEntry};

use crate::support::{
    as_u64, commits, eventually, log_entries, open, open_account, open_with, reducer_error, s,
    tempdir, u,
};

async fn read_u64(rt: &Runtime, module: &str, reducer: &str, args: Vec<Value>) -> u64 {
    as_u64(&rt.read(module, reducer, args).await.unwrap().value)
}

/// Waits until `module.reducer()` (a read returning u64) equals `want`.
async fn wait_for(rt: &Runtime, module: &'static str, reducer: &'static str, want: u64) {
    let rt2 = rt.clone();
    eventually(20, &format!("{module}.{reducer} == {want}"), move || {
        let rt = rt2.clone();
        async move { read_u64(&rt, module, reducer, vec![]).await == want }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_runs_no_wasm_and_restores_the_state() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    wait_for(&rt, "hello", "greeting_count", 1).await;
    for m in ["caller", "bank", "t_hostile"] {
        rt.load_module(crate::support::wasm(m)).await.unwrap();
    }
    for name in ["a", "b", "c"] {
        rt.call("hello", "hello", vec![s(name)]).await.unwrap();
        rt.call("caller", "greet", vec![s(&format!("via {name}"))])
            .await
            .unwrap();
    }
    let alice = open_account(&rt, "alice", 100).await;
    let bob = open_account(&rt, "bob", 0).await;
    rt.call("bank", "transfer", vec![alice.clone(), bob.clone(), u(40)])
        .await
        .unwrap();
    reducer_error(
        rt.call(
            "bank",
            "transfer",
            vec![bob.clone(), alice.clone(), u(1_000)],
        )
        .await,
    );
    rt.call("t_hostile", "mark", vec![s("m")]).await.unwrap();
    reducer_error(rt.call("t_hostile", "write_then_trap", vec![]).await);
    wait_for(&rt, "caller", "seen_count", 6).await;
    wait_for(&rt, "hello", "greeting_count", 7).await;
    let hash = rt.state_hash().await.unwrap();
    let modules: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    assert!(rt.metrics().instantiations > 0);
    rt.shutdown().await.unwrap();
    let last = log_entries(dir.path()).len() as u64;

    let rt = open(dir.path()).await;
    let m = rt.metrics();
    assert_eq!(m.instantiations, 0, "replay instantiated wasm: {m:?}");
    assert_eq!(m.wasm_calls, 0, "replay ran wasm: {m:?}");
    assert_eq!(
        m.replayed_entries, last,
        "every log entry was replayed: {m:?}"
    );
    assert!(m.replayed_mutations > 0, "{m:?}");
    assert_eq!(rt.durable_ts(), last);
    let names: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    assert_eq!(names, modules);
    assert_eq!(
        rt.state_hash().await.unwrap(),
        hash,
        "replay restores the state"
    );
    // state_hash reads tables host-side: still no wasm.
    assert_eq!(rt.metrics().instantiations, 0);

    // A call works after replay and instantiates only the module it runs
    // in (bank has no subscribers).
    let out = rt
        .call("bank", "deposit", vec![bob.clone(), u(2)])
        .await
        .unwrap();
    assert_eq!(out.value, u(42), "bob's balance was replayed: 40 + 2");
    assert_eq!(out.ts, Some(last + 1));
    let m = rt.metrics();
    assert_eq!(m.instantiations, 1, "{m:?}");
    assert_eq!(m.wasm_calls, 1, "{m:?}");
    assert_ne!(
        rt.state_hash().await.unwrap(),
        hash,
        "the deposit changed the state"
    );
    assert_eq!(read_u64(&rt, "bank", "balance", vec![alice]).await, 60);
    assert_eq!(read_u64(&rt, "t_hostile", "mark_count", vec![]).await, 1);
    assert_eq!(read_u64(&rt, "caller", "seen_count", vec![]).await, 6);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_inc_ids_continue_after_replay() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "t_hostile", "bank"]).await;
    wait_for(&rt, "hello", "greeting_count", 1).await;
    assert_eq!(
        rt.call("hello", "hello", vec![s("a")]).await.unwrap().value,
        u(2)
    );
    assert_eq!(
        rt.call("hello", "hello", vec![s("b")]).await.unwrap().value,
        u(3)
    );
    assert_eq!(
        rt.call("t_hostile", "mark", vec![s("x")])
            .await
            .unwrap()
            .value,
        u(1)
    );
    assert_eq!(
        rt.call("t_hostile", "mark", vec![s("y")])
            .await
            .unwrap()
            .value,
        u(2)
    );
    // A rolled-back insert neither keeps its id nor burns one.
    reducer_error(rt.call("t_hostile", "fail", vec![]).await);
    assert_eq!(open_account(&rt, "alice", 1).await, u(1));
    reducer_error(rt.call("bank", "open_account", vec![s(""), u(1)]).await);
    rt.shutdown().await.unwrap();

    for round in 0..2u64 {
        let rt = open_with(dir.path(), &["hello", "t_hostile", "bank"]).await;
        assert_eq!(
            rt.call("hello", "hello", vec![s("again")])
                .await
                .unwrap()
                .value,
            u(4 + round),
            "round {round}: hello ids continue"
        );
        assert_eq!(
            rt.call("t_hostile", "mark", vec![s("again")])
                .await
                .unwrap()
                .value,
            u(3 + round),
            "round {round}: t_hostile ids continue"
        );
        assert_eq!(
            open_account(&rt, "again", 1).await,
            u(2 + round),
            "round {round}: bank ids continue"
        );
        assert_eq!(
            read_u64(&rt, "hello", "greeting_count", vec![]).await,
            4 + round
        );
        rt.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_runs_exactly_once_across_restarts() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    wait_for(&rt, "hello", "greeting_count", 1).await;
    rt.shutdown().await.unwrap();

    for round in 0..3u64 {
        // Loading the same binary again at every start, as an embedder
        // would, is a no-op: it does not install it again or rerun init.
        let rt = open_with(dir.path(), &["hello"]).await;
        assert_eq!(
            read_u64(&rt, "hello", "greeting_count", vec![]).await,
            1 + round,
            "round {round}"
        );
        rt.call("hello", "hello", vec![s(&format!("round {round}"))])
            .await
            .unwrap();
        assert_eq!(
            read_u64(&rt, "hello", "greeting_count", vec![]).await,
            2 + round
        );
        rt.shutdown().await.unwrap();
    }

    let entries = log_entries(dir.path());
    let installs = entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Install(i) if i.name == "hello"))
        .count();
    assert_eq!(installs, 1, "hello was installed once");
    let inits = commits(&entries)
        .into_iter()
        .filter(|c| c.cause == Cause::Init)
        .count();
    assert_eq!(inits, 1, "init ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_never_write_the_log() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "bank", "caller"]).await;
    wait_for(&rt, "hello", "greeting_count", 1).await;
    let id = open_account(&rt, "alice", 5).await;
    rt.call("hello", "hello", vec![s("a")]).await.unwrap();
    // Three installs, hello's init, the two calls and caller's trigger:
    // wait until all seven are durable, so nothing is in flight.
    let rt2 = rt.clone();
    eventually(20, "seven durable entries", move || {
        let rt = rt2.clone();
        async move { rt.durable_ts() == 7 }
    })
    .await;
    wait_for(&rt, "caller", "seen_count", 1).await;

    let reads = |rt: Runtime, id: Value| async move {
        let before = (rt.durable_ts(), rt.metrics());
        for _ in 0..50 {
            assert_eq!(read_u64(&rt, "hello", "greeting_count", vec![]).await, 2);
            rt.read("hello", "last_greeting", vec![]).await.unwrap();
            assert_eq!(read_u64(&rt, "bank", "balance", vec![id.clone()]).await, 5);
            // A read returning Err is not logged either.
            reducer_error(rt.read("bank", "balance", vec![u(404)]).await);
            // A read that reads another module synchronously.
            assert_eq!(read_u64(&rt, "caller", "hello_count", vec![]).await, 2);
            rt.call_json("bank", "total", &[]).await.unwrap();
        }
        let after = (rt.durable_ts(), rt.metrics());
        assert_eq!(after.0, before.0, "reads advanced the durable timestamp");
        assert_eq!(after.1.commits, before.1.commits);
        assert_eq!(after.1.rollbacks, before.1.rollbacks);
        assert!(after.1.wasm_calls >= before.1.wasm_calls + 300);
    };
    reads(rt.clone(), id.clone()).await;
    rt.shutdown().await.unwrap();
    let logged = log_entries(dir.path());

    // After a restart too.
    let rt = open(dir.path()).await;
    reads(rt.clone(), id).await;
    rt.shutdown().await.unwrap();
    assert_eq!(log_entries(dir.path()), logged, "the log is unchanged");
}
