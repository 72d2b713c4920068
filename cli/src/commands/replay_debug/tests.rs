//! Unit tests: the command language and the checkpoint bound.

use interstice_persist::Snapshot;

use super::checkpoints::Checkpoints;
use super::command::{parse, BreakSpec, Command, DEFAULT_SHOW_LIMIT};

fn cmd(line: &str) -> Command {
    parse(line)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .unwrap_or_else(|| panic!("{line}: no command"))
}

fn err(line: &str) -> String {
    parse(line).expect_err(line)
}

#[test]
fn every_command_parses() {
    assert_eq!(cmd("step"), Command::Step(1));
    assert_eq!(cmd("  step 5 "), Command::Step(5));
    assert_eq!(cmd("back 2"), Command::Back(2));
    assert_eq!(cmd("goto 0"), Command::Goto(0));
    assert_eq!(cmd("continue"), Command::Continue);
    assert_eq!(cmd("break ts=7"), Command::Break(BreakSpec::Ts(7)));
    assert_eq!(
        cmd("break bank.transfer"),
        Command::Break(BreakSpec::Reducer {
            module: "bank".into(),
            reducer: "transfer".into()
        })
    );
    assert_eq!(
        cmd("break table bank.accounts"),
        Command::Break(BreakSpec::Table {
            module: "bank".into(),
            table: "accounts".into()
        })
    );
    assert_eq!(
        cmd("break where bank.accounts balance > 100 and owner = \"ann\""),
        Command::Break(BreakSpec::Where {
            module: "bank".into(),
            table: "accounts".into(),
            predicate: "balance > 100 and owner = \"ann\"".into()
        })
    );
    assert_eq!(
        cmd("show table hello.greetings"),
        Command::ShowTable {
            module: "hello".into(),
            table: "greetings".into(),
            limit: DEFAULT_SHOW_LIMIT,
            predicate: None
        }
    );
    assert_eq!(
        cmd("show table hello.greetings --limit 3 --where name = \"x y\""),
        Command::ShowTable {
            module: "hello".into(),
            table: "greetings".into(),
            limit: 3,
            predicate: Some("name = \"x y\"".into())
        }
    );
    assert_eq!(cmd("diff 3 10"), Command::Diff(3, 10));
    assert_eq!(cmd("rerun"), Command::Rerun);
    assert_eq!(
        cmd("export /tmp/x y.dbg"),
        Command::Export("/tmp/x y.dbg".into())
    );
    assert_eq!(cmd("show commit"), Command::ShowCommit);
    assert_eq!(cmd("show trace"), Command::ShowTrace);
    assert_eq!(cmd("delete 2"), Command::Delete(2));
    assert_eq!(parse("   ").unwrap(), None);
    assert_eq!(parse("# a comment").unwrap(), None);
}

#[test]
fn malformed_lines_say_what_is_wrong() {
    assert!(err("frobnicate").starts_with("unknown command `frobnicate`"));
    assert_eq!(err("step 0"), "step: N must be a positive integer, got `0`");
    assert_eq!(err("step x"), "step: N must be a positive integer, got `x`");
    assert_eq!(err("goto"), "goto: expected a timestamp");
    assert_eq!(
        err("goto -1"),
        "goto: a timestamp must be a non-negative integer, got `-1`"
    );
    assert!(err("break").starts_with("break: expected ts=N"));
    assert!(err("break nodot").contains("got `nodot`"));
    assert_eq!(
        err("break ts=x"),
        "break ts=N: a timestamp must be a non-negative integer, got `x`"
    );
    assert_eq!(
        err("break table bank"),
        "break table: expected MODULE.NAME, got `bank`"
    );
    assert!(err("break where bank.accounts").contains("expected a predicate"));
    assert!(err("diff 3").starts_with("diff: expected two timestamps"));
    assert!(err("show").starts_with("show: expected"));
    assert!(err("show tables").starts_with("show: unknown `tables`"));
    assert!(err("show table a.b --sort x").contains("unknown option `--sort`"));
    assert_eq!(
        err("continue now"),
        "continue: takes no arguments, got `now`"
    );
    assert_eq!(err("export"), "export: expected a file name: export FILE");
}

fn snap(ts: u64) -> Snapshot {
    Snapshot {
        ts,
        log_hash: [0; 32],
        modules: Vec::new(),
        pending: Vec::new(),
        fanout: Vec::new(),
        engine: None,
    }
}

#[test]
fn checkpoints_stay_bounded_and_cover_the_log() {
    let mut c = Checkpoints::new(snap(0), 10, 4);
    for ts in 1..=1000 {
        if c.wants(ts) {
            c.add(snap(ts));
        }
        assert!(c.all().len() <= 5, "at ts {ts}: {}", c.all().len());
    }
    let ts: Vec<u64> = c.all().iter().map(|s| s.ts).collect();
    assert_eq!(ts[0], 0, "the base is never evicted");
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    // Evictions doubled the spacing, and the kept ones still reach the end.
    assert!(c.every() > 10, "{}", c.every());
    assert!(*ts.last().unwrap() + 2 * c.every() > 1000, "{ts:?}");
    assert_eq!(c.before(0).unwrap().ts, 0);
    assert_eq!(c.before(ts[1]).unwrap().ts, 0);
    assert_eq!(c.before(ts[1] + 1).unwrap().ts, ts[1]);
    assert_eq!(c.at_or_before(ts[1]).unwrap().ts, ts[1]);
}

#[test]
fn the_export_layout_is_as_documented_and_reads_back() {
    use super::export::{read, write, TraceItem};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.dbg");
    let trace = vec![TraceItem {
        line: 1,
        command: "step".into(),
        ts: 1,
    }];
    let cps = [snap(0), snap(4)];
    let n = write(&path, 4, 9, vec!["ts=7".into()], trace.clone(), &cps).expect("write");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes.len() as u64, n);
    assert_eq!(&bytes[..8], b"IRDEBUG1");
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[12..12 + len]).expect("JSON");
    let body0 = interstice_persist::encode_snapshot(&cps[0]);
    let body1 = interstice_persist::encode_snapshot(&cps[1]);
    assert_eq!(
        header,
        serde_json::json!({
            "format": "interstice-replay-debug", "version": 1, "position": 4, "last_ts": 9,
            "breakpoints": ["ts=7"],
            "trace": [{"line": 1, "command": "step", "ts": 1}],
            "checkpoints": [{"ts": 0, "bytes": body0.len()}, {"ts": 4, "bytes": body1.len()}],
        })
    );
    assert_eq!(&bytes[12 + len..], [body0, body1].concat().as_slice());
    let back = read(&path, 4).expect("reads back");
    assert_eq!(
        (back.position, back.breakpoints, back.trace),
        (4, vec!["ts=7".to_owned()], trace)
    );
    assert_eq!(back.checkpoints, cps);
    // More checkpoints than the session keeps, and a truncated file.
    let e = read(&path, 0).expect_err("bound").to_string();
    assert!(e.contains("holds 2 checkpoints, more than the 1"), "{e}");
    std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
    let e = read(&path, 4).expect_err("truncated").to_string();
    assert!(e.contains("runs past the end of the file"), "{e}");
}
