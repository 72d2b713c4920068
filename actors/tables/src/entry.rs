//! The row entry encoding: one stored row in a single allocation, ordered
//! and looked up by its memcomparable key.

use std::borrow::Borrow;
use std::cmp::Ordering;

/// One stored row in a single allocation: `[key length (LEB128)][memcomparable
/// key][row CBOR]`. Entries are ordered by their key alone, and borrow as
/// the key bytes (`Borrow<[u8]>` agrees with `Ord`), so the set is looked up
/// by key.
#[derive(Clone)]
pub(crate) struct Entry(Box<[u8]>);

impl Entry {
    pub(crate) fn new(key: &[u8], row: &[u8]) -> Self {
        let mut leb = [0u8; 10];
        let mut used = 0;
        let mut n = key.len();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                leb[used] = byte;
                used += 1;
                break;
            }
            leb[used] = byte | 0x80;
            used += 1;
        }
        // The exact size, so `into_boxed_slice` never reallocates.
        let mut buf = Vec::with_capacity(used + key.len() + row.len());
        buf.extend_from_slice(&leb[..used]);
        buf.extend_from_slice(key);
        buf.extend_from_slice(row);
        Entry(buf.into_boxed_slice())
    }

    /// Where the key starts and ends.
    #[inline]
    fn key_span(&self) -> (usize, usize) {
        // Keys shorter than 128 bytes (nearly all) have a one-byte length.
        if let Some(&b) = self.0.first() {
            if b & 0x80 == 0 {
                return (1, 1 + b as usize);
            }
        }
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 0;
        loop {
            let b = self.0[i];
            len |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        (i, i + len)
    }

    pub(crate) fn key(&self) -> &[u8] {
        let (a, b) = self.key_span();
        &self.0[a..b]
    }

    pub(crate) fn row(&self) -> &[u8] {
        &self.0[self.key_span().1..]
    }

    pub(crate) fn parts(&self) -> (&[u8], &[u8]) {
        let (a, b) = self.key_span();
        (&self.0[a..b], &self.0[b..])
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (k, r) = self.parts();
        f.debug_tuple("Entry").field(&k).field(&r).finish()
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_keys(self.key(), other.key())
    }
}

/// `a.cmp(b)`, with the common fixed-width keys (8 bytes: `u64`/`i64`;
/// 16 bytes: `u128`/`i128`) compared as big-endian integers: the same
/// order, without a `memcmp` call per B-tree comparison.
#[inline]
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    if let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(a), <[u8; 8]>::try_from(b)) {
        return u64::from_be_bytes(x).cmp(&u64::from_be_bytes(y));
    }
    if let (Ok(x), Ok(y)) = (<[u8; 16]>::try_from(a), <[u8; 16]>::try_from(b)) {
        return u128::from_be_bytes(x).cmp(&u128::from_be_bytes(y));
    }
    a.cmp(b)
}

impl Borrow<[u8]> for Entry {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}
