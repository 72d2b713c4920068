//! loom models of the concurrent core. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p interstice-sync --release --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use interstice_sync::{CommitOrder, ModuleClock, Watermark};

/// Two module threads allocate timestamps and complete them concurrently,
/// in whatever order the scheduler picks. Whatever the interleaving, the
/// released sequence is exactly 1, 2, 3, 4: gapless, increasing, no duplicate.
#[test]
fn commit_order_is_gapless_and_increasing() {
    loom::model(|| {
        let order = Arc::new(CommitOrder::new(1));
        let released = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let order = order.clone();
                let released = released.clone();
                thread::spawn(move || {
                    let clock = ModuleClock::default();
                    for _ in 0..2 {
                        let ts = order.allocate(&clock, 1);
                        order
                            .complete(ts, ts, |t, item| {
                                assert_eq!(t, item);
                                released.lock().unwrap().push(t);
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*released.lock().unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(order.waiting(), 0);
    });
}

/// Trigger ordering: a source commit's triggers are emitted by whichever
/// thread releases it, and the router must see them in source-timestamp
/// order even though the source commits complete out of order.
#[test]
fn triggers_follow_source_order() {
    loom::model(|| {
        let order = Arc::new(CommitOrder::new(10));
        let clock = ModuleClock::default();
        let a = order.allocate(&clock, 1);
        let b = order.allocate(&clock, 1);
        let router = Arc::new(Mutex::new(Vec::new()));
        let spawn = |ts: u64| {
            let order = order.clone();
            let router = router.clone();
            thread::spawn(move || {
                // Each source commit carries two triggers, tagged with its ts.
                order
                    .complete(ts, [(ts, 0), (ts, 1)], |_, triggers| {
                        router.lock().unwrap().extend(triggers);
                    })
                    .unwrap();
            })
        };
        let hb = spawn(b);
        let ha = spawn(a);
        ha.join().unwrap();
        hb.join().unwrap();
        assert_eq!(
            *router.lock().unwrap(),
            vec![(10, 0), (10, 1), (11, 0), (11, 1)]
        );
    });
}

/// The durability watermark: the log-writer thread "writes" commits, then
/// "fsyncs" (records what is on disk), then publishes. A caller thread
/// acknowledges a commit as soon as its wait on the watermark completes.
/// In every interleaving, what was acknowledged is covered by an fsync that
/// happened before the acknowledgement.
#[test]
fn no_ack_before_the_fsync_that_covers_it() {
    loom::model(|| {
        let mark = Arc::new(Watermark::new(0));
        let synced = Arc::new(AtomicU64::new(0));
        let writer = {
            let mark = mark.clone();
            let synced = synced.clone();
            thread::spawn(move || {
                for ts in 1..=2 {
                    // write(ts) — not yet durable.
                    // fsync: everything written so far is now on disk.
                    synced.store(ts, Ordering::SeqCst);
                    mark.publish(ts);
                }
            })
        };
        let caller = {
            let mark = mark.clone();
            let synced = synced.clone();
            thread::spawn(move || {
                loom::future::block_on(mark.wait(2)).unwrap();
                // The acknowledgement happens here.
                assert!(synced.load(Ordering::SeqCst) >= 2, "acked before fsync");
            })
        };
        writer.join().unwrap();
        caller.join().unwrap();
    });
}

/// A storage fault while a caller waits: the caller is woken with the
/// failure (never left hanging, never told "durable").
#[test]
fn a_failed_fsync_is_never_acknowledged() {
    loom::model(|| {
        let mark = Arc::new(Watermark::new(0));
        let writer = {
            let mark = mark.clone();
            thread::spawn(move || {
                mark.publish(1);
                // fsync of ts 2 fails.
                mark.fail("fsync failed".into());
            })
        };
        let caller = {
            let mark = mark.clone();
            thread::spawn(move || loom::future::block_on(mark.wait(2)))
        };
        writer.join().unwrap();
        let res = caller.join().unwrap();
        assert!(res.is_err(), "ts 2 was never synced but was acknowledged");
        assert_eq!(mark.get(), 1);
    });
}

/// `on_reach` racing with `publish` and `fail`: the callback runs exactly
/// once, and says `Ok` only if an fsync covering its timestamp happened
/// before it ran (the module actors answer callers this way).
#[test]
fn a_callback_runs_once_and_only_after_its_fsync() {
    loom::model(|| {
        let mark = Arc::new(Watermark::new(0));
        let synced = Arc::new(AtomicU64::new(0));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let mark = mark.clone();
            let synced = synced.clone();
            thread::spawn(move || {
                synced.store(1, Ordering::SeqCst);
                mark.publish(1);
                mark.fail("fsync of 2 failed".into());
            })
        };
        let module = {
            let mark = mark.clone();
            let synced = synced.clone();
            let runs = runs.clone();
            thread::spawn(move || {
                for ts in 1..=2 {
                    let synced = synced.clone();
                    let runs = runs.clone();
                    mark.on_reach(ts, move |r| {
                        if r.is_ok() {
                            assert!(synced.load(Ordering::SeqCst) >= ts, "acked before fsync");
                        }
                        runs.lock().unwrap().push((ts, r.is_ok()));
                    });
                }
            })
        };
        writer.join().unwrap();
        module.join().unwrap();
        let mut runs = runs.lock().unwrap().clone();
        runs.sort();
        // ts 1 was synced before the failure; ts 2 never was.
        assert_eq!(runs, vec![(1, true), (2, false)], "each callback runs once");
    });
}

/// A read call under the commit protocol (`interstice_sync::CommitOrder`):
/// module B's actor commits twice (each time: run the transaction, then,
/// later, take its timestamp); module A's write transaction read-calls B
/// (B's actor takes timestamps for everything it finished before answering,
/// then answers with its state and its clock) and then takes its own
/// timestamp, validated against what it read, running again if B moved on.
/// In every interleaving A commits, and the value it read is exactly B's
/// state after B's commits with smaller timestamps: the log's order
/// explains the read. And the timestamps are gapless.
#[test]
fn a_read_call_is_explained_by_the_commits_before_the_reader() {
    struct ActorB {
        value: u64,
        /// Finished transactions without a timestamp yet.
        unnumbered: u64,
        /// `(ts, value after the commit)`.
        commits: Vec<(u64, u64)>,
    }
    fn number(order: &CommitOrder<()>, clock: &ModuleClock, b: &mut ActorB) {
        if b.unnumbered == 0 {
            return;
        }
        let first = order.allocate(clock, b.unnumbered);
        for i in 0..b.unnumbered {
            let value = b.value - b.unnumbered + 1 + i;
            b.commits.push((first + i, value));
            order.complete(first + i, (), |_, _| {}).unwrap();
        }
        b.unnumbered = 0;
    }
    loom::model(|| {
        let order = Arc::new(CommitOrder::<()>::new(1));
        let clock_b = Arc::new(ModuleClock::default());
        let b = Arc::new(Mutex::new(ActorB {
            value: 0,
            unnumbered: 0,
            commits: Vec::new(),
        }));
        let writer = {
            let (order, clock_b, b) = (order.clone(), clock_b.clone(), b.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    {
                        let mut s = b.lock().unwrap();
                        s.value += 1;
                        s.unnumbered += 1;
                    }
                    let mut s = b.lock().unwrap();
                    number(&order, &clock_b, &mut s);
                }
            })
        };
        let reader = {
            let (order, clock_b, b) = (order.clone(), clock_b.clone(), b.clone());
            thread::spawn(move || {
                let clock_a = ModuleClock::default();
                // B can move on at most twice, so the third attempt holds.
                for _ in 0..3 {
                    let (seen, version) = {
                        let mut s = b.lock().unwrap();
                        number(&order, &clock_b, &mut s);
                        (s.value, clock_b.last())
                    };
                    if let Ok(ts) = order.allocate_validated(&clock_a, 1, [(&*clock_b, version)]) {
                        order.complete(ts, (), |_, _| {}).unwrap();
                        return Some((ts, seen));
                    }
                }
                None
            })
        };
        writer.join().unwrap();
        let (ts, seen) = reader.join().unwrap().expect("the reader commits");
        let b = b.lock().unwrap();
        let before = b
            .commits
            .iter()
            .filter(|(t, _)| *t < ts)
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(0);
        assert_eq!(
            seen, before,
            "read {seen} at ts {ts}; B's commits: {:?}",
            b.commits
        );
        let mut all: Vec<u64> = b.commits.iter().map(|(t, _)| *t).chain([ts]).collect();
        all.sort();
        assert_eq!(all, vec![1, 2, 3], "gapless");
        assert_eq!(order.waiting(), 0);
    });
}

/// The write gate: a storage fault and a read-only open race to close it
/// while a writer checks it twice. Exactly one close wins; a writer that
/// once saw the gate closed keeps seeing the same refusal, the winner's.
#[test]
fn the_first_refusal_closes_the_write_gate_for_good() {
    use interstice_sync::{Refusal, WriteGate};
    loom::model(|| {
        let gate = Arc::new(WriteGate::new());
        let closer = |refusal: Refusal| {
            let gate = gate.clone();
            thread::spawn(move || gate.close(refusal).then_some(refusal_of(&gate)))
        };
        fn refusal_of(gate: &WriteGate) -> Refusal {
            gate.refusal().expect("closed")
        }
        let fault = closer(Refusal::StorageFault("fsync failed".into()));
        let read_only = closer(Refusal::ReadOnly("stop_at".into()));
        let writer = {
            let gate = gate.clone();
            thread::spawn(move || (gate.refusal(), gate.refusal()))
        };
        let won: Vec<Refusal> = [fault, read_only]
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(won.len(), 1, "exactly one close wins");
        let (first, second) = writer.join().unwrap();
        if let Some(seen) = &first {
            assert_eq!(Some(seen), second.as_ref(), "a refusal never changes");
            assert_eq!(seen, &won[0]);
        }
        if let Some(seen) = &second {
            assert_eq!(seen, &won[0]);
        }
        assert_eq!(gate.refusal().as_ref(), Some(&won[0]));
    });
}
