//! Unit tests of `order`.

use super::*;

#[test]
fn releases_in_order_without_gaps() {
    let order = CommitOrder::new(1);
    let m = ModuleClock::default();
    let ts: Vec<u64> = (0..5).map(|_| order.allocate(&m, 1)).collect();
    assert_eq!(ts, vec![1, 2, 3, 4, 5]);
    assert_eq!(m.last(), 5);
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
    let m = ModuleClock::default();
    let a = order.allocate(&m, 1);
    let b = order.allocate(&m, 1);
    order.complete(b, (), |_, _| {}).unwrap();
    assert_eq!(order.complete(b, (), |_, _| {}), Err(OrderViolation(b)));
    assert_eq!(order.complete(99, (), |_, _| {}), Err(OrderViolation(99)));
    assert_eq!(order.complete(a, (), |_, _| {}).unwrap(), 2);
    assert_eq!(order.complete(a, (), |_, _| {}), Err(OrderViolation(a)));
}

#[test]
fn a_run_of_timestamps_is_consecutive() {
    let order: CommitOrder<()> = CommitOrder::new(3);
    let (a, b) = (ModuleClock::default(), ModuleClock::default());
    assert_eq!(order.allocate(&a, 4), 3);
    assert_eq!(a.last(), 6);
    assert_eq!(order.allocate(&b, 1), 7);
    assert_eq!(order.peek_next(), 8);
}

#[test]
fn validation_refuses_a_module_that_moved_on() {
    let order: CommitOrder<()> = CommitOrder::new(1);
    let (reader, source) = (ModuleClock::default(), ModuleClock::default());
    order.allocate(&source, 1);
    let seen = source.last();
    assert_eq!(
        order.allocate_validated(&reader, 1, [(&source, seen)]),
        Ok(2)
    );
    order.allocate(&source, 1);
    assert_eq!(
        order.allocate_validated(&reader, 1, [(&reader, 2), (&source, seen)]),
        Err(Stale(1))
    );
    assert_eq!(order.peek_next(), 4, "a refused allocation takes nothing");
    assert_eq!(reader.last(), 2);
}
