//! `replay`: opening a data directory whose log holds 1M transfer commits
//! (`b_bank.transfer`, two row updates each): startup time (`open()`, which
//! replays the whole log without running wasm) and replayed mutations per
//! second (`Metrics::replayed_mutations` / open time); then the same
//! startup with a snapshot covering the whole log (`Runtime::snapshot_now`,
//! `docs/SNAPSHOT_FORMAT.md`), which loads the snapshot and replays the empty
//! suffix, and the data directory's size before and after that snapshot's
//! retention deleted the log segments it covers.
//!
//! The log is made the fastest honest way: the runtime installs `b_bank`,
//! seeds the accounts and commits one real transfer; then the commits are
//! appended with `persist::LogWriter` as the runtime would have written them
//! — the first synthetic record is checked to be identical to the real
//! one, balances are tracked so every logged row is the true new row, and
//! after the replay sampled balances are read back through the runtime.
//!
//! Baselines, over the same log files: persist's reader alone (reading,
//! hash-chain verification and the borrowed decode of every entry, the
//! physical floor of any replay), and the same reader feeding a bare loop
//! that applies every mutation to a `BTreeMap<Vec<u8>, Vec<u8>>` per table
//! keyed by the row's first (key) column — replay with no schema checks,
//! indexes or runtime around it. The bare loop's final map must hold
//! exactly the expected balances.

use std::collections::BTreeMap;
use std::path::Path;

use std::time::Instant;

use interstice_abi::cbor::Writer;
use interstice_abi::IntersticeType;
use interstice_actors::{Durability, Limits, Runtime};
use interstice_persist::{
    encode_entry, for_each_entry, read_log, Cause, CommitRecord, DataDir, Hash, LogEntry,
    LogEntryRef, LogWriter, Mutation, MutationOp, MutationOpRef, Outcome, PersistError,
    ReadOptions, WriterOptions,
};
use serde_json::json;

use super::driver;
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::zipf::{Rng, Zipf};
use super::{guests, workload, Ctx};
use crate::error::CliError;

/// Entries per logged batch (about one group commit of 64 callers).
const BATCH: u32 = 64;

/// The commit `b_bank.transfer(from, to, 1)` at `ts` logs, given the
/// balances before it (which it updates), finished at `wall_micros`.
fn transfer_commit(
    module: &str,
    ts: u64,
    schema_hash: Hash,
    (from, to): (u64, u64),
    bal: &mut [u64],
    wall_micros: Option<u64>,
) -> LogEntry {
    bal[from as usize] -= 1;
    let debit = (from, bal[from as usize]).to_bytes();
    bal[to as usize] += 1;
    let credit = (to, bal[to as usize]).to_bytes();
    LogEntry::Commit(CommitRecord {
        ts,
        module: module.into(),
        schema_hash,
        reducer: "transfer".into(),
        args: (from, to, 1u64).to_bytes(),
        cause: Cause::External,
        nondet: Vec::new(),
        outcome: Outcome::Ok(().to_bytes()),
        mutations: vec![
            Mutation {
                table: 0,
                op: MutationOp::Update(debit),
            },
            Mutation {
                table: 0,
                op: MutationOp::Update(credit),
            },
        ],
        calls: Vec::new(),
        wall_micros,
    })
}

fn persist_err(e: PersistError) -> CliError {
    CliError::Bench(format!("replay: writing the log: {e}"))
}

