//! Comparing two versions of a module's schema, table by table, to decide
//! whether the new code may take over the old code's data.
//!
//! Rows are stored in their positional encoding, so without a migration a
//! table's columns (their types, order and count), primary key, `auto_inc`
//! and persistence must stay as they are. Tables may be added, and removed
//! when they hold no rows. Reducers may change freely.

use crate::schema::{ModuleSchema, TableSchema};

/// What happened to one table between two schema versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// Same shape (its version number may differ).
    Unchanged,
    /// New in the new schema.
    Added,
    /// Gone from the new schema.
    Removed,
    /// Its shape changed; the text says how.
    Changed(String),
}

/// The per-table comparison of two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDiff {
    /// `(table name, change)` for every table in either schema, old order
    /// first, then the added tables.
    pub tables: Vec<(String, TableChange)>,
}

impl SchemaDiff {
    /// Compares `old` with `new`.
    pub fn between(old: &ModuleSchema, new: &ModuleSchema) -> SchemaDiff {
        let mut tables = Vec::new();
        for t in &old.tables {
            let change = match new.table(&t.name) {
                None => TableChange::Removed,
                Some((_, n)) => match shape_change(t, n) {
                    None => TableChange::Unchanged,
                    Some(why) => TableChange::Changed(why),
                },
            };
            tables.push((t.name.clone(), change));
        }
        for t in &new.tables {
            if old.table(&t.name).is_none() {
                tables.push((t.name.clone(), TableChange::Added));
            }
        }
        SchemaDiff { tables }
    }

    /// The first change that makes the upgrade unsafe, given how many rows
    /// each old table holds: `(table, reason)`.
    pub fn first_incompatibility(&self, rows: impl Fn(&str) -> u64) -> Option<(String, String)> {
        self.tables.iter().find_map(|(name, change)| match change {
            TableChange::Changed(why) => Some((name.clone(), why.clone())),
            TableChange::Removed if rows(name) > 0 => Some((
                name.clone(),
                format!("table removed but it still holds {} rows", rows(name)),
            )),
            _ => None,
        })
    }
}

fn shape_change(old: &TableSchema, new: &TableSchema) -> Option<String> {
    if old.columns.len() != new.columns.len() {
        return Some(format!(
            "column count changed from {} to {} (needs a migration)",
            old.columns.len(),
            new.columns.len()
        ));
    }
    for (i, (a, b)) in old.columns.iter().zip(&new.columns).enumerate() {
        if a.ty != b.ty {
            return Some(format!(
                "column {i} (`{}`) changed type from {} to {}",
                a.name,
                a.ty.display_name(),
                b.ty.display_name()
            ));
        }
    }
    if old.primary_key != new.primary_key {
        let name = |t: &TableSchema| {
            t.columns
                .get(t.primary_key as usize)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        return Some(format!(
            "primary key changed from `{}` to `{}`",
            name(old),
            name(new)
        ));
    }
    if old.auto_inc != new.auto_inc {
        return Some(format!(
            "auto_inc changed from {} to {}",
            old.auto_inc, new.auto_inc
        ));
    }
    if old.persistence != new.persistence {
        return Some(format!(
            "persistence changed from {:?} to {:?}",
            old.persistence, new.persistence
        ));
    }
    None
}

#[cfg(test)]
mod tests;
