//! One table: its rows keyed by a memcomparable encoding of the primary
//! key, and the row validation and key encoding every write goes through.

use std::borrow::Cow;
use std::ops::Bound;
use std::sync::Arc;

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::{AbiError, TableSchema, Type};

use crate::entry::Entry;
use crate::error::TableError;
use crate::index::Index;
use crate::store::{RowRef, Store};
use crate::Key;

/// One table of one module.
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) schema: Arc<TableSchema>,
    key_type: Type,
    pk: usize,
    columns: Vec<Type>,
    /// The rows, row by row or column by column (`schema.storage`).
    pub(crate) store: Store,
    /// Next id an `auto_inc` insert of key 0 receives.
    pub(crate) next_auto_inc: u128,
    /// Reused buffer for the key of a logged row being applied.
    key_scratch: Vec<u8>,
    /// A second scratch key: the old row's index key in `reindex`.
    old_key_scratch: Vec<u8>,
    /// Secondary indexes, in the schema's order (derived from `rows`).
    pub(crate) indexes: Vec<Index>,
}

/// A row after validation: its bytes (auto_inc key filled in), its key and
/// the canonical CBOR of its key value.
pub(crate) struct CheckedRow {
    pub(crate) row: Vec<u8>,
    pub(crate) key: Key,
    pub(crate) key_value: std::ops::Range<usize>,
}

impl Table {
    /// An empty table.
    pub fn new(schema: Arc<TableSchema>) -> Self {
        let columns: Vec<Type> = schema.columns.iter().map(|c| c.ty.clone()).collect();
        let pk = schema.primary_key as usize;
        Self {
            key_type: schema.key_type().clone(),
            pk,
            store: Store::new(schema.storage, &columns, pk),
            indexes: schema
                .indexes
                .iter()
                .map(|ix| Index::new(ix.clone(), &columns, pk))
                .collect(),
            columns,
            schema,
            next_auto_inc: 1,
            key_scratch: Vec::new(),
            old_key_scratch: Vec::new(),
        }
    }

    /// Switches to another schema of the same columns, or of columns whose
    /// types read the old ones (an upgrade, `schema_diff::type_change`):
    /// the indexes are those of `schema`, rebuilt from the rows. A change
    /// of storage (`schema.storage`) converts the rows to the new store:
    /// derived, like the indexes, and logged only as the schema's field.
    pub(crate) fn set_schema(&mut self, schema: Arc<TableSchema>) {
        // The new column types read every stored row (an enum may have
        // gained variants at the end); new rows are checked against them.
        self.columns = schema.columns.iter().map(|c| c.ty.clone()).collect();
        self.key_type = schema.key_type().clone();
        self.pk = schema.primary_key as usize;
        if !self.store.fits(schema.storage, &self.columns, self.pk) {
            let old = std::mem::replace(&mut self.store, Store::Rows(Default::default()));
            tracing::debug!(
                "table `{}`: storage {:?} converted to {:?}",
                schema.name,
                old.storage(),
                schema.storage
            );
            self.store = old.convert(schema.storage, &self.columns, self.pk);
        }
        self.indexes = schema
            .indexes
            .iter()
            .map(|ix| Index::new(ix.clone(), &self.columns, self.pk))
            .collect();
        self.schema = schema;
        self.rebuild_indexes();
    }

    /// An automatic migration: switches to `schema`, whose columns are this
    /// table's followed by appended ones, and appends `defaults` (their
    /// canonical CBOR values, in order) to every row. Keys do not change.
    pub(crate) fn extend_columns(&mut self, schema: Arc<TableSchema>, defaults: &[Vec<u8>]) {
        let added: Vec<u8> = defaults.concat();
        let width = self.columns.len() + defaults.len();
        let rows = self.store.drain();
        let columns: Vec<Type> = schema.columns.iter().map(|c| c.ty.clone()).collect();
        let mut store = Store::new(schema.storage, &columns, schema.primary_key as usize);
        let mut row = Vec::new();
        for (key, old) in rows {
            let mut r = Reader::new(&old);
            // Stored rows are validated arrays of the old columns.
            let body = match r.array() {
                Ok(_) => &old[r.position()..],
                Err(_) => &old[old.len()..],
            };
            let mut w = Writer::from_vec(std::mem::take(&mut row));
            w.array(width);
            row = w.into_vec();
            row.extend_from_slice(body);
            row.extend_from_slice(&added);
            store.replace(&key, &row);
            row.clear();
        }
        self.store = store;
        self.columns = columns;
        self.set_schema(schema);
    }

