//! Tests: module upgrade (`load_module` of a loaded module name with new
//! code). A compatible new version keeps the data and serves the new
//! reducers, survives a restart (replay runs no wasm) and passes
//! replay-check; an incompatible one (a changed column type, a removed
//! table that holds rows or that another module subscribes to) is refused
//! with the module, table and change, and the old code keeps serving.
//! Calls racing with an upgrade run on one version or the other.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use interstice_abi::codec::field;
use interstice_abi::{ModuleSchema, ReducerSchema, RowEvent, StructType, Trigger, Type};
use interstice_actors::{ReducerMode, Runtime, RuntimeError, Value};
use interstice_persist::LogEntry;

use crate::support::{
    log_entries, open, raw_module_wat_for, replay_check_clean, s, tempdir, u, wasm,
};

const MODULE: &str = "t_upgrade";

async fn open_account(rt: &Runtime, owner: &str, balance: u64) -> u64 {
    let out = rt
        .call(MODULE, "open", vec![s(owner), u(balance)])
        .await
        .expect("open account");
    match out.value {
        Value::U64(id) => id,
        v => panic!("open returned {v:?}"),
    }
}

async fn balance(rt: &Runtime, id: u64) -> Value {
    rt.read(MODULE, "balance", vec![u(id)])
        .await
        .expect("balance")
        .value
}

async fn read_u64(rt: &Runtime, reducer: &str) -> Value {
    rt.read(MODULE, reducer, vec![]).await.expect(reducer).value
}

fn installs(dir: &std::path::Path) -> Vec<(u64, String, String)> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Install(i) => Some((i.ts, i.name, i.version)),
            LogEntry::Commit(_) | LogEntry::Engine(_) | LogEntry::Unload(_) => None,
        })
        .collect()
}

