//! Baseline: SQLite (rusqlite, bundled) doing the transfer workload's
//! transfers: one transaction each (`BEGIN IMMEDIATE`; read both balances;
//! debit one, credit the other; `COMMIT`), accounts drawn from the same
//! Zipf distribution, WAL journal, `synchronous = FULL` (an fsync of the WAL
//! per commit) or `NORMAL` (no fsync per commit; the WAL is synced at
//! checkpoints).
//!
//! SQLite has a single writer, so 64 concurrent callers would only queue on
//! its lock: it runs single-threaded, one transaction after another, each
//! acknowledged after its `COMMIT` returns. Nothing is batched: the
//! `keynote` workload's calls in flight have no honest SQLite counterpart
//! (a single writer cannot overlap transactions), so its baseline is this
//! same loop. [`measure`] runs it for the `transfer`, `keynote` and
//! `contended` workloads, the last with each round also run beside a CPU
//! hog.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::driver;
use super::hog::Hog;
use super::report::{Role, Row};
use super::transfer::ALPHAS;
use super::zipf::{Rng, Zipf};
use super::Ctx;
use crate::error::CliError;

/// The `synchronous` modes measured, in report order.
pub(super) const MODES: [&str; 2] = ["FULL", "NORMAL"];

/// One SQLite series: α, `synchronous` mode, its quiet row and (with a hog)
/// its row beside the hog.
pub(super) struct Series {
    /// The Zipf exponent.
    pub alpha: f64,
    /// `FULL` or `NORMAL`.
    pub mode: &'static str,
    /// Measured with nothing else of this process running.
    pub quiet: Row,
    /// Measured while the hog spun (with `hog_threads`).
    pub hogged: Option<Row>,
}

/// The name of a quiet SQLite row.
pub(super) fn row_name(alpha: f64, mode: &str) -> String {
    format!("SQLite α={alpha}, WAL, synchronous={mode}")
}

/// SQLite doing the transfer workload's transfers in a fresh database under
/// the scratch directory `dir_name`, for each α of [`ALPHAS`] and each mode
/// of [`MODES`], `rounds` rounds of each. With `hog_threads`, every round
/// is run twice, quiet and then beside a hog of that many spinning
/// threads, so that both figures come from the same moments of the run.
/// Checks that the total balance is conserved.
pub(super) async fn measure(
    ctx: &Ctx,
    dir_name: &str,
    hog_threads: Option<usize>,
) -> Result<Vec<Series>, CliError> {
    let s = &ctx.sizes;
    let db = ctx.scratch.path(dir_name);
    std::fs::create_dir_all(&db)?;
    ctx.progress
        .step(format!("sqlite: seeding {} accounts", s.accounts));
    let (accounts, rounds) = (s.accounts, s.rounds);
    let (full_txs, normal_txs) = (s.sqlite_full_txs, s.sqlite_normal_txs);
    let path = db.join("bank.db");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sqlite = tokio::task::spawn_blocking(move || {
        let bank = Bank::create(&path, accounts, driver::bench_initial_balance())?;
        let mut out = Vec::new();
        for (i, alpha) in ALPHAS.into_iter().enumerate() {
            let zipf = Zipf::new(accounts, alpha);
            for (mode, txs) in MODES.into_iter().zip([full_txs, normal_txs]) {
                bank.synchronous(mode)?;
                let mut rng = Rng::new(1000 + i as u64);
                let (mut rates, mut lat) = (Vec::new(), Vec::new());
                let (mut hog_rates, mut hog_lat) = (Vec::new(), Vec::new());
                for r in 0..rounds {
                    let _ = tx.send(format!(
                        "sqlite α = {alpha}, synchronous={mode}: round {}/{rounds}",
                        r + 1
                    ));
                    let (elapsed, l) = bank.transfers(&zipf, &mut rng, txs)?;
                    rates.push(txs as f64 / elapsed.as_secs_f64());
                    lat.extend(l);
                    if let Some(n) = hog_threads {
                        let _ = tx.send(format!(
                            "sqlite α = {alpha}, synchronous={mode}, {n}-thread CPU hog: \
                             round {}/{rounds}",
                            r + 1
                        ));
                        let hog = Hog::start(n);
                        let (elapsed, l) = bank.transfers(&zipf, &mut rng, txs)?;
                        hog.stop_checked("sqlite", elapsed)?;
                        hog_rates.push(txs as f64 / elapsed.as_secs_f64());
                        hog_lat.extend(l);
                    }
                }
                let note = format!("1 thread (single writer) × {txs} tx, {rounds} rounds");
                let quiet = Row::new(
                    row_name(alpha, mode),
                    Role::Baseline,
                    "tx/s",
                    rates,
                    Some(&mut lat),
                    note.clone(),
                );
                let hogged = hog_threads.map(|n| {
                    Row::new(
                        format!("{}, {n}-thread CPU hog", row_name(alpha, mode)),
                        Role::Baseline,
                        "tx/s",
                        hog_rates,
                        Some(&mut hog_lat),
                        format!("{note}, beside {n} spinning threads"),
                    )
                });
                out.push(Series {
                    alpha,
                    mode,
                    quiet,
                    hogged,
                });
            }
        }
        if bank.total()? != accounts * driver::bench_initial_balance() {
            return Err(CliError::Bench("sqlite: the total balance changed".into()));
        }
        Ok::<_, CliError>(out)
    });
    tokio::pin!(sqlite);
    let series = loop {
        tokio::select! {
            Some(msg) = rx.recv() => ctx.progress.step(msg),
            done = &mut sqlite => break done.map_err(|e| CliError::Bench(e.to_string()))??,
        }
    };
    ctx.scratch.remove(&db);
    Ok(series)
}

/// The series of `alpha` and `mode` in `series`.
pub(super) fn find<'a>(series: &'a [Series], alpha: f64, mode: &str) -> &'a Series {
    series
        .iter()
        .find(|s| s.alpha == alpha && s.mode == mode)
        .expect("measure runs every α and mode")
}

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
