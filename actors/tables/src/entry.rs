//! The row entry encoding: one stored row in a single allocation, ordered
//! and looked up by its memcomparable key.
//!
//! A row store's B-tree holds 16-byte elements ([`Entry`]): the key's
//! first eight bytes inline (an abbreviated key) and a thin pointer to the
//! allocation holding the row (and the rest of a key longer than eight
//! bytes). Most comparisons of a lookup are decided by the inline
//! prefixes, in the B-tree node itself, without following the pointer: a
//! lookup in a large table touches the nodes on its path and one row,
//! rather than one row allocation per comparison. A key of at most eight
//! bytes (every integer key up to `u64`) lives in the prefix alone, so its
//! row's allocation holds two length bytes and the row. Lookups go through
//! a [`Head`] of the same shape built over the searched key
//! ([`with_probe`]).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ptr::NonNull;

/// What an [`Entry`] is ordered by: the key's first eight bytes
/// (zero-padded) and a pointer to
/// `[payload length (LEB128)][key length (LEB128)][key, if longer than 8
/// bytes][row]`, where the payload is everything after its own length.
///
/// Prefixes order keys consistently with their bytes (a key that is a
/// byte prefix of another pads with zeros, so it never compares greater),
/// and equal prefixes fall back to the whole keys.
pub(crate) struct Head {
    prefix: [u8; 8],
    ptr: NonNull<u8>,
}

/// One stored row in a single allocation, owned (a [`Head`] that frees its
/// allocation). Entries are ordered by their key alone, and borrow as
/// their [`Head`], so the set is looked up by key ([`with_probe`]).
#[repr(transparent)]
pub(crate) struct Entry(Head);

// SAFETY: an entry owns its allocation, which is never written after
// `Entry::new`; sharing or moving it across threads is like a `Box<[u8]>`.
unsafe impl Send for Entry {}
// SAFETY: as above; `&Entry` only reads.
unsafe impl Sync for Entry {}

/// The key's first eight bytes, zero-padded.
#[inline]
fn prefix_of(key: &[u8]) -> [u8; 8] {
    if let Ok(k) = <[u8; 8]>::try_from(key.get(..8).unwrap_or(&[])) {
        return k;
    }
    let mut buf = [0u8; 8];
    let n = key.len().min(8);
    buf[..n].copy_from_slice(&key[..n]);
    buf
}

/// The key bytes an entry's allocation holds: none when the prefix holds
/// the whole key.
#[inline]
fn stored_key(key: &[u8]) -> &[u8] {
    if key.len() <= 8 {
        &[]
    } else {
        key
    }
}

/// Bytes of the LEB128 encoding of `n`.
fn leb_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes the LEB128 encoding of `n` at the start of `out`; returns its
/// length.
fn write_leb(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
}

/// Reads a LEB128 number at `p`: `(value, bytes read)`.
///
/// # Safety
/// `p` points to a complete LEB128 encoding written by [`write_leb`].
#[inline]
unsafe fn read_leb(p: *const u8) -> (usize, usize) {
    // SAFETY: the caller's promise: the bytes up to the last (high bit
    // clear) one are readable.
    unsafe {
        let b = *p;
        if b & 0x80 == 0 {
            return (b as usize, 1);
        }
        let (mut n, mut shift, mut i) = (0usize, 0, 0);
        loop {
            let b = *p.add(i);
            n |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                return (n, i);
            }
            shift += 7;
        }
    }
}

/// Writes `[payload length][key length][key][row]` into `out`, which is
/// exactly [`encoded_len`] long.
fn encode(out: &mut [u8], key: &[u8], row: &[u8]) {
    let stored = stored_key(key);
    let payload = leb_len(key.len()) + stored.len() + row.len();
    let mut at = write_leb(out, payload);
    at += write_leb(&mut out[at..], key.len());
    out[at..at + stored.len()].copy_from_slice(stored);
    out[at + stored.len()..].copy_from_slice(row);
}

/// The length of [`encode`]'s output.
fn encoded_len(key: &[u8], row: &[u8]) -> usize {
    let payload = leb_len(key.len()) + stored_key(key).len() + row.len();
    leb_len(payload) + payload
}

impl Head {
    /// The payload: `[key length][key, if longer than 8 bytes][row]`.
    #[inline]
    fn payload(&self) -> &[u8] {
        // SAFETY: `ptr` points to an encoding written by `encode`, alive as
        // long as `self` (an entry's own allocation, or a probe's buffer,
        // which outlives the probe).
        unsafe {
            let (len, at) = read_leb(self.ptr.as_ptr());
            std::slice::from_raw_parts(self.ptr.as_ptr().add(at), len)
        }
    }

