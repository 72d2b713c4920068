//! Tests: the log records the engine that wrote it, and `replay-check` on
//! another engine tells the divergences an engine change explains (fuel or
//! stack exhaustion) from a module's (`docs/DETERMINISM.md`, "Engine
//! upgrades"; `docs/LOG_FORMAT.md` §5 `Engine`). A log "written by another
//! build" is this build's log with its engine records rewritten, which is
//! byte for byte what that build would have written.

use std::path::Path;

use interstice_actors::{
    EngineCause, ErrorKind, Limits, ReplayCheckOptions, ReplayCheckReport, Runtime, Value,
};
use interstice_persist::{EngineInfo, LogEntry, MutationOp};

use crate::support::{
    interstice, log_entries, open, open_retrying, open_with_limits, reducer_error, rewrite_log, s,
    stdout_of, tempdir, u,
};

/// The engine the install entries of `dir`'s log record.
fn installed_engine(dir: &Path) -> EngineInfo {
    log_entries(dir)
        .into_iter()
        .find_map(|e| match e {
            LogEntry::Install(i) => i.engine,
            _ => None,
        })
        .expect("an install with its engine")
}

/// The engine entries of `dir`'s log.
fn engine_entries(dir: &Path) -> Vec<(u64, EngineInfo)> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Engine(r) => Some((r.ts, r.engine)),
            _ => None,
        })
        .collect()
}

/// `dir`'s log rewritten into a new data directory with every install's
/// engine replaced by `engine(old)`.
fn with_engine(
    dir: &Path,
    engine: impl Fn(&EngineInfo) -> Option<EngineInfo>,
) -> tempfile::TempDir {
    let forged = tempdir();
    let entries: Vec<LogEntry> = log_entries(dir)
        .into_iter()
        .map(|e| match e {
            LogEntry::Install(mut i) => {
                i.engine = i.engine.as_ref().and_then(&engine);
                LogEntry::Install(i)
            }
            other => other,
        })
        .collect();
    rewrite_log(dir, forged.path(), &entries);
    forged
}

/// An older wasmtime: another version and other compiled code.
fn older_wasmtime(e: &EngineInfo) -> Option<EngineInfo> {
    Some(EngineInfo {
        wasmtime: "47.0.0".into(),
        code: [0x47; 32],
        ..e.clone()
    })
}

async fn check(dir: &Path) -> ReplayCheckReport {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        interstice_actors::replay_check(&dir, &ReplayCheckOptions::default())
    })
    .await
    .unwrap()
    .expect("replay-check runs")
}

async fn check_cli(dir: &Path) -> std::process::Output {
    let dir = dir.as_os_str().to_owned();
    tokio::task::spawn_blocking(move || interstice(["replay-check".into(), dir]))
        .await
        .unwrap()
}

