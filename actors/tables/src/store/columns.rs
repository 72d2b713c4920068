//! The columnar store: one vector per column, and a B-tree from each
//! primary key to its row's slot in the vectors.
//!
//! Integer columns of at most 64 bits are `Vec<u64>` / `Vec<i64>`, floats
//! `Vec<f32>` / `Vec<f64>`, each with a `Vec<bool>` of which values are
//! `None` when the column is an `Option` of one of them; every other column
//! keeps each value's canonical CBOR. Slots are dense: a delete moves the
//! last slot into the hole (and re-points its key), so a column is a plain
//! vector an aggregate or a filter reads front to back. A row's canonical
//! bytes are written back from its columns exactly as they were stored
//! (integers and floats have one canonical encoding each, `docs/ABI.md`
//! §2), which is what makes the store invisible to modules, the log and
//! snapshots.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use interstice_abi::cbor::{encode_head, Reader, Writer};
use interstice_abi::Type;

use crate::entry::cmp_keys;
use crate::Row;

/// A primary key in the slot map, ordered as the row store orders its
/// entries ([`cmp_keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PkKey(Box<[u8]>);

impl PkKey {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl PartialOrd for PkKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PkKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_keys(&self.0, &other.0)
    }
}

impl Borrow<[u8]> for PkKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

/// One column's values, slot by slot.
#[derive(Debug, Clone)]
pub(crate) enum ColumnData {
    /// `u8` … `u64`.
    Unsigned(Vec<u64>),
    /// `i8` … `i64`.
    Signed(Vec<i64>),
    /// `f32`.
    F32(Vec<f32>),
    /// `f64`.
    F64(Vec<f64>),
    /// Any other type: each value's canonical CBOR.
    Encoded(Vec<Box<[u8]>>),
}

/// One column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) data: ColumnData,
    /// For an `Option` of a number: which slots are `None` (their value in
    /// `data` is 0). `None` for every other column.
    pub(crate) nulls: Option<Vec<bool>>,
}

/// The representation of a column of type `ty`, empty.
fn column_for(ty: &Type) -> Column {
    let (inner, optional) = match ty {
        Type::Option(t) => (&**t, true),
        t => (t, false),
    };
    let data = match inner {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => ColumnData::Unsigned(Vec::new()),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => ColumnData::Signed(Vec::new()),
        Type::F32 => ColumnData::F32(Vec::new()),
        Type::F64 => ColumnData::F64(Vec::new()),
        _ => {
            return Column {
                data: ColumnData::Encoded(Vec::new()),
                nulls: None,
            }
        }
    };
    Column {
        data,
        nulls: optional.then(Vec::new),
    }
}

impl Column {
    fn same_kind(&self, other: &Column) -> bool {
        std::mem::discriminant(&self.data) == std::mem::discriminant(&other.data)
            && self.nulls.is_some() == other.nulls.is_some()
    }

    /// Reads one (validated) value from `r` into slot `slot`, or appends it
    /// when `slot` is the column's length.
    fn put(&mut self, slot: usize, r: &mut Reader<'_>) {
        fn set<T>(v: &mut Vec<T>, slot: usize, x: T) {
            if slot == v.len() {
                v.push(x);
            } else {
                v[slot] = x;
            }
        }
        let start = r.position();
        if let Some(nulls) = &mut self.nulls {
            let none = r.try_null();
            set(nulls, slot, none);
            if none {
                match &mut self.data {
                    ColumnData::Unsigned(v) => set(v, slot, 0),
                    ColumnData::Signed(v) => set(v, slot, 0),
                    ColumnData::F32(v) => set(v, slot, 0.0),
                    ColumnData::F64(v) => set(v, slot, 0.0),
                    ColumnData::Encoded(v) => set(v, slot, Box::from(&[0xf6u8][..])),
                }
                return;
            }
        }
        // Stored rows were validated against the column types, so these
        // reads succeed; a failure (a bug) stores 0 and is logged.
        let fail = |e: interstice_abi::AbiError| {
            tracing::error!("columnar store: a validated value did not read back: {e}")
        };
        match &mut self.data {
            ColumnData::Unsigned(v) => set(
                v,
                slot,
                r.u64().inspect_err(|e| fail(e.clone())).unwrap_or(0),
            ),
            ColumnData::Signed(v) => set(
                v,
                slot,
                r.i64().inspect_err(|e| fail(e.clone())).unwrap_or(0),
            ),
            ColumnData::F32(v) => set(
                v,
                slot,
                r.f32().inspect_err(|e| fail(e.clone())).unwrap_or(0.0),
            ),
            ColumnData::F64(v) => set(
                v,
                slot,
                r.f64().inspect_err(|e| fail(e.clone())).unwrap_or(0.0),
            ),
            ColumnData::Encoded(v) => {
                let _ = r.skip().inspect_err(|e| fail(e.clone()));
                set(v, slot, r.slice_from(start)[..r.position() - start].into());
            }
        }
    }

    fn swap_remove(&mut self, slot: usize) {
        if let Some(n) = &mut self.nulls {
            n.swap_remove(slot);
        }
        match &mut self.data {
            ColumnData::Unsigned(v) => drop(v.swap_remove(slot)),
            ColumnData::Signed(v) => drop(v.swap_remove(slot)),
            ColumnData::F32(v) => drop(v.swap_remove(slot)),
            ColumnData::F64(v) => drop(v.swap_remove(slot)),
            ColumnData::Encoded(v) => drop(v.swap_remove(slot)),
        }
    }

