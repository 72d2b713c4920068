//! Scans: a table walked in key order, a bounded number open at once.

use super::*;

/// Most scans one call may hold open at once.
const MAX_SCANS: usize = 1024;

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
            let st = c.data_mut();
            match st.tx.scans.get_mut(handle as u32 as usize) {
                Some(slot @ Some(_)) => {
                    *slot = None;
                    Ok(())
                }
                _ => bad(format!("scan_close: no open scan #{handle}")),
            }
        },
    )?;
    Ok(())
}
