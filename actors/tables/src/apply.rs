//! Logged mutations applied to the tables: one at a time (replay with
//! observers), checked without being stored (the overlay, `overlay.rs`),
//! and sorted batches written in one pass.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use interstice_abi::RowEvent;

use crate::entry::{cmp_keys, Entry};
use crate::error::TableError;
use crate::store::{Store, Taken};
use crate::tables::Tables;
use crate::Row;

/// One write of a sorted batch ([`Tables::write_sorted`]): a row's new
/// entry, or (`delete`) an entry whose key is that of the row to remove
/// (its row part is then ignored).
pub(crate) struct SortedChange {
    pub entry: Entry,
    pub delete: bool,
}

/// [`Tables::write_sorted`] by merging: one pass over the old rows and the
/// writes, then a bulk build of the B-tree.
pub(crate) fn merge_sorted(rows: &mut BTreeSet<Entry>, writes: impl Iterator<Item = SortedChange>) {
    let old = std::mem::take(rows);
    let mut merged: Vec<Entry> = Vec::with_capacity(old.len() + writes.size_hint().0);
    let mut old = old.into_iter().peekable();
    for w in writes {
        let key = w.entry.key();
        while let Some(e) = old.next_if(|e| cmp_keys(e.key(), key) == Ordering::Less) {
            merged.push(e);
        }
        // The row it replaces or deletes, if any, is dropped.
        let _ = old.next_if(|e| e.key() == key);
        if !w.delete {
            merged.push(w.entry);
        }
    }
    merged.extend(old);
    // Sorted and unique already: `from_iter` checks it in one pass and
    // builds the tree bottom-up.
    *rows = merged.into_iter().collect();
}

/// [`Tables::write_sorted`] one write at a time.
pub(crate) fn write_each(rows: &mut BTreeSet<Entry>, writes: impl Iterator<Item = SortedChange>) {
    for w in writes {
        if w.delete {
            rows.remove(&w.entry);
        } else {
            rows.replace(w.entry);
        }
    }
}

impl Tables {
    /// Applies a logged mutation during replay (no transaction bookkeeping).
    /// Returns the old row, for the router's trigger payloads.
    pub fn apply_logged(
        &mut self,
        idx: u32,
        op: &interstice_persist::MutationOp,
    ) -> Result<(RowEvent, Option<Row>, Option<Row>), TableError> {
        self.apply_logged_inner(idx, op.as_ref(), true)
    }

    /// [`Tables::apply_logged`] when nothing needs the change (no outbound
    /// call or trigger can see it): the same state change and the same
    /// errors, without copying the old and new rows out. Replay now goes
    /// through the overlay (`overlay.rs`) instead; this per-mutation path
    /// is what the tests hold it to.
    #[cfg(test)]
    pub fn apply_logged_quiet(
        &mut self,
        idx: u32,
        op: interstice_persist::MutationOpRef<'_>,
    ) -> Result<(), TableError> {
        self.apply_logged_inner(idx, op, false).map(|_| ())
    }

    fn apply_logged_inner(
        &mut self,
        idx: u32,
        op: interstice_persist::MutationOpRef<'_>,
        want_rows: bool,
    ) -> Result<(RowEvent, Option<Row>, Option<Row>), TableError> {
        use interstice_persist::MutationOpRef as MutationOp;
        let t = self.table_mut(idx)?;
        Ok(match op {
            MutationOp::Insert(bytes) | MutationOp::Update(bytes) => {
                let (entry, key_value) = t.logged_entry(bytes)?;
                t.bump_auto_inc(bytes, key_value);
                let pk: Option<Box<[u8]>> = (!t.indexes.is_empty()).then(|| entry.key().into());
                let replaced = t.store.replace_entry(entry);
                if let Some(pk) = pk {
                    t.reindex(&pk, replaced.as_ref().map(Taken::row), Some(bytes));
                }
                let event = if matches!(op, MutationOp::Insert(_)) {
                    RowEvent::Insert
                } else {
                    RowEvent::Update
                };
                if !want_rows {
                    return Ok((event, None, None));
                }
                let old = replaced.map(|e| match e {
                    Taken::Entry(e) => Row::from(e.row()),
                    Taken::Row(r) => r,
                });
                (event, old, Some(Row::from(bytes)))
            }
            MutationOp::Delete(key_value) => {
                let key = t.key_of_value(key_value)?;
                let taken = t.store.take(&key);
                if let Some(old) = &taken {
                    t.reindex(&key, Some(old.row()), None);
                }
                if !want_rows {
                    return Ok((RowEvent::Delete, None, None));
                }
                let old = taken.map(|e| match e {
                    Taken::Entry(e) => Row::from(e.row()),
                    Taken::Row(r) => r,
                });
                (RowEvent::Delete, old, None)
            }
        })
    }