    fn clear(&mut self) {
        if let Some(n) = &mut self.nulls {
            n.clear();
        }
        match &mut self.data {
            ColumnData::Unsigned(v) => v.clear(),
            ColumnData::Signed(v) => v.clear(),
            ColumnData::F32(v) => v.clear(),
            ColumnData::F64(v) => v.clear(),
            ColumnData::Encoded(v) => v.clear(),
        }
    }

    /// True if slot `slot` is `None` (of an `Option` column).
    #[inline]
    pub(crate) fn is_null(&self, slot: usize) -> bool {
        match (&self.nulls, &self.data) {
            (Some(n), _) => n[slot],
            (None, ColumnData::Encoded(v)) => *v[slot] == [0xf6],
            (None, _) => false,
        }
    }

    /// Appends slot `slot`'s canonical CBOR to `out`.
    pub(crate) fn write_value(&self, slot: usize, out: &mut Vec<u8>) {
        if self.nulls.as_ref().is_some_and(|n| n[slot]) {
            out.push(0xf6);
            return;
        }
        let mut head = [0u8; 9];
        match &self.data {
            ColumnData::Unsigned(v) => {
                let n = encode_head(0, v[slot], &mut head);
                out.extend_from_slice(&head[..n]);
            }
            ColumnData::Signed(v) => {
                let x = v[slot];
                let n = if x >= 0 {
                    encode_head(0, x as u64, &mut head)
                } else {
                    encode_head(1, !(x as u64), &mut head)
                };
                out.extend_from_slice(&head[..n]);
            }
            ColumnData::F32(v) => {
                let mut w = Writer::from_vec(std::mem::take(out));
                w.f32(v[slot]);
                *out = w.into_vec();
            }
            ColumnData::F64(v) => {
                let mut w = Writer::from_vec(std::mem::take(out));
                w.f64(v[slot]);
                *out = w.into_vec();
            }
            ColumnData::Encoded(v) => out.extend_from_slice(&v[slot]),
        }
    }
}

/// A columnar table's rows.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    /// Primary key → slot.
    slots: BTreeMap<PkKey, usize>,
    pub(crate) columns: Vec<Column>,
    /// The primary-key column and its type (a moved slot's key is
    /// re-encoded from it).
    pk: usize,
    key_type: Type,
}

impl Columns {
    /// An empty store for rows of `types` (primary key column `pk`).
    pub(crate) fn new(types: &[Type], pk: usize) -> Self {
        Columns {
            slots: BTreeMap::new(),
            columns: types.iter().map(column_for).collect(),
            pk,
            key_type: types.get(pk).cloned().unwrap_or(Type::Unit),
        }
    }

    /// Whether [`Columns::new`] for `types` would represent every column
    /// as this store does.
    pub(crate) fn fits(&self, types: &[Type], pk: usize) -> bool {
        pk == self.pk
            && types.len() == self.columns.len()
            && types
                .iter()
                .zip(&self.columns)
                .all(|(t, c)| column_for(t).same_kind(c))
    }

    /// Number of rows.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot map.
    pub(crate) fn slots(&self) -> &BTreeMap<PkKey, usize> {
        &self.slots
    }

    /// The slot of key `key`.
    #[inline]
    pub(crate) fn slot(&self, key: &[u8]) -> Option<usize> {
        self.slots.get(key).copied()
    }

    /// Appends slot `slot`'s row, `[columns…]`, to `out`.
    pub(crate) fn write_row(&self, slot: usize, out: &mut Vec<u8>) {
        let mut head = [0u8; 9];
        let n = encode_head(4, self.columns.len() as u64, &mut head);
        out.extend_from_slice(&head[..n]);
        for c in &self.columns {
            c.write_value(slot, out);
        }
    }

    fn row(&self, slot: usize) -> Row {
        let mut out = Vec::new();
        self.write_row(slot, &mut out);
        out.into_boxed_slice()
    }

    /// Writes `row` (validated) into slot `slot` (or a new last slot).
    fn put_row(&mut self, slot: usize, row: &[u8]) {
        let mut r = Reader::new(row);
        if let Err(e) = r.array() {
            tracing::error!("columnar store: a validated row did not read back: {e}");
        }
        for c in &mut self.columns {
            c.put(slot, &mut r);
        }
    }

    /// Stores `row` under `key`; returns the row it replaced.
    pub(crate) fn replace(&mut self, key: &[u8], row: &[u8]) -> Option<Row> {
        match self.slots.get(key) {
            Some(&slot) => {
                let old = self.row(slot);
                self.put_row(slot, row);
                Some(old)
            }
            None => {
                let slot = self.slots.len();
                self.put_row(slot, row);
                self.slots.insert(PkKey(key.into()), slot);
                None
            }
        }
    }

    /// Removes the row of key `key`; returns it. The last slot moves into
    /// its place.
    pub(crate) fn take(&mut self, key: &[u8]) -> Option<Row> {
        let slot = self.slots.remove(key)?;
        let old = self.row(slot);
        let last = self.slots.len();
        for c in &mut self.columns {
            c.swap_remove(slot);
        }
        if slot != last {
            let moved = self.key_of_slot(slot);
            if let Some(s) = self.slots.get_mut(moved.as_slice()) {
                *s = slot;
            } else {
                tracing::error!("columnar store: a moved row's key is not in the slot map");
            }
        }
        Some(old)
    }

    /// The primary key of the row in slot `slot`.
    fn key_of_slot(&self, slot: usize) -> Vec<u8> {
        let mut value = Vec::new();
        self.columns[self.pk].write_value(slot, &mut value);
        let mut key = Vec::new();
        if let Err(e) = self.key_type.encode_key(&mut Reader::new(&value), &mut key) {
            tracing::error!("columnar store: a stored key did not encode: {e}");
        }
        key
    }

    /// Forgets every row.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        for c in &mut self.columns {
            c.clear();
        }
    }
}
