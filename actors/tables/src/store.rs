//! How one table holds its rows, behind one interface: row by row (the
//! default, [`Store::Rows`]) or column by column ([`Store::Columns`],
//! `#[table(storage = "columnar")]`, in `store/columns.rs`).
//!
//! Both answer the same calls with the same results: rows come back as
//! the same canonical bytes, in the same primary-key order, so the log,
//! snapshots, the state hash and every query are unchanged by the choice.
//! A row of the columnar store is not kept as bytes: [`RowRef`] names it,
//! and its bytes are written out only when something needs them (a page
//! of query results, a snapshot, an index key); filters and aggregates
//! read its columns where they are.

use std::collections::{btree_map, btree_set, BTreeSet};
use std::ops::Bound;

use interstice_abi::{Storage, Type};

use crate::entry::{with_probe, with_probe_bounds, Entry, Head};
use crate::{Key, Row};

mod columns;
pub(crate) use columns::{ColumnData, Columns};

/// A table's rows.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// One entry per row: `key ‖ row bytes` in one allocation, in key order.
    Rows(BTreeSet<Entry>),
    /// One vector per column, and the primary key's slot map.
    Columns(Columns),
}

/// One stored row, where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowRef<'t> {
    /// A row stored as its bytes.
    Bytes(&'t [u8]),
    /// Slot `.1` of a columnar store.
    Slot(&'t Columns, usize),
}

impl<'t> RowRef<'t> {
    /// The row's canonical bytes: borrowed, or written into `buf`.
    pub(crate) fn bytes<'a>(self, buf: &'a mut Vec<u8>) -> &'a [u8]
    where
        't: 'a,
    {
        match self {
            RowRef::Bytes(b) => b,
            RowRef::Slot(c, s) => {
                buf.clear();
                c.write_row(s, buf);
                buf
            }
        }
    }

    /// Appends the row's canonical bytes to `out`.
    pub(crate) fn write_to(self, out: &mut Vec<u8>) {
        match self {
            RowRef::Bytes(b) => out.extend_from_slice(b),
            RowRef::Slot(c, s) => c.write_row(s, out),
        }
    }

    /// The row's bytes, owned.
    pub(crate) fn to_row(self) -> Row {
        match self {
            RowRef::Bytes(b) => b.into(),
            RowRef::Slot(c, s) => {
                let mut out = Vec::new();
                c.write_row(s, &mut out);
                out.into_boxed_slice()
            }
        }
    }
}

/// A row taken out of a store (replaced or deleted).
#[derive(Debug)]
pub(crate) enum Taken {
    /// The row store's entry, as it was.
    Entry(Entry),
    /// The columnar store's row, written out.
    Row(Row),
}

impl Taken {
    /// The row's bytes.
    pub(crate) fn row(&self) -> &[u8] {
        match self {
            Taken::Entry(e) => e.row(),
            Taken::Row(r) => r,
        }
    }
}

/// How many rows ahead of a walk over a row store their allocations are
/// prefetched: a row is fetched while the walk examines the rows before
/// it, instead of stalling the walk when it gets there (a table larger
/// than the caches).
const PREFETCH_DISTANCE: usize = 8;

/// The rows of a key range, in key order: `(key, row)`.
pub(crate) enum Iter<'t> {
    /// Over a row store; `ahead` runs [`PREFETCH_DISTANCE`] entries in
    /// front, to prefetch the rows the walk reaches next.
    Rows {
        it: btree_set::Range<'t, Entry>,
        ahead: btree_set::Range<'t, Entry>,
    },
    /// Over a columnar store's slot map.
    Columns(&'t Columns, btree_map::Range<'t, columns::PkKey, usize>),
}

impl<'t> Iterator for Iter<'t> {
    type Item = (&'t [u8], RowRef<'t>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Rows { it, ahead } => it.next().map(|e| {
                if let Some(next) = ahead.next() {
                    next.prefetch();
                }
                let (k, r) = e.parts();
                (k, RowRef::Bytes(r))
            }),
            Iter::Columns(c, it) => it.next().map(|(k, s)| (k.as_bytes(), RowRef::Slot(c, *s))),
        }
    }
}