    /// Marks the table unlogged (a migration's read-only view of old rows:
    /// nothing written to it reaches the log).
    pub(crate) fn make_unlogged(&mut self) {
        Arc::make_mut(&mut self.schema).persistence = interstice_abi::Persistence::Ephemeral;
    }

    /// Rebuilds every index from the rows (after replay's bulk writes, a
    /// snapshot restore or an upgrade). A unique index that finds a
    /// duplicate keeps both entries and logs an error: the log or snapshot
    /// it came from was written under the same checks, so that cannot
    /// happen short of a bug.
    pub(crate) fn rebuild_indexes(&mut self) {
        let mut ikey = Vec::new();
        let mut buf = Vec::new();
        let Table { indexes, store, .. } = self;
        for ix in indexes.iter_mut() {
            ix.clear();
            for (pk, row) in store.iter() {
                let row = row.bytes(&mut buf);
                match ix.key_of_row(row, &mut ikey) {
                    Ok(()) => {
                        if ix.is_unique() && ix.conflict(&ikey, pk).is_some() {
                            tracing::error!(
                                "unique index `{}` of table `{}` holds a duplicate",
                                ix.name(),
                                self.schema.name
                            );
                        }
                        ix.add(&ikey, pk);
                    }
                    Err(e) => tracing::error!("index `{}`: {e}", ix.name()),
                }
            }
        }
    }

    /// Refuses `row` (key `pk`) if a unique index already holds its value
    /// for another row: the error names the table, the index and the value.
    pub(crate) fn check_unique(&self, pk: &[u8], row: &[u8]) -> Result<(), TableError> {
        let mut ikey = Vec::new();
        for ix in self.indexes.iter().filter(|ix| ix.is_unique()) {
            ix.key_of_row(row, &mut ikey)?;
            if ix.conflict(&ikey, pk).is_some() {
                return Err(TableError::Constraint(format!(
                    "unique index `{}` of table `{}`: value {} is already present",
                    ix.name(),
                    self.schema.name,
                    self.index_value_text(ix, row)
                )));
            }
        }
        Ok(())
    }

    /// The message [`Table::check_unique`] gives for `row` against `ix`
    /// (an index being built), if it conflicts.
    pub(crate) fn check_unique_against(&self, ix: &Index, pk: &[u8], row: &[u8]) -> Option<String> {
        let mut ikey = Vec::new();
        ix.key_of_row(row, &mut ikey).ok()?;
        ix.conflict(&ikey, pk)?;
        Some(format!(
            "value {} is held by more than one row of table `{}`",
            self.index_value_text(ix, row),
            self.schema.name
        ))
    }

