//! Unit tests of `report`.

use super::*;

#[test]
fn figures() {
    assert_eq!(human(1_234_567.8), "1,234,568");
    assert_eq!(human(999.0), "999");
    assert_eq!(human(1000.0), "1,000");
    assert_eq!(human(1.5), "1.50");
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    let mut l = vec![Duration::from_micros(3), Duration::from_micros(1)];
    let row = Row::new("x", Role::Interstice, "op/s", vec![1.0], Some(&mut l), "");
    assert_eq!(row.p50_us, Some(3.0));
    assert!(Ratio::of("a", 2.0, 1.0).at_least(1.5).met.unwrap());
    assert!(!Ratio::of("a", 2.0, 1.0).at_most(1.5).met.unwrap());
}
