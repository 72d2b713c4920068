//! Reading a rebuilt table's rows with the host's own query code
//! (`Cursor`, `query_page`), a page at a time in primary-key order, each
//! row decoded with the table's schema into the CLI's JSON: what `tables`
//! prints and `replay-debug`'s `show table` shows.

use interstice_abi::cbor::Reader;
use interstice_abi::query::MAX_PAGE_ROWS;
use interstice_abi::{TableSchema, Value};
use interstice_tables::{Cursor, Tables};
use serde_json::Value as Json;

use crate::error::CliError;
use crate::inspect::predicate::table_query;
use crate::output;

/// Reads at most `limit` rows (all when `None`) of table `idx` matching the
/// compiled `filter`, passing each page to `page` as rows of values in
/// column order; stops early when stdout is closed. Returns how many rows
/// were read and how many of the limit were left.
pub fn for_each_page(
    tables: &Tables,
    idx: u32,
    schema: &TableSchema,
    filter: Option<&[u8]>,
    limit: Option<u64>,
    mut page: impl FnMut(Vec<Vec<Json>>) -> Result<(), CliError>,
) -> Result<(u64, u64), CliError> {
    let mut cursor = Cursor::open(tables, idx, &table_query(filter))
        .map_err(|e| CliError::Usage(format!("--where: {e}")))?;
    let row_ty = schema.row_type();
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let mut left = limit.unwrap_or(u64::MAX);
    let mut buf = Vec::new();
    let mut shown = 0u64;
    while left > 0 && !output::stdout_closed() {
        let want = u32::try_from(left).unwrap_or(MAX_PAGE_ROWS);
        let more = tables
            .query_page(&mut cursor, want, &mut buf)
            .map_err(|e| CliError::CheckFailed(format!("reading {}: {e}", schema.name)))?;
        if !more.filled {
            break;
        }
        let mut rows: Vec<Vec<Json>> = Vec::new();
        let mut r = Reader::new(&buf);
        let n = r
            .array()
            .map_err(|e| CliError::CheckFailed(format!("reading {}: {e}", schema.name)))?;
        for _ in 0..n {
            let v = Value::decode(&row_ty, &mut r)
                .map_err(|e| CliError::CheckFailed(format!("a row of {}: {e}", schema.name)))?;
            let j = v.to_json(&row_ty);
            rows.push(names.iter().map(|c| j[*c].clone()).collect());
        }
        left = left.saturating_sub(rows.len() as u64);
        shown += rows.len() as u64;
        page(rows)?;
    }
    Ok((shown, left))
}
