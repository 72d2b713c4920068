//! Baseline: SQLite (rusqlite, bundled) doing the transfer workload's
//! transfers: one transaction each (`BEGIN IMMEDIATE`; read both balances;
//! debit one, credit the other; `COMMIT`), accounts drawn from the same
//! Zipf distribution, WAL journal, `synchronous = FULL` (an fsync of the WAL
//! per commit) or `NORMAL` (no fsync per commit; the WAL is synced at
//! checkpoints).
//!
//! SQLite has a single writer, so 64 concurrent callers would only queue on
//! its lock: it runs single-threaded, one transaction after another.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::zipf::{Rng, Zipf};
use crate::error::CliError;

fn err(e: rusqlite::Error) -> CliError {
    CliError::Bench(format!("sqlite: {e}"))
}

/// A SQLite database with `accounts(id, balance)`.
pub(super) struct Bank {
    conn: Connection,
}

impl Bank {
    /// Creates `path` in WAL mode with accounts `0..n`, each holding
    /// `balance`.
    pub(super) fn create(path: &Path, n: u64, balance: u64) -> Result<Self, CliError> {
        let conn = Connection::open(path).map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CliError::Bench(format!(
                "sqlite refused WAL mode (journal_mode = {mode})"
            )));
        }
        conn.execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);",
        )
        .map_err(err)?;
        let tx = conn.unchecked_transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare("INSERT INTO accounts (id, balance) VALUES (?1, ?2)")
                .map_err(err)?;
            for id in 0..n {
                insert
                    .execute(params![id as i64, balance as i64])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(Bank { conn })
    }

    /// Sets `PRAGMA synchronous` (`FULL` or `NORMAL`).
    pub(super) fn synchronous(&self, mode: &str) -> Result<(), CliError> {
        self.conn
            .execute_batch(&format!("PRAGMA synchronous = {mode};"))
            .map_err(err)
    }

    /// `txs` transfers of 1 between accounts drawn from `zipf`, one
    /// transaction each. Returns the wall time and each commit's latency.
    pub(super) fn transfers(
        &self,
        zipf: &Zipf,
        rng: &mut Rng,
        txs: usize,
    ) -> Result<(Duration, Vec<Duration>), CliError> {
        let c = &self.conn;
        let mut begin = c.prepare("BEGIN IMMEDIATE").map_err(err)?;
        let mut commit = c.prepare("COMMIT").map_err(err)?;
        let mut get = c
            .prepare("SELECT balance FROM accounts WHERE id = ?1")
            .map_err(err)?;
        let mut debit = c
            .prepare("UPDATE accounts SET balance = balance - 1 WHERE id = ?1")
            .map_err(err)?;
        let mut credit = c
            .prepare("UPDATE accounts SET balance = balance + 1 WHERE id = ?1")
            .map_err(err)?;
        let mut lat = Vec::with_capacity(txs);
        let start = Instant::now();
        for _ in 0..txs {
            let (from, to) = (zipf.sample(rng) as i64, zipf.sample(rng) as i64);
            let t = Instant::now();
            begin.execute([]).map_err(err)?;
            let mut transfer = || {
                let src: i64 = get.query_row([from], |r| r.get(0)).map_err(err)?;
                let _dst: i64 = get.query_row([to], |r| r.get(0)).map_err(err)?;
                if src < 1 {
                    return Err(CliError::Bench(format!("sqlite: account {from} is empty")));
                }
                debit.execute([from]).map_err(err)?;
                credit.execute([to]).map_err(err)?;
                Ok(())
            };
            match transfer() {
                Ok(()) => {
                    commit.execute([]).map_err(err)?;
                }
                Err(e) => {
                    let _ = c.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
            lat.push(t.elapsed());
        }
        Ok((start.elapsed(), lat))
    }

    /// The sum of all balances.
    pub(super) fn total(&self) -> Result<u64, CliError> {
        let t: i64 = self
            .conn
            .query_row("SELECT SUM(balance) FROM accounts", [], |r| r.get(0))
            .map_err(err)?;
        Ok(t as u64)
    }
}