async fn reopen_and_close(dir: &Path) {
    let rt = open(dir).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_record_the_engine_and_another_engine_is_recorded_once_when_it_opens() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(crate::support::wasm("t_hostile"))
        .await
        .unwrap();
    rt.call("t_hostile", "mark", vec![s("a")]).await.unwrap();
    rt.shutdown().await.unwrap();
    let engine = installed_engine(dir.path());
    assert_eq!(
        engine.target,
        format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
    );
    assert_eq!(engine.fuel_schedule, interstice_abi::query::FUEL_SCHEDULE);
    assert_eq!(engine.max_wasm_stack, 1 << 20);
    assert!(engine.wasmtime.starts_with("48."), "{}", engine.wasmtime);
    // The same build reopening writes nothing.
    reopen_and_close(dir.path()).await;
    assert_eq!(engine_entries(dir.path()), []);
    let entries = log_entries(dir.path()).len() as u64;

    // A log last written by an older wasmtime, and one written before
    // engines were recorded: the first open appends this build's engine,
    // at the next timestamp; later opens append nothing.
    for forged in [
        with_engine(dir.path(), older_wasmtime),
        with_engine(dir.path(), |_| None),
    ] {
        reopen_and_close(forged.path()).await;
        assert_eq!(
            engine_entries(forged.path()),
            [(entries + 1, engine.clone())]
        );
        reopen_and_close(forged.path()).await;
        assert_eq!(engine_entries(forged.path()).len(), 1);
        // Writes go on after it, and the state is the log's.
        let b = Runtime::builder().data_dir(forged.path()).snapshots(true);
        let rt = open_retrying(b).await.unwrap();
        let n = rt.read("t_hostile", "mark_count", vec![]).await.unwrap();
        assert_eq!(n.value, u(1));
        // A snapshot carries the engine: opening from it appends nothing.
        rt.snapshot_now().await.unwrap();
        rt.shutdown().await.unwrap();
        reopen_and_close(forged.path()).await;
        assert_eq!(engine_entries(forged.path()).len(), 1);
        let report = check(forged.path()).await;
        assert!(report.ok(), "{:?}", report.divergence);
        // The engine entry is what log-inspect shows between the commits.
        let out = interstice([
            "log-inspect".into(),
            "-d".into(),
            forged.path().as_os_str().to_owned(),
        ]);
        let text = stdout_of(&out);
        assert!(
            text.contains(&format!(
                "#{} engine: from here on written by interstice {}, wasmtime {}",
                entries + 1,
                engine.runtime,
                engine.wasmtime
            )),
            "{text}"
        );
    }
}

/// The fuel budget [`log_with_a_fuel_failure`] writes under.
pub(crate) const FUEL_WRITTEN_UNDER: u64 = 2_000_000;

