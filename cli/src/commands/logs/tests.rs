//! Unit tests of reading the module logs backwards (`recent`).

use std::io::Write;

use super::*;

fn record(ts: u64, kind: &str, pad: usize) -> String {
    let text = "x".repeat(pad);
    format!(
        "{{\"ts\":{ts},\"module\":\"m\",\"reducer\":\"r\",\"level\":\"warn\",\"kind\":\"{kind}\",\"text\":\"{text}\"}}\n"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    let mut f = File::create(dir.join(name)).expect("create");
    f.write_all(text.as_bytes()).expect("write");
}

fn ts_of(r: &Recent) -> Vec<u64> {
    r.records
        .iter()
        .map(|r| r["ts"].as_u64().unwrap())
        .collect()
}

#[test]
fn newest_first_across_chunks_and_rotated_files() {
    let d = tempfile::tempdir().expect("tempdir");
    // Lines of about 1 KiB: the current file spans several 64 KiB chunks.
    let old: String = (1..=10).map(|ts| record(ts, "log", 1000)).collect();
    let current: String = (11..=300).map(|ts| record(ts, "log", 1000)).collect();
    write(d.path(), "module.log.1", &old);
    // A line still being written at the end is not read.
    write(
        d.path(),
        "module.log",
        &format!("{current}{{\"ts\":301,\"kind\":\"lo"),
    );
    let r = recent(d.path(), 1000, u64::MAX, |_| true).expect("recent");
    assert_eq!(ts_of(&r), (1..=300).rev().collect::<Vec<_>>());
    assert!(r.complete);
    // The limit.
    let r = recent(d.path(), 3, u64::MAX, |_| true).expect("recent");
    assert_eq!(ts_of(&r), [300, 299, 298]);
    assert!(!r.complete);
    // The filter, reaching into the rotated file.
    let r = recent(d.path(), 5, u64::MAX, |r| {
        r["ts"].as_u64().unwrap() % 100 == 5
    })
    .expect("recent");
    assert_eq!(ts_of(&r), [205, 105, 5]);
    assert!(r.complete);
    // The byte budget: only the newest lines of the current file.
    let r = recent(d.path(), 1000, 10 * 1024, |_| true).expect("recent");
    assert!(!r.complete);
    assert!(
        (8..=10).contains(&r.records.len()),
        "{} records",
        r.records.len()
    );
    assert_eq!(ts_of(&r)[0], 300);
}

#[test]
fn damage_is_skipped_and_no_logs_is_empty() {
    let d = tempfile::tempdir().expect("tempdir");
    let r = recent(d.path(), 10, u64::MAX, |_| true).expect("no logs yet");
    assert!(r.records.is_empty() && r.complete);
    let text = format!(
        "{}not json\n[1,2]\n{}\n\n{}",
        record(1, "failed_delivery", 0),
        "y".repeat(100),
        record(2, "cut_chain", 0)
    );
    write(d.path(), "module.log", &text);
    let r = recent(d.path(), 10, u64::MAX, |_| true).expect("recent");
    assert_eq!(ts_of(&r), [2, 1]);
    // A line longer than any record (by more than a chunk, so that no
    // chunk holds it whole) ends the reading of its file.
    let long = format!(
        "{}{}\n{}",
        record(1, "log", 0),
        "z".repeat((MAX_LINE_BYTES + 2 * CHUNK) as usize),
        record(2, "log", 0)
    );
    write(d.path(), "module.log", &long);
    let r = recent(d.path(), 10, u64::MAX, |_| true).expect("recent");
    assert_eq!(ts_of(&r), [2]);
}

#[test]
fn a_filter_by_module_and_level() {
    let f = Filter::new(Some("m".into()), Some("warn"), "--level").expect("filter");
    let rec = |m: &str, l: &str| serde_json::json!({"module": m, "level": l});
    assert!(f.matches(&rec("m", "warn")) && f.matches(&rec("m", "error")));
    assert!(!f.matches(&rec("m", "info")) && !f.matches(&rec("n", "error")));
    let e = Filter::new(None, Some("loud"), "`level`").unwrap_err();
    assert!(
        e.to_string().contains("`level` \"loud\": not a level"),
        "{e}"
    );
}
