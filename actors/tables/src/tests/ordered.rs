//! The packed form of an ordered index (`index/ordered.rs`) answers every
//! range exactly as a set of the entries' bytes does, for bounds of any
//! length: shorter (key prefixes), equal, and longer (successors, a
//! cursor's entry with a longer key).

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::index::Ordered;
use crate::tests::Rng;

/// A random byte string of `len` bytes over a small alphabet, so that
/// prefixes and equal values are common.
fn bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][rng.below(6) as usize])
        .collect()
}

fn bound(rng: &mut Rng, max_len: usize) -> Bound<Vec<u8>> {
    let len = rng.below(max_len as u64 + 3) as usize;
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(bytes(rng, len)),
        _ => Bound::Excluded(bytes(rng, len)),
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(v) => Bound::Included(v),
        Bound::Excluded(v) => Bound::Excluded(v),
    }
}

/// What a range admits, by comparing bytes directly.
fn admits(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>, e: &[u8]) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(b) => e >= b.as_slice(),
        Bound::Excluded(b) => e > b.as_slice(),
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(b) => e <= b.as_slice(),
        Bound::Excluded(b) => e < b.as_slice(),
    };
    above && below
}

#[test]
fn packed_entries_answer_every_range_like_their_bytes() {
    let mut rng = Rng(7);
    for len in [1usize, 3, 8, 16] {
        let mut packed = Ordered::new(Some(len));
        let mut boxed = Ordered::new(None);
        let mut model = BTreeSet::new();
        assert!(matches!(packed, Ordered::Packed { .. }));
        for step in 0..3000 {
            let e = bytes(&mut rng, len);
            if rng.below(4) == 0 {
                packed.remove(&e);
                boxed.remove(&e);
                model.remove(&e);
            } else {
                packed.insert(&e);
                boxed.insert(&e);
                model.insert(e);
            }
            assert_eq!(packed.len(), model.len());
            if step % 10 != 0 {
                continue;
            }
            let (lo, hi) = (bound(&mut rng, len), bound(&mut rng, len));
            let want: Vec<&[u8]> = model
                .iter()
                .map(Vec::as_slice)
                .filter(|e| admits(&lo, &hi, e))
                .collect();
            for set in [&packed, &boxed] {
                let got: Vec<Vec<u8>> = set
                    .range(as_ref(&lo), as_ref(&hi))
                    .map(|e| e.to_vec())
                    .collect();
                assert_eq!(got, want, "len {len}, range {lo:?} .. {hi:?}");
            }
        }
        let all: Vec<Vec<u8>> = packed.iter().map(|e| e.to_vec()).collect();
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn only_entries_of_a_fixed_length_up_to_16_bytes_are_packed() {
    assert!(matches!(
        Ordered::new(Some(16)),
        Ordered::Packed { len: 16, .. }
    ));
    assert!(matches!(Ordered::new(Some(17)), Ordered::Boxed(_)));
    assert!(matches!(Ordered::new(Some(0)), Ordered::Boxed(_)));
    assert!(matches!(Ordered::new(None), Ordered::Boxed(_)));
}
