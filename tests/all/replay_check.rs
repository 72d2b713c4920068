//! Tests: `interstice replay-check`, the determinism check. A log written by
//! deterministic modules re-executes exactly (calls, triggers, failures,
//! traps, budgets, recorded time/rng/read calls); a module whose result
//! depends on guest state that a restart resets is caught, with the
//! timestamp, module, reducer and an expected-versus-actual diff of rows.

use std::path::{Path, PathBuf};
use std::process::Output;

use interstice_abi::cbor::Writer;
use interstice_actors::{
    ErrorKind, Limits, Observed, ReducerMode, ReplayCheckOptions, ReplayCheckReport, Runtime,
};
use interstice_persist::{Nondet, Outcome};

use crate::support::{
    as_u64, commits, eventually, expect_ok, interstice, log_entries, open, open_account, open_with,
    raw, raw_module_wat_for, raw_schema, reducer_error, s, stdout_of, tempdir, u, RawReducer,
};

/// Runs the check through the library API (off the async workers).
async fn check(dir: &Path, opts: ReplayCheckOptions) -> ReplayCheckReport {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || interstice_actors::replay_check(&dir, &opts))
        .await
        .expect("replay-check thread")
        .expect("replay-check runs")
}

/// Runs `interstice replay-check [--format json] DIR` (off the async workers).
async fn check_cli(dir: &Path, json: bool) -> Output {
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["replay-check".into(), dir.into_os_string()];
        if json {
            args.extend(["--format".into(), "json".into()]);
        }
        interstice(args)
    })
    .await
    .expect("cli thread")
}

/// `[module, reducer, []]`: a call target with no arguments.
fn target(module: &str, reducer: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(3);
    w.str(module);
    w.str(reducer);
    w.array(0);
    w.into_vec()
}

/// `t_rawsrc`: read reducers `ok` and `trap_read`.
fn read_source() -> Vec<u8> {
    let schema = raw_schema(
        "t_rawsrc",
        &[
            RawReducer {
                name: "ok",
                mode: ReducerMode::Read,
                body: "",
            },
            RawReducer {
                name: "trap_read",
                mode: ReducerMode::Read,
                body: "(unreachable)",
            },
        ],
    );
    let text = raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        "",
        &[],
        &["", "(unreachable)"],
    );
    wat::parse_str(text).expect("valid wat")
}

