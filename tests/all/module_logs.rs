//! Tests: module logs (`DIR/logs/`, `interstice logs`). A guest's log lines
//! are kept with the timestamp, module and reducer of their commit, next to
//! the failed deliveries and the trigger chains the depth limit cut; the
//! files rotate within their bound; `interstice logs` filters them, and
//! `--follow` prints new records as they come.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use interstice_actors::{Limits, ModuleLogPolicy, Runtime};
use serde_json::Value as Json;

use crate::support::{bin, interstice, open, open_retrying, s, stderr_of, stdout_of, tempdir};

fn logs(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut v: Vec<std::ffi::OsString> = vec!["logs".into(), "-d".into(), dir.into()];
    v.extend(args.iter().map(|a| a.into()));
    interstice(v)
}

fn records(dir: &Path, args: &[&str]) -> Vec<Json> {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = logs(dir, &all);
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_lines_failed_deliveries_and_cut_chains_are_kept_with_their_commit() {
    let dir = tempdir();
    let limits = Limits::default().with_max_trigger_depth(3);
    let rt = crate::support::open_with_limits(dir.path(), limits).await;
    rt.load_module(crate::support::wasm("hello")).await.unwrap();
    let (failee, failer) = crate::deliveries::failing_pair();
    rt.load_module(failee).await.unwrap();
    rt.load_module(failer).await.unwrap();
    rt.load_module(crate::ordering::self_triggering_module())
        .await
        .unwrap();
    let hi = rt.call("hello", "hello", vec![s("ann")]).await.unwrap();
    let fire = rt.call("t_failer", "fire", vec![]).await.unwrap();
    let start = rt.call("t_loop", "start", vec![]).await.unwrap();
    let (hi_ts, fire_ts) = (hi.ts.unwrap(), fire.ts.unwrap());
    let id = crate::support::as_u64(&hi.value);
    rt.shutdown().await.unwrap();

    let all = records(dir.path(), &[]);
    let hello: Vec<&Json> = all.iter().filter(|r| r["reducer"] == "hello").collect();
    assert_eq!(
        hello,
        [&serde_json::json!({
            "ts": hi_ts, "module": "hello", "reducer": "hello", "level": "info",
            "kind": "log", "text": format!("hello, ann! (greeting #{id})"),
        })]
    );
    let failed: Vec<&Json> = all
        .iter()
        .filter(|r| r["kind"] == "failed_delivery")
        .collect();
    let [failed] = failed[..] else {
        panic!("one failed delivery in {all:?}")
    };
    assert_eq!(failed["module"], "t_failee");
    assert_eq!(failed["reducer"], "boom");
    assert_eq!(failed["level"], "warn");
    assert_eq!(failed["cause"], "async call");
    assert_eq!(failed["cause_module"], "t_failer");
    assert_eq!(failed["cause_ts"], fire_ts);
    assert_eq!(failed["error_kind"], "Trap");
    assert!(failed["ts"].as_u64().unwrap() > fire_ts);
    let cut: Vec<&Json> = all.iter().filter(|r| r["kind"] == "cut_chain").collect();
    let [cut] = cut[..] else {
        panic!("one cut chain in {all:?}")
    };
    assert_eq!(
        (&cut["module"], &cut["reducer"]),
        (&"t_loop".into(), &"on_tick".into())
    );
    assert!(cut["ts"].as_u64().unwrap() > start.ts.unwrap());
    assert!(
        cut["text"]
            .as_str()
            .unwrap()
            .contains("exceeds Limits::max_trigger_depth = 3"),
        "{cut}"
    );
    // In timestamp order.
    let ts: Vec<u64> = all.iter().map(|r| r["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");

    // Text, and the filters.
    let out = logs(dir.path(), &["--module", "hello"]);
    assert_eq!(
        stdout_of(&out),
        format!("#{hi_ts} info  hello.hello: hello, ann! (greeting #{id})\n")
    );
    let warn = records(dir.path(), &["--level", "warn"]);
    assert_eq!(warn.len(), 2, "{warn:?}");
    assert!(warn.iter().all(|r| r["level"] == "warn"));
    let out = logs(dir.path(), &["--level", "loud"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--level \"loud\": not a level (one of error, warn, info"),
        "{}",
        stderr_of(&out)
    );

    // Read-only work writes no module logs: replay-check re-runs hello.
    let before = std::fs::read(dir.path().join("logs/module.log")).unwrap();
    let check = interstice(["replay-check".as_ref(), dir.path().as_os_str()]);
    assert!(check.status.success(), "{}", stderr_of(&check));
    assert_eq!(
        std::fs::read(dir.path().join("logs/module.log")).unwrap(),
        before
    );
    // Nor does replay at a restart: it runs no wasm and routes nothing
    // again, so what a restart appends (deliveries the shutdown left
    // pending, which now run) is all after the records already kept.
    let last = ts.last().copied().unwrap();
    let rt = crate::support::open_with_limits(dir.path(), limits).await;
    rt.shutdown().await.unwrap();
    let after = std::fs::read(dir.path().join("logs/module.log")).unwrap();
    assert!(after.starts_with(&before));
    for line in String::from_utf8(after[before.len()..].to_vec())
        .unwrap()
        .lines()
    {
        let r: Json = serde_json::from_str(line).unwrap();
        assert!(
            r["ts"].as_u64().unwrap() > last,
            "{r} again after a restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_rotate_within_their_bound_and_keep_the_newest_records() {
    let dir = tempdir();
    let policy = ModuleLogPolicy::default()
        .with_max_file_bytes(2_000)
        .with_keep_files(2);
    let b = Runtime::builder().data_dir(dir.path()).module_logs(policy);
    let rt = open_retrying(b).await.unwrap();
    rt.load_module(crate::support::wasm("hello")).await.unwrap();
    let mut last = 0;
    for i in 0..100 {
        last = rt
            .call("hello", "hello", vec![s(&format!("n{i}"))])
            .await
            .unwrap()
            .ts
            .unwrap();
    }
    rt.shutdown().await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["module.log", "module.log.1", "module.log.2"]);
    for n in &names {
        let len = std::fs::metadata(dir.path().join("logs").join(n))
            .unwrap()
            .len();
        assert!(len <= 2_000, "{n}: {len}");
    }
    let all = records(dir.path(), &[]);
    let ts: Vec<u64> = all.iter().map(|r| r["ts"].as_u64().unwrap()).collect();
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "oldest file first: {ts:?}"
    );
    assert_eq!(ts.last(), Some(&last));
    assert!(ts.len() < 100, "the oldest records were rotated away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_new_records_as_they_come() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(crate::support::wasm("hello")).await.unwrap();
    let mut child = Command::new(bin())
        .args(["logs", "--follow", "--format", "json", "-d"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("logs --follow");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    for name in ["first", "second"] {
        let ts = rt.call("hello", "hello", vec![s(name)]).await.unwrap().ts;
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no record for {name} within 20 s"));
        let r: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(r["ts"], ts.unwrap());
        assert!(r["text"]
            .as_str()
            .unwrap()
            .starts_with(&format!("hello, {name}!")));
    }
    let _ = child.kill();
    let _ = child.wait();
    rt.shutdown().await.unwrap();
}
