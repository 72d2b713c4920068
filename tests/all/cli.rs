//! Tests: cli. The shell workflow with the real `interstice` binary: load,
//! call, read, errors and exit codes, schema, build, and the README's main
//! command, `interstice demo`.

use std::path::Path;

use crate::support::{
    cli_call, expect_ok, interstice, log_entries, log_size, stderr_of, stdout_of, tempdir,
    wasm_path,
};

/// `interstice load --data-dir DIR bank.wasm`, then alice (100) and bob (50).
fn bank_with_two_accounts(dir: &Path) {
    let out = interstice([
        "load".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
        wasm_path("bank").as_os_str(),
    ]);
    let loaded = expect_ok(&out, "load bank");
    assert!(loaded.contains("loaded bank"), "load output: {loaded}");
    let alice = cli_call(dir, "bank", "open_account", &["\"alice\"", "100"]);
    assert_eq!(expect_ok(&alice, "open alice"), "1");
    let bob = cli_call(dir, "bank", "open_account", &["\"bob\"", "50"]);
    assert_eq!(expect_ok(&bob, "open bob"), "2");
}

fn balance(dir: &Path, id: u64) -> String {
    let out = cli_call(dir, "bank", "balance", &[&id.to_string()]);
    expect_ok(&out, &format!("balance {id}"))
}

#[test]
fn shell_workflow_state_survives_between_commands() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);

    // Each command is its own process: state comes back from the log.
    let out = cli_call(dir, "bank", "transfer", &["1", "2", "30"]);
    assert_eq!(expect_ok(&out, "transfer"), "null", "transfer returns ()");
    assert_eq!(balance(dir, 1), "70");
    assert_eq!(balance(dir, 2), "80");
    let out = cli_call(dir, "bank", "deposit", &["2", "5"]);
    assert_eq!(
        expect_ok(&out, "deposit"),
        "85",
        "deposit returns the new balance"
    );
    assert_eq!(
        expect_ok(&cli_call(dir, "bank", "total", &[]), "total"),
        "155"
    );

    // Loading the same binary again is a no-op, and keeps the state.
    let again = interstice([
        "load".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
        wasm_path("bank").as_os_str(),
    ]);
    expect_ok(&again, "load bank again");
    assert_eq!(balance(dir, 1), "70");
    assert_eq!(balance(dir, 2), "85");
}

#[test]
fn failed_reducer_exits_nonzero_and_changes_nothing() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);
    let size_before = log_size(dir);

    // bob has 50; transfer debits first, then fails: the debit must roll back.
    let out = cli_call(dir, "bank", "transfer", &["2", "1", "1000"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("insufficient funds"), "stderr: {err}");
    assert!(
        stdout_of(&out).trim().is_empty(),
        "stdout: {}",
        stdout_of(&out)
    );

    assert_eq!(balance(dir, 1), "100");
    assert_eq!(balance(dir, 2), "50");
    assert_eq!(
        expect_ok(&cli_call(dir, "bank", "total", &[]), "total"),
        "150"
    );

    // The failure is recorded (with its outcome), but carries no mutation.
    let entries = log_entries(dir);
    let failed: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            interstice_persist::LogEntry::Commit(c) if c.reducer == "transfer" => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "one transfer entry");
    assert!(
        matches!(failed[0].outcome, interstice_persist::Outcome::Err { .. }),
        "outcome: {:?}",
        failed[0].outcome
    );
    assert!(
        failed[0].mutations.is_empty(),
        "a rolled-back call logs no mutation"
    );
    assert!(log_size(dir) >= size_before);
}

#[test]
fn read_reducer_never_writes_the_log() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);
    let (size, count) = (log_size(dir), log_entries(dir).len());
    assert!(
        count >= 3,
        "install + two accounts are logged, got {count} entries"
    );

    for _ in 0..3 {
        assert_eq!(balance(dir, 1), "100");
    }
    assert_eq!(
        expect_ok(&cli_call(dir, "bank", "total", &[]), "total"),
        "150"
    );
    assert_eq!(log_size(dir), size, "reads changed the log's size");
    assert_eq!(log_entries(dir).len(), count, "reads added log entries");

    // The measurement is sensitive: a write does change it.
    expect_ok(&cli_call(dir, "bank", "deposit", &["1", "1"]), "deposit");
    assert!(log_size(dir) > size);
    assert_eq!(log_entries(dir).len(), count + 1);
}