/// A log written under a budget that ran out where the default does not:
/// what a build whose fuel costs were higher writes. `busy(10)`, the big
/// call that ran out, `mark("after")`, `busy(10)`.
pub(crate) async fn log_with_a_fuel_failure(dir: &Path) -> u64 {
    let rt = open_with_limits(dir, Limits::default().with_fuel(FUEL_WRITTEN_UNDER)).await;
    rt.load_module(crate::support::wasm("t_hostile"))
        .await
        .unwrap();
    rt.call("t_hostile", "busy", vec![u(10)]).await.unwrap();
    let big = rt.call("t_hostile", "busy", vec![u(1_000_000)]).await;
    assert_eq!(reducer_error(big).kind, ErrorKind::Budget);
    rt.call("t_hostile", "mark", vec![s("after")])
        .await
        .unwrap();
    rt.call("t_hostile", "busy", vec![u(10)]).await.unwrap();
    rt.shutdown().await.unwrap();
    log_entries(dir)
        .iter()
        .find_map(|e| match e {
            LogEntry::Commit(c) if c.args.len() > 2 && c.reducer == "busy" => Some(c.ts),
            _ => None,
        })
        .expect("the big call's commit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_attributes_fuel_exhaustion_under_another_engine_to_the_engine() {
    let dir = tempdir();
    let big_ts = log_with_a_fuel_failure(dir.path()).await;

    // Control: under the same engine, the budget failure that does not
    // recur is the module's divergence (its log says another budget).
    let same = check(dir.path()).await;
    assert_eq!(same.divergence.as_ref().map(|d| d.ts), Some(big_ts));
    assert!(same.engine_divergences.is_empty());
    assert!(!same.engine_changed());

    // Written by an older wasmtime: the engine's divergence, passed, and
    // every later commit still checked.
    let forged = with_engine(dir.path(), older_wasmtime);
    let report = check(forged.path()).await;
    assert!(report.ok(), "{:?}", report.divergence);
    assert!(report.engine_changed());
    let m = &report.modules["t_hostile"];
    assert_eq!((m.checked, m.commits, m.engine_divergences), (4, 4, 1));
    assert_eq!(m.failed, 0, "the budget failure did not fail again");
    let [d] = &report.engine_divergences[..] else {
        panic!("{:?}", report.engine_divergences)
    };
    assert_eq!((d.divergence.ts, d.cause), (big_ts, EngineCause::Fuel));
    let changed: Vec<_> = d
        .changes
        .iter()
        .map(|c| (c.field, c.before.as_str()))
        .collect();
    assert_eq!(changed, [("wasmtime", "47.0.0")]);
    assert_eq!(report.logged_engines.len(), 1);
    assert_eq!(report.logged_engines[0].from_ts, 1);
    let json = report.to_json();
    assert_eq!(json["engine_divergences"][0]["cause"], "fuel");
    assert_eq!(
        json["engine_divergences"][0]["changes"][0]["logged"],
        "47.0.0"
    );
    assert_eq!(json["logged_engines"][0]["engine"]["wasmtime"], "47.0.0");

    let out = check_cli(forged.path()).await;
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "ok: no module diverged: 4 transactions re-executed",
        "1 of them differed only as the engine change explains",
        "from ts 1, the log was written by interstice",
        "wasmtime 47.0.0",
        &format!("ts {big_ts} t_hostile.busy: fuel, wasmtime 47.0.0 → 48."),
        "t_hostile: 4 of 4 checked, 1 explained by the engine change",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }

    // A log that does not record its engine is treated the same way: its
    // engine is unknown.
    let unrecorded = with_engine(dir.path(), |_| None);
    let report = check(unrecorded.path()).await;
    assert!(report.ok(), "{:?}", report.divergence);
    assert!(report.engine_changed());
    assert_eq!(report.engine_divergences[0].logged, None);
    let text = stdout_of(&check_cli(unrecorded.path()).await);
    assert!(
        text.contains("the log does not record the engine that wrote it"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modules_divergence_under_another_engine_is_still_the_modules() {
    let dir = tempdir();
    log_with_a_fuel_failure(dir.path()).await;
    // The row `mark("after")` wrote, changed in the log: no engine change
    // explains that.
    let mut entries = log_entries(dir.path());
    let mut mark_ts = 0;
    for e in &mut entries {
        match e {
            LogEntry::Install(i) => i.engine = i.engine.as_ref().and_then(older_wasmtime),
            LogEntry::Commit(c) if c.reducer == "mark" => {
                mark_ts = c.ts;
                let MutationOp::Insert(row) = &mut c.mutations[0].op else {
                    panic!("mark inserts")
                };
                let at = row.windows(5).position(|w| w == b"after").unwrap();
                row[at..at + 5].copy_from_slice(b"later");
            }
            _ => {}
        }
    }
    let forged = tempdir();
    rewrite_log(dir.path(), forged.path(), &entries);
    let report = check(forged.path()).await;
    let d = report.divergence.as_ref().expect("the module's divergence");
    assert_eq!((d.ts, d.reducer.as_str()), (mark_ts, "mark"));
    // The fuel failure before it was still the engine's.
    assert_eq!(report.engine_divergences.len(), 1);
    let out = check_cli(forged.path()).await;
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "the divergence above is the module's: an engine change explains only fuel or stack \
             exhaustion"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_exhaustion_traps_and_traps_again_on_re_execution() {
    let dir = tempdir();
    let rt: Runtime = open(dir.path()).await;
    rt.load_module(crate::support::wasm("t_hostile"))
        .await
        .unwrap();
    let shallow = rt
        .call("t_hostile", "deep", vec![Value::U32(1_000)])
        .await
        .unwrap();
    assert!(matches!(shallow.value, Value::U64(_)));
    let err = reducer_error(
        rt.call("t_hostile", "deep", vec![Value::U32(50_000_000)])
            .await,
    );
    assert_eq!(err.kind, ErrorKind::Trap);
    assert_eq!(err.message, "stack overflow");
    // The module still works: the instance was replaced.
    rt.call("t_hostile", "mark", vec![s("after")])
        .await
        .unwrap();
    rt.shutdown().await.unwrap();
    let report = check(dir.path()).await;
    assert!(report.ok(), "{:?}", report.divergence);
    assert_eq!(report.modules["t_hostile"].failed, 1);
}
