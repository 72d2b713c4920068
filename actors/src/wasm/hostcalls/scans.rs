//! Scans: a table walked in key order, a bounded number open at once.

use super::*;

/// Most scans one call may hold open at once.
const MAX_SCANS: usize = 1024;

/// Empties the open slot `handle`, or traps with `what #handle`.
fn close_slot<T>(slots: &mut [Option<T>], handle: i32, what: &str) -> Res<()> {
    match slots.get_mut(handle as u32 as usize) {
        Some(slot @ Some(_)) => {
            *slot = None;
            Ok(())
        }
        _ => bad(format!("{what} #{handle}")),
    }
}

pub(super) fn link_scans(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::SCAN_OPEN,
        |mut c: Caller<'_, HostState>, table: i32| -> Res<i32> {
            let st = c.data_mut();
            require_running(st, "scan_open")?;
            if st.tables.table(table as u32).is_none() {
                return bad(format!("scan_open: no table #{table}"));
            }
            let scan = Some(Scan {
                table: table as u32,
                after: None,
            });
            if let Some(i) = st.tx.scans.iter().position(Option::is_none) {
                st.tx.scans[i] = scan;
                return Ok(i as i32);
            }
            if st.tx.scans.len() >= MAX_SCANS {
                return bad(format!("more than {MAX_SCANS} scans open at once"));
            }
            st.tx.scans.push(scan);
            Ok(st.tx.scans.len() as i32 - 1)
        },
    )?;
    linker.func_wrap(
        m,
        abi::SCAN_NEXT,
        |mut c: Caller<'_, HostState>, handle: i32| -> Res<i64> {
            let st = c.data_mut();
            let Some(Some(scan)) = st.tx.scans.get(handle as u32 as usize) else {
                return bad(format!("scan_next: no open scan #{handle}"));
            };
            let table = st.tables.table(scan.table).expect("checked at open");
            match table.next_after(scan.after.as_deref()) {
                Some((k, row)) => {
                    let (k, row): (Box<[u8]>, Vec<u8>) = (k.into(), row.to_vec());
                    st.tx.scans[handle as usize]
                        .as_mut()
                        .expect("checked above")
                        .after = Some(k);
                    Ok(set_ret(st, &row))
                }
                None => Ok(abi::NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::SCAN_CLOSE,
        |mut c: Caller<'_, HostState>, handle: i32| -> Res<()> {
            close_slot(
                &mut c.data_mut().tx.scans,
                handle,
                "scan_close: no open scan",
            )
        },
    )?;
    Ok(())
}

fn query_err<T>(st: &HostState, table: u32, what: &str, e: TableError) -> Res<T> {
    let name = st
        .tables
        .table(table)
        .map(|t| format!("`{}`", t.name()))
        .unwrap_or_else(|| format!("#{table}"));
    bad(format!("{what} on table {name}: {e}"))
}

/// Where the query bytes a guest passed lie in its memory: at most
/// `MAX_QUERY_BYTES`, checked before they are read.
fn query_slice(mem: &[u8], ptr: i32, len: i32, what: &str) -> Res<std::ops::Range<usize>> {
    if len as u32 as usize > interstice_abi::query::MAX_QUERY_BYTES {
        return bad(format!(
            "{what}: query of {} bytes, more than {}",
            len as u32,
            interstice_abi::query::MAX_QUERY_BYTES
        ));
    }
    slice(mem, ptr, len, what)
}

/// Charges the transaction's fuel for `examined` entries a query call
/// walked (`FUEL_PER_EXAMINED_ENTRY` each); traps with `Budget` if that is
/// more than it has left.
fn charge_examined(c: &mut Caller<'_, HostState>, examined: u64, what: &str) -> Res<()> {
    let cost = examined.saturating_mul(interstice_abi::query::FUEL_PER_EXAMINED_ENTRY);
    let left = c.get_fuel().unwrap_or(0);
    if cost > left {
        let limit = c.data().env.as_ref().map_or(0, |e| e.limits.fuel);
        return trap(HostTrap {
            kind: ErrorKind::Budget,
            message: format!(
                "execution budget exhausted in {what} ({examined} entries examined): limit \
                 reached (Limits::fuel = {limit})"
            ),
        });
    }
    c.set_fuel(left - cost)?;
    Ok(())
}

