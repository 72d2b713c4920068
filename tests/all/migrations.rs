//! Tests: per-table versions and migrations (`docs/SDK.md`, "Changing a
//! schema"). `t_migrate_v1` → `t_migrate_v2` migrates table `items` by code
//! (`#[migration(from_version = 1, to_version = 2)]`) and table `notes`
//! automatically (columns appended with `#[default]`): the migration runs
//! once, as one logged commit (cause `migration`) in the install's batch;
//! replay applies its mutations without running wasm, `replay-check`
//! re-executes it; a failing migration, or a crash at any storage step of
//! the upgrade, leaves the old module and data or the new ones, never a mix;
//! an upgrade that changes a layout without what makes it safe is refused
//! with the module, table, logged and new versions and what is missing.

use std::path::Path;

use interstice_abi::{ModuleSchema, Trigger, Type};
use interstice_actors::{Durability, ReplayCheckOptions, Runtime, RuntimeError, Value};
use interstice_persist::{
    Cause, CrashMode, Fault, FaultPlan, FaultyStorage, LogEntry, MutationOp, Op,
};

use crate::faults::open_faulty;
use crate::support::{
    expect_ok, interstice, log_entries, open, raw_module_wat_for, s, tempdir, u, wasm,
};

const MODULE: &str = "t_migrate";

fn str_vec(v: &[&str]) -> Value {
    Value::Vec(v.iter().map(|x| s(x)).collect())
}

fn some(v: Value) -> Value {
    Value::Option(Some(Box::new(v)))
}

/// v1 with items 1 (apple, 3) and 2 (pear, 5), notes `a` and `b`.
async fn fill_v1(rt: &Runtime) {
    rt.load_module(wasm("t_migrate_v1")).await.expect("load v1");
    for (id, name, qty) in [(1, "apple", 3), (2, "pear", 5)] {
        rt.call(MODULE, "add", vec![u(id), s(name), Value::U32(qty)])
            .await
            .expect("add");
    }
    for text in ["a", "b"] {
        rt.call(MODULE, "note", vec![s(text)]).await.expect("note");
    }
}

async fn read(rt: &Runtime, reducer: &str, args: Vec<Value>) -> Value {
    rt.read(MODULE, reducer, args).await.expect(reducer).value
}

/// The data as v1 serves it (nothing migrated).
async fn assert_old(rt: &Runtime) {
    assert_eq!(rt.modules()[0].version, "1.0.0");
    assert_eq!(
        read(rt, "item", vec![u(1)]).await,
        some(Value::Tuple(vec![s("apple"), Value::U32(3)]))
    );
    assert_eq!(read(rt, "notes", vec![]).await, str_vec(&["a", "b"]));
}

/// The data as v2 serves it right after the migration.
async fn assert_new(rt: &Runtime) {
    assert_eq!(rt.modules()[0].version, "2.0.0");
    assert_eq!(
        read(rt, "item", vec![u(1)]).await,
        some(Value::Tuple(vec![
            s("APPLE"),
            u(3000),
            str_vec(&["migrated"])
        ]))
    );
    assert_eq!(
        read(rt, "item", vec![u(2)]).await,
        some(Value::Tuple(vec![
            s("PEAR"),
            u(5000),
            str_vec(&["migrated"])
        ]))
    );
    let note = |t: &str| Value::Tuple(vec![s(t), Value::U8(3), some(s("anon"))]);
    assert_eq!(
        read(rt, "notes", vec![]).await,
        Value::Vec(vec![note("a"), note("b")])
    );
    assert_eq!(
        read(rt, "runs", vec![]).await,
        Value::Vec(vec![u(2)]),
        "the migration ran exactly once, over the two old rows"
    );
}

/// The migration commits in the log: `(ts, reducer, cause, mutations)`.
fn migration_commits(dir: &Path) -> Vec<(u64, String, Cause, Vec<MutationOp>)> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Commit(c) if matches!(c.cause, Cause::Migration { .. }) => Some((
                c.ts,
                c.reducer,
                c.cause,
                c.mutations.into_iter().map(|m| m.op).collect(),
            )),
            _ => None,
        })
        .collect()
}

