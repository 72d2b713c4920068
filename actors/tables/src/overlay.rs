//! The write-back overlay of replay's tables.
//!
//! A commit nothing observes (`LogState::commit`'s quiet path) needs no old
//! rows, so its mutations need not reach the B-tree at once. Each one is
//! checked exactly as `Tables::apply_logged_quiet` checks it (table index,
//! row validation, key encoding, in the same order, with the same errors)
//! and bumps the `auto_inc` counter, but its key and row are only appended
//! to a write log: sequential writes, no search and no allocation per
//! mutation. Logged inserts and updates both store the row whether or not
//! the key exists, and deletes of a missing key do nothing, so no existence
//! check is needed and the B-tree is not read at all.
//!
//! A flush sorts the log by table, key and log order (integer keys as
//! packed 128-bit integers), keeps the last write of each key, builds one
//! entry per key written and hands each table its
//! writes in key order ([`Tables::write_sorted`], a single merge pass when
//! they are many). Searching a B-tree (or a hash map) of 100,000 rows costs
//! several cache misses per mutation; sorting a log costs memory bandwidth,
//! not latency. The tables are flushed whenever anything reads them —
//! [`ReplayTables`] is the only way to reach them and each accessor flushes
//! first, so a stale table cannot be read — and `LogState` flushes when the
//! logs hold too many bytes.

use std::cmp::Ordering;

use interstice_persist::MutationOpRef;

use crate::apply::SortedChange;
use crate::entry::Entry;
use crate::error::TableError;
use crate::tables::Tables;

/// One logged write; its key and row are in `ReplayTables::bytes`.
struct Pending {
    /// The key's first 8 bytes, big-endian, zero-padded: most comparisons
    /// of the sort end here.
    head: u64,
    /// Where the key starts in `bytes` (the row follows it).
    start: usize,
    key_len: usize,
    row_len: usize,
    table: u32,
    delete: bool,
}

/// The index part of a sorted write (`ReplayTables::sort_into`).
const INDEX: u128 = (1 << 44) - 1;

/// The first 8 bytes of a key, big-endian, zero-padded.
fn head_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

impl Pending {
    fn key<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.start..self.start + self.key_len]
    }

    fn row<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        let at = self.start + self.key_len;
        &bytes[at..at + self.row_len]
    }

    /// Table, then the byte order of the keys (that of the B-tree).
    fn cmp(&self, other: &Pending, bytes: &[u8]) -> Ordering {
        self.table
            .cmp(&other.table)
            .then(self.head.cmp(&other.head))
            .then_with(|| {
                if self.key_len <= 8 && other.key_len <= 8 {
                    // Equal heads: the shorter key is a prefix of the longer.
                    self.key_len.cmp(&other.key_len)
                } else {
                    self.key(bytes).cmp(other.key(bytes))
                }
            })
    }
}

/// A module's tables during replay, with the overlay in front of them.
pub struct ReplayTables {
    tables: Tables,
    /// The writes not yet applied, in log order.
    log: Vec<Pending>,
    /// Their keys and rows.
    bytes: Vec<u8>,
    /// Reused buffer for the key of the row being applied.
    key: Vec<u8>,
    /// Reused buffer for the sort of a flush.
    order: Vec<u128>,
}

impl ReplayTables {
    /// `tables` with an empty overlay.
    pub fn new(tables: Tables) -> Self {
        Self {
            tables,
            log: Vec::new(),
            bytes: Vec::new(),
            key: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Bytes the pending writes hold (0 when there are none).
    pub fn pending(&self) -> usize {
        self.log.len() * std::mem::size_of::<Pending>() + self.bytes.len()
    }

    /// `Tables::apply_logged_quiet` through the overlay: the same checks,
    /// errors and counter, the row written later.
    pub fn apply_quiet(&mut self, idx: u32, op: MutationOpRef<'_>) -> Result<(), TableError> {
        let (row, delete) = match op {
            MutationOpRef::Insert(bytes) | MutationOpRef::Update(bytes) => {
                self.tables.check_logged_row(idx, bytes, &mut self.key)?;
                (bytes, false)
            }
            MutationOpRef::Delete(key_value) => {
                self.tables
                    .check_logged_delete(idx, key_value, &mut self.key)?;
                (&[][..], true)
            }
        };
        self.log.push(Pending {
            head: head_of(&self.key),
            start: self.bytes.len(),
            key_len: self.key.len(),
            row_len: row.len(),
            table: idx,
            delete,
        });
        self.bytes.extend_from_slice(&self.key);
        self.bytes.extend_from_slice(row);
        Ok(())
    }

    /// Applies every pending write to the tables, each table's in key
    /// order. With `keep`, the log's buffers keep their capacity for the
    /// writes to come.
    pub fn flush(&mut self, keep: bool) {
        if self.log.is_empty() {
            return;
        }
        let mut order = std::mem::take(&mut self.order);
        self.sort_into(&mut order);
        let (log, bytes) = (&self.log, &self.bytes);
        let at = |j: usize| &log[(order[j] & INDEX) as usize];
        let mut writes: Vec<SortedChange> = Vec::new();
        let mut i = 0;
        while i < order.len() {
            let table = at(i).table;
            // The last write of each key of this table.
            while i < order.len() && at(i).table == table {
                let mut last = i;
                while last + 1 < order.len() && order[last + 1] >> 44 == order[i] >> 44 {
                    last += 1;
                }
                let p = at(last);
                writes.push(SortedChange {
                    entry: Entry::new(p.key(bytes), p.row(bytes)),
                    delete: p.delete,
                });
                i = last + 1;
            }
            self.tables.write_sorted(table, writes.drain(..));
        }
        order.clear();
        if keep {
            self.log.clear();
            self.bytes.clear();
            self.order = order;
        } else {
            self.log = Vec::new();
            self.bytes = Vec::new();
        }
    }

    /// Fills `order` with the log's writes sorted by table, then key, then
    /// log order, each as `[group][index: 44 bits]` (writes of one key share
    /// the group). Keys of at most 8 bytes (integer keys) are sorted as
    /// packed integers, `[table: 16 bits][head: 64][length: 4][index: 44]`;
    /// other logs by comparing the writes.
    fn sort_into(&self, order: &mut Vec<u128>) {
        order.clear();
        let log = &self.log;
        let packable =
            log.len() < 1 << 44 && log.iter().all(|p| p.key_len <= 8 && p.table < 1 << 16);
        if packable {
            order.extend(log.iter().enumerate().map(|(i, p)| {
                u128::from(p.table) << 112
                    | u128::from(p.head) << 48
                    | (p.key_len as u128) << 44
                    | i as u128
            }));
            order.sort_unstable();
            return;
        }
        let mut sorted: Vec<usize> = (0..log.len()).collect();
        // Stable: among writes of one key, log order.
        sorted.sort_by(|&a, &b| log[a].cmp(&log[b], &self.bytes));
        let mut group = 0u128;
        for (j, &i) in sorted.iter().enumerate() {
            if j > 0 && log[sorted[j - 1]].cmp(&log[i], &self.bytes) != Ordering::Equal {
                group += 1;
            }
            order.push(group << 44 | i as u128);
        }
    }

    /// The tables, up to date.
    pub fn tables(&mut self) -> &Tables {
        self.flush(false);
        &self.tables
    }

    /// The tables, up to date, to change directly.
    pub fn tables_mut(&mut self) -> &mut Tables {
        self.flush(false);
        &mut self.tables
    }

    /// The tables, up to date, without the overlay.
    pub fn into_tables(mut self) -> Tables {
        self.flush(false);
        self.tables
    }
}
