//! Isolation in time (`docs/ARCHITECTURE.md`, "Timestamps and isolation"):
//! the log's timestamp order is a serial order that explains every read
//! call, and a slow or stuck transaction holds back no module that does not
//! read from it.

use std::time::Duration;

use interstice_abi::cbor::Reader;
use interstice_actors::{ErrorKind, Limits, ReducerMode};
use interstice_persist::Nondet;

use crate::support::{
    log_entries, open_account, raw_module, reducer_error, s, tempdir, u, wasm, RawReducer,
};

use crate::support::open_unsynced as open;

/// Reproduces the race thousands of times: `t_market.list_item(i)`
/// read-calls `t_inventory.get_item(i)` while `t_inventory` adds (then
/// removes) item `i` concurrently. Then, from the log alone, in timestamp
/// order ([`crate::support::check_reads_explained`], also used by
/// `tests/all/stress.rs`): every read result recorded in a `t_market`
/// commit must be what `t_inventory`'s commits with smaller timestamps
/// leave, and the listing's `ctx.timestamp()` must lie between the commits
/// the read saw and the listing's own timestamp. Before the commit
/// protocol validated reads, the reader could commit before the write it
/// had seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_read_call_result_is_explained_by_the_commits_before_the_reader() {
    const ROUNDS: u64 = 2000;
    let dir = tempdir();
    let rt = open(dir.path(), Limits::default()).await;
    rt.load_module(wasm("t_inventory")).await.unwrap();
    rt.load_module(wasm("t_market")).await.unwrap();
    for i in 0..ROUNDS {
        let (a, b) = (rt.clone(), rt.clone());
        let write = tokio::spawn(async move {
            if i % 2 == 0 {
                a.call("t_inventory", "add_item", vec![u(i / 2), s("owner")])
                    .await
                    .map(drop)
            } else {
                a.call("t_inventory", "remove_item", vec![u(i / 2)])
                    .await
                    .map(drop)
            }
        });
        let read =
            tokio::spawn(async move { b.call("t_market", "list_item", vec![u(i / 2)]).await });
        write.await.unwrap().unwrap();
        read.await.unwrap().unwrap();
    }
    let reruns = rt.metrics().reruns;
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let crate::support::ReadsExplained {
        checked,
        saw_item: seen_some,
    } = crate::support::check_reads_explained(
        crate::support::commits(&entries),
        "t_inventory",
        "t_market",
    );
    assert_eq!(checked, ROUNDS, "every listing was checked");
    // The recorded read results and the fuel they burnt re-execute exactly.
    let out = crate::support::interstice(["replay-check".as_ref(), dir.path().as_os_str()]);
    crate::support::expect_ok(&out, "replay-check of the race");
    assert!(
        seen_some > 0 && seen_some < ROUNDS,
        "the race went both ways ({seen_some} of {ROUNDS} reads saw the item; {reruns} reruns)"
    );
}

/// A reader whose transaction runs long after its read call, against a
/// writer that commits to the module it read all the time: every
/// optimistic run is refused, and the last run pins `t_inventory` (whose
/// writes wait, in order, while reads are still served) so it commits. The
/// writer's calls all complete, and the log explains the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_that_keeps_being_refused_pins_what_it_reads_and_commits() {
    let dir = tempdir();
    let limits = Limits::default().with_fuel(u64::MAX / 4);
    let rt = open(dir.path(), limits).await;
    rt.load_module(wasm("t_inventory")).await.unwrap();
    rt.load_module(wasm("t_market")).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (rt, stop) = (rt.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rt.call("t_inventory", "add_item", vec![u(1000 + n), s("w")])
                    .await
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    // Let the writer get going, then read the item it keeps adding next to.
    crate::support::eventually(30, "the writer commits", || async { rt.durable_ts() > 20 }).await;
    let out = rt
        .call("t_market", "list_slowly", vec![u(1000), u(20_000_000)])
        .await
        .expect("the pinned run commits");
    assert_eq!(out.value, interstice_actors::Value::Bool(true));
    let reruns = rt.metrics().reruns;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    rt.shutdown().await.unwrap();
    assert!(
        reruns >= 3,
        "only {reruns} reruns: the writer did not race the reader"
    );
    assert!(writes > 0);
    // From the log: the listing's read is explained by the inventory
    // commits before it, and the inventory kept every write in order.
    let entries = log_entries(dir.path());
    let all = crate::support::commits(&entries);
    let listing = all.iter().find(|c| c.reducer == "list_slowly").unwrap();
    let added_before: u64 = all
        .iter()
        .filter(|c| c.module == "t_inventory" && c.ts < listing.ts)
        .count() as u64;
    let added: Vec<u64> = all
        .iter()
        .filter(|c| c.module == "t_inventory")
        .map(|c| only_u64_first(&c.args))
        .collect();
    assert_eq!(added, (1000..1000 + writes).collect::<Vec<_>>(), "in order");
    assert!(added_before >= 1);
}

/// The first `u64` of a CBOR argument array.
fn only_u64_first(args: &[u8]) -> u64 {
    let mut r = Reader::new(args);
    r.array().expect("an argument array");
    r.u64().expect("a u64 first argument")
}