    /// The indexed columns' values of `row`, for messages: `"abc"`, or
    /// `("abc", 3)` for several columns.
    fn index_value_text(&self, ix: &Index, row: &[u8]) -> String {
        let Ok(value) = interstice_abi::Value::decode_exact(&self.schema.row_type(), row) else {
            return "?".into();
        };
        let interstice_abi::Value::Struct(fields) = value else {
            return "?".into();
        };
        let parts: Vec<String> = ix
            .schema
            .columns
            .iter()
            .filter_map(|c| fields.get(*c as usize))
            .map(|v| format!("{v:?}"))
            .collect();
        if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("({})", parts.join(", "))
        }
    }

    /// Moves the indexes from `old` to `new` for the row of key `pk` (either
    /// side absent for an insert or a delete). Rows here were validated.
    pub(crate) fn reindex(&mut self, pk: &[u8], old: Option<&[u8]>, new: Option<&[u8]>) {
        if self.indexes.is_empty() {
            return;
        }
        let mut ikey = std::mem::take(&mut self.key_scratch);
        let mut old_ikey = std::mem::take(&mut self.old_key_scratch);
        for ix in &mut self.indexes {
            // The index key of `row` into `out`; false when there is no row
            // (or, logged, when its key cannot be taken).
            let key_into = |row: Option<&[u8]>, out: &mut Vec<u8>| match row
                .map(|row| ix.key_of_row(row, out))
            {
                Some(Ok(())) => true,
                Some(Err(e)) => {
                    tracing::error!("index `{}`: {e}", ix.name());
                    false
                }
                None => false,
            };
            let old_ok = key_into(old, &mut old_ikey);
            let new_ok = key_into(new, &mut ikey);
            // An update that leaves this index's columns alone leaves its
            // entry alone.
            if old_ok && new_ok && old_ikey == ikey {
                continue;
            }
            if old_ok {
                ix.remove(&old_ikey, pk);
            }
            if new_ok {
                ix.add(&ikey, pk);
            }
        }
        self.old_key_scratch = old_ikey;
        self.key_scratch = ikey;
    }

    /// The table's schema.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// Column types, in order.
    pub(crate) fn column_types(&self) -> &[Type] {
        &self.columns
    }

    /// The row of primary key `key`.
    #[inline]
    pub(crate) fn row_by_key(&self, key: &[u8]) -> Option<RowRef<'_>> {
        self.store.get(key)
    }

    /// How the rows are stored.
    pub fn storage(&self) -> interstice_abi::Storage {
        self.store.storage()
    }

    /// Table name.
    pub fn name(&self) -> &str {
        &self.schema.name
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True if the table holds no row.
    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// True if mutations of this table are logged.
    pub fn is_logged(&self) -> bool {
        self.schema.persistence == interstice_abi::Persistence::Logged
    }

    /// Validates a row against the schema (canonical encoding, column types)
    /// and computes its key. With `assign`, an `auto_inc` key of 0 is replaced
    /// by the next id.
    pub(crate) fn check_row(
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
        let key = encoded_exactly(|key| {
            self.key_type
                .encode_key(&mut Reader::new(&row[key_range.clone()]), key)
        })?;
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
    pub(crate) fn logged_entry(
        &mut self,
        bytes: &[u8],
    ) -> Result<(Entry, std::ops::Range<usize>), AbiError> {
        let mut key = std::mem::take(&mut self.key_scratch);
        let checked = self.logged_key(bytes, &mut key);
        let entry = checked.map(|range| (Entry::new(&key, bytes), range));
        self.key_scratch = key;
        entry
    }

    /// Validates a logged row and writes its memcomparable key to `key`
    /// (cleared first); returns where the key value is in the row.
    pub(crate) fn logged_key(
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
        encoded_exactly(|key| self.encode_key_value(key_value, key))
    }

    /// Runs `f` on the encoded key of `key_value`, built in a per-thread
    /// buffer: a lookup allocates nothing. `f` must not call it again.
    pub(crate) fn with_key_of_value<R>(
        &self,
        key_value: &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, AbiError> {
        KEY_SCRATCH.with_borrow_mut(|key| {
            self.encode_key_value(key_value, key)?;
            Ok(f(key))
        })
    }

    /// [`Table::key_of_value`] into `key` (cleared first).
    pub(crate) fn encode_key_value(
        &self,
        key_value: &[u8],
        key: &mut Vec<u8>,
    ) -> Result<(), AbiError> {
        let mut r = Reader::new(key_value);
        key.clear();
        self.key_type.encode_key(&mut r, key)?;
        r.finish()
    }

    pub(crate) fn bump_auto_inc(&mut self, row: &[u8], key_value: std::ops::Range<usize>) {
        if self.schema.auto_inc {
            if let Ok(id) = Reader::new(&row[key_value]).u128() {
                self.next_auto_inc = self.next_auto_inc.max(id.saturating_add(1));
            }
        }
    }

    /// The first row whose key is after `after` (or the first row).
    /// Returns `(key, row)`.
    pub fn next_after(&self, after: Option<&[u8]>) -> Option<(&[u8], Cow<'_, [u8]>)> {
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.store
            .range(lo, Bound::Unbounded)
            .next()
            .map(|(k, r)| match r {
                RowRef::Bytes(b) => (k, Cow::Borrowed(b)),
                r => (k, Cow::Owned(r.to_row().into_vec())),
            })
    }

    /// The auto-increment counter (part of the table state).
    #[cfg(test)]
    pub fn next_auto_inc(&self) -> u128 {
        self.next_auto_inc
    }
}

std::thread_local! {
    /// The buffer keys are encoded in before they are copied out at their
    /// exact length (or only looked up).
    static KEY_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `encode` writes into the per-thread key buffer, as one allocation
/// of exactly its length (a `Vec` grown and shrunk would reallocate).
fn encoded_exactly(
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), AbiError>,
) -> Result<Key, AbiError> {
    KEY_SCRATCH.with_borrow_mut(|key| {
        key.clear();
        encode(key)?;
        Ok(Key::from(key.as_slice()))
    })
}