/// Appends `commits` transfer commits of `module` to the log in `dir` (the
/// runtime must be closed). Checks the runtime's own last commit,
/// `transfer(0, 1, 1)`, against the record this function would write.
/// Returns the balances and the log's entry count.
fn generate(
    dir: &std::path::Path,
    module: &str,
    accounts: u64,
    commits: u64,
    progress: &dyn Fn(String),
) -> Result<(Vec<u64>, u64), CliError> {
    let data = DataDir::open(dir, false).map_err(persist_err)?;
    let storage = data.log_storage();
    let mut last = None;
    read_log(
        &*storage,
        &ReadOptions::default(),
        for_each_entry(|e| {
            last = Some(e);
            Ok::<(), PersistError>(())
        }),
    )
    .map_err(persist_err)?;
    let Some(LogEntry::Commit(real)) = last else {
        return Err(CliError::Bench(
            "replay: the log does not end with the real transfer".into(),
        ));
    };
    let initial = driver::bench_initial_balance();
    let mut bal = vec![initial; accounts as usize];
    // The wall-clock time is the one field the runtime's record may have
    // that the synthetic one cannot know.
    let synthetic = transfer_commit(
        module,
        real.ts,
        real.schema_hash,
        (0, 1),
        &mut bal,
        real.wall_micros,
    );
    if synthetic != LogEntry::Commit(real.clone()) {
        return Err(CliError::Bench(format!(
            "replay: the synthetic transfer record differs from the runtime's:\n  \
             runtime:   {real:?}\n  synthetic: {synthetic:?}"
        )));
    }
    let (mut writer, recovered) =
        LogWriter::open(storage, WriterOptions::default()).map_err(persist_err)?;
    let mut ts = recovered.next_ts;
    let zipf = Zipf::new(accounts, 0.0);
    let mut rng = Rng::new(42);
    let mut done = 0u64;
    // Commits finish 10 µs apart from the real one on, as a busy runtime's
    // would: every synthetic record carries a wall-clock time.
    let wall = real.wall_micros.unwrap_or(0);
    while done < commits {
        let count = (commits - done).min(u64::from(BATCH)) as u32;
        let mut w = Writer::new();
        for i in 0..u64::from(count) {
            let (from, to) = (zipf.sample(&mut rng), zipf.sample(&mut rng));
            encode_entry(
                &transfer_commit(
                    module,
                    ts + i,
                    real.schema_hash,
                    (from, to),
                    &mut bal,
                    Some(wall + (ts + i - real.ts) * 10),
                ),
                &mut w,
            );
        }
        writer
            .append_batch(ts, count, w.as_slice())
            .map_err(persist_err)?;
        ts += u64::from(count);
        done += u64::from(count);
        if done % (1 << 17) < u64::from(BATCH) {
            progress(format!("writing the log: {done}/{commits} commits"));
        }
    }
    writer.sync().map_err(persist_err)?;
    Ok((bal, ts - 1))
}

/// A replayed log of transfer commits.
struct Replayed {
    dir: std::path::PathBuf,
    /// Replayed mutations per second, per round.
    rates: Vec<f64>,
    /// `open()` times, ms, per round.
    startup_ms: Vec<f64>,
    mutations: u64,
    entries: u64,
    balances: Vec<u64>,
    log_bytes: u64,
}

