//! Unit tests of `rng`.

use super::*;

#[test]
fn seeded_stream_is_deterministic_and_shared() {
    let state = RefCell::new(Some(ChaCha8Rng::from_seed([7; 32])));
    let a = {
        let mut r = ContextRng::new(&state);
        [r.next_u64(), r.next_u64()]
    };
    // A second handle continues the same stream.
    let c = ContextRng::new(&state).next_u64();
    let mut fresh = ChaCha8Rng::from_seed([7; 32]);
    assert_eq!(a, [fresh.next_u64(), fresh.next_u64()]);
    assert_eq!(c, fresh.next_u64());
}

#[test]
fn below_is_in_range() {
    let state = RefCell::new(Some(ChaCha8Rng::from_seed([1; 32])));
    let mut r = ContextRng::new(&state);
    for n in [1u64, 2, 3, 10, 1 << 40, u64::MAX] {
        for _ in 0..100 {
            assert!(r.below(n) < n);
        }
    }
    for _ in 0..100 {
        let x = r.unit_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