/// A module that loops forever: under a huge fuel budget only the
/// wall-clock limit can end its transaction.
fn spinning_module() -> Vec<u8> {
    raw_module(
        "t_spin",
        "",
        &[],
        &[RawReducer {
            name: "spin",
            mode: ReducerMode::Write,
            body: "(loop $forever (br $forever))",
        }],
    )
}

/// The stall: a transaction held its timestamp while it ran, so a
/// slow one in one module held back the commits of all others. Now a stuck
/// transaction holds no timestamp: writes to another module commit (and are
/// acknowledged) while it is still running, and it ends with `Timeout` at
/// the wall-clock limit, numbered after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_module_stuck_in_a_loop_does_not_hold_back_another_modules_commits() {
    let dir = tempdir();
    let limits = Limits::default()
        .with_fuel(u64::MAX / 4)
        .with_tx_time(Duration::from_secs(4));
    let rt = open(dir.path(), limits).await;
    rt.load_module(spinning_module()).await.unwrap();
    rt.load_module(wasm("bank")).await.unwrap();
    let stuck = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.call("t_spin", "spin", vec![]).await })
    };
    crate::support::eventually(30, "the spin starts", || async {
        rt.metrics().max_concurrent_wasm >= 1
    })
    .await;
    let mut bank_ts = Vec::new();
    for i in 0..10 {
        let id = tokio::time::timeout(
            Duration::from_secs(60),
            open_account(&rt, &format!("a{i}"), 10),
        )
        .await
        .expect("a write to another module is not held back");
        let out = rt.read("bank", "balance", vec![id]).await.unwrap();
        assert_eq!(out.value, u(10));
        bank_ts.push(rt.durable_ts());
    }
    assert!(
        !stuck.is_finished(),
        "the spin should still be running while the other module commits"
    );
    let err = reducer_error(stuck.await.unwrap());
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("Limits::tx_time"), "{err}");
    rt.shutdown().await.unwrap();
    // The stuck transaction was numbered when it ended: after the others.
    let spin = crate::support::commits(&log_entries(dir.path()))
        .into_iter()
        .find(|c| c.module == "t_spin")
        .map(|c| c.ts)
        .expect("the timed-out spin is logged");
    assert!(spin > *bank_ts.last().unwrap());
    // A timeout depends on the machine: replay-check does not expect it again.
    let out = crate::support::interstice(["replay-check".as_ref(), dir.path().as_os_str()]);
    crate::support::expect_ok(&out, "replay-check of a timed-out transaction");
}

/// The 17-second transaction: 3,000 read calls, each with a fresh
/// fuel budget. The budget now covers the whole transaction, read calls
/// included, so it ends with `Budget` naming `Limits::fuel`, and a write to
/// an unrelated module sent meanwhile commits before it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_calls_share_their_transactions_fuel_budget() {
    let dir = tempdir();
    let limits = Limits::default().with_fuel(20_000_000);
    let rt = open(dir.path(), limits).await;
    for m in ["t_inventory", "t_market", "bank"] {
        rt.load_module(wasm(m)).await.unwrap();
    }
    let spin = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.call("t_market", "spin_reads", vec![u(10_000_000)]).await })
    };
    open_account(&rt, "meanwhile", 1).await;
    let err = reducer_error(
        tokio::time::timeout(Duration::from_secs(120), spin)
            .await
            .expect("the read-calling transaction ends")
            .unwrap(),
    );
    assert_eq!(err.kind, ErrorKind::Budget, "{err}");
    assert!(err.message.contains("Limits::fuel = 20000000"), "{err}");
    rt.shutdown().await.unwrap();
    let entries = log_entries(dir.path());
    let logged = crate::support::commits(&entries);
    let bank = logged.iter().find(|c| c.module == "bank").unwrap().ts;
    let market = logged.iter().find(|c| c.module == "t_market").unwrap();
    assert!(bank < market.ts, "the unrelated write was not held back");
    // Each read call burns at least 100,000 fuel (one per round of `burn`),
    // so under one shared budget of 20M there can be fewer than 200 of
    // them (with a fresh budget per read call there were thousands).
    let reads = market
        .nondet
        .iter()
        .filter(|n| matches!(n, Nondet::ReadCall { .. }))
        .count();
    assert!(
        reads < 200,
        "{reads} read calls ran on a budget of 20M fuel"
    );
}

/// A read-calling transaction whose read calls take longer than the
/// wall-clock limit ends with `Timeout`, the time spent in (and waiting
/// for) its read calls included.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_calls_count_against_the_wall_clock_limit() {
    let dir = tempdir();
    let limits = Limits::default()
        .with_fuel(u64::MAX / 4)
        .with_tx_time(Duration::from_millis(500));
    let rt = open(dir.path(), limits).await;
    for m in ["t_inventory", "t_market"] {
        rt.load_module(wasm(m)).await.unwrap();
    }
    let err = reducer_error(
        rt.call("t_market", "spin_reads", vec![u(u64::MAX / 2)])
            .await,
    );
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("Limits::tx_time = 500ms"), "{err}");
    // The module is fine afterwards.
    rt.call("t_market", "list_item", vec![u(1)]).await.unwrap();
    rt.shutdown().await.unwrap();
}
