//! loom models of the concurrent core. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p interstice-sync --release --test loom`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use interstice_sync::{CommitOrder, Watermark};

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
                    for _ in 0..2 {
                        let ts = order.allocate();
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
        let a = order.allocate();
        let b = order.allocate();
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