/// `t_rawnondet` (depends on `hello` and `t_rawsrc`): write reducers that
/// use every recorded non-deterministic input — `sample` takes the time, an
/// rng seed and two read calls; `read_fails` makes a read call that traps.
fn nondet_user() -> Vec<u8> {
    let count = target("hello", "greeting_count");
    let ok = target("t_rawsrc", "ok");
    let trap = target("t_rawsrc", "trap_read");
    let at = raw::DATA as usize;
    let (count_at, ok_at, trap_at) = (at, at + count.len(), at + count.len() + ok.len());
    let seed_at = raw::DATA + 1024;
    let data = [count.clone(), ok.clone(), trap.clone()].concat();
    let sample = format!(
        "(drop (call $now)) (call $seed (i32.const {seed_at})) \
         (drop (call $read (i32.const {count_at}) (i32.const {}))) \
         (drop (call $read (i32.const {ok_at}) (i32.const {}))) (drop (call $now))",
        count.len(),
        ok.len()
    );
    let read_fails = format!(
        "(drop (call $read (i32.const {trap_at}) (i32.const {})))",
        trap.len()
    );
    let mut schema = raw_schema(
        "t_rawnondet",
        &[
            RawReducer {
                name: "sample",
                mode: ReducerMode::Write,
                body: "",
            },
            RawReducer {
                name: "read_fails",
                mode: ReducerMode::Write,
                body: "",
            },
        ],
    );
    schema.dependencies = vec!["hello".into(), "t_rawsrc".into()];
    let imports = r#"(import "interstice" "now_micros" (func $now (result i64)))
  (import "interstice" "rng_seed" (func $seed (param i32)))
  (import "interstice" "call_read" (func $read (param i32 i32) (result i64)))"#;
    let text = raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        imports,
        &data,
        &[&sample, &read_fails],
    );
    wat::parse_str(text).expect("valid wat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deterministic_log_re_executes_exactly() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "caller", "bank"]).await;
    rt.load_module(read_source()).await.unwrap();
    rt.load_module(nondet_user()).await.unwrap();
    // Async calls and the triggers they fire.
    for name in ["ann", "bob"] {
        rt.call("caller", "greet", vec![s(name)]).await.unwrap();
    }
    rt.call("hello", "hello", vec![s("cy")]).await.unwrap();
    // Money, a failed transfer (it wrote before failing) and a user error.
    let alice = open_account(&rt, "alice", 100).await;
    let bob = open_account(&rt, "bob", 0).await;
    rt.call("bank", "transfer", vec![alice.clone(), bob.clone(), u(30)])
        .await
        .unwrap();
    let e = reducer_error(
        rt.call(
            "bank",
            "transfer",
            vec![bob.clone(), alice.clone(), u(1_000)],
        )
        .await,
    );
    assert_eq!(e.kind, ErrorKind::UserError);
    reducer_error(rt.call("bank", "open_account", vec![s(""), u(1)]).await);
    // Time, rng and read calls (one of which fails) inside write reducers.
    rt.call("t_rawnondet", "sample", vec![]).await.unwrap();
    rt.call("t_rawnondet", "sample", vec![]).await.unwrap();
    let e = reducer_error(rt.call("t_rawnondet", "read_fails", vec![]).await);
    assert_eq!(e.kind, ErrorKind::Host, "{e:?}");
    let rt2 = rt.clone();
    // hello's init greeting came before caller subscribed: three are seen.
    eventually(20, "every greeting seen by caller", move || {
        let rt = rt2.clone();
        async move { as_u64(&rt.read("caller", "seen_count", vec![]).await.unwrap().value) == 3 }
    })
    .await;
    // A read sees a trigger's commit before it is written to the log; one
    // more acknowledged (durable) write means every earlier one is durable.
    rt.call("bank", "deposit", vec![bob, u(5)]).await.unwrap();

    // On the live directory (locked by `rt`): runs, and writes nothing.
    let before = tree(dir.path());
    let out = check_cli(dir.path(), false).await;
    let text = expect_ok(&out, "replay-check on a live directory");
    assert!(text.starts_with("ok: "), "{text}");
    let after = tree(dir.path());
    let changed: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
    assert!(
        changed.is_empty() && after.len() == before.len(),
        "replay-check wrote into the data directory: {changed:?}"
    );
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let logged = commits(&entries);
    let sample = logged.iter().find(|c| c.reducer == "sample").unwrap();
    assert!(
        matches!(
            sample.nondet.as_slice(),
            [
                Nondet::Now(_),
                Nondet::RngSeed(_),
                Nondet::ReadCall { .. },
                Nondet::ReadCall { .. }
            ]
        ),
        "the log records every input: {:?}",
        sample.nondet
    );
    assert!(
        logged.iter().any(|c| c.reducer == "on_greeting"),
        "triggers ran"
    );
    let failures = logged
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Err { .. }))
        .count() as u64;

    let report = check(dir.path(), ReplayCheckOptions::default()).await;
    assert!(report.ok(), "{:?}", report.divergence);
    assert_eq!(
        report.checked,
        logged.len() as u64,
        "every commit is checked"
    );
    assert_eq!(report.entries, entries.len() as u64);
    assert_eq!(report.last_ts, entries.len() as u64);
    for (name, m) in &report.modules {
        let n = logged.iter().filter(|c| &c.module == name).count() as u64;
        assert_eq!((m.commits, m.checked), (n, n), "{name}");
    }
    assert_eq!(report.modules["bank"].failed, 2);
    assert_eq!(report.modules["t_rawnondet"].failed, 1);
    assert_eq!(
        report.modules.values().map(|m| m.failed).sum::<u64>(),
        failures
    );

    let out = check_cli(dir.path(), true).await;
    let json: serde_json::Value = serde_json::from_str(&expect_ok(&out, "json")).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["checked"], logged.len() as u64);
    assert!(json["divergence"].is_null());
    assert_eq!(
        json["modules"]["caller"]["checked"],
        report.modules["caller"].checked
    );
}

