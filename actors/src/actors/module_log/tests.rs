//! The module-log writer: records as JSON lines, rotation within its
//! bounds, symlinks refused.

use std::sync::Arc;

use super::{ModuleLogRecord, ModuleLogWriter, MODULE_LOG_DIR, MODULE_LOG_FILE};
use crate::config::ModuleLogPolicy;

fn record(ts: u64, text: &str) -> ModuleLogRecord {
    ModuleLogRecord {
        ts,
        module: Arc::from("m"),
        reducer: "r".into(),
        level: "info",
        kind: "log",
        text: text.into(),
        extra: None,
    }
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn records_are_json_lines_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (log, writer) = ModuleLogWriter::start(dir.path(), ModuleLogPolicy::default()).unwrap();
    log.send(record(7, "hello"));
    let mut failed = record(8, "delivery failed: boom");
    failed.kind = "failed_delivery";
    failed.level = "warn";
    failed.extra = Some(serde_json::json!({ "cause_ts": 7 }));
    log.send(failed);
    writer.stop();
    let got = lines(&dir.path().join(MODULE_LOG_DIR).join(MODULE_LOG_FILE));
    assert_eq!(
        got,
        [
            serde_json::json!({"ts": 7, "module": "m", "reducer": "r", "level": "info",
                "kind": "log", "text": "hello"}),
            serde_json::json!({"ts": 8, "module": "m", "reducer": "r", "level": "warn",
                "kind": "failed_delivery", "text": "delivery failed: boom", "cause_ts": 7}),
        ]
    );
}

#[test]
fn rotation_keeps_the_newest_records_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let policy = ModuleLogPolicy::default()
        .with_max_file_bytes(1_000)
        .with_keep_files(2);
    let (log, writer) = ModuleLogWriter::start(dir.path(), policy).unwrap();
    for ts in 1..=200 {
        log.send(record(ts, &format!("line {ts:03} {}", "x".repeat(40))));
    }
    writer.stop();
    let logs = dir.path().join(MODULE_LOG_DIR);
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["module.log", "module.log.1", "module.log.2"]);
    let mut all = Vec::new();
    for n in ["module.log.2", "module.log.1", "module.log"] {
        let len = std::fs::metadata(logs.join(n)).unwrap().len();
        assert!(len <= 1_000, "{n}: {len} bytes");
        all.extend(lines(&logs.join(n)));
    }
    // The newest records, in order, ending with the last one.
    let ts: Vec<u64> = all.iter().map(|r| r["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 1), "{ts:?}");
    assert_eq!(ts.last(), Some(&200));
    assert!(ts.len() > 20, "{}", ts.len());
}

#[test]
fn a_symlink_in_place_of_the_logs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(MODULE_LOG_DIR)).unwrap();
    let err = ModuleLogWriter::start(dir.path(), ModuleLogPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
    // A symlink at the file inside a real directory is refused too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(MODULE_LOG_DIR)).unwrap();
    let target = elsewhere.path().join("target");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(
        &target,
        dir.path().join(MODULE_LOG_DIR).join(MODULE_LOG_FILE),
    )
    .unwrap();
    let err = ModuleLogWriter::start(dir.path(), ModuleLogPolicy::default()).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}