/// Makes a log of `replay_commits` transfer commits of `module` (`b_bank`,
/// or `b_bank_ix` with its indexed accounts) and times opening it, checking
/// that every entry is replayed and sampled balances come back right.
async fn logged_replay(ctx: &Ctx, module: &'static str) -> Result<Replayed, CliError> {
    let s = &ctx.sizes;
    let accounts = s.accounts;
    let dir = ctx.scratch.path("replay");
    {
        let rt = guests::open(&dir, Durability::Sync).await?;
        ctx.guests.load(&rt, &[module]).await?;
        ctx.progress
            .step(format!("{module}: seeding {accounts} accounts"));
        driver::seed_accounts(&rt, module, accounts, s.seed_batch).await?;
        rt.call_encoded(module, "transfer", (0u64, 1u64, 1u64).to_bytes())
            .await?;
        rt.shutdown().await?;
    }
    let (commits, gen_dir) = (s.replay_commits, dir.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let gen = tokio::task::spawn_blocking(move || {
        generate(&gen_dir, module, accounts, commits, &move |m| {
            let _ = tx.send(m);
        })
    });
    tokio::pin!(gen);
    let (balances, entries) = loop {
        tokio::select! {
            Some(msg) = rx.recv() => ctx.progress.step(msg),
            done = &mut gen => break done.map_err(|e| CliError::Bench(e.to_string()))??,
        }
    };
    let log_bytes: u64 = std::fs::read_dir(dir.join("log"))?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    let mut rates = Vec::new();
    let mut startup_ms = Vec::new();
    let mut mutations = 0;
    for i in 0..s.rounds {
        ctx.progress.step(format!(
            "{module}: open (replay): round {}/{}",
            i + 1,
            s.rounds
        ));
        let start = Instant::now();
        let rt = guests::open(&dir, Durability::Sync).await?;
        let elapsed = start.elapsed().as_secs_f64();
        let m = rt.metrics();
        if m.replayed_entries != entries {
            return Err(CliError::Bench(format!(
                "replay: {} entries replayed, the log has {entries}",
                m.replayed_entries
            )));
        }
        mutations = m.replayed_mutations;
        rates.push(m.replayed_mutations as f64 / elapsed);
        startup_ms.push(elapsed * 1e3);
        if i == 0 {
            let step = (accounts / 64).max(1);
            for id in (0..accounts).step_by(step as usize).chain([1]) {
                let out = rt.read(module, "balance", vec![id.into()]).await?;
                if out.to_json().as_u64() != Some(balances[id as usize]) {
                    return Err(CliError::Bench(format!(
                        "replay: {module} account {id} has {} after replay, expected {}",
                        out.to_json(),
                        balances[id as usize]
                    )));
                }
            }
        }
        rt.shutdown().await?;
    }
    Ok(Replayed {
        dir,
        rates,
        startup_ms,
        mutations,
        entries,
        balances,
        log_bytes,
    })
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "replay",
        json!({
            "commits": s.replay_commits,
            "mutations_per_commit": 2,
            "accounts": s.accounts,
            "entries_per_batch": BATCH,
            "rounds": s.rounds,
            "indexed_variant": "b_bank_ix: two secondary indexes on the balance",
        }),
    );
    let Replayed {
        dir,
        rates,
        startup_ms,
        mutations,
        entries,
        balances,
        log_bytes,
    } = logged_replay(ctx, "b_bank").await?;
    let bare = if s.baselines {
        Some(bare_baselines(ctx, &dir, mutations, &balances).await?)
    } else {
        None
    };
    let dir_before = dir_size(&dir)?;
    let (snap_ms, snap_bytes) = with_snapshot(ctx, &dir, entries, &balances).await?;
    let dir_after = dir_size(&dir)?;
    ctx.scratch.remove(&dir);
    let note = format!(
        "{} commits, {} entries, {:.0} MB of log",
        s.replay_commits,
        entries,
        log_bytes as f64 / 1e6
    );
    let rate = Row::new(
        "replay: mutations/s during open",
        Role::Interstice,
        "mutations/s",
        rates,
        None,
        note.clone(),
    )
    .with("mutations", mutations)
    .with("entries", entries)
    .with("log_bytes", log_bytes);
    let startup = Row::new(
        "replay: startup (open) time",
        Role::Interstice,
        "ms",
        startup_ms,
        None,
        note,
    );
    report.ratios.push(
        Ratio::figure("replay mutations/s", rate.median, "mutations/s").at_least(3_000_000.0),
    );
    report.ratios.push(Ratio::figure(
        "entries replayed per second",
        entries as f64 / (startup.median / 1e3),
        "entries/s",
    ));
    let snap_note = format!(
        "{} commits covered by one {:.1} MB snapshot; data directory {:.0} MB before, {:.1} MB \
         after retention",
        s.replay_commits,
        snap_bytes as f64 / 1e6,
        dir_before as f64 / 1e6,
        dir_after as f64 / 1e6
    );
    let snap_startup = Row::new(
        "replay: startup (open) time with a snapshot",
        Role::Interstice,
        "ms",
        snap_ms,
        None,
        snap_note,
    )
    .with("snapshot_bytes", snap_bytes)
    .with("dir_bytes_before_retention", dir_before)
    .with("dir_bytes_after_retention", dir_after);
    report.ratios.push(Ratio::figure(
        "startup: full replay / with snapshot",
        startup.median / snap_startup.median.max(1e-9),
        "x",
    ));
    let indexed = logged_replay(ctx, "b_bank_ix").await?;
    ctx.scratch.remove(&indexed.dir);
    let indexed_rate = Row::new(
        "replay into a table with two secondary indexes: mutations/s during open",
        Role::Interstice,
        "mutations/s",
        indexed.rates,
        None,
        format!(
            "{} commits of b_bank_ix.transfer: each update moves a B-tree and a hash index entry",
            s.replay_commits
        ),
    )
    .with("mutations", indexed.mutations)
    .with("entries", indexed.entries);
    report.ratios.push(
        Ratio::figure(
            "replay mutations/s, two secondary indexes",
            indexed_rate.median,
            "mutations/s",
        )
        .at_least(2_000_000.0),
    );
    report.ratios.push(Ratio::of(
        "replay with two indexes / without",
        indexed_rate.median,
        rate.median,
    ));
    if let Some((decode, apply)) = bare {
        report.ratios.push(
            Ratio::of(
                "replay / bare loop into a BTreeMap",
                rate.median,
                apply.median,
            )
            .at_least(0.5),
        );
        // The reader alone is the physical bound (these bytes must be read,
        // verified and decoded); the map loop is no bound at all when the
        // runtime's sorted write-back beats its search per mutation, so
        // the 0.5 applies to both.
        report.ratios.push(
            Ratio::of(
                "replay / reader alone (read, verify, decode)",
                rate.median,
                decode.median,
            )
            .at_least(0.5),
        );
        report.ratios.push(Ratio::of(
            "bare loop into a BTreeMap / reader alone",
            apply.median,
            decode.median,
        ));
        report.rows.push(rate);
        report.rows.push(decode);
        report.rows.push(apply);
    } else {
        report.rows.push(rate);
    }
    report.rows.push(startup);
    report.rows.push(snap_startup);
    report.rows.push(indexed_rate);
    Ok(report)
}

