//! Unit tests of `guest_log`.

use super::*;

const M: At<'static> = At {
    module: "m",
    reducer: "r",
    ts: None,
};

#[test]
fn the_rate_admits_a_second_then_refills() {
    let mut rate = LogRate::default();
    assert!(rate.admit(600, 1000, M));
    assert!(rate.admit(400, 1000, M));
    assert!(!rate.admit(10, 1000, M), "the second's worth is used up");
    assert_eq!((rate.dropped_lines, rate.dropped_bytes), (1, 10));
    rate.refilled -= Duration::from_millis(100);
    assert!(rate.admit(90, 1000, M), "100 ms refill ~100 bytes");
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
    let mut lines = Vec::new();
    let long = [b'x'; 1000];
    let mut log = |used: &mut u64| {
        write(
            abi::level::INFO,
            &long,
            M,
            &limits,
            used,
            &mut rate,
            &mut lines,
        )
    };
    log(&mut used).unwrap();
    assert_eq!(used, 10, "a long line counts what is kept");
    log(&mut used).unwrap();
    let e = log(&mut used).unwrap_err();
    assert!(
        e.message.contains("Limits::tx_log_bytes = 25"),
        "{}",
        e.message
    );
}

#[test]
fn lines_are_kept_for_the_module_logs_with_their_level_and_cut_note() {
    let limits = Limits {
        log_line_bytes: 4,
        ..Limits::default()
    };
    let mut rate = LogRate::default();
    let (mut used, mut lines) = (0, Vec::new());
    for (level, text) in [
        (abi::level::WARN, &b"hello"[..]),
        (abi::level::DEBUG, b"ok"),
    ] {
        write(level, text, M, &limits, &mut used, &mut rate, &mut lines).unwrap();
    }
    let line = |level, text: &str| GuestLine {
        level,
        text: text.into(),
    };
    assert_eq!(
        lines,
        [
            line(
                "warn",
                "hell… (cut: 5 bytes, over Limits::log_line_bytes = 4)"
            ),
            line("debug", "ok"),
        ]
    );
}
