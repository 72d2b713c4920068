//! `interstice log-inspect`: commits in timestamp order with cause,
//! outcome, before/after rows, outbound calls and the deliveries each
//! caused; the filters (`--module`, `--reducer`, `--table`, the ts range,
//! `--outcome`, `--caused-by`, the wall-clock `--since`/`--until`), text
//! and JSON output, read-only next to a
//! runtime holding the directory, and specific errors for bad input.

use std::path::Path;

use serde_json::{json, Value as Json};

use crate::support::{
    eventually, expect_ok, interstice, log_entries, open_with, s, stderr_of, tempdir, u,
};

/// The timestamps of the interesting commits of [`populate`].
struct Story {
    greet: u64,
    transfer_ok: u64,
    transfer_err: u64,
    remove: u64,
}

/// hello (init; its greetings trigger caller.on_greeting), caller (an
/// async call into hello), bank (a transfer that updates two rows, one
/// that fails) and t_inventory (an insert, then a delete).
async fn populate(dir: &Path) -> (interstice_actors::Runtime, Story) {
    let rt = open_with(dir, &["hello", "caller", "bank", "t_inventory"]).await;
    rt.call("hello", "hello", vec![s("ann")])
        .await
        .expect("hello");
    let greet = rt
        .call("caller", "greet", vec![s("bob")])
        .await
        .expect("greet");
    rt.call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .expect("open alice");
    rt.call("bank", "open_account", vec![s("bob"), u(3)])
        .await
        .expect("open bob");
    let transfer_ok = rt
        .call("bank", "transfer", vec![u(1), u(2), u(4)])
        .await
        .expect("transfer");
    let failed = rt.call("bank", "transfer", vec![u(1), u(9), u(1)]).await;
    assert!(failed.is_err(), "a transfer to a missing account fails");
    rt.call("t_inventory", "add_item", vec![u(7), s("zed")])
        .await
        .expect("add_item");
    let remove = rt
        .call("t_inventory", "remove_item", vec![u(7)])
        .await
        .expect("remove_item");
    eventually(10, "the async greeting and its trigger", || {
        let d = dir.to_path_buf();
        async move {
            log_entries(&d)
                .iter()
                .filter(|e| matches!(e, interstice_persist::LogEntry::Commit(c) if c.module == "caller" && c.reducer == "on_greeting"))
                .count()
                == 2
        }
    })
    .await;
    let transfer_err = crate::support::commits(&log_entries(dir))
        .iter()
        .find(|c| {
            c.reducer == "transfer" && matches!(c.outcome, interstice_persist::Outcome::Err { .. })
        })
        .map(|c| c.ts)
        .expect("the failed transfer is logged");
    let story = Story {
        greet: greet.ts.expect("a write has a ts"),
        transfer_ok: transfer_ok.ts.expect("ts"),
        transfer_err,
        remove: remove.ts.expect("ts"),
    };
    (rt, story)
}

fn inspect(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut v: Vec<&std::ffi::OsStr> = vec!["log-inspect".as_ref(), "-d".as_ref(), dir.as_os_str()];
    v.extend(args.iter().map(std::ffi::OsStr::new));
    interstice(v)
}

fn json_lines(dir: &Path, args: &[&str]) -> Vec<Json> {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let out = inspect(dir, &a);
    expect_ok(&out, "log-inspect --format json")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn ts_of(lines: &[Json]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| l["ts"].as_u64().expect("ts"))
        .collect()
}

