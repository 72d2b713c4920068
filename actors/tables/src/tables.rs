//! All tables of a module and the open transaction's change list (the
//! undo log): the writes reducers make through host calls, and commit and
//! rollback.

use std::sync::Arc;

use interstice_abi::schema_diff::{SchemaDiff, TableChange};
use interstice_abi::{AbiError, RowEvent, TableSchema};

use crate::error::TableError;
use crate::table::Table;
use crate::{Key, Row};

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

/// All tables of a module, plus the open transaction's change list.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub(crate) tables: Vec<Table>,
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
                        t.set_schema(schema);
                        t
                    }
                    None => Table::new(schema),
                }
            })
            .collect();
        self.changes.clear();
        self.auto_inc_before.clear();
    }

    /// Switches to a new version of the module's schema following the
    /// upgrade's `diff` (checked compatible): as [`Tables::remap`], except
    /// that a table the diff extends gets the appended columns' defaults
    /// in every row (an automatic migration), and a table it migrates by
    /// code starts empty in its new layout. The old tables of the latter
    /// are returned, by name, in the diff's order: the rows the migrations
    /// read. Only between transactions.
    pub fn upgrade(&mut self, schemas: &[TableSchema], diff: &SchemaDiff) -> Vec<(String, Table)> {
        let mut shadows = Vec::new();
        let change = |name: &str| diff.tables.iter().find(|(t, _)| t == name).map(|(_, c)| c);
        for t in &mut self.tables {
            if let (Some(TableChange::Extended { defaults }), Some(s)) = (
                change(t.name()),
                schemas.iter().find(|s| s.name == t.name()),
            ) {
                t.extend_columns(Arc::new(s.clone()), defaults);
            }
        }
        let mut i = 0;
        while i < self.tables.len() {
            let name = self.tables[i].name().to_owned();
            if matches!(change(&name), Some(TableChange::Migrated { .. })) {
                shadows.push((name, self.tables.remove(i)));
            } else {
                i += 1;
            }
        }
        self.remap(schemas);
        shadows.sort_by_key(|(name, _)| diff.tables.iter().position(|(t, _)| t == name));
        shadows
    }

    /// Exposes `table` (the old rows of a migrated table) after the
    /// schema's tables for the duration of a migration, unlogged; returns
    /// its table id. [`Tables::detach_shadow`] removes it.
    pub fn attach_shadow(&mut self, mut table: Table) -> u32 {
        table.make_unlogged();
        self.tables.push(table);
        (self.tables.len() - 1) as u32
    }

    /// Removes the table [`Tables::attach_shadow`] added. Only between
    /// transactions.
    pub fn detach_shadow(&mut self) -> Option<Table> {
        self.tables.pop()
    }

    /// What an upgrade to `schemas` would break in the rows kept: the first
    /// unique index of a kept table that two of its rows violate, as
    /// `(table, what)`; `None` if every unique index of `schemas` holds.
    pub fn unique_violation(&self, schemas: &[TableSchema]) -> Option<(String, String)> {
        for s in schemas {
            let Some(t) = self.tables.iter().find(|t| t.name() == s.name) else {
                continue;
            };
            let mut probe = t.clone();
            probe.set_schema(Arc::new(s.clone()));
            for ix in probe.indexes.iter().filter(|ix| ix.is_unique()) {
                let mut seen = crate::index::Index::new(
                    ix.schema.clone(),
                    probe.column_types(),
                    probe.schema().primary_key as usize,
                );
                let (mut ikey, mut buf) = (Vec::new(), Vec::new());
                for (pk, row) in probe.store.iter() {
                    let row = row.bytes(&mut buf);
                    if ix.key_of_row(row, &mut ikey).is_err() {
                        continue;
                    }
                    if seen.conflict(&ikey, pk).is_some() {
                        return Some((
                            s.name.clone(),
                            format!(
                                "unique index `{}` cannot be added: {}",
                                ix.name(),
                                probe
                                    .check_unique_against(&seen, pk, row)
                                    .unwrap_or_else(|| "a value is held by two rows".into())
                            ),
                        ));
                    }
                    seen.add(&ikey, pk);
                }
            }
        }
        None
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

    pub(crate) fn table_mut(&mut self, idx: u32) -> Result<&mut Table, TableError> {
        let n = self.tables.len();
        self.tables.get_mut(idx as usize).ok_or_else(|| {
            TableError::Abi(AbiError::Schema(format!(
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
    pub fn insert(&mut self, idx: u32, bytes: &[u8]) -> Result<&[u8], TableError> {
        let t = self.table_mut(idx)?;
        let (checked, _) = t.check_row(bytes, true)?;
        if t.store.contains(&checked.key) {
            return Err(TableError::Constraint(format!(
                "duplicate primary key in table `{}`",
                t.name()
            )));
        }
        t.check_unique(&checked.key, &checked.row)?;
        self.remember_auto_inc(idx);
        let t = &mut self.tables[idx as usize];
        t.bump_auto_inc(&checked.row, checked.key_value.clone());
        t.store.replace(&checked.key, &checked.row);
        t.reindex(&checked.key, None, Some(&checked.row));
        let key: Key = checked.key;
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
    pub fn update(&mut self, idx: u32, bytes: &[u8]) -> Result<bool, TableError> {
        let t = self.table_mut(idx)?;
        let (checked, _) = t.check_row(bytes, false)?;
        if !t.indexes.is_empty() {
            if t.row_by_key(&checked.key).is_none() {
                return Ok(false);
            }
            t.check_unique(&checked.key, &checked.row)?;
        }
        // One lookup when the row exists (the common case); otherwise the
        // entry `replace` inserted is taken out again.
        let Some(old) = t.store.replace(&checked.key, &checked.row) else {
            t.store.take(&checked.key);
            return Ok(false);
        };
        t.reindex(&checked.key, Some(old.row()), Some(&checked.row));
        let row: Row = checked.row.into_boxed_slice();
        self.changes.push(Change {
            table: idx,
            event: RowEvent::Update,
            key: checked.key,
            old: Some(old.row().into()),
            key_value: row[checked.key_value].into(),
            new: Some(row),
        });
        Ok(true)
    }

    /// Deletes by encoded key value; false if absent.
    pub fn delete(&mut self, idx: u32, key_value: &[u8]) -> Result<bool, TableError> {
        let t = self.table_mut(idx)?;
        let key = t.key_of_value(key_value)?;
        let Some(old) = t.store.take(&key) else {
            return Ok(false);
        };
        t.reindex(&key, Some(old.row()), None);
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
    pub fn get(
        &self,
        idx: u32,
        key_value: &[u8],
    ) -> Result<Option<std::borrow::Cow<'_, [u8]>>, TableError> {
        let t = self.table(idx).ok_or_else(|| {
            TableError::Abi(AbiError::Schema(format!("table id {idx} out of range")))
        })?;
        let row = t.with_key_of_value(key_value, |key| t.store.get(key))?;
        Ok(row.map(|r| match r {
            crate::store::RowRef::Bytes(b) => std::borrow::Cow::Borrowed(b),
            r => std::borrow::Cow::Owned(r.to_row().into_vec()),
        }))
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

    /// The open transaction's changes so far, oldest first (what
    /// [`Tables::commit`] would return now).
    pub fn pending_changes(&self) -> &[Change] {
        &self.changes
    }

    /// Rolls every change of the open transaction back, newest first.
    pub fn rollback(&mut self) {
        while let Some(c) = self.changes.pop() {
            let t = &mut self.tables[c.table as usize];
            t.reindex(&c.key, c.new.as_deref(), c.old.as_deref());
            match c.old {
                Some(old) => {
                    t.store.replace(&c.key, &old);
                }
                None => {
                    t.store.take(&c.key);
                }
            }
        }
        for (idx, before) in self.auto_inc_before.drain(..) {
            self.tables[idx as usize].next_auto_inc = before;
        }
    }
}
