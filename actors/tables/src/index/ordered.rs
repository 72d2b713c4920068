//! The entries of an ordered index (`btree`, `unique`): byte strings
//! `index key ‖ primary key`, kept in byte order.
//!
//! When every entry has the same length of at most 16 bytes (fixed-width
//! indexed columns over a fixed-width primary key: a `u64` index of a
//! table keyed by `u64` makes 16), an entry is held inline as a `u128`,
//! its bytes big-endian and zero-padded on the right, which orders such
//! entries exactly as their bytes. That saves the heap allocation of each
//! entry (a 16-byte pointer in the B-tree node plus a 32-byte block for
//! 16 bytes of key) and the pointer chase on every comparison of a
//! lookup. Other indexes hold each entry as a boxed byte string.
//!
//! Queries bound a range with byte strings of any length (a prefix of the
//! key, its successor, a cursor's last entry), so [`Ordered::range`]
//! translates such bounds to the packed entries' order (`packed_bound`).

use std::collections::BTreeSet;
use std::ops::{Bound, Deref};

/// The entries of one ordered index.
#[derive(Debug, Clone)]
pub(crate) enum Ordered {
    /// Every entry is `len` bytes (at most 16), packed by `pack`.
    Packed { len: usize, set: BTreeSet<u128> },
    /// Entries of any length.
    Boxed(BTreeSet<Box<[u8]>>),
}

/// One entry read out of an index: borrowed, or unpacked onto the stack.
pub(crate) enum EntryBytes<'a> {
    Borrowed(&'a [u8]),
    Unpacked { bytes: [u8; 16], len: usize },
}

impl Deref for EntryBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            EntryBytes::Borrowed(b) => b,
            EntryBytes::Unpacked { bytes, len } => &bytes[..*len],
        }
    }
}

/// `bytes` (at most 16) big-endian, zero-padded on the right.
fn pack(bytes: &[u8]) -> u128 {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    u128::from_be_bytes(buf)
}

/// A lower (`lower = true`) or upper bound given as a byte string of any
/// length, as a bound on the packed entries of `len` bytes that admits
/// exactly the entries the byte bound admits.
///
/// A bound `b` shorter than `len` sits just before every entry that has
/// it as a prefix (an entry with prefix `b` is greater than `b`), so both
/// an inclusive and an exclusive lower bound admit the entries from
/// `b ‖ 0…` on, and an upper bound admits those before it. A bound longer
/// than `len` sits just after the entry `b[..len]`.
fn packed_bound(bound: Bound<&[u8]>, len: usize, lower: bool) -> Bound<u128> {
    match bound {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(b) | Bound::Excluded(b) if b.len() != len => {
            let shorter = b.len() < len;
            let at = pack(&b[..b.len().min(len)]);
            match (shorter, lower) {
                (true, true) => Bound::Included(at),
                (true, false) => Bound::Excluded(at),
                (false, true) => Bound::Excluded(at),
                (false, false) => Bound::Included(at),
            }
        }
        Bound::Included(b) => Bound::Included(pack(b)),
        Bound::Excluded(b) => Bound::Excluded(pack(b)),
    }
}

/// True when no value lies between `lo` and `hi` (`BTreeSet::range`
/// panics on an inverted range).
fn is_empty<T: Ord>(lo: &Bound<T>, hi: &Bound<T>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    }
}

/// The entries of a range, in order.
pub(crate) enum Range<'a> {
    Packed {
        len: usize,
        inner: std::collections::btree_set::Range<'a, u128>,
    },
    Boxed(std::collections::btree_set::Range<'a, Box<[u8]>>),
    Empty,
}

impl<'a> Iterator for Range<'a> {
    type Item = EntryBytes<'a>;

    fn next(&mut self) -> Option<EntryBytes<'a>> {
        match self {
            Range::Packed { len, inner } => inner.next().map(|v| EntryBytes::Unpacked {
                bytes: v.to_be_bytes(),
                len: *len,
            }),
            Range::Boxed(inner) => inner.next().map(|e| EntryBytes::Borrowed(e)),
            Range::Empty => None,
        }
    }
}

impl Ordered {
    /// An empty set; `fixed_len` is the length every entry will have, if
    /// the index's and the primary key's types fix it.
    pub(crate) fn new(fixed_len: Option<usize>) -> Self {
        match fixed_len {
            Some(len) if (1..=16).contains(&len) => Ordered::Packed {
                len,
                set: BTreeSet::new(),
            },
            _ => Ordered::Boxed(BTreeSet::new()),
        }
    }

    /// Adds an entry.
    pub(crate) fn insert(&mut self, entry: &[u8]) {
        match self {
            Ordered::Packed { len, set } => {
                debug_assert_eq!(entry.len(), *len, "a packed index entry of another length");
                set.insert(pack(entry));
            }
            Ordered::Boxed(set) => {
                set.insert(entry.into());
            }
        }
    }

    /// Removes an entry.
    pub(crate) fn remove(&mut self, entry: &[u8]) {
        match self {
            Ordered::Packed { len, set } => {
                if entry.len() == *len {
                    set.remove(&pack(entry));
                }
            }
            Ordered::Boxed(set) => {
                set.remove(entry);
            }
        }
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        match self {
            Ordered::Packed { set, .. } => set.clear(),
            Ordered::Boxed(set) => set.clear(),
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Ordered::Packed { set, .. } => set.len(),
            Ordered::Boxed(set) => set.len(),
        }
    }

    /// The entries between two byte-string bounds (any length), in order;
    /// nothing when the bounds are inverted.
    pub(crate) fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Range<'_> {
        match self {
            Ordered::Packed { len, set } => {
                let lo = packed_bound(lo, *len, true);
                let hi = packed_bound(hi, *len, false);
                if is_empty(&lo, &hi) {
                    return Range::Empty;
                }
                Range::Packed {
                    len: *len,
                    inner: set.range((lo, hi)),
                }
            }
            Ordered::Boxed(set) => {
                if is_empty(&lo, &hi) {
                    return Range::Empty;
                }
                Range::Boxed(set.range::<[u8], _>((lo, hi)))
            }
        }
    }

    /// Every entry, in order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> Range<'_> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }
}