fn install_ts(dir: &Path, version: &str) -> Vec<u64> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Install(i) if i.version == version => Some(i.ts),
            _ => None,
        })
        .collect()
}

fn replay_check(dir: &Path) -> interstice_actors::ReplayCheckReport {
    interstice_actors::replay_check(dir, &ReplayCheckOptions::default())
        .expect("replay-check runs on a log with a migration")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_survive_restart_and_pass_replay_check() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    fill_v1(&rt).await;
    let info = rt.load_module(wasm("t_migrate_v2")).await.expect("upgrade");
    assert_eq!(info.version, "2.0.0");
    assert_eq!(info.schema.table("items").unwrap().1.version, 2);
    assert_new(&rt).await;
    // New rows in the new layouts.
    rt.call(MODULE, "add", vec![u(3), s("fig"), u(7)])
        .await
        .expect("add in v2");
    rt.call(MODULE, "note", vec![s("c")]).await.expect("note");
    assert_eq!(
        read(&rt, "item", vec![u(3)]).await,
        some(Value::Tuple(vec![s("fig"), u(7), Value::Vec(vec![])]))
    );
    // A migration is not a reducer anyone calls.
    let e = rt
        .call(MODULE, "items_v2", vec![Value::U32(3)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            RuntimeError::WrongMode {
                mode: "migration",
                ..
            }
        ),
        "{e:?}"
    );
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    // The log: one migration commit, right after the v2 install.
    let installs = install_ts(dir.path(), "2.0.0");
    assert_eq!(installs.len(), 1);
    let migs = migration_commits(dir.path());
    assert_eq!(migs.len(), 1, "{migs:?}");
    let (ts, reducer, cause, ops) = &migs[0];
    assert_eq!(*ts, installs[0] + 1, "the migration follows its install");
    assert_eq!(reducer, "items_v2");
    assert_eq!(
        *cause,
        Cause::Migration {
            table: "items".into(),
            from_version: 1,
            to_version: 2,
        }
    );
    assert_eq!(ops.len(), 3, "two items and one run inserted: {ops:?}");
    assert!(ops.iter().all(|o| matches!(o, MutationOp::Insert(_))));
    // log-dump names the cause and decodes the rows in the new layout.
    let out = interstice([
        "log-dump".as_ref(),
        "-d".as_ref(),
        dir.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let text = expect_ok(&out, "log-dump");
    let line = text
        .lines()
        .find(|l| l.contains("\"reducer\":\"items_v2\""))
        .expect("the migration commit is dumped");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        v["cause"],
        serde_json::json!({"kind": "migration", "table": "items", "from_version": 1, "to_version": 2})
    );
    assert!(line.contains("APPLE"), "{line}");

    // Replay applies the logged mutations: no wasm runs, nothing runs again.
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(rt.metrics().instantiations, 0, "replay ran wasm");
    assert_eq!(read(&rt, "runs", vec![]).await, Value::Vec(vec![u(2)]));
    // Loading v2 again is a no-op: the migration does not run twice.
    rt.load_module(wasm("t_migrate_v2")).await.unwrap();
    assert_eq!(read(&rt, "runs", vec![]).await, Value::Vec(vec![u(2)]));
    rt.shutdown().await.unwrap();
    assert_eq!(migration_commits(dir.path()).len(), 1);

    let report = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || replay_check(&dir)
    })
    .await
    .unwrap();
    assert!(report.ok(), "{:?}", report.divergence);
    // 4 v1 commits, the migration, 2 v2 commits: all re-executed.
    assert_eq!(report.checked, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_reexecutes_the_migration() {
    // A log whose migration commit was tampered with (its mutations
    // dropped, the chain re-hashed) replays as logged, but replay-check,
    // which re-executes the migration, reports the difference.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    fill_v1(&rt).await;
    rt.load_module(wasm("t_migrate_v2")).await.unwrap();
    rt.shutdown().await.unwrap();
    let mut entries = log_entries(dir.path());
    for e in &mut entries {
        if let LogEntry::Commit(c) = e {
            if matches!(c.cause, Cause::Migration { .. }) {
                c.mutations.truncate(1);
            }
        }
    }
    let forged = tempdir();
    crate::support::rewrite_log(dir.path(), forged.path(), &entries);
    let report = replay_check(forged.path());
    let d = report.divergence.expect("the forged migration diverges");
    assert_eq!(d.reducer, "items_v2");
    assert!(
        d.differences.iter().any(|x| x.what.contains("mutation")),
        "{d:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_refuses_the_upgrade_and_changes_nothing() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    fill_v1(&rt).await;
    rt.call(MODULE, "add", vec![u(9), s("poison"), Value::U32(1)])
        .await
        .unwrap();
    let hash = rt.state_hash().await.unwrap();
    let entries = log_entries(dir.path()).len();
    let e = rt.load_module(wasm("t_migrate_v2")).await.unwrap_err();
    match &e {
        RuntimeError::IncompatibleSchema {
            module,
            table,
            change,
        } => {
            assert_eq!((module.as_str(), table.as_str()), (MODULE, "items"));
            assert!(
                change.contains("migration `items_v2` (version 1 to 2)")
                    && change.contains("item 9 is poisoned")
                    && change.contains("nothing was changed"),
                "{change}"
            );
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(log_entries(dir.path()).len(), entries, "nothing was logged");
    assert_old(&rt).await;
    // v1 keeps serving writes in its own layout.
    rt.call(MODULE, "add", vec![u(4), s("kiwi"), Value::U32(2)])
        .await
        .expect("v1 still writes");
    rt.shutdown().await.unwrap();
    let rt = open(dir.path()).await;
    assert_old(&rt).await;
    rt.shutdown().await.unwrap();
}

/// v1's schema, changed by `edit`, as a module binary whose reducers do
/// nothing (the upgrade is refused before any runs).
fn edited_v1(edit: impl FnOnce(&mut ModuleSchema)) -> Vec<u8> {
    let mut schema = (*interstice_actors::inspect_module(&wasm("t_migrate_v1"))
        .unwrap()
        .schema)
        .clone();
    schema.version = "9.9.9".into();
    edit(&mut schema);
    let bodies = vec![""; schema.reducers.len()];
    let text = raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        "",
        &[],
        &bodies,
    );
    wat::parse_str(text).expect("valid wat")
}

async fn refusal(rt: &Runtime, wasm: Vec<u8>) -> String {
    match rt.load_module(wasm).await {
        Err(e @ RuntimeError::IncompatibleSchema { .. }) => e.to_string(),
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
}

fn items(schema: &mut ModuleSchema) -> &mut interstice_abi::TableSchema {
    schema
        .tables
        .iter_mut()
        .find(|t| t.name == "items")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_module_table_versions_and_what_is_missing() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    fill_v1(&rt).await;
    let hash = rt.state_hash().await.unwrap();

    // Layout changed, version bumped, no migration.
    let msg = refusal(
        &rt,
        edited_v1(|s| {
            let t = items(s);
            t.version = 2;
            t.columns[2].ty = Type::U64;
        }),
    )
    .await;
    assert_eq!(
        msg,
        "module `t_migrate`: table `items`: logged version 1, new version 2: the layout \
         changed (column 2 (`qty`) changed type from u32 to u64) but no \
         #[migration(from_version = 1, to_version = 2)] is declared"
    );

    // Layout changed, version not bumped.
    let msg = refusal(&rt, edited_v1(|s| items(s).columns[2].ty = Type::U64)).await;
    assert_eq!(
        msg,
        "module `t_migrate`: table `items`: logged version 1, new version 1: the layout \
         changed (column 2 (`qty`) changed type from u32 to u64) but the version did not: \
         bump the version and declare a #[migration(from_version = 1, to_version = 2)]"
    );

    // A column appended without a default is not an automatic migration.
    let msg = refusal(
        &rt,
        edited_v1(|s| {
            items(s)
                .columns
                .push(interstice_abi::codec::field("price", Type::U64))
        }),
    )
    .await;
    assert!(
        msg.contains("logged version 1, new version 1")
            && msg.contains("column count changed from 3 to 4")
            && msg.contains("`price` has no #[default]"),
        "{msg}"
    );

    // A migration whose old row type does not match the logged layout.
    let msg = refusal(
        &rt,
        edited_v1(|s| {
            let t = items(s);
            t.version = 2;
            t.columns[2].ty = Type::U64;
            s.reducers.push(interstice_abi::ReducerSchema {
                writes: None,
                recursive: false,
                name: "items_v2".into(),
                mode: interstice_abi::ReducerMode::Write,
                params: vec![interstice_abi::codec::field("old", Type::U32)],
                returns: Type::Unit,
                error: None,
                trigger: Some(Trigger::Migration {
                    table: "items".into(),
                    from_version: 1,
                    to_version: 2,
                    columns: vec![interstice_abi::codec::field("id", Type::U64)],
                }),
            });
        }),
    )
    .await;
    assert!(
        msg.contains("logged version 1, new version 2: migration `items_v2` reads rows as (u64)")
            && msg.contains("the logged layout of version 1 is (u64, String, u32)"),
        "{msg}"
    );
    // Defaults that a new unique index on the appended column refuses (two
    // old notes would share the value): refused, the tables restored.
    let msg = refusal(
        &rt,
        edited_v1(|s| {
            let notes = s.tables.iter_mut().find(|t| t.name == "notes").unwrap();
            notes
                .columns
                .push(interstice_abi::codec::field("stars", Type::U8));
            notes.defaults = vec![interstice_abi::ColumnDefault {
                column: 2,
                value: vec![0x03],
            }];
            notes.indexes = vec![interstice_abi::IndexSchema {
                name: "notes_stars".into(),
                columns: vec![2],
                kind: interstice_abi::IndexKind::Unique,
            }];
        }),
    )
    .await;
    assert!(
        msg.starts_with(
            "module `t_migrate`: table `notes`: unique index `notes_stars` cannot be added"
        ),
        "{msg}"
    );
    assert_eq!(rt.state_hash().await.unwrap(), hash, "nothing changed");
    assert_old(&rt).await;

    // After the upgrade to version 2, going back down is refused.
    rt.load_module(wasm("t_migrate_v2")).await.unwrap();
    let v2 = interstice_actors::inspect_module(&wasm("t_migrate_v2")).unwrap();
    let mut down = (*v2.schema).clone();
    down.version = "3.0.0".into();
    down.tables
        .iter_mut()
        .find(|t| t.name == "items")
        .unwrap()
        .version = 1;
    down.reducers.retain(|r| !r.is_migration());
    let bodies = vec![""; down.reducers.len()];
    let text = raw_module_wat_for(&down, interstice_abi::ABI_VERSION as i32, "", &[], &bodies);
    let msg = refusal(&rt, wat::parse_str(text).unwrap()).await;
    assert_eq!(
        msg,
        "module `t_migrate`: table `items`: logged version 2, new version 1: a table's \
         version cannot go down"
    );
    assert_new(&rt).await;
    rt.shutdown().await.unwrap();
}

/// Upgrades v1 → v2 on a fault-injecting log whose `nth` call of `op`
/// fails with `fault`, then "crashes" with `crash` and reopens: the module
/// and data are all v1 or all v2, and after the reopen (loading v2 again
/// if needed) the migration has run exactly once.
async fn upgrade_under_fault(op: Op, fault: Option<Fault>, crash: CrashMode) -> &'static str {
    let d = tempdir();
    let disk = FaultyStorage::with_plan(FaultPlan::seeded(3));
    let rt = open_faulty(d.path(), &disk, Durability::Sync)
        .await
        .expect("open");
    fill_v1(&rt).await;
    if let Some(fault) = fault {
        let at = disk.count(op) + 1;
        disk.set_plan(FaultPlan::seeded(5).fail_nth(op, at, fault));
    }
    let loaded = rt.load_module(wasm("t_migrate_v2")).await;
    match (&fault, &loaded) {
        (Some(_), Err(RuntimeError::StorageFault(_))) | (None, Ok(_)) => {}
        other => panic!("{op:?} {fault:?}: unexpected outcome {other:?}"),
    }
    let _ = rt.shutdown().await;
    disk.clear_faults();
    disk.crash(crash);
    let rt = open_faulty(d.path(), &disk, Durability::Sync)
        .await
        .expect("reopen");
    let which = if rt.modules()[0].version == "1.0.0" {
        assert_old(&rt).await;
        rt.load_module(wasm("t_migrate_v2"))
            .await
            .expect("the upgrade after the reopen");
        "old"
    } else {
        "new"
    };
    assert_new(&rt).await;
    rt.shutdown().await.unwrap();
    which
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_each_step_of_an_upgrade_with_migration_leaves_old_or_new() {
    use CrashMode::{DropUnsynced, KeepAll, TornUnsynced};
    let cases: [(Op, Option<Fault>, CrashMode, &str); 7] = [
        // The batch (install + migration) is not written at all.
        (Op::Write, Some(Fault::Error), DropUnsynced, "old"),
        // Part of it is written, then the machine loses the unsynced tail.
        (Op::Write, Some(Fault::ShortWrite), TornUnsynced, "old"),
        (Op::Write, Some(Fault::ShortWrite), KeepAll, "old"),
        (Op::Write, Some(Fault::NoSpace), KeepAll, "old"),
        // Written, the fsync fails: lost on power loss, kept by a process
        // crash (the bytes are in the OS), never half.
        (Op::Sync, Some(Fault::Error), DropUnsynced, "old"),
        (Op::Sync, Some(Fault::Error), KeepAll, "new"),
        // Durable, then the crash.
        (Op::Sync, None, DropUnsynced, "new"),
    ];
    for (op, fault, crash, want) in cases {
        let got = upgrade_under_fault(op, fault, crash).await;
        assert_eq!(got, want, "{op:?} {fault:?} {crash:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_after_a_migration_restores_the_migrated_state() {
    // The snapshotter's shadow state applies the upgrade (defaults, the
    // emptied table, the migration commit) as replay does; a snapshot taken
    // after it restores exactly the migrated state, without wasm.
    let dir = tempdir();
    let rt = Runtime::builder()
        .data_dir(dir.path())
        .snapshots(true)
        .open()
        .await
        .unwrap();
    fill_v1(&rt).await;
    rt.load_module(wasm("t_migrate_v2")).await.unwrap();
    let snap_ts = rt.snapshot_now().await.unwrap();
    assert_eq!(snap_ts, rt.durable_ts());
    rt.call(MODULE, "add", vec![u(3), s("fig"), u(7)])
        .await
        .unwrap();
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    let rt = open(dir.path()).await;
    assert_eq!(rt.metrics().replayed_entries, 1, "only the suffix");
    assert_eq!(rt.metrics().instantiations, 0);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_new(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_inside_an_upgrade_batch_is_refused_not_half_applied() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    fill_v1(&rt).await;
    rt.load_module(wasm("t_migrate_v2")).await.unwrap();
    rt.shutdown().await.unwrap();
    let install = install_ts(dir.path(), "2.0.0")[0];
    // At the install, before its migration: that state never existed.
    let e = interstice_actors::Runtime::builder()
        .data_dir(dir.path())
        .stop_at(install)
        .open()
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("the log stops inside the upgrade of module `t_migrate`")
            && msg.contains("1 migration commit(s)"),
        "{msg}"
    );
    // Just before the install: v1; just after the migration: v2.
    for (at, v2) in [(install - 1, false), (install + 1, true)] {
        let rt = interstice_actors::Runtime::builder()
            .data_dir(dir.path())
            .stop_at(at)
            .open()
            .await
            .unwrap();
        if v2 {
            assert_new(&rt).await;
        } else {
            assert_old(&rt).await;
        }
        rt.shutdown().await.unwrap();
    }
}