/// Mutations of every commit in the log of `dir`, passed to `apply` with
/// their table index; returns the time taken and the mutations seen.
fn read_mutations(
    dir: &Path,
    mut apply: impl FnMut(u32, MutationOpRef<'_>) -> Result<(), CliError>,
) -> Result<(f64, u64), CliError> {
    let data = DataDir::open(dir, false).map_err(persist_err)?;
    let storage = data.log_storage();
    let mut mutations = 0u64;
    let start = Instant::now();
    read_log(&*storage, &ReadOptions::default(), |batch| {
        for entry in batch.entries {
            if let LogEntryRef::Commit(c) = entry {
                for m in c.mutations {
                    mutations += 1;
                    apply(m.table, m.op)?;
                }
            }
        }
        Ok::<(), CliError>(())
    })?;
    Ok((start.elapsed().as_secs_f64(), mutations))
}

/// A row's key bytes: the encoded first column of its CBOR array.
fn row_key(row: &[u8]) -> Result<&[u8], CliError> {
    let mut r = interstice_abi::cbor::Reader::new(row);
    r.array()
        .and_then(|_| r.skip())
        .map_err(|e| CliError::Bench(format!("replay baseline: a logged row: {e}")))
}

/// The bare loop's table: encoded key to row.
type BareTable = BTreeMap<Vec<u8>, Vec<u8>>;

/// The bare loop: every mutation of the log applied to a map per table.
fn bare_apply(dir: &Path) -> Result<(f64, u64, Vec<BareTable>), CliError> {
    let mut tables: Vec<BareTable> = Vec::new();
    let (secs, mutations) = read_mutations(dir, |table, op| {
        let t = table as usize;
        if tables.len() <= t {
            tables.resize_with(t + 1, BTreeMap::new);
        }
        let map = &mut tables[t];
        match op {
            MutationOpRef::Insert(row) | MutationOpRef::Update(row) => {
                let key = row_key(row)?;
                if let Some(old) = map.get_mut(key) {
                    old.clear();
                    old.extend_from_slice(row);
                } else {
                    map.insert(key.to_vec(), row.to_vec());
                }
            }
            MutationOpRef::Delete(key) => {
                map.remove(key);
            }
        }
        Ok(())
    })?;
    Ok((secs, mutations, tables))
}

/// The reader alone and the bare loop over the log in `dir`, `rounds`
/// rounds each: both must see the `mutations` the runtime replayed, and
/// the bare loop must end with exactly `balances`.
async fn bare_baselines(
    ctx: &Ctx,
    dir: &Path,
    mutations: u64,
    balances: &[u64],
) -> Result<(Row, Row), CliError> {
    let rounds = ctx.sizes.rounds;
    ctx.progress
        .step("baselines: the reader alone and a bare loop into a BTreeMap");
    let (dir_owned, expected) = (dir.to_path_buf(), balances.to_vec());
    let (decode, apply) = tokio::task::spawn_blocking(move || {
        let dir = dir_owned.as_path();
        let seen = |what: &str, n: u64| {
            if n == mutations {
                Ok(())
            } else {
                Err(CliError::Bench(format!(
                    "replay baseline: {what} saw {n} mutations, the runtime replayed {mutations}"
                )))
            }
        };
        let (mut decode, mut apply) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            let (secs, n) = read_mutations(dir, |_, op| {
                std::hint::black_box(op);
                Ok(())
            })?;
            seen("the reader", n)?;
            decode.push(n as f64 / secs);
            let (secs, n, tables) = bare_apply(dir)?;
            seen("the bare loop", n)?;
            apply.push(n as f64 / secs);
            if i == 0 {
                check_balances(&tables, &expected)?;
            }
        }
        Ok::<_, CliError>((decode, apply))
    })
    .await
    .map_err(|e| CliError::Bench(e.to_string()))??;
    let note = format!("1 thread, the same log, {rounds} rounds");
    Ok((
        Row::new(
            "reader alone: read, verify hashes, decode (mutations/s)",
            Role::Baseline,
            "mutations/s",
            decode,
            None,
            note.clone(),
        ),
        Row::new(
            "bare loop: the reader + apply to a BTreeMap (mutations/s)",
            Role::Baseline,
            "mutations/s",
            apply,
            None,
            note,
        ),
    ))
}

