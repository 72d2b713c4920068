//! Commit ordering: gapless timestamps, released in order.

use std::collections::BTreeMap;

use crate::sync::{AtomicU64, Mutex, Ordering};

/// Allocates global logical timestamps and releases completed items in
/// timestamp order.
///
/// Every timestamp handed out by [`CommitOrder::allocate`] must be passed to
/// [`CommitOrder::complete`] exactly once (an aborted transaction completes
/// with an abort record). Items are released to the sink in strictly
/// increasing, gapless timestamp order, while the internal lock is held, so
/// concurrent completers cannot interleave their releases.
#[derive(Debug)]
pub struct CommitOrder<T> {
    next_alloc: AtomicU64,
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

impl<T> CommitOrder<T> {
    /// Starts allocating at `first` (the timestamp after the last logged one).
    pub fn new(first: u64) -> Self {
        Self {
            next_alloc: AtomicU64::new(first),
            state: Mutex::new(Pending {
                next_release: first,
                waiting: BTreeMap::new(),
            }),
        }
    }

    /// The next timestamp. Lock-free; callable from any thread.
    pub fn allocate(&self) -> u64 {
        self.next_alloc.fetch_add(1, Ordering::Relaxed)
    }

    /// The timestamp the next [`CommitOrder::allocate`] would return.
    pub fn peek_next(&self) -> u64 {
        self.next_alloc.load(Ordering::Relaxed)
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
        if ts < st.next_release || ts >= self.next_alloc.load(Ordering::Relaxed) {
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
mod tests {
    use super::*;

    #[test]
    fn releases_in_order_without_gaps() {
        let order = CommitOrder::new(1);
        let ts: Vec<u64> = (0..5).map(|_| order.allocate()).collect();
        assert_eq!(ts, vec![1, 2, 3, 4, 5]);
        let mut out = Vec::new();
        for t in [3, 1, 5, 2, 4] {
            order
                .complete(t, t * 10, |ts, v| out.push((ts, v)))
                .unwrap();
        }
        assert_eq!(out, vec![(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]);
        assert_eq!(order.waiting(), 0);
    }

    #[test]
    fn duplicates_and_unallocated_are_refused() {
        let order = CommitOrder::new(7);
        let a = order.allocate();
        let b = order.allocate();
        order.complete(b, (), |_, _| {}).unwrap();
        assert_eq!(order.complete(b, (), |_, _| {}), Err(OrderViolation(b)));
        assert_eq!(order.complete(99, (), |_, _| {}), Err(OrderViolation(99)));
        assert_eq!(order.complete(a, (), |_, _| {}).unwrap(), 2);
        assert_eq!(order.complete(a, (), |_, _| {}), Err(OrderViolation(a)));
    }
}
