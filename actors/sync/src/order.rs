//! Commit ordering: gapless timestamps, taken when a transaction has
//! finished, validated against what it read, and released in order
//! (the protocol is described on [`CommitOrder`]).

use std::collections::BTreeMap;

use crate::sync::{AtomicU64, Mutex, Ordering};

/// One module's place in the timestamp order: the timestamp of its latest
/// allocated commit (0 for none). Written only by [`CommitOrder`], under its
/// allocation lock.
#[derive(Debug, Default)]
pub struct ModuleClock {
    last: AtomicU64,
}

impl ModuleClock {
    /// A clock whose latest commit is `last` (0: none yet).
    pub fn new(last: u64) -> Self {
        Self {
            last: AtomicU64::new(last),
        }
    }

    /// The timestamp of the module's latest allocated commit. What a read
    /// call records as the version of the state it saw, read on the
    /// module's own thread after it allocated everything it had finished.
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }
}

/// Allocates global logical timestamps and releases completed items in
/// timestamp order.
///
/// # The protocol
///
/// A transaction runs **without** a timestamp. When it has finished, its
/// module takes the next timestamp(s) with [`CommitOrder::allocate`]; a
/// module's finished transactions are numbered in the order they ran, and a
/// module takes timestamps for every transaction another module could have
/// seen before it answers that module (a read call). So:
///
/// - a slow or stuck transaction holds no timestamp, and delays no commit of
///   a module that does not wait for it (the sequencer releases entries in
///   timestamp order, and every allocated timestamp is completed at once);
/// - every commit a transaction saw in its own module's tables was numbered
///   before it (a module's transactions run one at a time).
///
/// A transaction that read another module `B` (a read call) also saw `B`'s
/// state as of [`ModuleClock::last`] of `B` at that moment: every commit of
/// `B` up to then already had its timestamp. It takes its own timestamp
/// with [`CommitOrder::allocate_validated`], which checks — atomically with
/// the allocation — that `B` has taken no timestamp since. If it has, a
/// commit of `B` the reader did not see would be ordered before the reader:
/// the allocation is refused ([`Stale`]) and the reader rolls back and runs
/// again. If it has not, every commit of `B` the reader did not see gets a
/// larger timestamp. Either way, the state before the reader's timestamp is
/// exactly the state it read: the log's timestamp order is a serial order
/// that explains every result.
///
/// # Completion
///
/// Every timestamp handed out by [`CommitOrder::allocate`] or
/// [`CommitOrder::allocate_validated`] must be passed to
/// [`CommitOrder::complete`] exactly once (an aborted transaction completes
/// with an abort record). Items are released to the sink in strictly
/// increasing, gapless timestamp order, while the internal lock is held, so
/// concurrent completers cannot interleave their releases.
#[derive(Debug)]
pub struct CommitOrder<T> {
    /// The next timestamp to hand out. Changed only under the lock, so
    /// that a validation and the allocation it allows are one step.
    next_alloc: Mutex<u64>,
    /// `next_alloc`, readable without the lock.
    allocated: AtomicU64,
    state: Mutex<Pending<T>>,
}

#[derive(Debug)]
struct Pending<T> {
    next_release: u64,
    waiting: BTreeMap<u64, T>,
}

/// Error from [`CommitOrder::complete`]: a timestamp that was never
/// allocated, or was completed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderViolation(pub u64);

/// Error from [`CommitOrder::allocate_validated`]: the observation at this
/// index is out of date (its module has taken a timestamp since). Nothing
/// was allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale(pub usize);

impl<T> CommitOrder<T> {
    /// Starts allocating at `first` (the timestamp after the last logged one).
    pub fn new(first: u64) -> Self {
        Self {
            next_alloc: Mutex::new(first),
            allocated: AtomicU64::new(first),
            state: Mutex::new(Pending {
                next_release: first,
                waiting: BTreeMap::new(),
            }),
        }
    }

    /// Takes `count ≥ 1` consecutive timestamps for commits of `module`, in
    /// the order they ran, and returns the first.
    pub fn allocate(&self, module: &ModuleClock, count: u64) -> u64 {
        match self.allocate_validated(module, count, std::iter::empty()) {
            Ok(first) => first,
            Err(_) => unreachable!("nothing to validate"),
        }
    }

    /// [`CommitOrder::allocate`] for a transaction that read other modules:
    /// each `(clock, last)` says it saw that module as of its commit at
    /// `last`. Allocates only if no such module has taken a timestamp
    /// since, checked under the same lock as the allocation.
    pub fn allocate_validated<'a>(
        &self,
        module: &ModuleClock,
        count: u64,
        observed: impl IntoIterator<Item = (&'a ModuleClock, u64)>,
    ) -> Result<u64, Stale> {
        assert!(count >= 1, "allocating no timestamp");
        let mut next = self.next_alloc.lock().expect("allocation lock poisoned");
        for (i, (clock, seen)) in observed.into_iter().enumerate() {
            if clock.last.load(Ordering::Acquire) != seen {
                return Err(Stale(i));
            }
        }
        let first = *next;
        *next = first + count;
        module.last.store(first + count - 1, Ordering::Release);
        self.allocated.store(first + count, Ordering::Release);
        Ok(first)
    }

    /// The timestamp the next allocation would return.
    pub fn peek_next(&self) -> u64 {
        self.allocated.load(Ordering::Acquire)
    }

    /// Hands back the item for `ts`, then releases every item that is now
    /// contiguous to `sink`, in order. Returns how many were released.
    pub fn complete(
        &self,
        ts: u64,
        item: T,
        mut sink: impl FnMut(u64, T),
    ) -> Result<usize, OrderViolation> {
        let mut st = self.state.lock().expect("commit order lock poisoned");
        if ts < st.next_release || ts >= self.allocated.load(Ordering::Acquire) {
            return Err(OrderViolation(ts));
        }
        if st.waiting.insert(ts, item).is_some() {
            return Err(OrderViolation(ts));
        }
        let mut released = 0;
        loop {
            let next = st.next_release;
            match st.waiting.remove(&next) {
                Some(item) => {
                    st.next_release = next + 1;
                    released += 1;
                    sink(next, item);
                }
                None => break,
            }
        }
        Ok(released)
    }

    /// Number of completed items still waiting for an earlier timestamp.
    pub fn waiting(&self) -> usize {
        self.state
            .lock()
            .expect("commit order lock poisoned")
            .waiting
            .len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
