//! In-memory tables: rows keyed by a memcomparable encoding of their primary
//! key, plus the change list that makes a transaction all-or-nothing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::{AbiError, RowEvent, TableSchema, Type};

/// A stored row: its canonical CBOR encoding (`[columns…]`).
pub type Row = Box<[u8]>;
/// A memcomparable primary key.
pub type Key = Box<[u8]>;

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

    fn row(&self) -> &[u8] {
        &self.0[self.key_span().1..]
    }

    fn parts(&self) -> (&[u8], &[u8]) {
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
fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
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

/// One table of one module.
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) schema: Arc<TableSchema>,
    key_type: Type,
    pk: usize,
    columns: Vec<Type>,
    rows: BTreeSet<Entry>,
    /// Next id an `auto_inc` insert of key 0 receives.
    next_auto_inc: u128,
    /// Reused buffer for the key of a logged row being applied.
    key_scratch: Vec<u8>,
}

/// A row after validation: its bytes (auto_inc key filled in), its key and
/// the canonical CBOR of its key value.
struct CheckedRow {
    row: Vec<u8>,
    key: Vec<u8>,
    key_value: std::ops::Range<usize>,
}

impl Table {
    /// An empty table.
    pub fn new(schema: Arc<TableSchema>) -> Self {
        Self {
            key_type: schema.key_type().clone(),
            pk: schema.primary_key as usize,
            columns: schema.columns.iter().map(|c| c.ty.clone()).collect(),
            schema,
            rows: BTreeSet::new(),
            next_auto_inc: 1,
            key_scratch: Vec::new(),
        }
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if mutations of this table are logged.
    pub fn is_logged(&self) -> bool {
        self.schema.persistence == interstice_abi::Persistence::Logged
    }

    /// Validates a row against the schema (canonical encoding, column types)
    /// and computes its key. With `assign`, an `auto_inc` key of 0 is replaced
    /// by the next id.
    fn check_row(
        &self,
        bytes: &[u8],
        assign: bool,
    ) -> Result<(CheckedRow, Option<u128>), AbiError> {
        let mut key_range = self.validate_row(bytes)?;
        let mut row = bytes.to_vec();
        let mut assigned = None;
        if assign && self.schema.auto_inc && bytes[key_range.clone()] == [0u8] {
            let id = self.next_auto_inc;
            let mut w = Writer::new();
            w.u128(id);
            let mut spliced = Vec::with_capacity(row.len() + 16);
            spliced.extend_from_slice(&bytes[..key_range.start]);
            spliced.extend_from_slice(w.as_slice());
            spliced.extend_from_slice(&bytes[key_range.end..]);
            key_range = key_range.start..key_range.start + w.len();
            row = spliced;
            assigned = Some(id);
        }
        let mut key = Vec::with_capacity(16);
        self.key_type
            .encode_key(&mut Reader::new(&row[key_range.clone()]), &mut key)?;
        Ok((
            CheckedRow {
                row,
                key,
                key_value: key_range,
            },
            assigned,
        ))
    }

    /// Validates a row's encoding and column types (the first half of
    /// [`Table::check_row`]); returns where its key value is.
    fn validate_row(&self, bytes: &[u8]) -> Result<std::ops::Range<usize>, AbiError> {
        let mut r = Reader::new(bytes);
        r.array_of(self.columns.len())?;
        let mut key_range = 0..0;
        for (i, ty) in self.columns.iter().enumerate() {
            let start = r.position();
            ty.validate(&mut r)?;
            if i == self.pk {
                key_range = start..r.position();
            }
        }
        r.finish()?;
        Ok(key_range)
    }

    /// A logged row as a table entry: validated and keyed exactly as
    /// [`Table::check_row`] without `assign` does (the same errors), but
    /// with one allocation, the entry itself. Returns its key value's range.
    fn logged_entry(&mut self, bytes: &[u8]) -> Result<(Entry, std::ops::Range<usize>), AbiError> {
        let mut key = std::mem::take(&mut self.key_scratch);
        let checked = self.logged_key(bytes, &mut key);
        let entry = checked.map(|range| (Entry::new(&key, bytes), range));
        self.key_scratch = key;
        entry
    }

    /// Validates a logged row and writes its memcomparable key to `key`
    /// (cleared first); returns where the key value is in the row.
    fn logged_key(
        &self,
        bytes: &[u8],
        key: &mut Vec<u8>,
    ) -> Result<std::ops::Range<usize>, AbiError> {
        let key_range = self.validate_row(bytes)?;
        key.clear();
        self.key_type
            .encode_key(&mut Reader::new(&bytes[key_range.clone()]), key)?;
        Ok(key_range)
    }

    /// The memcomparable key for an encoded key value.
    pub fn key_of_value(&self, key_value: &[u8]) -> Result<Key, AbiError> {
        let mut key = Vec::with_capacity(16);
        self.encode_key_value(key_value, &mut key)?;
        Ok(key.into_boxed_slice())
    }

    /// [`Table::key_of_value`] into `key` (cleared first).
    fn encode_key_value(&self, key_value: &[u8], key: &mut Vec<u8>) -> Result<(), AbiError> {
        let mut r = Reader::new(key_value);
        key.clear();
        self.key_type.encode_key(&mut r, key)?;
        r.finish()
    }

    fn bump_auto_inc(&mut self, row: &[u8], key_value: std::ops::Range<usize>) {
        if self.schema.auto_inc {
            if let Ok(id) = Reader::new(&row[key_value]).u128() {
                self.next_auto_inc = self.next_auto_inc.max(id.saturating_add(1));
            }
        }
    }

    /// The first row whose key is after `after` (or the first row).
    /// Returns `(key, row)`.
    pub fn next_after(&self, after: Option<&[u8]>) -> Option<(&[u8], &[u8])> {
        match after {
            None => self.rows.iter().next(),
            Some(k) => self
                .rows
                .range::<[u8], _>((Bound::Excluded(k), Bound::Unbounded))
                .next(),
        }
        .map(Entry::parts)
    }

    /// The auto-increment counter (part of the table state).
    #[cfg(test)]
    pub fn next_auto_inc(&self) -> u128 {
        self.next_auto_inc
    }
}

/// One change made by a transaction, kept so it can be undone, logged and
/// turned into row events.
#[derive(Debug, Clone)]
pub struct Change {
    /// Table index in the module schema.
    pub table: u32,
    /// Insert, update or delete.
    pub event: RowEvent,
    /// The row's key.
    pub key: Key,
    /// The row before (update, delete).
    pub old: Option<Row>,
    /// The row after (insert, update).
    pub new: Option<Row>,
    /// Canonical CBOR of the key value (what a delete logs).
    pub key_value: Box<[u8]>,
}

/// One write of a sorted batch ([`Tables::write_sorted`]): a row's new
/// entry, or (`delete`) an entry whose key is that of the row to remove
/// (its row part is then ignored).
pub(crate) struct Write {
    pub entry: Entry,
    pub delete: bool,
}

/// [`Tables::write_sorted`] by merging: one pass over the old rows and the
/// writes, then a bulk build of the B-tree.
fn merge_sorted(rows: &mut BTreeSet<Entry>, writes: impl Iterator<Item = Write>) {
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
fn write_each(rows: &mut BTreeSet<Entry>, writes: impl Iterator<Item = Write>) {
    for w in writes {
        if w.delete {
            rows.remove(w.entry.key());
        } else {
            rows.replace(w.entry);
        }
    }
}

/// Errors a table operation reports to the host call that made it.
#[derive(Debug)]
pub enum TableOpError {
    /// Bad row or key bytes.
    Abi(AbiError),
    /// A uniqueness violation.
    Constraint(String),
}

impl From<AbiError> for TableOpError {
    fn from(e: AbiError) -> Self {
        TableOpError::Abi(e)
    }
}

/// All tables of a module, plus the open transaction's change list.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    tables: Vec<Table>,
    changes: Vec<Change>,
    auto_inc_before: Vec<(u32, u128)>,
}

impl Tables {
    /// Empty tables for a schema.
    pub fn new(schemas: &[TableSchema]) -> Self {
        Self {
            tables: schemas
                .iter()
                .map(|s| Table::new(Arc::new(s.clone())))
                .collect(),
            changes: Vec::new(),
            auto_inc_before: Vec::new(),
        }
    }

