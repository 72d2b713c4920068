//! The durability watermark and the futures that wait on it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering};

/// A monotonically increasing timestamp published by one thread (the
/// log-writer, after each fsync) and awaited by many (callers waiting to
/// acknowledge a commit). It can also fail for good (a storage fault), which
/// wakes every waiter with the failure.
#[derive(Debug)]
pub struct Watermark {
    value: AtomicU64,
    failed: AtomicBool,
    inner: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    list: Vec<(u64, Waker)>,
    failure: Option<String>,
}

/// Why a wait ended without reaching its timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkError(pub String);

impl std::fmt::Display for WatermarkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WatermarkError {}

impl Watermark {
    /// A watermark starting at `initial` (everything up to it is durable).
    pub fn new(initial: u64) -> Self {
        Self {
            value: AtomicU64::new(initial),
            failed: AtomicBool::new(false),
            inner: Mutex::new(Waiters::default()),
        }
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// The failure, if [`Watermark::fail`] was called.
    pub fn failure(&self) -> Option<WatermarkError> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        let w = self.inner.lock().expect("watermark lock poisoned");
        w.failure.clone().map(WatermarkError)
    }

    /// Raises the watermark to `ts` (never lowers it) and wakes every waiter
    /// whose timestamp is now covered. Must be called only after the data up
    /// to `ts` is durable.
    pub fn publish(&self, ts: u64) {
        if ts <= self.value.load(Ordering::Relaxed) {
            return;
        }
        // The value is stored before the waiter list is examined; a waiter
        // re-checks the value under the lock after registering, so either it
        // sees the new value or it is in the list we drain below.
        self.value.store(ts, Ordering::Release);
        let ready: Vec<Waker> = {
            let mut w = self.inner.lock().expect("watermark lock poisoned");
            let mut ready = Vec::new();
            w.list.retain(|(want, waker)| {
                if *want <= ts {
                    ready.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            ready
        };
        ready.into_iter().for_each(Waker::wake);
    }

    /// Fails the watermark for good: current and future waits for anything
    /// above the current value end with `reason`.
    pub fn fail(&self, reason: String) {
        let wakers: Vec<Waker> = {
            let mut w = self.inner.lock().expect("watermark lock poisoned");
            if w.failure.is_none() {
                w.failure = Some(reason);
            }
            self.failed.store(true, Ordering::Release);
            w.list.drain(..).map(|(_, waker)| waker).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A future that resolves once the watermark reaches `ts`, or fails.
    pub fn wait(&self, ts: u64) -> Wait<'_> {
        Wait { mark: self, ts }
    }

    fn poll_wait(&self, ts: u64, cx: &mut Context<'_>) -> Poll<Result<(), WatermarkError>> {
        if self.value.load(Ordering::Acquire) >= ts {
            return Poll::Ready(Ok(()));
        }
        let mut w = self.inner.lock().expect("watermark lock poisoned");
        if self.value.load(Ordering::Acquire) >= ts {
            return Poll::Ready(Ok(()));
        }
        if let Some(reason) = &w.failure {
            return Poll::Ready(Err(WatermarkError(reason.clone())));
        }
        match w.list.iter_mut().find(|(want, _)| *want == ts) {
            Some((_, waker)) if waker.will_wake(cx.waker()) => {}
            _ => w.list.push((ts, cx.waker().clone())),
        }
        Poll::Pending
    }
}

/// Future returned by [`Watermark::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    mark: &'a Watermark,
    ts: u64,
}

impl Future for Wait<'_> {
    type Output = Result<(), WatermarkError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.mark.poll_wait(self.ts, cx)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
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
}