#[test]
fn unquoted_string_argument_exits_2_and_says_to_quote() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);
    let size = log_size(dir);

    let out = cli_call(dir, "bank", "open_account", &["carol", "10"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("not JSON"), "stderr: {err}");
    assert!(err.contains("strings need quotes"), "stderr: {err}");
    assert!(
        err.contains("'\"alice\"'"),
        "stderr shows how to quote: {err}"
    );
    assert_eq!(log_size(dir), size, "a refused call wrote the log");
    assert_eq!(
        expect_ok(&cli_call(dir, "bank", "total", &[]), "total"),
        "150"
    );
}

#[test]
fn unknown_module_exits_nonzero_and_names_it() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);
    let out = cli_call(dir, "nosuch", "balance", &["1"]);
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("unknown module"), "stderr: {err}");
    assert!(err.contains("nosuch"), "stderr: {err}");

    // On an empty data directory too.
    let empty = tempdir();
    let out = cli_call(empty.path(), "bank", "balance", &["1"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("unknown module"),
        "stderr: {}",
        stderr_of(&out)
    );
}

#[test]
fn schema_prints_json() {
    let out = interstice(["schema".as_ref(), wasm_path("bank").as_os_str()]);
    let text = expect_ok(&out, "schema");
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("schema output is not JSON ({e}): {text}"));
    assert_eq!(v["name"], "bank");
    assert_eq!(v["version"], "0.1.0");
    assert_eq!(v["schema_hash"].as_str().map(str::len), Some(64), "{v}");
    assert!(text.contains("\"open_account\""), "{text}");
    assert!(text.contains("\"accounts\""), "{text}");
}

#[test]
fn build_prints_the_wasm_path_last() {
    let src = interstice_cli::guest_build::modules_dir().join("bank");
    let out = interstice(["build".as_ref(), src.as_os_str()]);
    let text = expect_ok(&out, "build");
    let last = text.lines().last().expect("build printed something");
    let path = Path::new(last);
    assert!(
        path.is_file(),
        "last line is not a file: {last}\nfull output: {text}"
    );
    assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("bank.wasm"));
    let info = interstice_actors::inspect_module(&std::fs::read(path).expect("reading the wasm"))
        .expect("the built wasm is a valid module");
    assert_eq!(info.name, "bank");
}

#[test]
fn the_demo_tours_restarts_and_replays_to_the_same_state() {
    // The guest modules are built once, here, so the demo's builds are
    // no-ops and it runs on the same binaries as every other test.
    crate::support::wasm_dir();
    let dir = tempdir();
    let data = dir.path().join("demo");
    let out = interstice(["demo".as_ref(), "--data-dir".as_ref(), data.as_os_str()]);
    let text = expect_ok(&out, "demo");
    for want in [
        "   hello.hello(\"Ada\") -> ",
        "   [subscription] ",
        "   balances unchanged: the failed transfer's debit was rolled back",
        "   shop.catalog() -> [\"hammer\"]",
        "   shop.orders() -> [[1,3000,\"reserved (1 left)\"],[2,7500,\"refused: only 1 of hammer in stock\"]]",
        "wasm instances created by replay: 0",
        "   they match: replay restored the exact state without running any wasm",
        "   bank.total() after restart = 150",
        "== done",
    ] {
        assert!(text.contains(want), "the demo did not print {want:?}:\n{text}");
    }
    let hash = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label:?} line:\n{text}"))
            .to_owned()
    };
    assert_eq!(
        hash("   state hash before restart:"),
        hash("   state hash after replay:")
    );
    assert!(
        data.join("log").is_dir(),
        "the demo kept its data directory"
    );
    // A second run wipes its own directory and starts again.
    expect_ok(
        &interstice(["demo".as_ref(), "--data-dir".as_ref(), data.as_os_str()]),
        "demo, again",
    );
    // It refuses to wipe a directory that is not its own.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("precious.txt"), "keep me").expect("write");
    let out = interstice(["demo".as_ref(), "--data-dir".as_ref(), other.as_os_str()]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("is not an Interstice data directory"),
        "{}",
        stderr_of(&out)
    );
    assert!(other.join("precious.txt").is_file());
}