/// The bare loop's accounts table must hold `(id, balances[id])` for
/// every account and nothing else.
fn check_balances(tables: &[BTreeMap<Vec<u8>, Vec<u8>>], balances: &[u64]) -> Result<(), CliError> {
    let bad = |m: String| Err(CliError::Bench(format!("replay baseline: {m}")));
    let Some(accounts) = tables.first() else {
        return bad("the bare loop applied no mutation".into());
    };
    if tables.len() != 1 || accounts.len() != balances.len() {
        return bad(format!(
            "the bare loop ended with {} tables and {} accounts, expected 1 and {}",
            tables.len(),
            accounts.len(),
            balances.len()
        ));
    }
    for row in accounts.values() {
        let (id, balance) = <(u64, u64)>::from_bytes(row)
            .map_err(|e| CliError::Bench(format!("replay baseline: a row: {e}")))?;
        if balances.get(id as usize) != Some(&balance) {
            return bad(format!(
                "account {id} has {balance} in the bare loop, expected {:?}",
                balances.get(id as usize)
            ));
        }
    }
    Ok(())
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &std::path::Path) -> Result<u64, CliError> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

fn open_builder(dir: &std::path::Path) -> interstice_actors::RuntimeBuilder {
    Runtime::builder()
        .data_dir(dir)
        .durability(Durability::Sync)
        .limits(Limits::default().with_fuel(guests::FUEL))
}

/// Takes a snapshot of the whole log (retention then deletes the covered
/// segments), then times `open()` from it. Returns the open times (ms) and
/// the snapshot's size.
async fn with_snapshot(
    ctx: &Ctx,
    dir: &std::path::Path,
    entries: u64,
    balances: &[u64],
) -> Result<(Vec<f64>, u64), CliError> {
    ctx.progress.step("taking a snapshot of the whole log");
    let rt = open_builder(dir)
        .snapshots(true)
        .keep_snapshots(1)
        .open()
        .await?;
    let ts = rt.snapshot_now().await?;
    rt.shutdown().await?;
    if ts != entries {
        return Err(CliError::Bench(format!(
            "replay: the snapshot covers timestamp {ts}, the log ends at {entries}"
        )));
    }
    let snap_bytes = dir_size(&dir.join(interstice_persist::SNAPSHOTS_DIR))?;
    let mut out = Vec::new();
    for i in 0..ctx.sizes.rounds {
        ctx.progress.step(format!(
            "open (from snapshot): round {}/{}",
            i + 1,
            ctx.sizes.rounds
        ));
        let start = Instant::now();
        let rt = open_builder(dir).open().await?;
        out.push(start.elapsed().as_secs_f64() * 1e3);
        let m = rt.metrics();
        if m.replayed_entries != 0 || rt.durable_ts() != entries {
            return Err(CliError::Bench(format!(
                "replay: from the snapshot, {} entries replayed and the log ends at {} \
                 (expected 0 and {entries})",
                m.replayed_entries,
                rt.durable_ts()
            )));
        }
        if i == 0 {
            let out = rt.read("b_bank", "balance", vec![1u64.into()]).await?;
            if out.to_json().as_u64() != Some(balances[1]) {
                return Err(CliError::Bench(format!(
                    "replay: account 1 has {} after the snapshot open, expected {}",
                    out.to_json(),
                    balances[1]
                )));
            }
        }
        rt.shutdown().await?;
    }
    Ok((out, snap_bytes))
}