    /// Switches to a new version of the module's schema (an upgrade that
    /// was checked compatible): each table of `schemas` takes over the rows
    /// and the `auto_inc` counter of the old table of the same name, new
    /// tables start empty, old tables not in `schemas` are dropped. Only
    /// between transactions.
    pub fn remap(&mut self, schemas: &[TableSchema]) {
        debug_assert!(self.changes.is_empty(), "remap inside a transaction");
        let mut old: std::collections::HashMap<String, Table> = std::mem::take(&mut self.tables)
            .into_iter()
            .map(|t| (t.name().to_owned(), t))
            .collect();
        self.tables = schemas
            .iter()
            .map(|s| {
                let schema = Arc::new(s.clone());
                match old.remove(&s.name) {
                    Some(mut t) => {
                        t.schema = schema;
                        t
                    }
                    None => Table::new(schema),
                }
            })
            .collect();
        self.changes.clear();
        self.auto_inc_before.clear();
    }

    /// The number of rows of the table named `name` (0 if there is none).
    pub fn rows_of(&self, name: &str) -> u64 {
        self.tables
            .iter()
            .find(|t| t.name() == name)
            .map_or(0, |t| t.len() as u64)
    }

    /// `(name, rows)` for every table, in schema order.
    pub fn row_counts(&self) -> Vec<(String, u64)> {
        self.tables
            .iter()
            .map(|t| (t.name().to_owned(), t.len() as u64))
            .collect()
    }

