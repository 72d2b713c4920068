//! `interstice tables -d DIR [MODULE [TABLE]] [--at-ts TS] [--where PRED]
//! [--limit N] [--format table|json|csv]`: the state of a module's tables
//! at the end of the log, or as of timestamp `TS` (`docs/TOOLS.md`).
//!
//! The state is rebuilt by applying the logged mutations to
//! `interstice-tables` (no wasm runs, no lock is taken; `inspect/state.rs`);
//! only the named module's tables are kept when a module is named. Rows
//! are read with the host's own query code (`Cursor`, `query_page`), a
//! page at a time in primary-key order, and `--where` is compiled to the
//! host's filter encoding (`inspect/predicate.rs`), so a predicate means
//! here exactly what it means to a guest's query.

use std::path::Path;

use interstice_abi::{Persistence, TableSchema};
use interstice_tables::Tables;
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::inspect::emit::emit_csv;
use crate::inspect::predicate::compile;
use crate::inspect::rows::for_each_page;
use crate::inspect::state::replay;
use crate::output;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TablesFormat {
    /// Aligned columns with a header.
    Table,
    /// One JSON object per row (or per table, for counts).
    Json,
    /// CSV with a header.
    Csv,
}

/// What to show.
#[derive(Debug, Clone)]
pub struct TablesArgs<'a> {
    /// The data directory.
    pub dir: &'a Path,
    /// The module (all modules' counts when absent).
    pub module: Option<&'a str>,
    /// The table (the module's counts when absent).
    pub table: Option<&'a str>,
    /// The state as of this timestamp (the end of the log when absent).
    pub at_ts: Option<u64>,
    /// A `--where` predicate (needs a table).
    pub predicate: Option<&'a str>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Output format.
    pub format: TablesFormat,
}

/// Runs the command.
pub fn run(a: &TablesArgs<'_>) -> Result<(), CliError> {
    if a.predicate.is_some() && a.table.is_none() {
        return Err(CliError::Usage(
            "--where needs a table: interstice tables -d DIR MODULE TABLE --where PRED".into(),
        ));
    }
    let only = a.module.map(str::to_owned);
    let (state, _) = replay(
        a.dir,
        a.at_ts,
        move |m| only.as_deref().is_none_or(|o| o == m),
        "tables: replaying the log",
    )?;
    let Some(module) = a.module else {
        emit_counts_header(a.format)?;
        for name in &state.order {
            if let Some(m) = state.tables(name) {
                emit_counts(name, &m.tables, a.format)?;
            }
        }
        return Ok(());
    };
    let Some(m) = state.tables(module) else {
        return Err(CliError::Usage(format!(
            "no module `{module}` in the log{} (installed: {})",
            a.at_ts
                .map_or_else(String::new, |ts| format!(" at ts {ts}")),
            state.order.join(", ")
        )));
    };
    let Some(table) = a.table else {
        emit_counts_header(a.format)?;
        return emit_counts(module, &m.tables, a.format);
    };
    let schemas = state.schemas.get(module).map(|s| &s.tables);
    let Some((idx, schema)) = schemas
        .into_iter()
        .flatten()
        .enumerate()
        .find(|(_, t)| t.name == table)
    else {
        let names: Vec<&str> = schemas
            .into_iter()
            .flatten()
            .map(|t| t.name.as_str())
            .collect();
        return Err(CliError::Usage(format!(
            "module `{module}` has no table `{table}` (its tables: {})",
            names.join(", ")
        )));
    };
    let filter = match a.predicate {
        Some(p) => Some(compile(p, schema).map_err(|e| CliError::Usage(format!("--where: {e}")))?),
        None => None,
    };
    emit_rows(&m.tables, idx as u32, schema, filter.as_deref(), a)
}

fn emit_counts_header(format: TablesFormat) -> Result<(), CliError> {
    match format {
        TablesFormat::Table => {
            output::result(format!("{:<24} {:<24} {:>10}", "MODULE", "TABLE", "ROWS"))
        }
        TablesFormat::Csv => emit_csv(&["module", "table", "rows"])?,
        TablesFormat::Json => {}
    }
    Ok(())
}

fn emit_counts(module: &str, tables: &Tables, format: TablesFormat) -> Result<(), CliError> {
    for (i, (name, rows)) in tables.row_counts().into_iter().enumerate() {
        let ephemeral = tables
            .table(i as u32)
            .is_some_and(|t| t.schema().persistence == Persistence::Ephemeral);
        match format {
            TablesFormat::Table => output::result(format!(
                "{module:<24} {name:<24} {rows:>10}{}",
                if ephemeral {
                    "  (ephemeral: not logged, empty on replay)"
                } else {
                    ""
                }
            )),
            TablesFormat::Json => output::result(json!({
                "module": module,
                "table": name,
                "rows": rows,
                "ephemeral": ephemeral,
            })),
            TablesFormat::Csv => emit_csv(&[module, &name, &rows.to_string()])?,
        }
    }
    Ok(())
}

/// A cell as text: a string as it is, anything else as JSON.
fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn emit_rows(
    tables: &Tables,
    idx: u32,
    schema: &TableSchema,
    filter: Option<&[u8]>,
    a: &TablesArgs<'_>,
) -> Result<(), CliError> {
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let mut widths: Option<Vec<usize>> = None;
    match a.format {
        TablesFormat::Csv => emit_csv(&names)?,
        TablesFormat::Table | TablesFormat::Json => {}
    }
    let (shown, left) = for_each_page(tables, idx, schema, filter, a.limit, |rows| {
        match a.format {
            TablesFormat::Json => {
                for row in &rows {
                    let obj: serde_json::Map<String, Json> = names
                        .iter()
                        .map(|c| (*c).to_owned())
                        .zip(row.iter().cloned())
                        .collect();
                    output::result(Json::Object(obj));
                }
            }
            TablesFormat::Csv => {
                for row in &rows {
                    let cells: Vec<String> = row.iter().map(cell).collect();
                    let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
                    emit_csv(&refs)?;
                }
            }
            TablesFormat::Table => {
                // Widths from the first page (later rows only widen their
                // own line), so rows stream instead of being held.
                let w = widths.get_or_insert_with(|| {
                    let w: Vec<usize> = names
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            rows.iter()
                                .map(|r| cell(&r[i]).chars().count())
                                .chain([c.chars().count()])
                                .max()
                                .unwrap_or(0)
                        })
                        .collect();
                    output::result(pad(names.iter().map(|c| (*c).to_owned()), &w));
                    w
                });
                for row in &rows {
                    output::result(pad(row.iter().map(cell), w));
                }
            }
        }
        Ok(())
    })?;
    if a.format == TablesFormat::Table {
        if widths.is_none() {
            output::result(names.join("  "));
        }
        output::progress(format!(
            "{shown} row(s){}",
            if left == 0 && a.limit.is_some() {
                " (--limit reached)"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

fn pad(cells: impl Iterator<Item = String>, widths: &[usize]) -> String {
    let parts: Vec<String> = cells.zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
    parts.join("  ").trim_end().to_owned()
}