/// Registers the index-query host calls (`docs/ABI.md` §4.1).
pub(super) fn link_queries(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::QUERY_OPEN,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i32> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "query_open")?;
            let r = query_slice(mem, ptr, len, "query_open")?;
            let cursor = match interstice_tables::Cursor::open(&st.tables, table as u32, &mem[r]) {
                Ok(cur) => cur,
                Err(e) => return query_err(st, table as u32, "query_open", e),
            };
            if let Some(i) = st.tx.queries.iter().position(Option::is_none) {
                st.tx.queries[i] = Some(cursor);
                return Ok(i as i32);
            }
            if st.tx.queries.len() >= MAX_SCANS {
                return bad(format!("more than {MAX_SCANS} queries open at once"));
            }
            st.tx.queries.push(Some(cursor));
            Ok(st.tx.queries.len() as i32 - 1)
        },
    )?;
    linker.func_wrap(
        m,
        abi::QUERY_PAGE,
        |mut c: Caller<'_, HostState>, handle: i32, max_rows: i32| -> Res<i64> {
            let st = c.data_mut();
            let Some(Some(cursor)) = st.tx.queries.get_mut(handle as u32 as usize) else {
                return bad(format!("query_page: no open query #{handle}"));
            };
            let table = cursor.table;
            let mut out = std::mem::take(&mut st.tx.ret);
            let page = st
                .tables
                .query_page(cursor, max_rows.max(1) as u32, &mut out);
            st.tx.ret = out;
            match page {
                Ok(page) => {
                    charge_examined(&mut c, page.examined, "query_page")?;
                    let st = c.data();
                    Ok(if page.filled {
                        st.tx.ret.len() as i64
                    } else {
                        abi::NOT_FOUND
                    })
                }
                Err(e) => query_err(st, table, "query_page", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::QUERY_FIRST,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "query_first")?;
            let r = query_slice(mem, ptr, len, "query_first")?;
            let mut cursor =
                match interstice_tables::Cursor::open(&st.tables, table as u32, &mem[r]) {
                    Ok(cur) => cur,
                    Err(e) => return query_err(st, table as u32, "query_first", e),
                };
            // Walks of a bounded length until one finds the row or the
            // query ends; each walk's entries are charged, so the fuel
            // bounds the whole.
            loop {
                let st = c.data_mut();
                let mut out = std::mem::take(&mut st.tx.ret);
                let page = st.tables.query_first_row(&mut cursor, &mut out);
                st.tx.ret = out;
                let page = match page {
                    Ok(page) => page,
                    Err(e) => return query_err(st, table as u32, "query_first", e),
                };
                charge_examined(&mut c, page.examined, "query_first")?;
                if page.filled {
                    return Ok(c.data().tx.ret.len() as i64);
                }
                if cursor.is_done() {
                    return Ok(abi::NOT_FOUND);
                }
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::QUERY_CLOSE,
        |mut c: Caller<'_, HostState>, handle: i32| -> Res<()> {
            close_slot(
                &mut c.data_mut().tx.queries,
                handle,
                "query_close: no open query",
            )
        },
    )?;
    linker.func_wrap(
        m,
        abi::QUERY_AGGREGATE,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "query_aggregate")?;
            let r = query_slice(mem, ptr, len, "query_aggregate")?;
            match st.tables.aggregate(table as u32, &mem[r]) {
                Ok(agg) => {
                    charge_examined(&mut c, agg.examined, "query_aggregate")?;
                    Ok(set_ret(c.data_mut(), &agg.value))
                }
                Err(e) => query_err(st, table as u32, "query_aggregate", e),
            }
        },
    )?;
    Ok(())
}
