//! `interstice log-dump`: JSON lines per entry and CSV per mutation, rows
//! decoded with the logged schema, read-only next to a runtime that holds
//! the directory, and specific errors for a corrupt log or a missing one.
//! Also the `-d` form of `check-log` and `replay-check`.

use std::path::Path;

use serde_json::Value as Json;

use crate::support::{
    bin, expect_ok, interstice, open_with, s, segment_files, stderr_of, tempdir, u,
};

/// hello (init, trigger target), caller (async calls into hello, trigger on
/// hello.greetings) and bank (a failed transfer).
async fn populate(dir: &Path) -> interstice_actors::Runtime {
    let rt = open_with(dir, &["hello", "caller", "bank"]).await;
    rt.call("hello", "hello", vec![s("ann")])
        .await
        .expect("hello");
    rt.call("caller", "greet", vec![s("bob")])
        .await
        .expect("greet");
    rt.call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .expect("open_account");
    let failed = rt.call("bank", "transfer", vec![u(1), u(2), u(5)]).await;
    assert!(failed.is_err(), "transfer to a missing account must fail");
    // Let the async call and the triggers run: two greetings, and caller's
    // trigger on each; and the failed transfer, answered before its commit
    // is written (the dump must not race them).
    crate::support::eventually(10, "the async greeting and both triggers", || {
        let d = dir.to_path_buf();
        async move {
            crate::support::log_entries(&d)
                .iter()
                .filter(|e| matches!(e, interstice_persist::LogEntry::Commit(c) if matches!((c.module.as_str(), c.reducer.as_str()), ("hello", "hello") | ("caller", "on_greeting") | ("bank", "transfer"))))
                .count()
                == 5
        }
    })
    .await;
    rt
}

fn dump(dir: &Path, format: &str) -> std::process::Output {
    interstice([
        "log-dump".as_ref(),
        "-d".as_ref(),
        dir.as_os_str(),
        "--format".as_ref(),
        format.as_ref(),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn json_dump_decodes_rows_causes_and_outcomes_while_a_runtime_holds_the_dir() {
    let d = tempdir();
    let rt = populate(d.path()).await;
    // The runtime still holds the lock: the dump must not need it.
    let out = dump(d.path(), "json");
    let text = expect_ok(&out, "log-dump json");
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let entries = crate::support::log_entries(d.path());
    assert_eq!(lines.len(), entries.len(), "one line per log entry");
    for (l, e) in lines.iter().zip(&entries) {
        assert_eq!(l["ts"], e.ts());
    }
    let installs: Vec<&str> = lines
        .iter()
        .filter(|l| l["kind"] == "install")
        .map(|l| l["module"].as_str().unwrap())
        .collect();
    assert_eq!(installs, ["hello", "caller", "bank"]);
    // The greeting by hand: a decoded row with the name.
    let ann = lines
        .iter()
        .find(|l| l["reducer"] == "hello" && l["args"] == serde_json::json!(["ann"]))
        .expect("the hello(ann) commit");
    assert_eq!(ann["cause"]["kind"], "external");
    assert_eq!(ann["mutations"][0]["table"], "greetings");
    assert_eq!(ann["mutations"][0]["op"], "insert");
    assert_eq!(ann["mutations"][0]["row"]["name"], "ann");
    // The async call: caller.greet's outbound call, delivered as hello.hello
    // with cause `call` naming the caller's commit.
    let greet = lines
        .iter()
        .find(|l| l["module"] == "caller" && l["reducer"] == "greet")
        .expect("caller.greet");
    assert_eq!(greet["calls"][0]["module"], "hello");
    let bob = lines
        .iter()
        .find(|l| l["reducer"] == "hello" && l["args"] == serde_json::json!(["bob"]))
        .expect("the delivered hello(bob)");
    assert_eq!(bob["cause"]["kind"], "call");
    assert_eq!(bob["cause"]["module"], "caller");
    assert_eq!(bob["cause"]["ts"], greet["ts"]);
    // A trigger of hello.greetings ran in caller.
    assert!(
        lines
            .iter()
            .any(|l| l["module"] == "caller" && l["cause"]["kind"] == "trigger"),
        "{text}"
    );
    // The failed transfer: its error, and no mutation.
    let transfer = lines
        .iter()
        .find(|l| l["reducer"] == "transfer")
        .expect("the transfer");
    assert_eq!(
        transfer["outcome"]["err"]["kind"], "UserError",
        "{transfer}"
    );
    assert_eq!(transfer["mutations"].as_array().unwrap().len(), 0);
    let open = lines
        .iter()
        .find(|l| l["reducer"] == "open_account")
        .expect("open_account");
    assert_eq!(open["outcome"]["ok"], 1);
    assert_eq!(open["mutations"][0]["row"]["balance"], 10);
    assert_eq!(open["mutations"][0]["key"], 1);
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_dump_has_a_header_and_one_line_per_mutation() {
    let d = tempdir();
    let rt = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    let out = dump(d.path(), "csv");
    let text = expect_ok(&out, "log-dump csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader
            .headers()
            .expect("a header")
            .iter()
            .collect::<Vec<_>>(),
        ["ts", "module", "table", "op", "key", "row"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a record")).collect();
    let mutations: usize = crate::support::log_entries(d.path())
        .iter()
        .map(|e| match e {
            interstice_persist::LogEntry::Commit(c) => c.mutations.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(rows.len(), mutations);
    let alice = rows
        .iter()
        .find(|r| &r[1] == "bank")
        .expect("bank's insert");
    assert_eq!(&alice[2], "accounts");
    assert_eq!(&alice[3], "insert");
    assert_eq!(&alice[4], "1");
    let row: Json = serde_json::from_str(&alice[5]).expect("row is JSON");
    assert_eq!(row["owner"], "alice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_log_and_a_missing_dir_are_specific_errors() {
    let d = tempdir();
    let rt = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    let seg = segment_files(d.path()).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    // A byte inside the first batch's payload (after the 64-byte header
    // and the 52-byte batch header), with batches after it.
    bytes[64 + 52 + 3] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let out = dump(d.path(), "json");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("corrupt"), "{}", stderr_of(&out));

    let missing = d.path().join("nope");
    let out = dump(&missing, "json");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no log/ directory"),
        "{}",
        stderr_of(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_log_and_replay_check_take_the_dir_positionally_or_with_d() {
    let d = tempdir();
    let rt = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    for cmd in ["check-log", "replay-check"] {
        let pos = interstice([cmd.as_ref(), d.path().as_os_str()]);
        let flag = interstice([cmd.as_ref(), "-d".as_ref(), d.path().as_os_str()]);
        let a = expect_ok(&pos, cmd);
        let b = expect_ok(&flag, cmd);
        assert_eq!(a, b, "{cmd}: the two forms give the same report");
        assert!(a.contains("ok") || a.contains("OK"), "{a}");
    }
    // Both at once is a usage error.
    let both = std::process::Command::new(bin())
        .args([
            "check-log".as_ref(),
            d.path().as_os_str(),
            "-d".as_ref(),
            d.path().as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}
