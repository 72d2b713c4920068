//! Table reads and writes, and the limits every write counts against.

use super::*;

fn table_err<T>(st: &HostState, table: i32, op: &str, e: TableError) -> Res<T> {
    let name = st
        .tables
        .table(table as u32)
        .map(|t| t.name().to_owned())
        .unwrap_or_else(|| format!("#{table}"));
    match e {
        TableError::Constraint(m) => trap(HostTrap {
            kind: ErrorKind::Constraint,
            message: m,
        }),
        e => bad(format!("{op} on table `{name}`: {e}")),
    }
}

/// Refuses a write to a table the running trigger's `writes = […]` does
/// not declare: the load-time cycle check trusts the declaration.
fn require_declared(st: &HostState, table: i32, op: &str) -> Res<()> {
    let Some((ids, reducer)) = &st.tx.writes else {
        return Ok(());
    };
    if ids.contains(&(table as u32)) {
        return Ok(());
    }
    let name = st
        .tables
        .table(table as u32)
        .map(|t| t.name().to_owned())
        .unwrap_or_else(|| format!("#{table}"));
    let declared: Vec<String> = ids
        .iter()
        .filter_map(|i| st.tables.table(*i).map(|t| t.name().to_owned()))
        .collect();
    bad(format!(
        "undeclared write: trigger `{reducer}` may write only `writes = [{}]`, but it tried to \
         {op} a row of table `{name}` (declare it, or write it elsewhere)",
        declared.join(", ")
    ))
}

/// Counts a row write against the transaction's limits
/// (`Limits::tx_mutations`, `Limits::tx_mutation_bytes`); the write is
/// already made, and is rolled back with the rest when this fails.
fn count_mutation(st: &mut HostState) -> Res<()> {
    let Some(env) = &st.env else {
        return Ok(());
    };
    let limits = &env.limits;
    let usage = &mut st.tx.usage;
    usage.mutations += 1;
    usage.mutation_bytes += st.tables.last_change_bytes() as u64;
    if usage.mutations > limits.tx_mutations {
        return trap(HostTrap::limit(
            "tx_mutations",
            limits.tx_mutations,
            "row writes of this transaction",
        ));
    }
    if usage.mutation_bytes > limits.tx_mutation_bytes {
        return trap(HostTrap::limit(
            "tx_mutation_bytes",
            limits.tx_mutation_bytes,
            "bytes of row writes of this transaction",
        ));
    }
    Ok(())
}

/// Registers the table host calls in `linker`.
pub(super) fn link_tables(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = abi::IMPORT_MODULE;
    linker.func_wrap(
        m,
        abi::TABLE_INSERT,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_insert")?;
            require_declared(st, table, "insert")?;
            let r = slice(mem, ptr, len, "table_insert")?;
            match st.tables.insert(table as u32, &mem[r]) {
                Ok(row) => {
                    let len = row.len() as i64;
                    st.tx.ret.clear();
                    st.tx.ret.extend_from_slice(row);
                    count_mutation(st)?;
                    Ok(len)
                }
                Err(e) => table_err(st, table, "insert", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_UPDATE,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i32> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_update")?;
            require_declared(st, table, "update")?;
            let r = slice(mem, ptr, len, "table_update")?;
            match st.tables.update(table as u32, &mem[r]) {
                Ok(found) => {
                    if found {
                        count_mutation(st)?;
                    }
                    Ok(found as i32)
                }
                Err(e) => table_err(st, table, "update", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_DELETE,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i32> {
            let (mem, st) = parts(&mut c)?;
            require_write(st, "table_delete")?;
            require_declared(st, table, "delete")?;
            let r = slice(mem, ptr, len, "table_delete")?;
            match st.tables.delete(table as u32, &mem[r]) {
                Ok(found) => {
                    if found {
                        count_mutation(st)?;
                    }
                    Ok(found as i32)
                }
                Err(e) => table_err(st, table, "delete", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_GET,
        |mut c: Caller<'_, HostState>, table: i32, ptr: i32, len: i32| -> Res<i64> {
            let (mem, st) = parts(&mut c)?;
            require_running(st, "table_get")?;
            let r = slice(mem, ptr, len, "table_get")?;
            match st.tables.get(table as u32, &mem[r]) {
                Ok(Some(row)) => {
                    let len = row.len() as i64;
                    st.tx.ret.clear();
                    st.tx.ret.extend_from_slice(&row);
                    Ok(len)
                }
                Ok(None) => Ok(abi::NOT_FOUND),
                Err(e) => table_err(st, table, "get", e),
            }
        },
    )?;
    linker.func_wrap(
        m,
        abi::TABLE_COUNT,
        |c: Caller<'_, HostState>, table: i32| -> Res<i64> {
            let st = c.data();
            require_running(st, "table_count")?;
            match st.tables.table(table as u32) {
                Some(t) => Ok(t.len() as i64),
                None => bad(format!("table_count: no table #{table}")),
            }
        },
    )?;
    Ok(())
}
