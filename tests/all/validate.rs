//! `interstice validate MODULE.wasm [-d DIR]`: the runtime's compile checks
//! (a malformed binary, an unknown or mistyped host import), the declared
//! memory against the cap, and with a data directory the upgrade,
//! subscription and dependency checks — each problem reported with a
//! specific message, exit 1 if any, and the verdict agreeing with what a
//! real load then does; nothing is written.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::support::{
    expect_ok, interstice, log_entries, open_with, raw_module, stderr_of, stdout_of, tempdir, u,
    wasm, wasm_path, NOOP,
};

fn validate(wasm: &Path, extra: &[&str]) -> std::process::Output {
    let mut v: Vec<&std::ffi::OsStr> = vec!["validate".as_ref(), wasm.as_os_str()];
    v.extend(extra.iter().map(std::ffi::OsStr::new));
    interstice(v)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("writing a module");
    p
}

#[test]
fn a_valid_module_and_the_runtime_s_compile_checks() {
    let out = validate(&wasm_path("bank"), &[]);
    let text = expect_ok(&out, "validate bank");
    assert!(
        text.contains("ok       module: valid: bank 0.1.0 (ABI 1), 1 table(s), 5 reducer(s)"),
        "{text}"
    );
    assert!(text.contains("ok       limits: memory starts at"), "{text}");

    let d = tempdir();
    let junk = write(d.path(), "junk.wasm", b"junk");
    let out = validate(&junk, &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("problem  module: malformed wasm"), "{text}");
    assert!(text.contains("(MalformedWasm)"), "{text}");
    assert!(text.contains("skipped  rest:"), "{text}");
    assert!(stderr_of(&out).contains("has 1 problem(s)"));

    let unknown = write(
        d.path(),
        "importer.wasm",
        &raw_module(
            "t_importer",
            r#"(import "interstice" "launch_missiles" (func (param i32)))"#,
            &[],
            &[NOOP],
        ),
    );
    let out = validate(&unknown, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let j: Json = serde_json::from_str(stdout_of(&out).trim()).expect("JSON");
    assert_eq!(j["problems"], 1);
    assert_eq!(j["checks"][0]["check"], "module");
    assert_eq!(j["checks"][0]["status"], "problem");
    let msg = j["checks"][0]["message"].as_str().unwrap();
    assert!(msg.contains("launch_missiles"), "{msg}");

    let mistyped = write(
        d.path(),
        "mistyped.wasm",
        &raw_module(
            "t_importer",
            r#"(import "interstice" "table_get" (func (param i32)))"#,
            &[],
            &[NOOP],
        ),
    );
    let out = validate(&mistyped, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_of(&out).contains("table_get"), "{}", stdout_of(&out));

    // The declared memory against a cap.
    let out = validate(&wasm_path("bank"), &["--memory-bytes", "1000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("problem  limits: the memory starts at 1114112 bytes (17 pages), more than the 1000-byte cap"),
        "{}",
        stdout_of(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn against_a_data_directory_load_agrees() {
    let d = tempdir();
    let rt = open_with(d.path(), &["t_upgrade_v1", "t_cycle_a"]).await;
    rt.call("t_upgrade", "scratch_put", vec![u(1)])
        .await
        .expect("scratch");
    let entries = log_entries(d.path()).len();
    let dir = ["-d", d.path().to_str().unwrap()];

    // A subscription whose source is not installed.
    let out = validate(&wasm_path("caller"), &dir);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(
        text.contains("problem  subscriptions: reducer `on_greeting` on hello.greetings.insert: module `hello` is not loaded; load it first"),
        "{text}"
    );
    assert!(text.contains("not installed in"), "{text}");
    assert!(
        rt.load_module(wasm("caller")).await.is_err(),
        "load refuses it too"
    );

    // A dependency cycle, with the path load reports.
    let out = validate(&wasm_path("t_cycle_b"), &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains(
            "problem  dependencies: dependency cycle: t_cycle_b -> t_cycle_a -> t_cycle_b"
        ),
        "{}",
        stdout_of(&out)
    );
    let e = rt.load_module(wasm("t_cycle_b")).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("t_cycle_b -> t_cycle_a -> t_cycle_b"),
        "{e}"
    );

    // An upgrade that drops a table holding rows.
    let out = validate(&wasm_path("t_upgrade_drop"), &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout_of(&out).contains("problem  upgrade: t_upgrade (breaking): table scratch: removed, but it still holds 1 rows"),
        "{}",
        stdout_of(&out)
    );
    assert!(rt.load_module(wasm("t_upgrade_drop")).await.is_err());

    // Nothing was written by validate (nor by the refused loads).
    assert_eq!(log_entries(d.path()).len(), entries);

    // A compatible upgrade and a new module with its source installed.
    let out = validate(&wasm_path("t_upgrade_v2"), &dir);
    let text = expect_ok(&out, "validate v2");
    assert!(
        text.contains("ok       upgrade: t_upgrade 1.0.0 -> 2.0.0: compatible"),
        "{text}"
    );
    rt.load_module(wasm("hello")).await.expect("hello");
    let out = validate(&wasm_path("caller"), &dir);
    let text = expect_ok(&out, "validate caller with hello installed");
    assert!(
        text.contains("ok       subscriptions: 1 table trigger(s)"),
        "{text}"
    );
    assert!(
        text.contains("ok       dependencies: hello (all installed, no cycle)"),
        "{text}"
    );
    rt.load_module(wasm("caller"))
        .await
        .expect("load accepts it, as validate said");
    let installs = log_entries(d.path())
        .iter()
        .filter(|e| matches!(e, interstice_persist::LogEntry::Install(i) if i.name == "t_upgrade"))
        .count();
    assert_eq!(installs, 1, "validate did not upgrade t_upgrade");
    rt.shutdown().await.expect("shutdown");
}
