//! Comparing two versions of a module's schema, table by table, to decide
//! whether the new code may take over the old code's data, and how.
//!
//! Rows are stored in their positional encoding. A kept table whose layout
//! (its columns' types, order and count, primary key, `auto_inc` and
//! persistence) is unchanged keeps its rows. A layout that only appends
//! columns, each with a declared default, is an **automatic migration**:
//! old rows get the defaults. Any other layout change needs a **code
//! migration**: the table's version goes up (`#[table(version = N)]`) and
//! the new schema declares a `#[migration]` reducer from the logged version
//! to the new one. A table's version never goes down. Tables may be added,
//! and removed when they hold no rows. Reducers may change freely.
//!
//! Types compare structurally ([`type_change`]): named and inline forms of
//! a type are the same type, and a type is unchanged when every value of
//! the old one reads as the new one: equal, or an enum that gained
//! variants at the end (at any depth). Every other difference (a renamed
//! type, field or variant, a field added or removed, a variant removed,
//! inserted or reordered) changes the layout, and the message says which.

use crate::schema::{ModuleSchema, TableSchema, Trigger};
use crate::types::{Field, Type};

/// What happened to one table between two schema versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// Same layout (its version number may have gone up): rows kept.
    Unchanged,
    /// New in the new schema.
    Added,
    /// Gone from the new schema.
    Removed,
    /// Columns appended at the end, each with a declared default: an
    /// automatic migration that appends `defaults` (canonical CBOR values,
    /// in column order) to every old row.
    Extended {
        /// The appended columns' default values.
        defaults: Vec<Vec<u8>>,
    },
    /// Rewritten by the code migration `reducer` of the new schema: the
    /// table starts empty in the new layout and the migration, reading the
    /// old rows, writes the new ones.
    Migrated {
        /// The migration reducer.
        reducer: String,
        /// The logged version.
        from_version: u32,
        /// The new version.
        to_version: u32,
    },
    /// Its layout changed in a way nothing declared makes safe; the text
    /// says how, and what is missing.
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
    /// Compares `old` (the logged schema) with `new`.
    pub fn between(old: &ModuleSchema, new: &ModuleSchema) -> SchemaDiff {
        let mut tables = Vec::new();
        for t in &old.tables {
            let change = match new.table(&t.name) {
                None => TableChange::Removed,
                Some((_, n)) => table_change(t, n, new),
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

    /// The code migrations the upgrade runs, in the old schema's table
    /// order: `(table, migration reducer)`.
    pub fn migrations(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.tables.iter().filter_map(|(t, c)| match c {
            TableChange::Migrated { reducer, .. } => Some((t.as_str(), reducer.as_str())),
            _ => None,
        })
    }
}

/// How kept table `old` becomes `new` (of schema `schema`).
fn table_change(old: &TableSchema, new: &TableSchema, schema: &ModuleSchema) -> TableChange {
    let (lv, nv) = (old.version, new.version);
    if nv < lv {
        return TableChange::Changed(format!(
            "logged version {lv}, new version {nv}: a table's version cannot go down"
        ));
    }
    let migration = schema.reducers.iter().find_map(|r| match &r.trigger {
        Some(Trigger::Migration {
            table,
            from_version,
            to_version,
            columns,
        }) if *table == old.name && *from_version == lv && *to_version == nv => Some((r, columns)),
        _ => None,
    });
    if let Some((r, columns)) = migration {
        let reads = columns.iter().map(|c| &c.ty);
        if columns.len() != old.columns.len()
            || reads
                .zip(&old.columns)
                .any(|(a, b)| type_change(&b.ty, a).is_some())
        {
            let list = |cols: &mut dyn Iterator<Item = &crate::Type>| {
                cols.map(|t| t.display_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return TableChange::Changed(format!(
                "logged version {lv}, new version {nv}: migration `{}` reads rows as ({}), but \
                 the logged layout of version {lv} is ({})",
                r.name,
                list(&mut columns.iter().map(|c| &c.ty)),
                list(&mut old.columns.iter().map(|c| &c.ty)),
            ));
        }
        return TableChange::Migrated {
            reducer: r.name.clone(),
            from_version: lv,
            to_version: nv,
        };
    }
    let Some(mut why) = shape_change(old, new) else {
        return TableChange::Unchanged;
    };
    if let Some(defaults) = appended_defaults(old, new) {
        return TableChange::Extended { defaults };
    }
    if let Some(c) = missing_default(old, new) {
        why.push_str(&format!("; appended column `{c}` has no #[default]"));
    }
    TableChange::Changed(if lv == nv {
        format!(
            "logged version {lv}, new version {nv}: the layout changed ({why}) but the version \
             did not: bump the version and declare a #[migration(from_version = {lv}, \
             to_version = {})]",
            lv.saturating_add(1)
        )
    } else {
        format!(
            "logged version {lv}, new version {nv}: the layout changed ({why}) but no \
             #[migration(from_version = {lv}, to_version = {nv})] is declared"
        )
    })
}

/// The defaults of the columns `new` appends to `old`'s, if that is all
/// that changed and each appended column has one.
fn appended_defaults(old: &TableSchema, new: &TableSchema) -> Option<Vec<Vec<u8>>> {
    let n = old.columns.len();
    if new.columns.len() <= n
        || old
            .columns
            .iter()
            .zip(&new.columns)
            .any(|(a, b)| type_change(&a.ty, &b.ty).is_some())
        || old.primary_key != new.primary_key
        || old.auto_inc != new.auto_inc
        || old.persistence != new.persistence
    {
        return None;
    }
    (n..new.columns.len())
        .map(|c| new.default_of(c as u32).map(<[u8]>::to_vec))
        .collect()
}

/// The first column `new` appends to `old`'s (otherwise the same layout)
/// without a declared default.
fn missing_default<'a>(old: &TableSchema, new: &'a TableSchema) -> Option<&'a str> {
    let n = old.columns.len();
    let same_prefix = new.columns.len() > n
        && old
            .columns
            .iter()
            .zip(&new.columns)
            .all(|(a, b)| type_change(&a.ty, &b.ty).is_none());
    if !same_prefix {
        return None;
    }
    (n..new.columns.len())
        .find(|&c| new.default_of(c as u32).is_none())
        .map(|c| new.columns[c].name.as_str())
}

fn shape_change(old: &TableSchema, new: &TableSchema) -> Option<String> {
    if old.columns.len() != new.columns.len() {
        return Some(format!(
            "column count changed from {} to {}",
            old.columns.len(),
            new.columns.len()
        ));
    }
    for (i, (a, b)) in old.columns.iter().zip(&new.columns).enumerate() {
        if let Some(why) = type_change(&a.ty, &b.ty) {
            let (from, to) = (a.ty.display_name(), b.ty.display_name());
            return Some(if from != to {
                format!("column {i} (`{}`) changed type from {from} to {to}", a.name)
            } else {
                format!("column {i} (`{}`) changed type: {why}", a.name)
            });
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

/// Why a value of type `old` might not read as `new`, naming the first
/// difference; `None` when every one does: the types are equal, or differ
/// only in enums that gained variants at the end.
pub fn type_change(old: &Type, new: &Type) -> Option<String> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Type::Option(a), Type::Option(b)) | (Type::Vec(a), Type::Vec(b)) => type_change(a, b),
        (Type::Tuple(a), Type::Tuple(b)) => {
            if a.len() != b.len() {
                return Some(format!("tuple of {} items → {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| type_change(x, y).map(|d| format!("tuple item {i}: {d}")))
        }
        (Type::Struct(a), Type::Struct(b)) if a.name == b.name => {
            fields_change(&a.name, &a.fields, &b.fields)
        }
        (Type::Enum(a), Type::Enum(b)) if a.name == b.name => {
            let (n, m) = (a.variants.len(), b.variants.len());
            for (i, (x, y)) in a.variants.iter().zip(&b.variants).enumerate() {
                if x.name != y.name {
                    return Some(if n == m {
                        format!(
                            "`{}`: variant {i} renamed from `{}` to `{}`",
                            a.name, x.name, y.name
                        )
                    } else {
                        format!(
                            "`{}`: variants {n} → {m}, and variant {i} is `{}`, was `{}` \
                             (variants may only be added at the end)",
                            a.name, y.name, x.name
                        )
                    });
                }
                let owner = format!("{}::{}", a.name, x.name);
                if let Some(d) = fields_change(&owner, &x.fields, &y.fields) {
                    return Some(d);
                }
            }
            (m < n).then(|| {
                let gone: Vec<String> = a.variants[m..]
                    .iter()
                    .map(|v| format!("`{}`", v.name))
                    .collect();
                format!(
                    "`{}`: variants {n} → {m} ({} removed)",
                    a.name,
                    gone.join(", ")
                )
            })
        }
        _ => Some(format!("{} → {}", old.display_name(), new.display_name())),
    }
}

/// For types [`type_change`] accepts that are not equal: the first enum
/// that gained variants at the end, as `` `Rarity`: variants 3 → 4
/// (`Legendary` added at the end) ``. `None` for equal types (and for
/// types `type_change` refuses).
pub fn widening(old: &Type, new: &Type) -> Option<String> {
    if old == new {
        return None;
    }
    let fields = |a: &[Field], b: &[Field]| -> Option<String> {
        a.iter().zip(b).find_map(|(x, y)| widening(&x.ty, &y.ty))
    };
    match (old, new) {
        (Type::Option(a), Type::Option(b)) | (Type::Vec(a), Type::Vec(b)) => widening(a, b),
        (Type::Tuple(a), Type::Tuple(b)) => a.iter().zip(b).find_map(|(x, y)| widening(x, y)),
        (Type::Struct(a), Type::Struct(b)) => fields(&a.fields, &b.fields),
        (Type::Enum(a), Type::Enum(b)) => {
            let (n, m) = (a.variants.len(), b.variants.len());
            if m > n {
                let added: Vec<String> = b.variants[n..]
                    .iter()
                    .map(|v| format!("`{}`", v.name))
                    .collect();
                return Some(format!(
                    "`{}`: variants {n} → {m} ({} added at the end)",
                    a.name,
                    added.join(", ")
                ));
            }
            a.variants
                .iter()
                .zip(&b.variants)
                .find_map(|(x, y)| fields(&x.fields, &y.fields))
        }
        _ => None,
    }
}

/// [`type_change`] for the fields of struct (or variant) `owner`.
fn fields_change(owner: &str, old: &[Field], new: &[Field]) -> Option<String> {
    if old.len() != new.len() {
        return Some(format!("`{owner}`: fields {} → {}", old.len(), new.len()));
    }
    old.iter().zip(new).enumerate().find_map(|(i, (a, b))| {
        if a.name != b.name {
            return Some(format!(
                "`{owner}`: field {i} renamed from `{}` to `{}`",
                a.name, b.name
            ));
        }
        type_change(&a.ty, &b.ty).map(|d| format!("field `{owner}.{}`: {d}", a.name))
    })
}

#[cfg(test)]
mod tests;