    /// A table by index.
    pub fn table(&self, idx: u32) -> Option<&Table> {
        self.tables.get(idx as usize)
    }

    fn table_mut(&mut self, idx: u32) -> Result<&mut Table, TableOpError> {
        let n = self.tables.len();
        self.tables.get_mut(idx as usize).ok_or_else(|| {
            TableOpError::Abi(AbiError::Schema(format!(
                "table id {idx} out of range (module has {n} tables)"
            )))
        })
    }

    fn remember_auto_inc(&mut self, idx: u32) {
        if !self.auto_inc_before.iter().any(|(t, _)| *t == idx) {
            let before = self.tables[idx as usize].next_auto_inc;
            self.auto_inc_before.push((idx, before));
        }
    }

    /// Inserts a row; returns the stored row (auto_inc key filled in).
    pub fn insert(&mut self, idx: u32, bytes: &[u8]) -> Result<&[u8], TableOpError> {
        let t = self.table_mut(idx)?;
        let (checked, _) = t.check_row(bytes, true)?;
        if t.rows.contains(checked.key.as_slice()) {
            return Err(TableOpError::Constraint(format!(
                "duplicate primary key in table `{}`",
                t.name()
            )));
        }
        self.remember_auto_inc(idx);
        let t = &mut self.tables[idx as usize];
        t.bump_auto_inc(&checked.row, checked.key_value.clone());
        t.rows.insert(Entry::new(&checked.key, &checked.row));
        let key: Key = checked.key.into_boxed_slice();
        let row: Row = checked.row.into_boxed_slice();
        self.changes.push(Change {
            table: idx,
            event: RowEvent::Insert,
            key,
            old: None,
            key_value: row[checked.key_value].into(),
            new: Some(row),
        });
        Ok(self
            .changes
            .last()
            .and_then(|c| c.new.as_deref())
            .expect("just pushed"))
    }

    /// Replaces the row with the same key; false if there is none.
    pub fn update(&mut self, idx: u32, bytes: &[u8]) -> Result<bool, TableOpError> {
        let t = self.table_mut(idx)?;
        let (checked, _) = t.check_row(bytes, false)?;
        // One lookup when the row exists (the common case); otherwise the
        // entry `replace` inserted is taken out again.
        let Some(old) = t.rows.replace(Entry::new(&checked.key, &checked.row)) else {
            t.rows.remove(checked.key.as_slice());
            return Ok(false);
        };
        let row: Row = checked.row.into_boxed_slice();
        self.changes.push(Change {
            table: idx,
            event: RowEvent::Update,
            key: checked.key.into_boxed_slice(),
            old: Some(old.row().into()),
            key_value: row[checked.key_value].into(),
            new: Some(row),
        });
        Ok(true)
    }

