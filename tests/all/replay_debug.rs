//! `interstice replay-debug`: the interactive debugger over a real data
//! directory (hello + caller: an init, an async call and its trigger; bank:
//! transfers, one failed), driven by scripted stdin with `--format json`
//! (every command and breakpoint kind, checked by content), back/goto
//! against forward stepping and against `tables --at-ts`, `rerun` on a
//! deterministic and a non-deterministic module, `export` then `--load`,
//! malformed input, and once through a real terminal (tmux).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use interstice_persist::{CommitRecord, LogEntry};
use serde_json::{json, Value as Json};

use crate::support::{
    bin, commits, eventually, expect_ok, interstice, log_entries, open, open_with, s, stderr_of,
    stdout_of, tempdir, u,
};

/// Runs `interstice replay-debug -d DIR ARGS…` with `script` on stdin.
fn debug(dir: &Path, args: &[&str], script: &str) -> Output {
    let mut child = Command::new(bin())
        .arg("replay-debug")
        .arg("-d")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the interstice binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("writing the script");
    child.wait_with_output().expect("replay-debug finishes")
}

/// The JSON replies, one per command line.
fn replies(out: &Output) -> Vec<Json> {
    stdout_of(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The reply to script line `line`.
fn reply(all: &[Json], line: u64) -> &Json {
    all.iter()
        .find(|r| r["line"] == line)
        .unwrap_or_else(|| panic!("no reply to line {line}: {all:#?}"))
}

fn all_commits(dir: &Path) -> Vec<CommitRecord> {
    commits(&log_entries(dir)).into_iter().cloned().collect()
}

/// The ts of the `n`th commit (0-based) of `module.reducer`.
fn ts_of(cs: &[CommitRecord], module: &str, reducer: &str, n: usize) -> u64 {
    cs.iter()
        .filter(|c| c.module == module && c.reducer == reducer)
        .nth(n)
        .unwrap_or_else(|| panic!("no commit {n} of {module}.{reducer}"))
        .ts
}

/// Populates `dir` with hello, caller and bank; returns the runtime (it
/// keeps the directory open: the debugger needs no lock).
async fn populate(dir: &Path) -> interstice_actors::Runtime {
    let rt = open_with(dir, &["hello", "caller", "bank"]).await;
    for (owner, initial) in [("ann", 100), ("bob", 50)] {
        rt.call("bank", "open_account", vec![s(owner), u(initial)])
            .await
            .expect("open_account");
    }
    rt.call("bank", "transfer", vec![u(1), u(2), u(30)])
        .await
        .expect("transfer");
    let failed = rt.call("bank", "transfer", vec![u(1), u(2), u(1000)]).await;
    assert!(failed.is_err(), "insufficient funds");
    rt.call("caller", "greet", vec![s("zed")])
        .await
        .expect("greet");
    eventually(10, "the greeting's trigger", || {
        let d = dir.to_path_buf();
        async move {
            commits(&log_entries(&d))
                .iter()
                .any(|c| c.module == "caller" && c.reducer == "on_greeting")
        }
    })
    .await;
    rt.call("bank", "deposit", vec![u(2), u(500)])
        .await
        .expect("deposit");
    rt.call("hello", "hello", vec![s("last")])
        .await
        .expect("hello");
    eventually(10, "the last greeting's trigger", || {
        let d = dir.to_path_buf();
        async move {
            commits(&log_entries(&d))
                .iter()
                .filter(|c| c.module == "caller" && c.reducer == "on_greeting")
                .count()
                == 2
        }
    })
    .await;
    rt
}

fn last_ts(dir: &Path) -> u64 {
    log_entries(dir).last().map_or(0, LogEntry::ts)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_drives_every_command_and_breakpoint_kind() {
    let d = tempdir();
    let _rt = populate(d.path()).await;
    let cs = all_commits(d.path());
    let last = last_ts(d.path());
    let t1 = ts_of(&cs, "bank", "transfer", 0);
    let t2 = ts_of(&cs, "bank", "transfer", 1);
    let seen = ts_of(&cs, "caller", "on_greeting", 0);
    let deposit = ts_of(&cs, "bank", "deposit", 0);
    let greet = ts_of(&cs, "caller", "greet", 0);
    let delivered = ts_of(&cs, "hello", "hello", 0);
    assert!(t1 < t2 && t2 < seen && seen < deposit && deposit < last);
    let export = d.path().join("session.dbg");
    let script = format!(
        "step\n\
         step 2\n\
         show commit\n\
         back 2\n\
         goto {t1}\n\
         show table bank.accounts\n\
         show table bank.accounts --where balance > 60\n\
         break bank.transfer\n\
         break table caller.seen\n\
         break where bank.accounts balance > 500\n\
         break ts={last}\n\
         breaks\n\
         goto 0\n\
         continue\n\
         continue\n\
         continue\n\
         continue\n\
         continue\n\
         continue\n\
         delete 1\n\
         diff 0 {last}\n\
         goto {t2}\n\
         rerun\n\
         show trace\n\
         export {}\n\
         help\n\
         # a comment, and a blank line, get no reply\n\
         \n\
         goto {delivered}\n\
         show commit\n",
        export.display()
    );
    let out = debug(d.path(), &["--format", "json"], &script);
    let r = replies(&out);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(r.len(), 28, "one reply per command line: {r:#?}");

    // step / step N / show commit / back.
    assert_eq!(
        (reply(&r, 1)["command"].clone(), reply(&r, 1)["ts"].clone()),
        (json!("step"), json!(1))
    );
    assert_eq!(reply(&r, 1)["entry"]["kind"], "install");
    assert_eq!(reply(&r, 1)["entry"]["module"], "hello");
    assert_eq!(reply(&r, 2)["ts"], 3);
    let shown = &reply(&r, 3)["entry"];
    assert_eq!(shown["ts"], 3);
    assert_eq!(reply(&r, 4)["ts"], 1);
    assert_eq!(reply(&r, 4)["entry"]["kind"], "install");

    // goto and the table at that point: ann paid bob 30.
    assert_eq!(reply(&r, 5)["entry"]["reducer"], "transfer");
    assert_eq!(reply(&r, 5)["entry"]["cause"]["kind"], "external");
    assert_eq!(
        reply(&r, 6)["rows"],
        json!([
            {"id": 1, "owner": "ann", "balance": 70},
            {"id": 2, "owner": "bob", "balance": 80}
        ])
    );
    assert_eq!(
        reply(&r, 7)["rows"],
        json!([{"id": 1, "owner": "ann", "balance": 70}, {"id": 2, "owner": "bob", "balance": 80}])
    );
    assert_eq!(reply(&r, 7)["truncated"], false);

    // Breakpoints of every kind, listed.
    assert_eq!(reply(&r, 8)["spec"], "bank.transfer");
    assert_eq!(reply(&r, 9)["spec"], "table caller.seen");
    assert_eq!(reply(&r, 10)["spec"], "where bank.accounts balance > 500");
    assert_eq!(reply(&r, 11)["spec"], format!("ts={last}"));
    let listed: Vec<&Json> = reply(&r, 12)["breakpoints"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(reply(&r, 13)["ts"], 0);
    assert!(reply(&r, 13)["entry"].is_null());

    // continue stops at each in log order, then at the end.
    let hit = |line: u64| {
        (
            reply(&r, line)["ts"].clone(),
            reply(&r, line)["breakpoint"]["id"].clone(),
        )
    };
    assert_eq!(hit(14), (json!(t1), json!(1)));
    assert_eq!(hit(15), (json!(t2), json!(1)));
    assert_eq!(
        reply(&r, 15)["entry"]["outcome"]["err"]["message"]
            .as_str()
            .map(|m| m.contains("insufficient funds")),
        Some(true)
    );
    assert_eq!(hit(16), (json!(seen), json!(2)));
    assert_eq!(reply(&r, 16)["entry"]["mutations"][0]["table"], "seen");
    assert_eq!(hit(17), (json!(deposit), json!(3)));
    assert_eq!(
        reply(&r, 17)["entry"]["mutations"][0]["row"]["balance"],
        580
    );
    // The last entry is the trigger of the last greeting: two breakpoints
    // hit there, the first listed is named.
    assert_eq!(hit(18), (json!(last), json!(2)));
    assert_eq!(reply(&r, 18)["hits"], json!([2, 4]));
    assert_eq!(reply(&r, 19)["breakpoint"], Json::Null);
    assert_eq!(reply(&r, 19)["end"], true);
    assert!(reply(&r, 19)["note"]
        .as_str()
        .unwrap()
        .contains("no breakpoint hit"));
    assert_eq!(reply(&r, 20)["deleted"], 1);

    // diff over the whole log: both accounts inserted, greetings, seen.
    let changes = reply(&r, 21)["changes"].as_array().unwrap();
    let find = |table: &str, key: Json| {
        changes
            .iter()
            .find(|c| c["table"] == table && c["key"] == key)
            .unwrap_or_else(|| panic!("{table} {key}: {changes:#?}"))
    };
    let bob = find("accounts", json!(2));
    assert_eq!(bob["change"], "inserted");
    assert_eq!(bob["before"], Json::Null);
    assert_eq!(
        bob["after"],
        json!({"id": 2, "owner": "bob", "balance": 580})
    );
    assert_eq!(find("accounts", json!(1))["after"]["balance"], 70);
    assert_eq!(find("seen", json!(2))["after"]["name"], "zed");
    assert_eq!(
        changes.iter().filter(|c| c["table"] == "greetings").count(),
        3,
        "world, zed, last"
    );

    // rerun of the failed transfer: bank is deterministic.
    let rr = reply(&r, 23);
    assert_eq!(
        (rr["ts"].clone(), rr["matches"].clone()),
        (json!(t2), json!(true)),
        "{rr}"
    );
    assert_eq!(rr["differences"], json!([]));

    // The trace holds the commands run so far with their positions.
    let trace = reply(&r, 24)["trace"].as_array().unwrap();
    assert_eq!(trace.len(), 23);
    assert_eq!(
        trace[4],
        json!({"line": 5, "command": format!("goto {t1}"), "ts": t1})
    );
    let ex = reply(&r, 25);
    assert_eq!(ex["file"], export.display().to_string());
    assert!(ex["checkpoints"].as_array().unwrap().contains(&json!(0)));
    assert!(export.is_file());
    assert!(reply(&r, 26)["commands"].as_array().unwrap().len() > 10);

    // The async call's delivery: its cause names the call at greet's ts.
    let cause = &reply(&r, 30)["entry"]["cause"];
    assert_eq!(cause["kind"], "call");
    assert_eq!(cause["ts"], greet);
    assert_eq!(reply(&r, 30)["entry"]["args"], json!(["zed"]));
}

/// The rows of `module.table` in a `show table` reply, or its error.
fn rows_or_error(r: &Json) -> Json {
    if r["error"].is_string() {
        r["error"].clone()
    } else {
        r["rows"].clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn back_and_goto_reach_the_state_forward_stepping_does() {
    let d = tempdir();
    let _rt = populate(d.path()).await;
    let last = last_ts(d.path());
    let show = "show table bank.accounts\nshow table caller.seen\nshow table hello.greetings\n";
    // Forward, one step at a time.
    let mut fwd = String::new();
    for _ in 0..last {
        fwd.push_str("step\n");
        fwd.push_str(show);
    }
    // Backward from the end with goto and back, small checkpoints (spaced
    // 2 apart, at most 2 kept: evictions happen).
    let mut bwd = format!("goto {last}\n{show}");
    for ts in (1..last).rev() {
        if ts % 2 == 0 {
            bwd.push_str(&format!("goto {ts}\n"));
        } else {
            bwd.push_str("back 1\n");
        }
        bwd.push_str(show);
    }
    let small = [
        "--format",
        "json",
        "--checkpoint-every",
        "2",
        "--max-checkpoints",
        "2",
    ];
    let f = debug(d.path(), &["--format", "json"], &fwd);
    let b = debug(d.path(), &small, &bwd);
    // Show tables before bank's install are errors, in both runs alike.
    let (fr, br) = (replies(&f), replies(&b));
    let states = |rs: &[Json]| -> std::collections::BTreeMap<u64, Vec<Json>> {
        let mut m = std::collections::BTreeMap::new();
        let mut ts = 0u64;
        for r in rs {
            if r["command"] == "step" || r["command"] == "goto" || r["command"] == "back" {
                ts = r["ts"].as_u64().unwrap();
            } else {
                m.entry(ts).or_insert_with(Vec::new).push(rows_or_error(r));
            }
        }
        m
    };
    let (fs, bs) = (states(&fr), states(&br));
    assert_eq!(fs.len() as u64, last, "{fs:#?}");
    assert_eq!(fs, bs);
    // And both agree with `tables --at-ts`.
    for ts in [last / 2, last - 1, last] {
        let out = expect_ok(
            &interstice([
                "tables".as_ref(),
                "-d".as_ref(),
                d.path().as_os_str(),
                "bank".as_ref(),
                "accounts".as_ref(),
                "--at-ts".as_ref(),
                ts.to_string().as_ref(),
                "--format".as_ref(),
                "json".as_ref(),
            ] as [&std::ffi::OsStr; 9]),
            "tables --at-ts",
        );
        let rows: Vec<Json> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(fs[&ts][0], Json::Array(rows), "ts {ts}");
    }
    // The exported checkpoints stayed within the bound.
    let ex = d.path().join("small.dbg");
    let out = debug(
        d.path(),
        &small,
        &format!("goto {last}\nback 3\ngoto 2\nexport {}\n", ex.display()),
    );
    let r = replies(&out);
    let cps = reply(&r, 4)["checkpoints"].as_array().unwrap().clone();
    assert!(cps.len() <= 3 && cps.len() >= 2, "{cps:?}");
    assert!(reply(&r, 4)["checkpoint_every"].as_u64().unwrap() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rerun_matches_a_deterministic_module_and_shows_a_nondeterministic_one() {
    let d = tempdir();
    // t_nondet's guest counter survives in one process: 1, 2; a restart
    // resets it: 1 again.
    let rt = open_with(d.path(), &["t_nondet"]).await;
    for _ in 0..2 {
        rt.call("t_nondet", "tick", vec![]).await.unwrap();
    }
    rt.shutdown().await.unwrap();
    let rt = open(d.path()).await;
    rt.call("t_nondet", "tick", vec![]).await.unwrap();
    rt.shutdown().await.unwrap();
    let cs = all_commits(d.path());
    let (first, second, third) = (
        ts_of(&cs, "t_nondet", "tick", 0),
        ts_of(&cs, "t_nondet", "tick", 1),
        ts_of(&cs, "t_nondet", "tick", 2),
    );
    let out = debug(
        d.path(),
        &["--format", "json"],
        &format!("goto {first}\nrerun\ngoto {second}\nrerun\ngoto {third}\nrerun\n"),
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = replies(&out);
    // A fresh instance per rerun: the first tick and the one after the
    // restart match; the second (counter 2 in the log) does not.
    assert_eq!(reply(&r, 2)["matches"], true, "{}", reply(&r, 2));
    assert_eq!(reply(&r, 6)["matches"], true, "{}", reply(&r, 6));
    let diff = reply(&r, 4);
    assert_eq!(diff["matches"], false);
    let d0 = &diff["differences"][0];
    assert_eq!(d0["what"], "mutation 0 on table ticks");
    assert_eq!(d0["expected"]["row"], json!({"id": 2, "counter": 2}));
    assert_eq!(d0["actual"]["row"], json!({"id": 2, "counter": 1}));
    // The text form says so too.
    let out = debug(d.path(), &[], &format!("goto {second}\nrerun\n"));
    let text = stdout_of(&out);
    assert!(
        text.contains(&format!(
            "rerun ts {second} t_nondet.tick: DIFFERS from the log:"
        )),
        "{text}"
    );
    assert!(text.contains("mutation 0 on table ticks"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_loads_again_and_a_bad_one_is_refused() {
    let d = tempdir();
    let _rt = populate(d.path()).await;
    let cs = all_commits(d.path());
    let t2 = ts_of(&cs, "bank", "transfer", 1);
    let file = d.path().join("s.dbg");
    let small = [
        "--format",
        "json",
        "--checkpoint-every",
        "2",
        "--max-checkpoints",
        "4",
    ];
    let out = debug(
        d.path(),
        &small,
        &format!(
            "goto {}\nbreak bank.deposit\nbreak where bank.accounts owner = \"bob\"\ngoto {t2}\nexport {}\n",
            last_ts(d.path()),
            file.display()
        ),
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let exported = reply(&replies(&out), 5)["checkpoints"].clone();
    let mut load = small.to_vec();
    let fs = file.display().to_string();
    load.extend(["--load", &fs]);
    let out = debug(
        d.path(),
        &load,
        "show commit\nbreaks\nshow trace\ncontinue\n",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = replies(&out);
    assert_eq!(reply(&r, 1)["ts"], t2);
    assert_eq!(reply(&r, 1)["entry"]["reducer"], "transfer");
    let specs: Vec<Json> = reply(&r, 2)["breakpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["spec"].clone())
        .collect();
    assert_eq!(
        specs,
        vec![
            json!("bank.deposit"),
            json!("where bank.accounts owner = \"bob\"")
        ]
    );
    let trace = reply(&r, 3)["trace"].as_array().unwrap();
    // The exported session's four commands, then this one's two so far.
    assert_eq!(trace.len(), 6, "{trace:#?}");
    assert_eq!(
        trace[3],
        json!({"line": 4, "command": format!("goto {t2}"), "ts": t2})
    );
    assert_eq!(trace[4]["command"], "show commit");
    assert_eq!(reply(&r, 4)["entry"]["reducer"], "deposit");
    // Its checkpoints are the ones exported (the log re-verified them).
    let out = debug(
        d.path(),
        &load,
        &format!("export {}\n", d.path().join("again.dbg").display()),
    );
    assert_eq!(reply(&replies(&out), 1)["checkpoints"], exported);

    // A flipped byte inside a checkpoint: its checksum fails.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0xff;
    let broken = d.path().join("broken.dbg");
    std::fs::write(&broken, &bytes).unwrap();
    let out = debug(d.path(), &["--load", broken.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("the checkpoint at ts"),
        "{}",
        stderr_of(&out)
    );
    // Not an export at all.
    let junk = d.path().join("junk.dbg");
    std::fs::write(&junk, b"hello").unwrap();
    let out = debug(d.path(), &["--load", junk.to_str().unwrap()], "");
    assert!(
        stderr_of(&out).contains("not a replay-debug export"),
        "{}",
        stderr_of(&out)
    );
    // An export of another data directory does not match this log.
    let other = tempdir();
    let rt = open_with(other.path(), &["hello", "bank"]).await;
    rt.call("bank", "open_account", vec![s("x"), u(1)])
        .await
        .unwrap();
    rt.call("bank", "open_account", vec![s("y"), u(2)])
        .await
        .unwrap();
    rt.shutdown().await.unwrap();
    let out = debug(other.path(), &load, "");
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("does not match this log") || err.contains("does not hold the state"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_input_is_reported_line_by_line_and_the_exit_code_says_so() {
    let d = tempdir();
    let _rt = populate(d.path()).await;
    let last = last_ts(d.path());
    let script = format!(
        "frobnicate\n\
         break nosuch.transfer\n\
         break bank.nosuch\n\
         break table bank.nosuch\n\
         break where bank.accounts balance >\n\
         break where bank.accounts nosuch = 1\n\
         goto {}\n\
         show table bank.nosuch\n\
         show table nosuch.t\n\
         show commit\n\
         rerun\n\
         back 1\n\
         diff 0 {}\n\
         step 0\n\
         step\n\
         goto {last}\n\
         show table bank.nosuch\n",
        last + 1,
        last + 5
    );
    let out = debug(d.path(), &["--format", "json"], &script);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let r = replies(&out);
    let e = |line: u64| {
        reply(&r, line)["error"]
            .as_str()
            .unwrap_or_else(|| panic!("line {line}: {r:#?}"))
            .to_owned()
    };
    assert!(e(1).starts_with("unknown command `frobnicate`"));
    assert!(
        e(2).starts_with("no module `nosuch` in the log (modules: bank, caller, hello)"),
        "{}",
        e(2)
    );
    assert!(
        e(3).starts_with("module `bank` has no reducer `nosuch`"),
        "{}",
        e(3)
    );
    assert!(
        e(4).starts_with("module `bank` has no table `nosuch`"),
        "{}",
        e(4)
    );
    assert!(
        e(5).starts_with("break where bank.accounts: at position"),
        "{}",
        e(5)
    );
    assert!(e(6).contains("nosuch"), "{}", e(6));
    assert_eq!(
        e(7),
        format!(
            "goto: ts {} is beyond the end of the log (its last ts is {last})",
            last + 1
        )
    );
    assert_eq!(
        e(8),
        "module `bank` is not installed at ts 0 (nothing is installed yet)"
    );
    assert!(
        e(9).starts_with("no module `nosuch` in the log"),
        "{}",
        e(9)
    );
    assert!(
        e(10).starts_with("show commit: no entry at the current position"),
        "{}",
        e(10)
    );
    assert!(
        e(11).starts_with("rerun: no entry at the current position"),
        "{}",
        e(11)
    );
    assert!(
        e(12).starts_with("back 1: only 0 entries before"),
        "{}",
        e(12)
    );
    assert!(e(13).contains("beyond the end of the log"), "{}", e(13));
    assert_eq!(e(14), "step: N must be a positive integer, got `0`");
    // Bad lines do not stop the session.
    assert_eq!(reply(&r, 15)["ts"], 1);
    assert!(
        err.contains("error: line 1: unknown command `frobnicate`"),
        "{err}"
    );
    assert_eq!(
        e(17),
        "module `bank` has no table `nosuch` at ts 15 (its tables: accounts)"
            .replace("15", &last.to_string())
    );
    assert!(err.contains("15 command line(s) failed"), "{err}");

    // Bad options.
    let out = debug(d.path(), &["--checkpoint-every", "0"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--checkpoint-every and --max-checkpoints must be at least 1"),
        "{}",
        stderr_of(&out)
    );

    // Not a data directory; a corrupt log.
    let empty = tempdir();
    let out = debug(empty.path(), &[], "");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("no log/ directory"),
        "{}",
        stderr_of(&out)
    );
    let seg = crate::support::segment_files(d.path())[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    let copy = tempdir();
    copy_dir(d.path(), copy.path());
    let seg_copy = copy.path().join("log").join(seg.file_name().unwrap());
    std::fs::write(&seg_copy, &bytes).unwrap();
    let out = debug(copy.path(), &[], "step\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stdout_of(&out).is_empty());
    assert!(
        stderr_of(&out).to_lowercase().contains("corrupt"),
        "{}",
        stderr_of(&out)
    );
}

/// Copies a data directory's log and modules (regular files only).
fn copy_dir(from: &Path, to: &Path) {
    for sub in ["log", "modules"] {
        let dst = to.join(sub);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(from.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }
}

/// Kills the tmux server of one test's socket when dropped.
struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("running tmux")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_terminal_gets_a_prompt_and_text_replies() {
    let d = tempdir();
    let _rt = populate(d.path()).await;
    let cs = all_commits(d.path());
    let t1 = ts_of(&cs, "bank", "transfer", 0);
    let tmux = Tmux(format!("interstice-replay-debug-{}", std::process::id()));
    let cmd = format!(
        "{} replay-debug -d {}; echo EXITED $?; sleep 30",
        bin().display(),
        d.path().display()
    );
    let out = tmux.run(&["new-session", "-d", "-x", "200", "-y", "50", &cmd]);
    assert!(out.status.success(), "tmux: {}", stderr_of(&out));
    let capture =
        || String::from_utf8_lossy(&tmux.run(&["capture-pane", "-p"]).stdout).into_owned();
    // Polls the screen (up to 30 s: the machine may be busy) until `done`.
    let wait = |what: &str, done: &dyn Fn(&str) -> bool| -> String {
        let mut last = String::new();
        for _ in 0..300 {
            last = capture();
            if done(&last) {
                return last;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{what} never appeared on the screen:\n{last}");
    };
    // The n-th prompt is drawn once the editor waits for input: type only
    // then (keys typed while a command runs are not the editor's yet).
    let prompts = |n: usize| {
        wait(&format!("prompt {n}"), &|screen: &str| {
            screen.matches("(replay-debug ts ").count() >= n
        })
    };
    let keys = |text: &str| {
        let out = tmux.run(&["send-keys", "-l", text]);
        assert!(out.status.success());
        let out = tmux.run(&["send-keys", "Enter"]);
        assert!(out.status.success());
    };
    let s0 = prompts(1);
    assert!(s0.contains("(replay-debug ts 0)"), "{s0}");
    keys("break bank.transfer");
    prompts(2);
    keys("continue");
    let s1 = prompts(3);
    assert!(s1.contains(&format!("(replay-debug ts {t1})")), "{s1}");
    assert!(s1.contains("breakpoint 1 (bank.transfer) hit"), "{s1}");
    assert!(
        s1.contains(&format!(
            "ts {t1}: commit bank.transfer (external): ok, 2 mutation(s)"
        )),
        "{s1}"
    );
    keys("show table bank.accounts");
    let s2 = prompts(4);
    assert!(
        s2.contains(r#"{"balance":70,"id":1,"owner":"ann"}"#),
        "{s2}"
    );
    assert!(
        s2.contains(&format!("2 row(s) of bank.accounts at ts {t1}")),
        "{s2}"
    );
    // The line editor's history: Up recalls the last command.
    let out = tmux.run(&["send-keys", "Up", "Enter"]);
    assert!(out.status.success());
    let again = prompts(5);
    assert_eq!(
        again.matches("2 row(s) of bank.accounts").count(),
        2,
        "{again}"
    );
    keys("nonsense");
    let s3 = prompts(6);
    assert!(
        s3.contains("error: line 5: unknown command `nonsense`"),
        "{s3}"
    );
    keys("quit");
    let s4 = wait("EXITED", &|screen: &str| screen.contains("EXITED"));
    assert!(s4.contains("EXITED 2"), "one bad line: exit code 2\n{s4}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_is_stepped_through_and_rerun_uses_each_version() {
    let d = tempdir();
    let rt = open(d.path()).await;
    rt.load_module(crate::support::wasm("t_upgrade_v1"))
        .await
        .unwrap();
    rt.call("t_upgrade", "open", vec![s("ann"), u(10)])
        .await
        .unwrap();
    rt.call("t_upgrade", "deposit", vec![u(1), u(5)])
        .await
        .unwrap();
    rt.load_module(crate::support::wasm("t_upgrade_v2"))
        .await
        .unwrap();
    rt.call("t_upgrade", "deposit", vec![u(1), u(7)])
        .await
        .unwrap();
    rt.shutdown().await.unwrap();
    let entries = log_entries(d.path());
    let installs: Vec<u64> = entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Install(_)))
        .map(LogEntry::ts)
        .collect();
    let cs = all_commits(d.path());
    let (v1_deposit, v2_deposit) = (
        ts_of(&cs, "t_upgrade", "deposit", 0),
        ts_of(&cs, "t_upgrade", "deposit", 1),
    );
    assert_eq!(installs.len(), 2);
    assert!(v1_deposit < installs[1] && installs[1] < v2_deposit);
    let script = format!(
        "break table t_upgrade.audit\n\
         continue\n\
         show table t_upgrade.audit\n\
         show table t_upgrade.accounts\n\
         rerun\n\
         goto {v1_deposit}\n\
         show table t_upgrade.audit\n\
         show table t_upgrade.accounts\n\
         rerun\n\
         goto {}\n\
         show commit\n\
         diff {v1_deposit} {v2_deposit}\n",
        installs[1]
    );
    let out = debug(d.path(), &["--format", "json"], &script);
    let r = replies(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "line 7 fails: {}",
        stderr_of(&out)
    );
    assert_eq!(reply(&r, 2)["ts"], v2_deposit);
    assert_eq!(reply(&r, 2)["breakpoint"]["id"], 1);
    let audit = reply(&r, 3)["rows"].as_array().unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["amount"], 7);
    assert_eq!(reply(&r, 4)["rows"][0]["balance"], 22);
    assert_eq!(reply(&r, 5)["matches"], true, "{}", reply(&r, 5));
    // Before the upgrade the table does not exist yet.
    assert_eq!(
        reply(&r, 7)["error"],
        format!("module `t_upgrade` has no table `audit` at ts {v1_deposit} (its tables: accounts, scratch)")
    );
    assert_eq!(reply(&r, 8)["rows"][0]["balance"], 15);
    assert_eq!(reply(&r, 9)["matches"], true, "{}", reply(&r, 9));
    assert_eq!(reply(&r, 11)["entry"]["kind"], "install");
    assert_eq!(reply(&r, 11)["entry"]["version"], "2.0.0");
    let changes = reply(&r, 12)["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(changes.iter().any(|c| c["table"] == "accounts"
        && c["change"] == "updated"
        && c["before"]["balance"] == 15
        && c["after"]["balance"] == 22));
    assert!(changes
        .iter()
        .any(|c| c["table"] == "audit" && c["change"] == "inserted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_trimmed_by_retention_is_debugged_from_its_snapshot() {
    let d = tempdir();
    let rt = interstice_actors::Runtime::builder()
        .data_dir(d.path())
        .durability(interstice_actors::Durability::None)
        .segment_size(4096)
        .snapshot_every_commits(50)
        .keep_snapshots(1)
        .open()
        .await
        .expect("open");
    rt.load_module(crate::support::wasm("bank"))
        .await
        .expect("bank");
    let alice = crate::support::open_account(&rt, "alice", 0).await;
    for _ in 0..300 {
        rt.call("bank", "deposit", vec![alice.clone(), u(1)])
            .await
            .expect("deposit");
    }
    rt.shutdown().await.expect("shutdown");
    let first_segment = crate::support::segment_files(d.path())[0]
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.trim_end_matches(".log").parse::<u64>().ok())
        .expect("a segment name");
    assert!(first_segment > 1, "retention deleted the first segments");
    let script = "show table bank.accounts\nstep\nshow commit\ngoto 0\ncontinue\n\
                  show table bank.accounts\nback 3\nrerun\ndiff 1 2\n";
    let out = debug(d.path(), &["--format", "json"], script);
    let r = replies(&out);
    let start_rows = reply(&r, 1)["rows"].clone();
    let start = reply(&r, 1)["ts"].as_u64().unwrap();
    assert!(
        start > 1 && start + 1 >= first_segment,
        "the session starts at the snapshot: {start}"
    );
    // The snapshot's state: alice's balance is the deposits before it.
    let before = start_rows[0]["balance"].as_u64().unwrap();
    assert!(before > 0 && before < 300, "{start_rows}");
    assert_eq!(reply(&r, 2)["ts"], start + 1);
    assert_eq!(
        reply(&r, 3)["entry"]["mutations"][0]["row"]["balance"],
        before + 1
    );
    assert!(
        reply(&r, 4)["error"]
            .as_str()
            .unwrap()
            .contains(&format!("before the start of the readable log (ts {start}")),
        "{}",
        reply(&r, 4)
    );
    assert_eq!(reply(&r, 5)["end"], true);
    assert_eq!(reply(&r, 6)["rows"][0]["balance"], 300);
    // A commit after the snapshot re-executes with the snapshot's binary.
    assert_eq!(reply(&r, 8)["matches"], true, "{}", reply(&r, 8));
    assert!(reply(&r, 9)["error"]
        .as_str()
        .unwrap()
        .starts_with("diff: ts 1 is before the start of the readable log"));
}