// ---------------------------------------------------------------------------
// A closed stdout (`interstice … | head -1`) ends a command quietly: no
// panic, no "Broken pipe" message, the command's own exit code.
// ---------------------------------------------------------------------------

/// Runs `interstice ARGS…` with stdout a pipe whose reader is already gone,
/// so its first write to stdout fails with EPIPE. Returns the exit code and
/// stderr.
fn with_closed_stdout(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = std::process::Command::new(crate::support::bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("running the interstice binary");
    (out.status.code(), stderr_of(&out))
}

fn assert_quiet(what: &str, code: Option<i32>, want: i32, stderr: &str) {
    assert_eq!(code, Some(want), "{what}: exit code; stderr: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: {stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let d = tempdir();
    let dir = d.path();
    bank_with_two_accounts(dir);
    let (bank, hello) = (wasm_path("bank"), wasm_path("hello"));
    let cases: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        ("check-log", vec!["check-log".as_ref(), dir.as_os_str()]),
        (
            "replay-check",
            vec!["replay-check".as_ref(), dir.as_os_str()],
        ),
        (
            "replay-check --format json",
            vec![
                "replay-check".as_ref(),
                "--format".as_ref(),
                "json".as_ref(),
                dir.as_os_str(),
            ],
        ),
        ("schema", vec!["schema".as_ref(), bank.as_os_str()]),
        (
            "logs",
            vec!["logs".as_ref(), "-d".as_ref(), dir.as_os_str()],
        ),
        (
            "call",
            vec![
                "call".as_ref(),
                "--data-dir".as_ref(),
                dir.as_os_str(),
                "bank".as_ref(),
                "balance".as_ref(),
                "1".as_ref(),
            ],
        ),
        (
            "load",
            vec![
                "load".as_ref(),
                "--data-dir".as_ref(),
                dir.as_os_str(),
                hello.as_os_str(),
            ],
        ),
        ("--help", vec!["--help".as_ref()]),
    ];
    for (what, args) in &cases {
        let (code, stderr) = with_closed_stdout(args);
        assert_quiet(what, code, 0, &stderr);
    }
    // The load went through although nobody read what it printed.
    let count = cli_call(dir, "hello", "greeting_count", &[]);
    assert_eq!(expect_ok(&count, "hello after a quiet load"), "1");
    // A check that finds a problem keeps its verdict (exit 1) and says so
    // on stderr, even with nobody reading its report.
    let seg = crate::support::segment_files(dir).pop().expect("a segment");
    let len = std::fs::metadata(&seg).expect("segment metadata").len();
    let mut bytes = std::fs::read(&seg).expect("reading the segment");
    bytes[(len - 1) as usize] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("damaging the segment");
    let (code, stderr) = with_closed_stdout(&["check-log".as_ref(), dir.as_os_str()]);
    assert_quiet("check-log of a damaged log", code, 1, &stderr);
    assert!(stderr.contains("problem"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_log_into_head_1_never_panics() {
    // A log of 1500 one-batch segments: `check-log` prints a line for each,
    // more than a pipe holds, so every run meets the closed pipe.
    let d = tempdir();
    let dir = d.path();
    let rt = interstice_actors::Runtime::builder()
        .data_dir(dir)
        .durability(interstice_actors::Durability::None)
        .segment_size(1)
        .open()
        .await
        .expect("opening runtime");
    rt.load_module(crate::support::wasm("bank"))
        .await
        .expect("loading bank");
    for i in 0..1500u64 {
        rt.call(
            "bank",
            "open_account",
            vec![crate::support::s("a"), crate::support::u(i)],
        )
        .await
        .expect("open_account");
    }
    rt.shutdown().await.expect("shutdown");
    assert!(crate::support::segment_files(dir).len() > 1000);

    for round in 0..20 {
        let mut child = std::process::Command::new(crate::support::bin())
            .arg("check-log")
            .arg(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning check-log");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).expect("reading a line");
        assert!(first.starts_with("log OK"), "round {round}: {first}");
        drop(stdout); // `| head -1`
        let out = child.wait_with_output().expect("waiting for check-log");
        assert_quiet(
            &format!("check-log | head -1, round {round}"),
            out.status.code(),
            0,
            &stderr_of(&out),
        );
    }
}
