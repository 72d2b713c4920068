//! Secondary indexes: derived state, maintained on every write of a table,
//! undone with the rows on rollback and rebuilt from the rows after replay,
//! a snapshot restore or an upgrade (never logged, never in a snapshot).
//!
//! An index key is the concatenation of one prefix-free memcomparable
//! encoding per indexed column: fixed-width types as the primary key
//! encodes them (`Type::encode_key`), `String` and `Bytes` with every `00`
//! byte written `00 ff` and a `00 00` terminator. Byte order of index keys
//! is therefore the order of the column tuples, and the keys of a prefix of
//! the columns are byte prefixes of the full keys.
//!
//! Ordered indexes (`btree`, `unique`) hold `index key ‖ primary key` in a
//! B-tree set, so equal index keys are ordered by primary key and a scan
//! can continue after the last entry it returned. A `hash` index maps each
//! index key to the set of primary keys that have it.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use interstice_abi::cbor::Reader;
use interstice_abi::{AbiError, IndexKind, IndexSchema, Type};

use crate::Key;

mod ordered;

pub(crate) use ordered::Ordered;

/// One secondary index of a table.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub(crate) schema: IndexSchema,
    /// The indexed columns' positions in the row, in key order.
    columns: Vec<usize>,
    /// Their types.
    types: Vec<Type>,
    pub(crate) data: IndexData,
}

/// What an index holds.
#[derive(Debug, Clone)]
pub(crate) enum IndexData {
    /// `index key ‖ primary key`, in order (btree and unique).
    Ordered(Ordered),
    /// Index key → primary keys (hash).
    Hash(HashMap<Box<[u8]>, BTreeSet<Key>>),
}

