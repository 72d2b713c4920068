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
    list: Vec<(u64, Waiter)>,
    failure: Option<String>,
}

/// What to do once the watermark reaches a timestamp (or fails).
enum Waiter {
    /// A task polling [`Wait`]: wake it so it polls again.
    Task(Waker),
    /// A callback registered with [`Watermark::on_reach`]: run it.
    Callback(Callback),
}

type Callback = Box<dyn FnOnce(Result<(), WatermarkError>) + Send>;

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Task(w) => f.debug_tuple("Task").field(w).finish(),
            Self::Callback(_) => f.write_str("Callback"),
        }
    }
}

impl Waiter {
    /// Runs it with `outcome` (a task only needs waking: it polls again and
    /// finds the outcome itself).
    fn fire(self, outcome: &Result<(), WatermarkError>) {
        match self {
            Self::Task(w) => w.wake(),
            Self::Callback(f) => f(outcome.clone()),
        }
    }
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
        let ready: Vec<Waiter> = {
            let mut w = self.inner.lock().expect("watermark lock poisoned");
            if w.list.iter().all(|(want, _)| *want > ts) {
                return;
            }
            let (ready, waiting) = std::mem::take(&mut w.list)
                .into_iter()
                .partition(|(want, _)| *want <= ts);
            w.list = waiting;
            ready.into_iter().map(|(_, waiter)| waiter).collect()
        };
        // Outside the lock: a callback may do anything, even register again.
        ready.into_iter().for_each(|w| w.fire(&Ok(())));
    }

    /// Fails the watermark for good: current and future waits for anything
    /// above the current value end with `reason`.
    pub fn fail(&self, reason: String) {
        let (waiters, reason): (Vec<Waiter>, String) = {
            let mut w = self.inner.lock().expect("watermark lock poisoned");
            let reason = w.failure.get_or_insert(reason).clone();
            self.failed.store(true, Ordering::Release);
            (w.list.drain(..).map(|(_, waiter)| waiter).collect(), reason)
        };
        let outcome = Err(WatermarkError(reason));
        waiters.into_iter().for_each(|w| w.fire(&outcome));
    }

    /// Runs `then` once the watermark reaches `ts` (with `Ok`) or fails
    /// first (with the failure): at once on this thread if either has
    /// already happened, otherwise on the thread that publishes or fails.
    ///
    /// This is [`Watermark::wait`] for code that is not a task: the module
    /// actors use it to answer a caller only once its commit is durable, so
    /// the caller is woken once instead of twice.
    pub fn on_reach(
        &self,
        ts: u64,
        then: impl FnOnce(Result<(), WatermarkError>) + Send + 'static,
    ) {
        if self.value.load(Ordering::Acquire) >= ts {
            return then(Ok(()));
        }
        let mut w = self.inner.lock().expect("watermark lock poisoned");
        // Re-checked under the lock: `publish` stores the value before it
        // takes the lock, so either we see it here or it sees our entry.
        if self.value.load(Ordering::Acquire) >= ts {
            drop(w);
            return then(Ok(()));
        }
        if let Some(reason) = w.failure.clone() {
            drop(w);
            return then(Err(WatermarkError(reason)));
        }
        w.list.push((ts, Waiter::Callback(Box::new(then))));
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
        let registered = w.list.iter().any(|(want, waiter)| {
            *want == ts && matches!(waiter, Waiter::Task(k) if k.will_wake(cx.waker()))
        });
        if !registered {
            w.list.push((ts, Waiter::Task(cx.waker().clone())));
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
mod tests;