    /// Deletes by encoded key value; false if absent.
    pub fn delete(&mut self, idx: u32, key_value: &[u8]) -> Result<bool, TableOpError> {
        let t = self.table_mut(idx)?;
        let key = t.key_of_value(key_value)?;
        let Some(old) = t.rows.take(&*key) else {
            return Ok(false);
        };
        self.changes.push(Change {
            table: idx,
            event: RowEvent::Delete,
            key,
            old: Some(old.row().into()),
            new: None,
            key_value: key_value.into(),
        });
        Ok(true)
    }

    /// Looks up by encoded key value.
    pub fn get(&self, idx: u32, key_value: &[u8]) -> Result<Option<&[u8]>, TableOpError> {
        let t = self.table(idx).ok_or_else(|| {
            TableOpError::Abi(AbiError::Schema(format!("table id {idx} out of range")))
        })?;
        let key = t.key_of_value(key_value)?;
        Ok(t.rows.get(&*key).map(Entry::row))
    }

    /// Bytes the open transaction's latest change holds in the host (its
    /// rows, kept for rollback and the log, and its key), for
    /// `Limits::tx_mutation_bytes`; 0 if there is none.
    pub fn last_change_bytes(&self) -> usize {
        self.changes.last().map_or(0, |c| {
            c.key.len()
                + c.key_value.len()
                + c.old.as_ref().map_or(0, |r| r.len())
                + c.new.as_ref().map_or(0, |r| r.len())
        })
    }

    /// Starts a transaction (there must be no pending changes).
    pub fn begin(&mut self) {
        debug_assert!(self.changes.is_empty());
        self.changes.clear();
        self.auto_inc_before.clear();
    }

    /// Commits: returns the transaction's changes and forgets how to undo them.
    pub fn commit(&mut self) -> Vec<Change> {
        self.auto_inc_before.clear();
        std::mem::take(&mut self.changes)
    }

    /// Rolls every change of the open transaction back, newest first.
    pub fn rollback(&mut self) {
        while let Some(c) = self.changes.pop() {
            let t = &mut self.tables[c.table as usize];
            match c.old {
                Some(old) => {
                    t.rows.replace(Entry::new(&c.key, &old));
                }
                None => {
                    t.rows.remove(&*c.key);
                }
            }
        }
        for (idx, before) in self.auto_inc_before.drain(..) {
            self.tables[idx as usize].next_auto_inc = before;
        }
    }

    /// Applies a logged mutation during replay (no transaction bookkeeping).
    /// Returns the old row, for the router's trigger payloads.
    pub fn apply_logged(
        &mut self,
        idx: u32,
        op: &interstice_persist::MutationOp,
    ) -> Result<(RowEvent, Option<Row>, Option<Row>), TableOpError> {
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
    ) -> Result<(), TableOpError> {
        self.apply_logged_inner(idx, op, false).map(|_| ())
    }