/// Appends the prefix-free memcomparable encoding of one value of `ty`.
pub(crate) fn encode_index_value(
    ty: &Type,
    r: &mut Reader<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AbiError> {
    match ty {
        Type::String | Type::Bytes => {
            let raw = if *ty == Type::String {
                r.str()?.as_bytes()
            } else {
                r.bytes()?
            };
            for &b in raw {
                out.push(b);
                if b == 0 {
                    out.push(0xff);
                }
            }
            out.extend_from_slice(&[0, 0]);
            Ok(())
        }
        _ => ty.encode_key(r, out),
    }
}

/// Runs `f` on an ordered index's entry, `ikey ‖ pk` (on the stack when
/// it is short).
fn with_ordered_entry<R>(ikey: &[u8], pk: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let len = ikey.len() + pk.len();
    let mut stack = [0u8; 64];
    if len <= stack.len() {
        stack[..ikey.len()].copy_from_slice(ikey);
        stack[ikey.len()..len].copy_from_slice(pk);
        return f(&stack[..len]);
    }
    f(&[ikey, pk].concat())
}

/// The length of every encoded index value (and primary key) of `ty`, if
/// the type fixes it.
fn fixed_len(ty: &Type) -> Option<usize> {
    match ty {
        Type::Bool | Type::U8 | Type::I8 => Some(1),
        Type::U16 | Type::I16 => Some(2),
        Type::U32 | Type::I32 => Some(4),
        Type::U64 | Type::I64 => Some(8),
        Type::U128 | Type::I128 => Some(16),
        _ => None,
    }
}

/// The length of one encoded index value of `ty` at the start of `bytes`.
fn value_len(ty: &Type, bytes: &[u8]) -> usize {
    match fixed_len(ty) {
        Some(len) => len,
        None => {
            let mut i = 0;
            while i + 1 < bytes.len() {
                if bytes[i] == 0 {
                    if bytes[i + 1] == 0 {
                        return i + 2;
                    }
                    i += 2;
                } else {
                    i += 1;
                }
            }
            bytes.len()
        }
    }
}

impl Index {
    /// An empty index over `row_types` (the table's column types), whose
    /// primary key is column `pk`.
    pub(crate) fn new(schema: IndexSchema, row_types: &[Type], pk: usize) -> Self {
        let columns: Vec<usize> = schema.columns.iter().map(|c| *c as usize).collect();
        let types: Vec<Type> = columns.iter().map(|c| row_types[*c].clone()).collect();
        let data = match schema.kind {
            IndexKind::Hash => IndexData::Hash(HashMap::new()),
            IndexKind::BTree | IndexKind::Unique => {
                // The length of every entry, when the types fix it.
                let entry_len = types
                    .iter()
                    .chain(row_types.get(pk))
                    .map(fixed_len)
                    .sum::<Option<usize>>();
                IndexData::Ordered(Ordered::new(entry_len))
            }
        };
        Index {
            schema,
            columns,
            types,
            data,
        }
    }

    /// Index name.
    pub(crate) fn name(&self) -> &str {
        &self.schema.name
    }

    /// True for a unique index.
    pub(crate) fn is_unique(&self) -> bool {
        self.schema.kind == IndexKind::Unique
    }

    /// The indexed columns' types, in key order.
    pub(crate) fn types(&self) -> &[Type] {
        &self.types
    }

    /// The index key of a (validated) row, into `out` (cleared first).
    pub(crate) fn key_of_row(&self, row: &[u8], out: &mut Vec<u8>) -> Result<(), AbiError> {
        out.clear();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(8);
        let mut r = Reader::new(row);
        let n = r.array()?;
        for _ in 0..n {
            let start = r.position();
            r.skip()?;
            spans.push((start, r.position()));
        }
        for (col, ty) in self.columns.iter().zip(&self.types) {
            let Some(&(a, b)) = spans.get(*col) else {
                return Err(AbiError::Schema(format!(
                    "index `{}`: row has no column {col}",
                    self.schema.name
                )));
            };
            encode_index_value(ty, &mut Reader::new(&row[a..b]), out)?;
        }
        Ok(())
    }

    /// The index key's length at the start of an ordered entry.
    pub(crate) fn key_len(&self, entry: &[u8]) -> usize {
        let mut at = 0;
        for ty in &self.types {
            at += value_len(ty, &entry[at.min(entry.len())..]);
        }
        at.min(entry.len())
    }

    /// The primary key of an ordered entry.
    pub(crate) fn primary_key_of<'e>(&self, entry: &'e [u8]) -> &'e [u8] {
        &entry[self.key_len(entry)..]
    }

    /// The primary key of another row holding `ikey`, if any (other than
    /// `pk`): what a unique index refuses.
    pub(crate) fn conflict(&self, ikey: &[u8], pk: &[u8]) -> Option<Key> {
        match &self.data {
            IndexData::Ordered(set) => set
                .range(Bound::Included(ikey), Bound::Unbounded)
                .take_while(|e| e.starts_with(ikey))
                .find(|e| &e[ikey.len()..] != pk)
                .map(|e| Key::from(&e[ikey.len()..])),
            IndexData::Hash(map) => map
                .get(ikey)
                .and_then(|pks| pks.iter().find(|p| &***p != pk).cloned()),
        }
    }

    /// Adds the entry of a row with index key `ikey` and primary key `pk`.
    pub(crate) fn add(&mut self, ikey: &[u8], pk: &[u8]) {
        match &mut self.data {
            IndexData::Ordered(set) => with_ordered_entry(ikey, pk, |e| set.insert(e)),
            IndexData::Hash(map) => {
                map.entry(ikey.into()).or_default().insert(pk.into());
            }
        }
    }

    /// Removes the entry of a row with index key `ikey` and primary key `pk`.
    pub(crate) fn remove(&mut self, ikey: &[u8], pk: &[u8]) {
        match &mut self.data {
            IndexData::Ordered(set) => with_ordered_entry(ikey, pk, |e| set.remove(e)),
            IndexData::Hash(map) => {
                if let Some(pks) = map.get_mut(ikey) {
                    pks.remove(pk);
                    if pks.is_empty() {
                        map.remove(ikey);
                    }
                }
            }
        }
    }

    /// Forgets every entry.
    pub(crate) fn clear(&mut self) {
        match &mut self.data {
            IndexData::Ordered(set) => set.clear(),
            IndexData::Hash(map) => map.clear(),
        }
    }

    /// Number of entries (one per row).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match &self.data {
            IndexData::Ordered(set) => set.len(),
            IndexData::Hash(map) => map.values().map(BTreeSet::len).sum(),
        }
    }
}
