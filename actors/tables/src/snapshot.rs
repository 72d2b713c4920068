//! The logged tables as a snapshot holds them, and back.

use interstice_abi::TableSchema;

use crate::error::{SnapshotProblem, TableError};
use crate::tables::Tables;

impl Tables {
    /// The logged tables' rows and `auto_inc` counters, for a snapshot
    /// (rows are copied as stored, never re-encoded).
    pub fn export_logged(&self) -> Vec<interstice_persist::SnapshotTable> {
        self.tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_logged())
            .map(|(i, t)| interstice_persist::SnapshotTable {
                index: i as u32,
                next_auto_inc: t.next_auto_inc,
                rows: t
                    .store
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_row().into_vec()))
                    .collect(),
            })
            .collect()
    }

    /// Tables for `schemas` holding a snapshot's rows and counters. The
    /// snapshot's checksum vouches for the bytes, so rows are not decoded
    /// again; a table index that is not a logged table of `schemas`, or keys
    /// out of order, are refused.
    pub fn restore(
        schemas: &[TableSchema],
        saved: &[interstice_persist::SnapshotTable],
    ) -> Result<Tables, TableError> {
        let refused = |table: u32, problem| TableError::Snapshot { table, problem };
        let mut out = Tables::new(schemas);
        for st in saved {
            let Some(t) = out.tables.get_mut(st.index as usize) else {
                return Err(refused(st.index, SnapshotProblem::NotInSchema));
            };
            if !t.is_logged() {
                return Err(refused(st.index, SnapshotProblem::NotLogged));
            }
            t.next_auto_inc = st.next_auto_inc;
            let mut prev: Option<&[u8]> = None;
            for (k, v) in &st.rows {
                if prev.is_some_and(|last| last >= k.as_slice()) {
                    return Err(refused(st.index, SnapshotProblem::KeysOutOfOrder));
                }
                prev = Some(k);
                t.store.replace(k, v);
            }
            // Indexes are derived state: rebuilt, never stored.
            t.rebuild_indexes();
        }
        Ok(out)
    }
}
