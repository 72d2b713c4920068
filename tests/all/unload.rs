//! Tests: module unload (`Runtime::unload_module`, `interstice unload`).
//! Refused while another loaded module depends on the module (naming it);
//! otherwise logged, calls then fail with `ModuleUnloaded`, the tables are
//! kept (loading the module again brings the rows back, init does not run
//! again) or dropped (loading it again starts empty, init runs), the
//! deliveries still pending at the unload are dropped — live, after a
//! restart and in replay alike — and replay, snapshots, `replay-check` and
//! the log tools follow the `Unload` entry.

use std::path::Path;

use interstice_actors::{Runtime, RuntimeError, UnloadOptions, UnloadTables, Value};
use interstice_persist::{Cause, LogEntry};

use crate::support::{
    bin, log_entries, open, open_retrying, open_with, raw_module, replay_check_clean, s, tempdir,
    u, wasm, wasm_path, NOOP,
};

async fn total(rt: &Runtime) -> Value {
    rt.read("bank", "total", vec![]).await.expect("total").value
}

async fn open_accounts(rt: &Runtime) {
    rt.call("bank", "open_account", vec![s("alice"), u(70)])
        .await
        .expect("open alice");
    rt.call("bank", "open_account", vec![s("bob"), u(30)])
        .await
        .expect("open bob");
}

async fn count(rt: &Runtime, module: &str, reducer: &str) -> u64 {
    match rt.read(module, reducer, vec![]).await.expect(reducer).value {
        Value::U64(n) => n,
        v => panic!("{module}.{reducer} returned {v:?}"),
    }
}

/// The unload entries of `dir`'s log: `(ts, module, tables)`.
fn unloads(dir: &Path) -> Vec<(u64, String, UnloadTables)> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Unload(u) => Some((u.ts, u.name, u.tables)),
            _ => None,
        })
        .collect()
}