    /// The checks and side effects of `Tables::apply_logged_quiet` for
    /// an insert or update, without storing the row (the replay overlay,
    /// `overlay.rs`, stores it later): the table index is checked and the
    /// row validated exactly as there (the same errors, in the same order),
    /// the `auto_inc` counter is bumped, and the row's key is written to
    /// `key`.
    pub(crate) fn check_logged_row(
        &mut self,
        idx: u32,
        bytes: &[u8],
        key: &mut Vec<u8>,
    ) -> Result<(), TableError> {
        let t = self.table_mut(idx)?;
        let key_range = t.logged_key(bytes, key)?;
        t.bump_auto_inc(bytes, key_range);
        Ok(())
    }

    /// Likewise for a logged delete: checks the table index and encodes
    /// the key value into `key` exactly as `Tables::apply_logged_quiet`
    /// does, removing nothing.
    pub(crate) fn check_logged_delete(
        &mut self,
        idx: u32,
        key_value: &[u8],
        key: &mut Vec<u8>,
    ) -> Result<(), TableError> {
        let t = self.table_mut(idx)?;
        t.encode_key_value(key_value, key)?;
        Ok(())
    }

    /// Applies `writes` to table `idx`: they must be in ascending key order,
    /// each key at most once (the replay overlay's flush). The result is
    /// that of applying them one by one. A batch that is large against the
    /// table is merged with its rows in one sequential pass and the B-tree
    /// rebuilt, with no search per write; a small one is applied write by
    /// write, in key order, so consecutive searches share cached nodes.
    pub(crate) fn write_sorted(
        &mut self,
        idx: u32,
        writes: impl ExactSizeIterator<Item = SortedChange>,
    ) {
        let Some(t) = self.tables.get_mut(idx as usize) else {
            // Cannot happen: the overlay only holds writes for tables that
            // exist, and the set of tables only changes after a flush.
            tracing::error!(
                "{} sorted writes to table #{idx}, which does not exist",
                writes.len()
            );
            return;
        };
        let (n, m) = (t.store.len(), writes.len());
        // A search costs about log2(n) dependent cache misses; the merge
        // about 3 independent ones per row (the merge, then the sortedness
        // check and the deduplication of `BTreeSet::from_iter`).
        let log2n = (usize::BITS - n.leading_zeros()) as usize;
        match &mut t.store {
            Store::Rows(rows) if m.saturating_mul(log2n) >= n.saturating_mul(2) => {
                merge_sorted(rows, writes);
                t.rebuild_indexes();
            }
            Store::Rows(rows) if t.indexes.is_empty() => write_each(rows, writes),
            _ => {
                for w in writes {
                    let (pk, row) = w.entry.parts();
                    let pk: Box<[u8]> = pk.into();
                    if w.delete {
                        if let Some(old) = t.store.take(&pk) {
                            t.reindex(&pk, Some(old.row()), None);
                        }
                    } else {
                        let row: Box<[u8]> = row.into();
                        let old = t.store.replace_entry(w.entry);
                        t.reindex(&pk, old.as_ref().map(Taken::row), Some(&row));
                    }
                }
            }
        }
    }
}