    /// `(key, row)`.
    #[inline]
    fn parts(&self) -> (&[u8], &[u8]) {
        let p = self.payload();
        let (klen, at) = match p.first() {
            Some(&b) if b & 0x80 == 0 => (b as usize, 1),
            // SAFETY: the payload starts with the key length, complete.
            _ => unsafe { read_leb(p.as_ptr()) },
        };
        if klen <= 8 {
            (&self.prefix[..klen], &p[at..])
        } else {
            p[at..].split_at(klen)
        }
    }

    #[inline]
    fn key(&self) -> &[u8] {
        self.parts().0
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    /// The prefixes, inline in the B-tree's search loop; the whole keys
    /// only when they tie.
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (
            u64::from_be_bytes(self.prefix),
            u64::from_be_bytes(other.prefix),
        );
        if a != b {
            return a.cmp(&b);
        }
        self.cmp_keys_past_prefix(other)
    }
}

impl Head {
    /// The order of two heads whose prefixes are equal: their whole keys.
    #[inline(never)]
    fn cmp_keys_past_prefix(&self, other: &Self) -> Ordering {
        cmp_keys(self.key(), other.key())
    }
}

/// Runs `f` with a [`Head`] over `key` (no row), to look an entry up by
/// key in a set of entries.
#[inline]
pub(crate) fn with_probe<R>(key: &[u8], f: impl FnOnce(&Head) -> R) -> R {
    let len = encoded_len(key, &[]);
    let mut stack = [0u8; 64];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    encode(buf, key, &[]);
    let probe = Head {
        prefix: prefix_of(key),
        ptr: NonNull::new(buf.as_mut_ptr()).expect("a slice's pointer is not null"),
    };
    // `buf` outlives `probe`, which never leaves this function.
    f(&probe)
}

/// Runs `f` with probes over two range bounds.
pub(crate) fn with_probe_bounds<R>(
    lo: std::ops::Bound<&[u8]>,
    hi: std::ops::Bound<&[u8]>,
    f: impl FnOnce(std::ops::Bound<&Head>, std::ops::Bound<&Head>) -> R,
) -> R {
    use std::ops::Bound;
    fn one<R>(b: Bound<&[u8]>, f: impl FnOnce(Bound<&Head>) -> R) -> R {
        match b {
            Bound::Unbounded => f(Bound::Unbounded),
            Bound::Included(k) => with_probe(k, |p| f(Bound::Included(p))),
            Bound::Excluded(k) => with_probe(k, |p| f(Bound::Excluded(p))),
        }
    }
    one(lo, |lo| one(hi, |hi| f(lo, hi)))
}

impl Entry {
    pub(crate) fn new(key: &[u8], row: &[u8]) -> Self {
        let size = encoded_len(key, row);
        let layout =
            Layout::from_size_align(size, 1).expect("a row entry's size fits an allocation");
        // SAFETY: `size` is at least 2 (the two lengths), so the layout is
        // not zero-sized.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        // SAFETY: `ptr` is a fresh allocation of `size` bytes, written
        // here once, in full, before it is read.
        encode(
            unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), size) },
            key,
            row,
        );
        Entry(Head {
            prefix: prefix_of(key),
            ptr,
        })
    }

    pub(crate) fn key(&self) -> &[u8] {
        self.0.key()
    }

    pub(crate) fn row(&self) -> &[u8] {
        self.0.parts().1
    }

    pub(crate) fn parts(&self) -> (&[u8], &[u8]) {
        self.0.parts()
    }

    /// Hints the CPU to bring the row's allocation into the cache (a no-op
    /// where there is no such hint).
    #[inline]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults, whatever the address; this one
        // is an allocation's start anyway.
        #[allow(unused_unsafe)]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.0.ptr.as_ptr().cast::<i8>().cast_const());
        }
    }

    /// The size of its allocation.
    fn size(&self) -> usize {
        // SAFETY: an entry's pointer starts with its payload length.
        let (len, at) = unsafe { read_leb(self.0.ptr.as_ptr()) };
        len + at
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.size(), 1).expect("allocated with this layout");
        // SAFETY: allocated by `Entry::new` with this layout, and freed once.
        unsafe { dealloc(self.0.ptr.as_ptr(), layout) }
    }
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        let (k, r) = self.parts();
        Entry::new(k, r)
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
        self.0 == other.0
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl Borrow<Head> for Entry {
    fn borrow(&self) -> &Head {
        &self.0
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