fn assert_unloaded(err: RuntimeError, module: &str, at: u64) {
    match &err {
        RuntimeError::ModuleUnloaded { module: m, ts } => {
            assert_eq!((m.as_str(), *ts), (module, at), "{err}");
        }
        other => panic!("expected ModuleUnloaded, got {other:?}"),
    }
    assert_eq!(err.kind(), "ModuleUnloaded");
    assert!(
        err.to_string()
            .contains(&format!("module `{module}` was unloaded at ts {at}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloading_a_module_others_depend_on_is_refused_naming_them() {
    let d = tempdir();
    let rt = open_with(d.path(), &["hello", "caller"]).await;
    let err = rt
        .unload_module("hello", UnloadOptions::keep_tables())
        .await
        .expect_err("caller depends on hello");
    assert_eq!(err.kind(), "HasDependents");
    let text = err.to_string();
    assert!(
        text.contains(
            "cannot unload module `hello`: loaded modules depend on it: caller (declares it \
             as a dependency; subscribes to `hello.greetings`)"
        ),
        "{text}"
    );
    // Nothing changed: hello still serves, nothing was logged.
    rt.call("hello", "hello", vec![s("still")])
        .await
        .expect("hello still loaded");
    assert!(rt.modules().iter().any(|m| m.name == "hello"));
    // Once the dependent is gone, it unloads.
    rt.unload_module("caller", UnloadOptions::drop_tables())
        .await
        .expect("nobody depends on caller");
    rt.unload_module("hello", UnloadOptions::keep_tables())
        .await
        .expect("nobody depends on hello any more");
    assert!(rt.modules().is_empty());
    rt.shutdown().await.unwrap();
    let logged: Vec<(String, UnloadTables)> = unloads(d.path())
        .into_iter()
        .map(|(_, m, t)| (m, t))
        .collect();
    assert_eq!(
        logged,
        [
            ("caller".to_owned(), UnloadTables::Drop),
            ("hello".to_owned(), UnloadTables::Keep)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unload_calls_and_reads_fail_with_module_unloaded_also_after_a_restart() {
    let d = tempdir();
    let rt = open_with(d.path(), &["bank"]).await;
    open_accounts(&rt).await;
    let un = rt
        .unload_module("bank", UnloadOptions::keep_tables())
        .await
        .expect("unload");
    assert_eq!(un.tables, UnloadTables::Keep);
    assert_eq!(un.info.name, "bank");
    let err = rt
        .call("bank", "deposit", vec![u(1), u(5)])
        .await
        .expect_err("unloaded");
    assert_unloaded(err, "bank", un.ts);
    let err = rt
        .read("bank", "total", vec![])
        .await
        .expect_err("unloaded");
    assert_unloaded(err, "bank", un.ts);
    let err = rt
        .unload_module("bank", UnloadOptions::keep_tables())
        .await
        .expect_err("already unloaded");
    assert_unloaded(err, "bank", un.ts);
    assert!(rt.modules().is_empty());
    rt.shutdown().await.unwrap();
    // The unload is the log's last entry: every commit of bank before it.
    let entries = log_entries(d.path());
    assert!(
        matches!(entries.last(), Some(LogEntry::Unload(u)) if u.ts == un.ts && u.name == "bank")
    );
    // Replay follows it: bank is not loaded after a restart either.
    let rt = open(d.path()).await;
    assert!(rt.modules().is_empty());
    let err = rt
        .call("bank", "deposit", vec![u(1), u(5)])
        .await
        .expect_err("still unloaded after a restart");
    assert_unloaded(err, "bank", un.ts);
    rt.shutdown().await.unwrap();
    replay_check_clean(d.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_tables_come_back_on_load_live_and_after_a_restart() {
    let d = tempdir();
    let rt = open_with(d.path(), &["bank", "hello"]).await;
    open_accounts(&rt).await;
    rt.call("hello", "hello", vec![s("ann")]).await.unwrap();
    assert_eq!(count(&rt, "hello", "greeting_count").await, 2);
    rt.unload_module("bank", UnloadOptions::keep_tables())
        .await
        .unwrap();
    rt.unload_module("hello", UnloadOptions::keep_tables())
        .await
        .unwrap();
    // Loaded again in the same process: the rows are back, init did not
    // run again (hello's init greets "world").
    rt.load_module(wasm("bank")).await.expect("load bank again");
    assert_eq!(total(&rt).await, u(100));
    rt.load_module(wasm("hello"))
        .await
        .expect("load hello again");
    assert_eq!(count(&rt, "hello", "greeting_count").await, 2);
    // And it works: new rows continue the auto_inc sequence.
    let id = rt
        .call("bank", "open_account", vec![s("carol"), u(1)])
        .await
        .unwrap();
    assert_eq!(id.value, u(3));
    // Unloaded again, then loaded after a restart: replay kept the rows.
    rt.unload_module("bank", UnloadOptions::keep_tables())
        .await
        .unwrap();
    rt.shutdown().await.unwrap();
    let rt = open(d.path()).await;
    assert!(rt.modules().iter().all(|m| m.name != "bank"));
    rt.load_module(wasm("bank"))
        .await
        .expect("load bank after restart");
    assert_eq!(total(&rt).await, u(101));
    assert_eq!(count(&rt, "hello", "greeting_count").await, 2);
    rt.shutdown().await.unwrap();
    // And after one more restart, bank is loaded with its rows (the
    // install after the unload is replayed as an upgrade of the kept rows).
    let rt = open(d.path()).await;
    assert_eq!(total(&rt).await, u(101));
    rt.shutdown().await.unwrap();
    replay_check_clean(d.path()).await;
}

/// Loading a module again whose unload kept its tables is an upgrade from
/// the unloaded version: one that cannot take the kept rows is refused
/// (`IncompatibleSchema`, naming the table), the module stays unloaded with
/// its rows, and the right version then brings them back, live and after
/// a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_cannot_take_the_kept_rows_is_refused_and_they_wait() {
    let d = tempdir();
    let rt = open_with(d.path(), &["bank"]).await;
    open_accounts(&rt).await;
    let un = rt
        .unload_module("bank", UnloadOptions::keep_tables())
        .await
        .unwrap();
    // Another `bank` without the accounts table would drop their rows.
    let impostor = raw_module("bank", "", &[], &[NOOP]);
    let e = rt.load_module(impostor).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::IncompatibleSchema { module, table, .. }
            if module == "bank" && table == "accounts"),
        "{e:?}"
    );
    // Still unloaded, at the same timestamp.
    let err = rt.read("bank", "total", vec![]).await.unwrap_err();
    assert_unloaded(err, "bank", un.ts);
    rt.load_module(wasm("bank")).await.expect("the right bank");
    assert_eq!(total(&rt).await, u(100));
    rt.shutdown().await.unwrap();
    let rt = open(d.path()).await;
    assert_eq!(total(&rt).await, u(100));
    rt.shutdown().await.unwrap();
    replay_check_clean(d.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_tables_are_gone_on_load_live_and_after_a_restart() {
    let d = tempdir();
    let rt = open_with(d.path(), &["bank", "hello"]).await;
    open_accounts(&rt).await;
    rt.call("hello", "hello", vec![s("ann")]).await.unwrap();
    rt.unload_module("hello", UnloadOptions::drop_tables())
        .await
        .unwrap();
    // A first install again: empty tables, and init runs (one greeting).
    rt.load_module(wasm("hello"))
        .await
        .expect("load hello again");
    assert_eq!(count(&rt, "hello", "greeting_count").await, 1);
    rt.unload_module("bank", UnloadOptions::drop_tables())
        .await
        .unwrap();
    rt.shutdown().await.unwrap();
    let rt = open(d.path()).await;
    assert_eq!(count(&rt, "hello", "greeting_count").await, 1);
    rt.load_module(wasm("bank"))
        .await
        .expect("load bank after restart");
    assert_eq!(total(&rt).await, u(0));
    let id = rt
        .call("bank", "open_account", vec![s("dan"), u(2)])
        .await
        .unwrap();
    // A fresh table: the auto_inc sequence starts over.
    assert_eq!(id.value, u(1));
    rt.shutdown().await.unwrap();
    let rt = open(d.path()).await;
    assert_eq!(total(&rt).await, u(2));
    assert_eq!(count(&rt, "hello", "greeting_count").await, 1);
    rt.shutdown().await.unwrap();
    replay_check_clean(d.path()).await;
}

/// The documented rule: a delivery to the module not consumed by a commit
/// before the unload is dropped — no commit of the module's caused by a
/// delivery comes after its unload, it is not resumed after a restart, and
/// a later load of the module does not receive it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_at_the_unload_are_dropped_live_and_in_replay() {
    let d = tempdir();
    let rt = open_with(d.path(), &["hello", "caller"]).await;
    // Every greeting is a trigger to caller.on_greeting; unload caller
    // while many are still in flight.
    let calls = (0..40).map(|i| {
        let rt = rt.clone();
        async move {
            rt.call("hello", "hello", vec![s(&format!("g{i}"))])
                .await
                .expect("hello")
        }
    });
    futures::future::join_all(calls).await;
    let un = rt
        .unload_module("caller", UnloadOptions::keep_tables())
        .await
        .expect("unload caller");
    // More greetings while it is unloaded: they trigger nothing.
    for i in 0..5 {
        rt.call("hello", "hello", vec![s(&format!("late{i}"))])
            .await
            .unwrap();
    }
    rt.load_module(wasm("caller")).await.expect("load again");
    // After it is loaded again, a greeting triggers it again.
    let after = rt.call("hello", "hello", vec![s("after")]).await.unwrap();
    let after_ts = after.ts.unwrap();
    crate::support::eventually(10, "the trigger of the greeting after the reload", || {
        let d = d.path().to_path_buf();
        async move { triggered_by(&d, after_ts) }
    })
    .await;
    let seen_live = count(&rt, "caller", "seen_count").await;
    rt.shutdown().await.unwrap();
    let entries = log_entries(d.path());
    let triggers: Vec<(u64, u64)> = entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Commit(c) if c.module == "caller" => match &c.cause {
                Cause::Trigger { ts, .. } => Some((c.ts, *ts)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // Before the unload: triggers of greetings before it. After it: only
    // the greeting after the reload (every other one was dropped).
    for &(ts, source) in &triggers {
        assert!(
            ts < un.ts || source == after_ts,
            "trigger at ts {ts} from ts {source} after the unload at {}",
            un.ts
        );
    }
    let before = triggers.iter().filter(|(ts, _)| *ts < un.ts).count() as u64;
    // The kept rows are the triggers that ran before the unload, plus the
    // one after the reload.
    assert_eq!(seen_live, before + 1);
    // A restart resumes none of the dropped ones.
    let rt = open(d.path()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(count(&rt, "caller", "seen_count").await, seen_live);
    rt.shutdown().await.unwrap();
    let again: usize = log_entries(d.path())
        .iter()
        .filter(|e| matches!(e, LogEntry::Commit(c) if c.module == "caller"))
        .count();
    assert_eq!(again, triggers.len(), "nothing more ran after the restart");
    replay_check_clean(d.path()).await;
}

/// Whether `dir`'s log holds a commit of caller triggered by the commit at
/// `source`.
fn triggered_by(dir: &Path, source: u64) -> bool {
    log_entries(dir).iter().any(|e| {
        matches!(e, LogEntry::Commit(c) if c.module == "caller"
            && matches!(c.cause, Cause::Trigger { ts, .. } if ts == source))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_holds_the_kept_tables_of_an_unloaded_module() {
    let d = tempdir();
    let builder = || Runtime::builder().data_dir(d.path()).snapshots(true);
    let rt = open_retrying(builder()).await.unwrap();
    rt.load_module(wasm("bank")).await.unwrap();
    open_accounts(&rt).await;
    rt.unload_module("bank", UnloadOptions::keep_tables())
        .await
        .unwrap();
    let snap_ts = rt.snapshot_now().await.expect("snapshot");
    rt.shutdown().await.unwrap();
    let snaps = interstice_persist::list_snapshots(&d.path().join("snapshots")).unwrap();
    let (_, path) = snaps
        .iter()
        .find(|(ts, _)| *ts == snap_ts)
        .expect("snapshot file");
    let snap = interstice_persist::read_snapshot(path).unwrap();
    let m = snap
        .modules
        .iter()
        .find(|m| m.name == "bank")
        .expect("parked");
    assert!(m.unloaded.is_some(), "{:?}", m.unloaded);
    // Opened from the snapshot: not loaded, and loading brings the rows.
    let rt = open_retrying(builder()).await.unwrap();
    assert!(rt.modules().is_empty());
    rt.load_module(wasm("bank")).await.unwrap();
    assert_eq!(total(&rt).await, u(100));
    rt.shutdown().await.unwrap();
}

fn run_cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .output()
        .expect("running interstice")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unload_command_and_the_log_tools() {
    let d = tempdir();
    let dir = d.path().as_os_str();
    let rt = open_with(d.path(), &["hello", "caller", "bank"]).await;
    open_accounts(&rt).await;
    rt.shutdown().await.unwrap();
    // A mistyped directory is refused as such, and not created.
    let missing = d.path().join("no-such-dir");
    let out = run_cli(&[
        "unload".as_ref(),
        "-d".as_ref(),
        missing.as_os_str(),
        "hello".as_ref(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a data directory"), "{err}");
    assert!(!missing.exists(), "unload created {}", missing.display());
    // Refused, naming the dependent; exit code non-zero.
    let out = run_cli(&["unload".as_ref(), "-d".as_ref(), dir, "hello".as_ref()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("caller (declares it as a dependency"), "{err}");
    let out = run_cli(&[
        "unload".as_ref(),
        "-d".as_ref(),
        dir,
        "--drop-tables".as_ref(),
        "bank".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("unloaded bank 0.1.0 at ts "), "{text}");
    assert!(text.trim_end().ends_with("(tables dropped)"), "{text}");
    let (ts, _, tables) = unloads(d.path()).pop().expect("logged");
    assert_eq!(tables, UnloadTables::Drop);
    // log-dump shows it as JSON, log-inspect as a line.
    let out = run_cli(&[
        "log-dump".as_ref(),
        "-d".as_ref(),
        dir,
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert!(out.status.success());
    let dump = String::from_utf8_lossy(&out.stdout);
    let line = dump
        .lines()
        .find(|l| l.contains("\"unload\""))
        .expect("an unload line");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"kind": "unload", "ts": ts, "module": "bank", "tables": "drop"})
    );
    let out = run_cli(&["log-inspect".as_ref(), "-d".as_ref(), dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains(&format!("#{ts} unload bank (tables dropped)")),
        "{shown}"
    );
    let out = run_cli(&["check-log".as_ref(), dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&["replay-check".as_ref(), dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The subscription graph shows the loaded modules only, and
    // `validate` sees a load of the dropped module as a first install.
    let graph = d.path().join("graph.dot");
    let out = run_cli(&["graph-subs".as_ref(), "-d".as_ref(), dir, graph.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = std::fs::read_to_string(&graph).unwrap();
    assert!(
        dot.contains("\"m:hello\"") && dot.contains("\"m:caller\""),
        "{dot}"
    );
    assert!(
        !dot.contains("\"m:bank\""),
        "an unloaded module in the graph: {dot}"
    );
    let bank = wasm_path("bank");
    let out = run_cli(&["validate".as_ref(), bank.as_os_str(), "-d".as_ref(), dir]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("upgrade: not installed in"),
        "validate after a dropping unload: {report}"
    );
    // The directory opens with bank unloaded; loading it again is empty.
    let rt = open(d.path()).await;
    assert!(rt.modules().iter().all(|m| m.name != "bank"));
    rt.load_module(wasm("bank")).await.unwrap();
    assert_eq!(total(&rt).await, u(0));
    rt.shutdown().await.unwrap();
}

/// `POST /v1/modules/{module}/unload` and `interstice unload` through the
/// serving `run --listen`.
#[test]
fn the_server_route_and_the_command_through_a_running_server() {
    use crate::server::Api;
    use serde_json::json;
    let d = tempdir();
    let api = Api::start(d.path(), &[], &["hello", "caller", "bank"]);
    // Refused while caller depends on hello: 409, naming it.
    let a = api.post("/v1/modules/hello/unload", &json!({}));
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"]["kind"], "HasDependents");
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("caller (declares it"), "{message}");
    // A bad mode is a 400.
    let a = api.post("/v1/modules/bank/unload", &json!({"tables": "burn"}));
    assert_eq!(a.status, 400, "{}", a.body);
    // The read-only token may not unload.
    let a = api.send(
        "POST",
        "/v1/modules/bank/unload",
        Some(&api.read),
        Some(b"{}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = api.post("/v1/modules/caller/unload", &json!({"tables": "drop"}));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["result"]["name"], "caller");
    assert_eq!(a.body["result"]["tables"], "drop");
    let ts = a.body["result"]["ts"].as_u64().expect("ts");
    // Calls to it: 404 ModuleUnloaded.
    let a = api.post(
        "/v1/modules/caller/reducers/seen_count/read",
        &json!({"args": []}),
    );
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.body["error"]["kind"], "ModuleUnloaded");
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("unloaded at ts {ts}")),
        "{message}"
    );
    // The command goes through the server that holds the directory.
    let out = std::process::Command::new(bin())
        .args(["unload".as_ref(), "-d".as_ref(), d.path().as_os_str()])
        .arg("bank")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running interstice");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("unloaded bank 0.1.0 at ts "), "{text}");
    assert!(text.trim_end().ends_with("(tables kept)"), "{text}");
    assert_eq!(
        api.get("/v1/status").body["result"]["modules"],
        json!(["hello"])
    );
    // Loading it again through the server brings its (empty) tables back.
    let a = api.send("POST", "/v1/modules", Some(&api.full), Some(&wasm("bank")));
    assert_eq!(a.status, 200, "{}", a.body);
    let a = api.post("/v1/modules/bank/reducers/total/read", &json!({"args": []}));
    assert_eq!(a.body["result"], 0, "{}", a.body);
}
