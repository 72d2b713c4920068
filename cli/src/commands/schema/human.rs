//! `schema --format human`: the module, its tables and reducers, one line
//! each, with Rust-like type names.

use std::fmt::Write;

use interstice_abi::{IndexKind, Persistence, Trigger};

use super::Described;

/// The text, ending in a newline.
pub(crate) fn render(d: &Described) -> String {
    let s = &d.schema;
    let mut out = format!("module {} {} (schema {})\n", s.name, s.version, d.hash);
    if !s.dependencies.is_empty() {
        let _ = writeln!(out, "depends on: {}", s.dependencies.join(", "));
    }
    for t in &s.tables {
        let cols: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = if i == t.primary_key as usize {
                    if t.auto_inc {
                        " [primary key, auto_inc]"
                    } else {
                        " [primary key]"
                    }
                } else {
                    ""
                };
                format!("{}: {}{key}", c.name, c.ty.display_name())
            })
            .collect();
        let eph = if t.persistence == Persistence::Ephemeral {
            " ephemeral"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "table {} v{}{eph} ({})",
            t.name,
            t.version,
            cols.join(", ")
        );
        for ix in &t.indexes {
            let kind = match ix.kind {
                IndexKind::BTree => "btree",
                IndexKind::Hash => "hash",
                IndexKind::Unique => "unique",
            };
            let cols: Vec<&str> = ix
                .columns
                .iter()
                .filter_map(|c| t.columns.get(*c as usize).map(|c| c.name.as_str()))
                .collect();
            let _ = writeln!(out, "  index {} {kind} ({})", ix.name, cols.join(", "));
        }
    }
    for r in &s.reducers {
        let mode = r.mode.name();
        let params: Vec<String> = r
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.ty.display_name()))
            .collect();
        let ret = match &r.error {
            Some(e) => format!("Result<{}, {}>", r.returns.display_name(), e.display_name()),
            None => r.returns.display_name(),
        };
        let trigger = match &r.trigger {
            None => String::new(),
            Some(Trigger::Init) => " on init".into(),
            Some(Trigger::Table {
                module,
                table,
                event,
            }) => format!(" on {module}.{table}.{}", event.as_str()),
            Some(Trigger::Migration {
                table,
                from_version,
                to_version,
                ..
            }) => format!(" migrating {table} from version {from_version} to {to_version}"),
        };
        let _ = writeln!(
            out,
            "{mode} reducer {}({}) -> {ret}{trigger}",
            r.name,
            params.join(", ")
        );
    }
    out
}