/// Every file under `dir` with its length and modification time.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_state_that_a_restart_resets_is_a_divergence() {
    let dir = tempdir();
    // Two ticks in one process: its static counter goes 1, 2.
    let rt = open_with(dir.path(), &["t_nondet"]).await;
    for want in [1, 2] {
        let out = rt.call("t_nondet", "tick", vec![]).await.unwrap();
        assert_eq!(as_u64(&out.value), want);
    }
    rt.shutdown().await.unwrap();
    // A new process starts a new instance: the counter starts over.
    let rt: Runtime = open(dir.path()).await;
    let third = rt.call("t_nondet", "tick", vec![]).await.unwrap();
    assert_eq!(as_u64(&third.value), 1);
    let ts = third.ts.unwrap();
    rt.call("t_nondet", "tick", vec![]).await.unwrap();
    rt.shutdown().await.unwrap();

    // One instance for the whole check: the counter reaches 3 at `ts`.
    let report = check(dir.path(), ReplayCheckOptions::default()).await;
    assert!(!report.ok());
    let d = report.divergence.clone().expect("a divergence");
    assert_eq!(
        (d.ts, d.module.as_str(), d.reducer.as_str()),
        (ts, "t_nondet", "tick")
    );
    let mutation = &d.differences[0];
    assert_eq!(mutation.what, "mutation 0 on table ticks");
    let row = |o: &Observed| match o {
        Observed::Mutation {
            op: "insert",
            value,
        } => value.clone(),
        other => panic!("expected an insert, got {other:?}"),
    };
    assert_eq!(
        row(&mutation.expected),
        serde_json::json!({"id": 3, "counter": 1})
    );
    assert_eq!(
        row(&mutation.actual),
        serde_json::json!({"id": 3, "counter": 3})
    );
    let outcome = d.differences.iter().find(|x| x.what == "outcome").unwrap();
    assert_eq!(outcome.to_string(), "outcome: expected Ok 1 got Ok 3");
    let text = d.to_string();
    assert!(
        text.starts_with(&format!(
            "ts {ts} t_nondet.tick: mutation 0 on table ticks: expected insert "
        )),
        "{text}"
    );
    // The module stops at its first divergence; the ticks before it matched.
    let m = &report.modules["t_nondet"];
    assert_eq!((m.commits, m.checked, m.divergence_ts), (4, 3, Some(ts)));

    let out = check_cli(dir.path(), false).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!("DIVERGENCE at ts {ts} in t_nondet.tick")),
        "{text}"
    );
    assert!(
        text.contains("mutation 0 on table ticks: expected insert"),
        "{text}"
    );
    let out = check_cli(dir.path(), true).await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(stdout_of(&out).trim()).unwrap();
    assert_eq!(json["ok"], false);
    let jd = &json["divergence"];
    assert_eq!(
        (jd["ts"].as_u64(), jd["module"].as_str()),
        (Some(ts), Some("t_nondet"))
    );
    assert_eq!(jd["reducer"], "tick");
    assert_eq!(jd["differences"][0]["expected"]["row"]["counter"], 1);
    assert_eq!(jd["differences"][0]["actual"]["row"]["counter"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_and_exhausted_budgets_fail_again_the_same_way() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    let failing = [
        ("spin", ErrorKind::Budget),
        ("trap", ErrorKind::Trap),
        ("write_then_trap", ErrorKind::Trap),
        ("panic", ErrorKind::Panic),
        ("fail", ErrorKind::UserError),
    ];
    for (reducer, kind) in failing {
        rt.call("t_hostile", "mark", vec![s(reducer)])
            .await
            .unwrap();
        let e = reducer_error(rt.call("t_hostile", reducer, vec![]).await);
        assert_eq!(e.kind, kind, "{reducer}: {e:?}");
    }
    rt.call("t_hostile", "mark", vec![s("after")])
        .await
        .unwrap();
    rt.shutdown().await.unwrap();

    let report = check(dir.path(), ReplayCheckOptions::default()).await;
    assert!(report.ok(), "{:?}", report.divergence);
    let m = &report.modules["t_hostile"];
    assert_eq!((m.checked, m.failed), (11, failing.len() as u64));
    let out = check_cli(dir.path(), false).await;
    expect_ok(&out, "replay-check of traps and budgets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fuel_budget_the_log_was_written_under_decides_budget_failures() {
    let dir = tempdir();
    let limits = Limits::default().with_fuel(crate::engines::FUEL_WRITTEN_UNDER);
    crate::engines::log_with_a_fuel_failure(dir.path()).await;

    let same = ReplayCheckOptions::default().with_limits(limits);
    assert!(check(dir.path(), same).await.ok());
    let out = check_cli(dir.path(), false).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "default fuel lets the big call finish"
    );
    let d = check(dir.path(), ReplayCheckOptions::default())
        .await
        .divergence
        .expect("a divergence under a larger budget");
    let outcome = d.differences.iter().find(|x| x.what == "outcome").unwrap();
    assert!(matches!(
        outcome.expected,
        Observed::Err {
            kind: ErrorKind::Budget,
            ..
        }
    ));
    assert!(matches!(outcome.actual, Observed::Ok(_)), "{outcome}");
    let dir_arg = dir.path().as_os_str().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        interstice([
            "replay-check".into(),
            dir_arg,
            "--fuel".into(),
            "2000000".into(),
        ])
    })
    .await
    .unwrap();
    expect_ok(&out, "replay-check --fuel matching the log");
}
