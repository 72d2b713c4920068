//! Unit tests of `guest_log`.

use super::*;

#[test]
fn the_rate_admits_a_second_then_refills() {
    let mut rate = LogRate::default();
    assert!(rate.admit(600, 1000, "m"));
    assert!(rate.admit(400, 1000, "m"));
    assert!(!rate.admit(10, 1000, "m"), "the second's worth is used up");
    assert_eq!((rate.dropped_lines, rate.dropped_bytes), (1, 10));
    rate.refilled -= Duration::from_millis(100);
    assert!(rate.admit(90, 1000, "m"), "100 ms refill ~100 bytes");
}

#[test]
fn the_transaction_limit_counts_cut_lines() {
    let limits = Limits {
        log_line_bytes: 10,
        tx_log_bytes: 25,
        ..Limits::default()
    };
    let mut rate = LogRate::default();
    let mut used = 0;
    let long = [b'x'; 1000];
    write(abi::level::INFO, &long, "m", &limits, &mut used, &mut rate).unwrap();
    assert_eq!(used, 10, "a long line counts what is kept");
    write(abi::level::INFO, &long, "m", &limits, &mut used, &mut rate).unwrap();
    let e = write(abi::level::INFO, &long, "m", &limits, &mut used, &mut rate).unwrap_err();
    assert!(
        e.message.contains("Limits::tx_log_bytes = 25"),
        "{}",
        e.message
    );
}