fn commit_at(lines: &[Json], ts: u64) -> &Json {
    lines
        .iter()
        .find(|l| l["ts"] == ts)
        .unwrap_or_else(|| panic!("no entry at ts {ts}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn json_shows_before_after_rows_calls_and_the_deliveries_caused() {
    let d = tempdir();
    let (rt, st) = populate(d.path()).await;
    // The runtime holds the lock: log-inspect must not need it.
    let lines = json_lines(d.path(), &[]);
    assert_eq!(
        lines.len(),
        log_entries(d.path()).len(),
        "every entry, unfiltered"
    );
    assert_eq!(
        lines.iter().filter(|l| l["kind"] == "install").count(),
        4,
        "the four installs"
    );

    // An update shows the row before and after.
    let t = commit_at(&lines, st.transfer_ok);
    assert_eq!(t["reducer"], "transfer");
    assert_eq!(t["cause"]["kind"], "external");
    let m = &t["mutations"];
    assert_eq!(m[0]["op"], "update");
    assert_eq!(m[0]["before"]["balance"], 10);
    assert_eq!(m[0]["row"]["balance"], 6);
    assert_eq!(m[1]["before"]["balance"], 3);
    assert_eq!(m[1]["row"]["balance"], 7);
    // A delete shows the row it removed.
    let r = commit_at(&lines, st.remove);
    assert_eq!(r["mutations"][0]["op"], "delete");
    assert_eq!(r["mutations"][0]["key"], 7);
    assert_eq!(r["mutations"][0]["before"]["owner"], "zed");
    assert_eq!(r["mutations"][0]["row"], Json::Null);
    // A failure: its error, no mutation.
    let f = commit_at(&lines, st.transfer_err);
    assert_eq!(f["outcome"]["err"]["kind"], "UserError");
    assert_eq!(f["mutations"], json!([]));

    // The async call: decoded arguments, and the delivery it caused, which
    // points back at it and itself caused caller's trigger.
    let g = commit_at(&lines, st.greet);
    assert_eq!(g["calls"][0]["module"], "hello");
    assert_eq!(g["calls"][0]["args"], json!(["bob"]));
    let caused = g["caused"].as_array().expect("caused");
    assert_eq!(caused.len(), 1, "{g}");
    assert_eq!(caused[0]["via"], "call");
    assert_eq!(caused[0]["index"], 0);
    let bob_ts = caused[0]["ts"].as_u64().unwrap();
    let bob = commit_at(&lines, bob_ts);
    assert_eq!(bob["args"], json!(["bob"]));
    assert_eq!(
        bob["cause"],
        json!({"kind": "call", "module": "caller", "ts": st.greet, "index": 0})
    );
    assert_eq!(
        bob["mutations"][0]["before"],
        Json::Null,
        "an insert has no row before"
    );
    let trig = &bob["caused"][0];
    assert_eq!(trig["via"], "trigger");
    let on = commit_at(&lines, trig["ts"].as_u64().unwrap());
    assert_eq!(on["module"], "caller");
    assert_eq!(on["reducer"], "on_greeting");
    assert_eq!(on["cause"]["kind"], "trigger");
    assert_eq!(on["cause"]["ts"], bob_ts);
    // Init is its own cause.
    let init = lines
        .iter()
        .find(|l| l["reducer"] == "init")
        .expect("hello's init");
    assert_eq!(init["cause"]["kind"], "init");
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_select_commits_and_caused_by_follows_the_chain() {
    let d = tempdir();
    let (rt, st) = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    let all = json_lines(d.path(), &[]);

    // --caused-by: the greet, the delivered hello(bob), and the trigger it
    // fired in caller; nothing else.
    let chain = json_lines(d.path(), &["--caused-by", &st.greet.to_string()]);
    let got: Vec<(String, String)> = chain
        .iter()
        .map(|l| {
            (
                l["module"].as_str().unwrap().to_owned(),
                l["reducer"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("caller".to_owned(), "greet".to_owned()),
            ("hello".to_owned(), "hello".to_owned()),
            ("caller".to_owned(), "on_greeting".to_owned())
        ]
    );
    assert!(ts_of(&chain).windows(2).all(|w| w[0] < w[1]), "in ts order");

    // --module with --outcome err: only bank's failed transfer.
    let errs = json_lines(d.path(), &["--module", "bank", "--outcome", "err"]);
    assert_eq!(ts_of(&errs), [st.transfer_err]);
    // --outcome ok never shows a failure; no install either.
    let oks = json_lines(d.path(), &["--outcome", "ok"]);
    assert!(oks
        .iter()
        .all(|l| l["kind"] == "commit" && l["outcome"].get("ok").is_some()));
    assert_eq!(
        oks.len(),
        all.iter().filter(|l| l["kind"] == "commit").count() - 1
    );

    // --table: the commits that mutated bank.accounts (two opens and the
    // transfer that went through).
    let acc = json_lines(d.path(), &["--table", "bank.accounts"]);
    let reducers: Vec<&str> = acc.iter().map(|l| l["reducer"].as_str().unwrap()).collect();
    assert_eq!(reducers, ["open_account", "open_account", "transfer"]);
    let items = json_lines(d.path(), &["--table", "items"]);
    assert_eq!(ts_of(&items).last(), Some(&st.remove));

    // --reducer MODULE.REDUCER, and a timestamp window.
    let hellos = json_lines(d.path(), &["--reducer", "hello.hello"]);
    assert_eq!(hellos.len(), 2);
    let first = ts_of(&hellos)[0];
    let upto = json_lines(
        d.path(),
        &["--reducer", "hello", "--to-ts", &first.to_string()],
    );
    assert_eq!(ts_of(&upto), [first]);
    let window = json_lines(
        d.path(),
        &[
            "--from-ts",
            &st.transfer_ok.to_string(),
            "--to-ts",
            &st.remove.to_string(),
        ],
    );
    let expected: Vec<u64> = ts_of(&all)
        .into_iter()
        .filter(|t| (st.transfer_ok..=st.remove).contains(t))
        .collect();
    assert_eq!(ts_of(&window), expected);
    // Deliveries are found even past --to-ts.
    let greet_only = json_lines(
        d.path(),
        &["--to-ts", &st.greet.to_string(), "--module", "caller"],
    );
    assert_eq!(greet_only.last().unwrap()["caused"][0]["via"], "call");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_output_reads_as_a_history() {
    let d = tempdir();
    let (rt, st) = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    let out = inspect(d.path(), &[]);
    let text = expect_ok(&out, "log-inspect");
    assert!(text.contains("install hello 0.1.0"), "{text}");
    assert!(
        text.contains(&format!("#{} bank.transfer [1,2,4]", st.transfer_ok)),
        "{text}"
    );
    assert!(
        text.contains(r#"update   accounts 1: {"balance":10,"id":1,"owner":"alice"} -> {"balance":6,"id":1,"owner":"alice"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"delete   items 7: {"id":7,"owner":"zed"} (deleted)"#),
        "{text}"
    );
    assert!(text.contains("outcome  error UserError"), "{text}");
    assert!(text.contains(r#"call #0  hello.hello ["bob"]"#), "{text}");
    assert!(
        text.contains(&format!("async call #0 of caller at #{}", st.greet)),
        "{text}"
    );
    assert!(text.contains("caused   #"), "{text}");
    assert!(
        text.contains("trigger of mutation #0 of hello at #"),
        "{text}"
    );
    // No progress bar leaks into a pipe.
    assert!(!stderr_of(&out).contains("entries"), "{}", stderr_of(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_specific_errors() {
    let d = tempdir();
    let (rt, _) = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");

    let out = inspect(d.path(), &["--module", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("--module nope: no module of that name"),
        "{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("bank, caller, hello, t_inventory"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty(), "nothing printed before the error");

    let out = inspect(d.path(), &["--caused-by", "100000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("no commit at timestamp 100000"),
        "{}",
        stderr_of(&out)
    );

    let out = inspect(d.path(), &["--from-ts", "9", "--to-ts", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--from-ts 9 is after --to-ts 3"));

    let out = inspect(d.path(), &["--table", "a.b.c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("expected NAME or MODULE.NAME"));

    for (flag, name) in [
        ("--table", "bank.nope"),
        ("--table", "nope"),
        ("--reducer", "hello.nope"),
    ] {
        let out = inspect(d.path(), &[flag, name]);
        assert_eq!(out.status.code(), Some(2), "{flag} {name}");
        assert!(
            stderr_of(&out).contains(&format!("{flag} {name}: no installed module declares it")),
            "{}",
            stderr_of(&out)
        );
    }

    let out = inspect(d.path(), &["--outcome", "maybe"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses an unknown outcome"
    );

    let out = inspect(&d.path().join("missing"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no log/ directory"),
        "{}",
        stderr_of(&out)
    );

    // A corrupt log: a flipped byte in the first batch's payload.
    let seg = crate::support::segment_files(d.path()).remove(0);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 52 + 3] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let out = inspect(d.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("corrupt"), "{}", stderr_of(&out));
}

/// The wall-clock time of every commit in `lines`, by ts.
fn walls(lines: &[Json]) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter(|l| l["kind"] == "commit")
        .map(|l| {
            let w = l["wall_micros"].as_u64().unwrap_or_else(|| panic!("{l}"));
            (l["ts"].as_u64().expect("ts"), w)
        })
        .collect()
}

fn micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn rfc3339(micros: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros);
    humantime::format_rfc3339_micros(t).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn commits_carry_their_wall_clock_time_and_since_until_select_by_it() {
    let d = tempdir();
    let start = micros_now();
    let rt = open_with(d.path(), &["bank"]).await;
    let alice = rt
        .call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .expect("open alice")
        .ts
        .expect("ts");
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    let mid = micros_now();
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    rt.call("bank", "open_account", vec![s("bob"), u(3)])
        .await
        .expect("open bob");
    rt.call("bank", "transfer", vec![u(1), u(2), u(4)])
        .await
        .expect("transfer");
    rt.shutdown().await.expect("shutdown");
    let end = micros_now();

    let all = json_lines(d.path(), &[]);
    let times = walls(&all);
    assert!(times.len() >= 3, "{all:?}");
    for (ts, w) in &times {
        assert!(
            (start..=end).contains(w),
            "#{ts} finished at {w}, outside the test's [{start}, {end}]"
        );
    }
    let one = commit_at(&all, alice);
    assert_eq!(
        one["wall"].as_str().unwrap(),
        rfc3339(one["wall_micros"].as_u64().unwrap()),
        "wall is wall_micros in RFC 3339"
    );
    let before_mid: Vec<u64> = times
        .iter()
        .filter(|(ts, _)| *ts <= alice)
        .map(|t| t.0)
        .collect();
    let after_mid: Vec<u64> = times
        .iter()
        .filter(|(ts, _)| *ts > alice)
        .map(|t| t.0)
        .collect();
    assert_eq!(after_mid.len(), 2, "bob's open and the transfer");

    // The clock between the two groups of calls splits them, both ways
    // and in both spellings of a time.
    let mid_text = rfc3339(mid);
    assert_eq!(
        ts_of(&json_lines(d.path(), &["--since", &mid_text])),
        after_mid
    );
    assert_eq!(
        ts_of(&json_lines(d.path(), &["--until", &mid_text])),
        before_mid
    );
    let spaced = mid_text.replace('T', " ").replace('Z', "");
    assert_eq!(
        ts_of(&json_lines(d.path(), &["--since", &spaced])),
        after_mid
    );
    // Ends are included; a window of one commit's instant is that commit.
    let w = rfc3339(one["wall_micros"].as_u64().unwrap());
    assert_eq!(
        ts_of(&json_lines(d.path(), &["--since", &w, "--until", &w])),
        [alice]
    );
    // Durations ago: an hour holds every commit (and no install), and no
    // time ago holds none.
    assert_eq!(
        ts_of(&json_lines(d.path(), &["--since", "1h"])),
        times.iter().map(|t| t.0).collect::<Vec<_>>()
    );
    assert!(json_lines(d.path(), &["--since", "0s"]).is_empty());
    // Combined with another filter.
    let transfers = json_lines(d.path(), &["--since", &mid_text, "--reducer", "transfer"]);
    assert_eq!(ts_of(&transfers), [after_mid[1]]);
    // The text shows the time.
    let text = expect_ok(&inspect(d.path(), &["--to-ts", &alice.to_string()]), "text");
    assert!(text.contains(&format!("  time     {w}\n")), "{text}");

    // Bad times are exit 2, naming what a time may be.
    for bad in ["yesterday", "2026-13-01T00:00:00Z", "5 parsecs", ""] {
        let out = inspect(d.path(), &["--since", bad]);
        assert_eq!(out.status.code(), Some(2), "--since {bad:?}");
        assert!(
            stderr_of(&out).contains("RFC 3339"),
            "--since {bad:?}: {}",
            stderr_of(&out)
        );
    }
    let out = inspect(d.path(), &["--since", "1m", "--until", "2h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("is after --until"),
        "{}",
        stderr_of(&out)
    );

    // A log written before wall-clock times were recorded: the same
    // commits in the 11-item form read, show no time, and the filters
    // leave them out with a note saying how many.
    let old = tempdir();
    let entries: Vec<interstice_persist::LogEntry> = log_entries(d.path())
        .into_iter()
        .map(|e| match e {
            interstice_persist::LogEntry::Commit(mut c) => {
                c.wall_micros = None;
                interstice_persist::LogEntry::Commit(c)
            }
            other => other,
        })
        .collect();
    crate::support::rewrite_log(d.path(), old.path(), &entries);
    let undated = json_lines(old.path(), &[]);
    assert_eq!(ts_of(&undated), ts_of(&all), "the same history");
    assert!(undated.iter().all(|l| l.get("wall_micros").is_none()));
    let out = inspect(old.path(), &["--since", "1h"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "{}", crate::support::stdout_of(&out));
    assert!(
        stderr_of(&out).contains(&format!(
            "note: {} commit(s) have no wall-clock time",
            times.len()
        )),
        "{}",
        stderr_of(&out)
    );
    let text = expect_ok(&inspect(old.path(), &[]), "old text");
    assert!(!text.contains("  time "), "{text}");
}