fn some(v: u64) -> Value {
    Value::Option(Some(Box::new(u(v))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatible_upgrade_keeps_data_and_survives_restart() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    let a = open_account(&rt, "ann", 10).await;
    let b = open_account(&rt, "bob", 20).await;
    rt.call(MODULE, "deposit", vec![u(a), u(5)]).await.unwrap();
    let before = rt.call(MODULE, "deposit", vec![u(b), u(1)]).await.unwrap();

    let info = rt.load_module(wasm("t_upgrade_v2")).await.unwrap();
    assert_eq!(info.version, "2.0.0");
    assert!(info.schema.table("audit").is_some());
    assert_eq!(rt.modules()[0].version, "2.0.0");
    // Old rows are readable, the auto_inc counter carried over.
    assert_eq!(balance(&rt, a).await, some(15));
    assert_eq!(balance(&rt, b).await, some(21));
    assert_eq!(read_u64(&rt, "count").await, u(2));
    let c = open_account(&rt, "cy", 7).await;
    assert_eq!(c, 3, "auto_inc continues after the upgrade");
    // The new reducer and the new table work.
    assert_eq!(read_u64(&rt, "audit_count").await, u(0));
    let after = rt.call(MODULE, "deposit", vec![u(a), u(3)]).await.unwrap();
    assert_eq!(after.value, u(18));
    assert_eq!(read_u64(&rt, "audit_count").await, u(1));
    assert!(after.ts > before.ts);

    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    let inst = installs(dir.path());
    assert_eq!(inst.len(), 2, "{inst:?}");
    assert_eq!((inst[0].1.as_str(), inst[0].2.as_str()), (MODULE, "1.0.0"));
    assert_eq!((inst[1].1.as_str(), inst[1].2.as_str()), (MODULE, "2.0.0"));
    assert!(
        before.ts.unwrap() < inst[1].0 && inst[1].0 < after.ts.unwrap(),
        "install at {} between the old commit {:?} and the new {:?}",
        inst[1].0,
        before.ts,
        after.ts
    );

    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(rt.metrics().instantiations, 0, "replay ran wasm");
    assert_eq!(rt.modules()[0].version, "2.0.0");
    assert_eq!(read_u64(&rt, "audit_count").await, u(1));
    assert_eq!(balance(&rt, a).await, some(18));
    // Loading v2 again is a no-op, the new code keeps writing.
    rt.load_module(wasm("t_upgrade_v2")).await.unwrap();
    rt.call(MODULE, "deposit", vec![u(c), u(1)]).await.unwrap();
    assert_eq!(read_u64(&rt, "audit_count").await, u(2));
    rt.shutdown().await.unwrap();
    assert_eq!(installs(dir.path()).len(), 2);

    let report = replay_check_clean(dir.path()).await;
    assert_eq!(report.checked, 7, "every commit was re-executed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incompatible_type_change_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    let a = open_account(&rt, "ann", 10).await;
    let hash = rt.state_hash().await.unwrap();
    let entries = log_entries(dir.path()).len();

    let e = rt
        .load_module(wasm("t_upgrade_bad_type"))
        .await
        .unwrap_err();
    match &e {
        RuntimeError::IncompatibleSchema {
            module,
            table,
            change,
        } => {
            assert_eq!(module, MODULE);
            assert_eq!(table, "accounts");
            assert_eq!(
                change,
                "logged version 1, new version 1: the layout changed (column 2 (`balance`) \
                 changed type from u64 to String) but the version did not: bump the version \
                 and declare a #[migration(from_version = 1, to_version = 2)]"
            );
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    assert!(
        e.to_string().starts_with(
            "module `t_upgrade`: table `accounts`: logged version 1, new version 1: the layout \
             changed (column 2 (`balance`) changed type from u64 to String)"
        ),
        "{e}"
    );
    // Nothing changed: the old code still serves, nothing was logged.
    assert_eq!(rt.modules()[0].version, "1.0.0");
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    let out = rt.call(MODULE, "deposit", vec![u(a), u(1)]).await.unwrap();
    assert_eq!(out.value, u(11));
    rt.shutdown().await.unwrap();
    assert_eq!(log_entries(dir.path()).len(), entries + 1);
    assert_eq!(installs(dir.path()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_table_needs_it_empty() {
    // `scratch` holds a row: refused.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    open_account(&rt, "ann", 1).await;
    rt.call(MODULE, "scratch_put", vec![u(9)]).await.unwrap();
    let e = rt.load_module(wasm("t_upgrade_drop")).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::IncompatibleSchema { module, table, change }
            if module == MODULE && table == "scratch" && change.contains("1 rows")),
        "{e:?}"
    );
    assert_eq!(rt.modules()[0].version, "1.0.0");
    rt.shutdown().await.unwrap();

    // `scratch` is empty: accepted; the data of `accounts` stays.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    open_account(&rt, "ann", 1).await;
    let info = rt.load_module(wasm("t_upgrade_drop")).await.unwrap();
    assert!(info.schema.table("scratch").is_none());
    assert_eq!(info.schema.tables.len(), 1);
    assert_eq!(read_u64(&rt, "count").await, u(1));
    assert_eq!(open_account(&rt, "bob", 2).await, 2);
    let e = rt
        .call(MODULE, "scratch_put", vec![u(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownReducer { reducer, .. } if reducer == "scratch_put"),
        "{e:?}"
    );
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(read_u64(&rt, "count").await, u(2));
    rt.shutdown().await.unwrap();
}

/// `t_watcher`: a raw module with a trigger on `t_upgrade.scratch` inserts.
fn watcher() -> Vec<u8> {
    let row = Type::Struct(StructType {
        name: "scratch".into(),
        fields: vec![field("id", Type::U64)],
    });
    let schema = ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "t_watcher".into(),
        version: "0.1.0".into(),
        dependencies: vec![],
        tables: vec![],
        reducers: vec![ReducerSchema {
            writes: None,
            recursive: false,
            name: "on_scratch".into(),
            mode: ReducerMode::Write,
            params: vec![field("row", row)],
            returns: Type::Unit,
            error: None,
            trigger: Some(Trigger::Table {
                module: MODULE.into(),
                table: "scratch".into(),
                event: RowEvent::Insert,
            }),
        }],
        types: vec![],
        bindings: vec![],
    };
    let text = raw_module_wat_for(&schema, interstice_abi::ABI_VERSION as i32, "", &[], &[""]);
    wat::parse_str(text).expect("valid wat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_subscribed_table_names_the_subscriber() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    rt.load_module(watcher()).await.unwrap();
    let e = rt.load_module(wasm("t_upgrade_drop")).await.unwrap_err();
    match &e {
        RuntimeError::IncompatibleSchema {
            module,
            table,
            change,
        } => {
            assert_eq!((module.as_str(), table.as_str()), (MODULE, "scratch"));
            assert!(
                change.contains("`t_watcher`") && change.contains("`on_scratch`"),
                "{change}"
            );
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    assert_eq!(rt.modules()[0].version, "1.0.0");
    // v2 keeps `scratch`: accepted, and the trigger still fires.
    rt.load_module(wasm("t_upgrade_v2")).await.unwrap();
    let put = rt.call(MODULE, "scratch_put", vec![u(4)]).await.unwrap();
    let ts = put.ts.unwrap();
    let dir_path = dir.path().to_path_buf();
    rt.shutdown().await.unwrap();
    let fired = log_entries(&dir_path).into_iter().any(|e| {
        matches!(e, LogEntry::Commit(c) if c.module == "t_watcher"
            && matches!(c.cause, interstice_persist::Cause::Trigger { ts: t, .. } if t == ts)
            && matches!(c.outcome, interstice_persist::Outcome::Ok(_)))
    });
    assert!(fired, "the watcher's trigger ran once after the upgrade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_under_concurrent_calls() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_upgrade_v1")).await.unwrap();
    let a = open_account(&rt, "ann", 0).await;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (rt, done, stop) = (rt.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match rt.call(MODULE, "deposit", vec![u(a), u(1)]).await {
                    Ok(out) => {
                        assert!(matches!(out.value, Value::U64(_)), "{out:?}");
                        ok += 1;
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => panic!("a call failed during the upgrade: {e}"),
                }
            }
            ok
        }));
    }
    // Calls run on v1, then the upgrade lands among them, then calls run
    // on v2 for a while.
    while done.load(Ordering::SeqCst) < 64 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    rt.load_module(wasm("t_upgrade_v2")).await.unwrap();
    let at_upgrade = done.load(Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < at_upgrade + 64 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(balance(&rt, a).await, some(total));
    let audited = match read_u64(&rt, "audit_count").await {
        Value::U64(n) => n,
        v => panic!("{v:?}"),
    };
    assert!(
        audited >= 64 && audited < total,
        "{audited} of {total} deposits ran on v2"
    );
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    // Every deposit after the install (in log order) ran the new code.
    let inst_ts = installs(dir.path())[1].0;
    let late = log_entries(dir.path())
        .into_iter()
        .filter(|e| matches!(e, LogEntry::Commit(c) if c.ts > inst_ts && c.reducer == "deposit"))
        .count() as u64;
    assert_eq!(late, audited);

    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(rt.metrics().instantiations, 0);
    rt.shutdown().await.unwrap();
    replay_check_clean(dir.path()).await;
}
