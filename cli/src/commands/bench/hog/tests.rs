//! Unit tests of `hog`.

use super::*;

#[test]
fn spins_until_stopped() {
    let hog = Hog::start(2);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(hog.stop() > 0, "the hog threads did no work");
    assert_eq!(Hog::start(0).stop(), 0);
}

#[test]
fn a_hog_is_running_when_start_returns_and_a_long_round_is_checked() {
    // The barrier: every thread is past it when `start` returns, so even
    // a stop right away finds them started (and spinning soon after).
    let hog = Hog::start(2);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(hog.stop_checked("test", CHECKED_ROUND).unwrap() > 0);
    // No threads: nothing to check, whatever the round.
    assert_eq!(
        Hog::start(0).stop_checked("test", CHECKED_ROUND).unwrap(),
        0
    );
}