    fn apply_logged_inner(
        &mut self,
        idx: u32,
        op: interstice_persist::MutationOpRef<'_>,
        want_rows: bool,
    ) -> Result<(RowEvent, Option<Row>, Option<Row>), TableOpError> {
        use interstice_persist::MutationOpRef as MutationOp;
        let t = self.table_mut(idx)?;
        Ok(match op {
            MutationOp::Insert(bytes) | MutationOp::Update(bytes) => {
                let (entry, key_value) = t.logged_entry(bytes)?;
                t.bump_auto_inc(bytes, key_value);
                let replaced = t.rows.replace(entry);
                let event = if matches!(op, MutationOp::Insert(_)) {
                    RowEvent::Insert
                } else {
                    RowEvent::Update
                };
                if !want_rows {
                    return Ok((event, None, None));
                }
                let old = replaced.map(|e| Row::from(e.row()));
                (event, old, Some(Row::from(bytes)))
            }
            MutationOp::Delete(key_value) => {
                let key = t.key_of_value(key_value)?;
                let taken = t.rows.take(&*key);
                if !want_rows {
                    return Ok((RowEvent::Delete, None, None));
                }
                let old = taken.map(|e| Row::from(e.row()));
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
    ) -> Result<(), TableOpError> {
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
    ) -> Result<(), TableOpError> {
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
    pub(crate) fn write_sorted(&mut self, idx: u32, writes: impl ExactSizeIterator<Item = Write>) {
        let Some(t) = self.tables.get_mut(idx as usize) else {
            // Cannot happen: the overlay only holds writes for tables that
            // exist, and the set of tables only changes after a flush.
            tracing::error!(
                "{} sorted writes to table #{idx}, which does not exist",
                writes.len()
            );
            return;
        };
        let (n, m) = (t.rows.len(), writes.len());
        // A search costs about log2(n) dependent cache misses; the merge
        // about 3 independent ones per row (the merge, then the sortedness
        // check and the deduplication of `BTreeSet::from_iter`).
        let log2n = (usize::BITS - n.leading_zeros()) as usize;
        if m.saturating_mul(log2n) >= n.saturating_mul(2) {
            merge_sorted(&mut t.rows, writes);
        } else {
            write_each(&mut t.rows, writes);
        }
    }

    /// The logged tables' rows and `auto_inc` counters, for a snapshot
    /// (rows are copied as stored, never re-encoded).
    pub fn export_logged(&self) -> Vec<interstice_persist::SnapshotTable> {
        self.tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_logged())
            .map(|(i, t)| interstice_persist::SnapshotTable {
                index: i as u32,
                next_auto_inc: t.next_auto_inc,
                rows: t
                    .rows
                    .iter()
                    .map(|e| {
                        let (k, v) = e.parts();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect(),
            })
            .collect()
    }

    /// Tables for `schemas` holding a snapshot's rows and counters. The
    /// snapshot's checksum vouches for the bytes, so rows are not decoded
    /// again; a table index that is not a logged table of `schemas`, or keys
    /// out of order, are refused.
    pub fn restore(
        schemas: &[TableSchema],
        saved: &[interstice_persist::SnapshotTable],
    ) -> Result<Tables, String> {
        let mut out = Tables::new(schemas);
        for st in saved {
            let Some(t) = out.tables.get_mut(st.index as usize) else {
                return Err(format!("table #{} is not in the schema", st.index));
            };
            if !t.is_logged() {
                return Err(format!("table #{} is not a logged table", st.index));
            }
            t.next_auto_inc = st.next_auto_inc;
            for (k, v) in &st.rows {
                if t.rows.last().is_some_and(|last| last.key() >= k.as_slice()) {
                    return Err(format!("table #{}: row keys out of order", st.index));
                }
                t.rows.insert(Entry::new(k, v));
            }
        }
        Ok(out)
    }

    /// A blake3 hash over every logged table's rows and counters: equal
    /// states hash equal. Ephemeral tables are left out (they do not survive
    /// a restart by design).
    pub fn state_hash(&self, hasher: &mut blake3::Hasher) {
        for t in self.tables.iter().filter(|t| t.is_logged()) {
            hasher.update(t.name().as_bytes());
            hasher.update(&(t.rows.len() as u64).to_le_bytes());
            hasher.update(&t.next_auto_inc.to_le_bytes());
            for e in &t.rows {
                let (k, v) = e.parts();
                hasher.update(&(k.len() as u64).to_le_bytes());
                hasher.update(k);
                hasher.update(&(v.len() as u64).to_le_bytes());
                hasher.update(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use interstice_abi::codec::field;
    use interstice_abi::{IntersticeType, Persistence};

    fn accounts() -> Tables {
        Tables::new(&[TableSchema {
            name: "accounts".into(),
            version: 1,
            columns: vec![field("id", Type::U64), field("balance", Type::U64)],
            primary_key: 0,
            auto_inc: true,
            persistence: Persistence::Logged,
            indexes: vec![],
        }])
    }

    #[test]
    fn remap_keeps_rows_and_counters_by_name() {
        let mut t = accounts();
        t.begin();
        t.insert(0, &(0u64, 10u64).to_bytes()).unwrap();
        t.insert(0, &(0u64, 20u64).to_bytes()).unwrap();
        t.commit();
        let audit = TableSchema {
            name: "audit".into(),
            version: 1,
            columns: vec![field("id", Type::U64)],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
        };
        // The new schema puts a new table first: `accounts` moves to #1.
        let kept = t.table(0).unwrap().schema.as_ref().clone();
        t.remap(&[audit, kept.clone()]);
        assert_eq!(
            t.row_counts(),
            vec![("audit".into(), 0), ("accounts".into(), 2)]
        );
        assert_eq!(t.rows_of("accounts"), 2);
        t.begin();
        let row = t.insert(1, &(0u64, 5u64).to_bytes()).unwrap().to_vec();
        assert_eq!(<(u64, u64)>::from_bytes(&row).unwrap(), (3, 5));
        t.commit();
        // Dropping `audit` (empty) and keeping `accounts`.
        t.remap(&[kept]);
        assert_eq!(t.row_counts(), vec![("accounts".into(), 3)]);
        assert_eq!(t.rows_of("audit"), 0);
    }

    #[test]
    fn auto_inc_and_rollback() {
        let mut t = accounts();
        t.begin();
        let row = t.insert(0, &(0u64, 10u64).to_bytes()).unwrap().to_vec();
        assert_eq!(<(u64, u64)>::from_bytes(&row).unwrap(), (1, 10));
        t.commit();

        t.begin();
        t.insert(0, &(0u64, 5u64).to_bytes()).unwrap();
        assert!(t.update(0, &(1u64, 99u64).to_bytes()).unwrap());
        assert!(t.delete(0, &1u64.to_bytes()).unwrap());
        t.rollback();
        let tab = t.table(0).unwrap();
        assert_eq!(tab.len(), 1);
        assert_eq!(tab.next_auto_inc(), 2, "counter rolled back too");
        let got = t.get(0, &1u64.to_bytes()).unwrap().unwrap();
        assert_eq!(<(u64, u64)>::from_bytes(got).unwrap(), (1, 10));
    }

    #[test]
    fn entry_order_is_the_byte_order_of_the_keys() {
        let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![1], vec![0xff]];
        for v in [0u64, 1, 255, 256, 1 << 32, u64::MAX - 1, u64::MAX] {
            keys.push(v.to_be_bytes().to_vec());
            keys.push(u128::from(v).to_be_bytes().to_vec());
            keys.push((u128::from(v) << 64).to_be_bytes().to_vec());
            let mut nine = v.to_be_bytes().to_vec();
            nine.push(7);
            keys.push(nine);
            keys.push(v.to_be_bytes()[..7].to_vec());
        }
        keys.push(vec![b'k'; 200]);
        keys.push(vec![b'k'; 201]);
        for a in &keys {
            for b in &keys {
                let (ea, eb) = (Entry::new(a, b"row"), Entry::new(b, b""));
                assert_eq!(ea.cmp(&eb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(ea.key(), &a[..]);
                assert_eq!(eb.row(), b"");
            }
        }
    }

    #[test]
    fn apply_logged_quiet_changes_the_tables_exactly_like_apply_logged() {
        use interstice_persist::MutationOp;
        let ops = [
            (0, MutationOp::Insert((5u64, 10u64).to_bytes())),
            (0, MutationOp::Update((5u64, 11u64).to_bytes())),
            (0, MutationOp::Insert((9u64, 1u64).to_bytes())),
            (0, MutationOp::Delete(9u64.to_bytes())),
            (0, MutationOp::Delete(42u64.to_bytes())),
            (0, MutationOp::Insert(vec![0x80])),
            (3, MutationOp::Insert((1u64, 1u64).to_bytes())),
        ];
        let (mut loud, mut quiet) = (accounts(), accounts());
        for (table, op) in &ops {
            let a = loud.apply_logged(*table, op).map(|_| ());
            let b = quiet.apply_logged_quiet(*table, op.as_ref());
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        assert_eq!(loud.export_logged(), quiet.export_logged());
        let (old, new) = match loud.apply_logged(0, &ops[1].1).unwrap() {
            (RowEvent::Update, old, new) => (old, new),
            other => panic!("{:?}", other.0),
        };
        assert_eq!(old.as_deref(), Some(&(5u64, 11u64).to_bytes()[..]));
        assert_eq!(new.as_deref(), Some(&(5u64, 11u64).to_bytes()[..]));
    }

    #[test]
    fn sorted_writes_merged_or_one_by_one_give_the_same_rows() {
        use std::collections::BTreeMap;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Keys of 0 to 11 bytes over a small alphabet: 8-byte keys take the
        // integer comparison, the others `memcmp`; many share prefixes.
        let key = |next: &mut dyn FnMut() -> u64| {
            let len = (next() % 12) as usize;
            (0..len).map(|_| (next() % 3) as u8).collect::<Vec<u8>>()
        };
        for round in 0..200 {
            let mut model = BTreeMap::new();
            let mut rows = BTreeSet::new();
            for _ in 0..next() % 300 {
                let (k, v) = (key(&mut next), next().to_be_bytes().to_vec());
                model.insert(k.clone(), v.clone());
                rows.replace(Entry::new(&k, &v));
            }
            let mut writes = BTreeMap::new();
            for _ in 0..next() % 300 {
                let row = (next() % 3 != 0).then(|| vec![7u8; (next() % 5) as usize]);
                writes.insert(key(&mut next), row);
            }
            for (k, row) in &writes {
                match row {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            let batch = || {
                writes.iter().map(|(k, row)| Write {
                    entry: Entry::new(k, row.as_deref().unwrap_or_default()),
                    delete: row.is_none(),
                })
            };
            let (mut merged, mut each) = (rows.clone(), rows);
            merge_sorted(&mut merged, batch());
            write_each(&mut each, batch());
            let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
            for got in [merged, each] {
                let got: Vec<(Vec<u8>, Vec<u8>)> = got
                    .iter()
                    .map(|e| (e.key().to_vec(), e.row().to_vec()))
                    .collect();
                assert_eq!(got, want, "round {round}");
            }
        }
    }

    #[test]
    fn duplicate_key_is_a_constraint_violation() {
        let mut t = accounts();
        t.begin();
        t.insert(0, &(7u64, 1u64).to_bytes()).unwrap();
        assert!(matches!(
            t.insert(0, &(7u64, 2u64).to_bytes()),
            Err(TableOpError::Constraint(_))
        ));
    }

    #[test]
    fn one_entry_per_row_keeps_order_scans_and_state_across_restore() {
        let schema = TableSchema {
            name: "names".into(),
            version: 1,
            columns: vec![field("name", Type::String), field("n", Type::U64)],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
        };
        let mut t = Tables::new(std::slice::from_ref(&schema));
        // Keys longer than 127 bytes take a two-byte length prefix.
        let names = ["b".to_string(), "a".repeat(300), "c".repeat(127), "".into()];
        t.begin();
        for (i, n) in names.iter().enumerate() {
            t.insert(0, &(n.clone(), i as u64).to_bytes()).unwrap();
        }
        assert!(!t.update(0, &("zz".to_string(), 1u64).to_bytes()).unwrap());
        assert!(t.update(0, &("b".to_string(), 9u64).to_bytes()).unwrap());
        t.commit();
        assert_eq!(t.table(0).unwrap().len(), 4, "a failed update adds nothing");
        let got = t.get(0, &"b".to_string().to_bytes()).unwrap().unwrap();
        assert_eq!(<(String, u64)>::from_bytes(got).unwrap(), ("b".into(), 9));
        // A scan visits the rows in key order.
        let mut seen = Vec::new();
        let mut after: Option<Key> = None;
        while let Some((k, row)) = t.table(0).unwrap().next_after(after.as_deref()) {
            seen.push(<(String, u64)>::from_bytes(row).unwrap().0);
            after = Some(k.into());
        }
        let mut sorted = names.to_vec();
        sorted.sort();
        assert_eq!(seen, sorted);
        // Export, restore: the same rows and the same hash.
        let saved = t.export_logged();
        let back = Tables::restore(std::slice::from_ref(&schema), &saved).unwrap();
        let hash = |t: &Tables| {
            let mut h = blake3::Hasher::new();
            t.state_hash(&mut h);
            h.finalize()
        };
        assert_eq!(hash(&t), hash(&back));
        assert_eq!(back.export_logged()[0].rows, saved[0].rows);
        // Delete and roll back.
        let mut t = back;
        t.begin();
        assert!(t.delete(0, &"b".to_string().to_bytes()).unwrap());
        assert!(t.get(0, &"b".to_string().to_bytes()).unwrap().is_none());
        t.rollback();
        assert_eq!(hash(&t), hash(&Tables::restore(&[schema], &saved).unwrap()));
    }

    #[test]
    fn bad_rows_are_refused() {
        let mut t = accounts();
        t.begin();
        assert!(t.insert(0, &("x".to_string(), 1u64).to_bytes()).is_err());
        assert!(t.insert(0, &[0xff, 0x00]).is_err());
        assert!(t.insert(5, &(1u64, 1u64).to_bytes()).is_err());
    }
}
