//! Tests: concurrency. Different modules run wasm at the same time on
//! different threads; the reducers of one module run one at a time; many
//! concurrent callers all get through, and nothing is lost.

use std::collections::BTreeSet;

use interstice_actors::{Limits, Runtime};

use crate::support::{as_u64, open_with, open_with_limits, s, tempdir, u, wasm};

/// What `busy(iterations)` returns: the xorshift state after that many
/// rounds.
fn xorshift(iterations: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// Enough rounds that a call stays in wasm for a long while (hundreds of
/// milliseconds), so that two calls sent together overlap.
const LONG: u64 = 200_000_000;

/// Limits with fuel for [`LONG`] rounds (each costs a few dozen units).
fn generous() -> Limits {
    Limits::default().with_fuel(1 << 40)
}

async fn busy(rt: &Runtime, module: &str, iterations: u64) -> u64 {
    as_u64(
        &rt.call(module, "busy", vec![u(iterations)])
            .await
            .unwrap_or_else(|e| panic!("{module}.busy({iterations}): {e}"))
            .value,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_modules_run_wasm_at_the_same_time() {
    let dir = tempdir();
    let rt = open_with_limits(dir.path(), generous()).await;
    rt.load_module(wasm("t_hostile")).await.unwrap();
    rt.load_module(wasm("t_busy")).await.unwrap();

    // One after the other: never two threads in wasm.
    assert_eq!(busy(&rt, "t_hostile", 1_000).await, xorshift(1_000));
    assert_eq!(busy(&rt, "t_busy", 1_000).await, xorshift(1_000));
    assert_eq!(rt.metrics().max_concurrent_wasm, 1);

    // Together: both modules are inside wasm at the same moment.
    let (a, b) = tokio::join!(busy(&rt, "t_hostile", LONG), busy(&rt, "t_busy", LONG));
    let expected = xorshift(LONG);
    assert_eq!(a, expected);
    assert_eq!(b, expected);
    let m = rt.metrics();
    assert!(
        m.max_concurrent_wasm >= 2,
        "two modules never ran wasm at the same time: {m:?}"
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_modules_reducers_run_one_at_a_time() {
    let dir = tempdir();
    let rt = open_with_limits(dir.path(), generous()).await;
    rt.load_module(wasm("t_hostile")).await.unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { busy(&rt, "t_hostile", LONG / 8).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap(), xorshift(LONG / 8));
    }
    let m = rt.metrics();
    assert_eq!(
        m.max_concurrent_wasm, 1,
        "two calls of one module ran wasm at the same time: {m:?}"
    );
    assert_eq!(m.wasm_calls, 4);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_all_get_through() {
    const TASKS: u64 = 64;
    const DEPOSITS: u64 = 20;
    const ACCOUNTS: u64 = 4;
    let dir = tempdir();
    let rt = open_with(dir.path(), &["bank"]).await;
    let mut ids = Vec::new();
    for i in 0..ACCOUNTS {
        let id = rt
            .call("bank", "open_account", vec![s(&format!("acct{i}")), u(0)])
            .await
            .unwrap()
            .value;
        ids.push(as_u64(&id));
    }
    let commits_before = rt.metrics().commits;

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let rt = rt.clone();
            let account = ids[(t % ACCOUNTS) as usize];
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..DEPOSITS {
                    let out = rt
                        .call("bank", "deposit", vec![u(account), u(t + 1)])
                        .await
                        .unwrap_or_else(|e| panic!("task {t}: deposit failed: {e}"));
                    seen.push((
                        account,
                        out.ts.expect("a write has a ts"),
                        as_u64(&out.value),
                    ));
                }
                seen
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.expect("task panicked"));
    }
    assert_eq!(results.len() as u64, TASKS * DEPOSITS);

    // Every call got its own timestamp.
    let stamps: BTreeSet<u64> = results.iter().map(|(_, ts, _)| *ts).collect();
    assert_eq!(
        stamps.len() as u64,
        TASKS * DEPOSITS,
        "timestamps are unique"
    );
    // The balances each account returned are all different: deposits to
    // one account were applied one at a time, never two on the same state.
    for id in &ids {
        let mut balances: Vec<(u64, u64)> = results
            .iter()
            .filter(|(a, _, _)| a == id)
            .map(|(_, ts, b)| (*ts, *b))
            .collect();
        let n = balances.len();
        balances.sort();
        // In timestamp order, balances only grow.
        assert!(
            balances.windows(2).all(|w| w[0].1 < w[1].1),
            "account {id}: balances out of timestamp order"
        );
        assert_eq!(n as u64, TASKS / ACCOUNTS * DEPOSITS);
    }

    // The totals are exact.
    let expected_total: u64 = (1..=TASKS).sum::<u64>() * DEPOSITS;
    let total = as_u64(&rt.read("bank", "total", vec![]).await.unwrap().value);
    assert_eq!(total, expected_total);
    for (i, id) in ids.iter().enumerate() {
        let expected: u64 = (0..TASKS)
            .filter(|t| t % ACCOUNTS == i as u64)
            .map(|t| (t + 1) * DEPOSITS)
            .sum();
        let got = as_u64(
            &rt.read("bank", "balance", vec![u(*id)])
                .await
                .unwrap()
                .value,
        );
        assert_eq!(got, expected, "account {id}");
    }
    assert_eq!(rt.metrics().commits - commits_before, TASKS * DEPOSITS);
    let state = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    // And all of it is in the log: a reopened runtime has the same state.
    let rt = crate::support::open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), state);
    let total = as_u64(&rt.read("bank", "total", vec![]).await.unwrap().value);
    assert_eq!(total, expected_total);
    rt.shutdown().await.unwrap();
}