impl Store {
    /// An empty store of kind `storage` for rows of `columns` (primary key
    /// column `pk`).
    pub(crate) fn new(storage: Storage, columns: &[Type], pk: usize) -> Self {
        match storage {
            Storage::Rows => Store::Rows(BTreeSet::new()),
            Storage::Columnar => Store::Columns(Columns::new(columns, pk)),
        }
    }

    /// Which kind of store this is.
    pub(crate) fn storage(&self) -> Storage {
        match self {
            Store::Rows(_) => Storage::Rows,
            Store::Columns(_) => Storage::Columnar,
        }
    }

    /// Whether this store holds rows of `columns` as a store made by
    /// [`Store::new`] for them would (its kind and, for a columnar store,
    /// each column's representation).
    pub(crate) fn fits(&self, storage: Storage, columns: &[Type], pk: usize) -> bool {
        match self {
            Store::Rows(_) => storage == Storage::Rows,
            Store::Columns(c) => storage == Storage::Columnar && c.fits(columns, pk),
        }
    }

    /// The same rows in a store of kind `storage` for rows of `columns`
    /// (an upgrade that changed the table's storage or column types).
    pub(crate) fn convert(self, storage: Storage, columns: &[Type], pk: usize) -> Store {
        let mut out = Store::new(storage, columns, pk);
        let mut buf = Vec::new();
        // Both walk in key order, so the new store is built by appends.
        for (k, r) in self.iter() {
            out.replace(k, r.bytes(&mut buf));
        }
        out
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        match self {
            Store::Rows(rows) => rows.len(),
            Store::Columns(c) => c.len(),
        }
    }

    /// True if a row has key `key`.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        match self {
            Store::Rows(rows) => with_probe(key, |k| rows.contains(k)),
            Store::Columns(c) => c.slot(key).is_some(),
        }
    }

    /// The row of key `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<RowRef<'_>> {
        match self {
            Store::Rows(rows) => with_probe(key, |k| rows.get(k)).map(|e| RowRef::Bytes(e.row())),
            Store::Columns(c) => c.slot(key).map(|s| RowRef::Slot(c, s)),
        }
    }

    /// Stores `row` (validated) under `key`; returns the row it replaced.
    pub(crate) fn replace(&mut self, key: &[u8], row: &[u8]) -> Option<Taken> {
        match self {
            Store::Rows(rows) => rows.replace(Entry::new(key, row)).map(Taken::Entry),
            Store::Columns(c) => c.replace(key, row).map(Taken::Row),
        }
    }

    /// [`Store::replace`] with the row as an entry already.
    pub(crate) fn replace_entry(&mut self, entry: Entry) -> Option<Taken> {
        match self {
            Store::Rows(rows) => rows.replace(entry).map(Taken::Entry),
            Store::Columns(c) => {
                let (k, r) = entry.parts();
                c.replace(k, r).map(Taken::Row)
            }
        }
    }

    /// Removes the row of key `key`; returns it.
    pub(crate) fn take(&mut self, key: &[u8]) -> Option<Taken> {
        match self {
            Store::Rows(rows) => with_probe(key, |k| rows.take(k)).map(Taken::Entry),
            Store::Columns(c) => c.take(key).map(Taken::Row),
        }
    }

    /// The rows with keys in `(lo, hi)`, in key order (the range must not
    /// be inverted).
    pub(crate) fn range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Iter<'_> {
        match self {
            Store::Rows(rows) => {
                let it = with_probe_bounds(lo, hi, |lo, hi| rows.range::<Head, _>((lo, hi)));
                let mut ahead = it.clone();
                for e in ahead.by_ref().take(PREFETCH_DISTANCE) {
                    e.prefetch();
                }
                Iter::Rows { it, ahead }
            }
            Store::Columns(c) => Iter::Columns(c, c.slots().range::<[u8], _>((lo, hi))),
        }
    }

    /// Every row, in key order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// Every row as `(key, row)`, in key order, emptying the store.
    pub(crate) fn drain(&mut self) -> Vec<(Key, Row)> {
        let out = self
            .iter()
            .map(|(k, r)| (Key::from(k), r.to_row()))
            .collect();
        match self {
            Store::Rows(rows) => rows.clear(),
            Store::Columns(c) => c.clear(),
        }
        out
    }
}

#[cfg(test)]
mod tests;
