//! Unit tests of `hog`.

use super::*;

#[test]
fn spins_until_stopped() {
    let hog = Hog::start(2);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(hog.stop() > 0, "the hog threads did no work");
    assert_eq!(Hog::start(0).stop(), 0);
}
