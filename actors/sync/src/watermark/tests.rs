//! Unit tests of `watermark`.

use super::*;
use std::sync::Arc;

fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn waiters_wake_when_covered() {
    let mark = Arc::new(Watermark::new(0));
    let m2 = mark.clone();
    let t = std::thread::spawn(move || block_on(m2.wait(5)));
    for ts in 1..=5 {
        mark.publish(ts);
    }
    assert_eq!(t.join().unwrap(), Ok(()));
    assert_eq!(mark.get(), 5);
    mark.publish(3);
    assert_eq!(mark.get(), 5, "never lowers");
}

#[test]
fn failure_wakes_everyone() {
    let mark = Arc::new(Watermark::new(2));
    let m2 = mark.clone();
    let t = std::thread::spawn(move || block_on(m2.wait(9)));
    mark.fail("disk full".into());
    assert_eq!(t.join().unwrap(), Err(WatermarkError("disk full".into())));
    // Already-covered timestamps still succeed.
    assert_eq!(block_on(mark.wait(2)), Ok(()));
}

#[test]
fn callbacks_run_once_in_any_order_of_events() {
    use std::sync::Mutex;
    let mark = Watermark::new(1);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let note = |tag: &'static str| {
        let seen = seen.clone();
        move |r: Result<(), WatermarkError>| seen.lock().unwrap().push((tag, r))
    };
    mark.on_reach(1, note("covered already"));
    mark.on_reach(3, note("at 3"));
    mark.on_reach(2, note("at 2"));
    mark.on_reach(9, note("never"));
    assert_eq!(seen.lock().unwrap().len(), 1, "only the covered one ran");
    mark.publish(3);
    mark.fail("disk full".into());
    mark.on_reach(10, note("after the failure"));
    mark.on_reach(3, note("covered before the failure"));
    let seen = seen.lock().unwrap();
    let fail = || Err(WatermarkError("disk full".into()));
    assert_eq!(
        *seen,
        vec![
            ("covered already", Ok(())),
            ("at 3", Ok(())),
            ("at 2", Ok(())),
            ("never", fail()),
            ("after the failure", fail()),
            ("covered before the failure", Ok(())),
        ]
    );
}
