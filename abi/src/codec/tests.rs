//! Unit tests of `codec`.

use super::*;

#[test]
fn encodings_match_the_type_model() {
    fn check<T: IntersticeType + PartialEq + std::fmt::Debug>(v: T) {
        let b = v.to_bytes();
        T::ty().validate_exact(&b).unwrap();
        assert_eq!(T::from_bytes(&b).unwrap(), v);
    }
    check(5u8);
    check(-70000i32);
    check(u128::MAX);
    check(i128::MIN);
    check(Some("x".to_string()));
    check(None::<u64>);
    check(vec![(1u32, true), (2, false)]);
    check(Bytes(vec![1, 2, 3]));
    check(1.5f64);
}

#[test]
fn out_of_range_is_an_error() {
    let b = 300u64.to_bytes();
    assert!(u8::from_bytes(&b).is_err());
}
