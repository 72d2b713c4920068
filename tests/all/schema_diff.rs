//! `interstice schema-diff OLD NEW` (each a `.wasm` or `DIR:MODULE`) and
//! `load --dry-run`: every difference classified compatible / needs
//! migration / breaking with its rule, exit 0 / 1 / 2, JSON; the verdict
//! with a data directory agrees with what a real load then does; the dry
//! run changes nothing; unusable input is exit 3 with a specific message.

use std::path::Path;

use serde_json::Value as Json;

use crate::support::{
    expect_ok, interstice, log_entries, open, open_with, s, stderr_of, stdout_of, tempdir, u, wasm,
    wasm_path,
};

fn diff(old: &str, new: &str, json: bool) -> std::process::Output {
    let mut v = vec!["schema-diff", old, new];
    if json {
        v.extend(["--format", "json"]);
    }
    interstice(v)
}

fn wasm_arg(name: &str) -> String {
    wasm_path(name).display().to_string()
}

fn installed(dir: &Path, module: &str) -> String {
    format!("{}:{module}", dir.display())
}

fn plan(out: &std::process::Output) -> Json {
    serde_json::from_str(stdout_of(out).trim()).unwrap_or_else(|e| {
        panic!(
            "a JSON plan: {e}\nstdout: {}\nstderr: {}",
            stdout_of(out),
            stderr_of(out)
        )
    })
}

/// The difference about `subject` in a JSON plan.
fn about<'a>(plan: &'a Json, subject: &str) -> &'a Json {
    plan["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .find(|d| d["subject"] == subject)
        .unwrap_or_else(|| panic!("no difference about {subject}: {plan}"))
}

#[test]
fn wasm_against_wasm_classifies_each_difference() {
    // v1 -> v2: a table and a reducer added: compatible, exit 0.
    let out = diff(&wasm_arg("t_upgrade_v1"), &wasm_arg("t_upgrade_v2"), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let p = plan(&out);
    assert_eq!(p["verdict"], "compatible");
    assert_eq!(p["old"]["version"], "1.0.0");
    assert_eq!(p["new"]["version"], "2.0.0");
    let audit = about(&p, "table audit");
    assert_eq!(audit["class"], "compatible");
    assert_eq!(audit["change"], "added");
    assert!(audit["rule"]
        .as_str()
        .unwrap()
        .contains("tables may be added"));
    assert_eq!(about(&p, "reducer audit_count")["class"], "compatible");
    assert_eq!(p["differences"].as_array().unwrap().len(), 2, "{p}");

    // v1 -> a column type change: needs migration, exit 1, and a load
    // would refuse it whatever the rows.
    let out = diff(
        &wasm_arg("t_upgrade_v1"),
        &wasm_arg("t_upgrade_bad_type"),
        true,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let p = plan(&out);
    assert_eq!(p["verdict"], "needs migration");
    let acc = about(&p, "table accounts");
    assert_eq!(acc["class"], "needs migration");
    let change = acc["change"].as_str().unwrap();
    assert!(
        change.contains("column 2 (`balance`) changed type from u64 to String")
            && change.contains("logged version 1, new version 1")
            && change.contains("#[migration(from_version = 1, to_version = 2)]"),
        "{change}"
    );
    assert!(acc["rule"]
        .as_str()
        .unwrap()
        .contains("stored positionally"));
    assert_eq!(about(&p, "reducer open")["change"], "removed");
    assert_eq!(p["load"]["accepted"], false);
    assert_eq!(p["load"]["table"], "accounts");

    // v1 -> a table dropped: its rows are unknown from a .wasm.
    let out = diff(
        &wasm_arg("t_upgrade_v1"),
        &wasm_arg("t_upgrade_drop"),
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("t_upgrade 1.0.0 -> t_upgrade 2.1.0-drop"),
        "{text}"
    );
    assert!(
        text.contains("needs migration table scratch: removed"),
        "{text}"
    );
    assert!(text.contains("rows are unknown"), "{text}");
    assert!(text.contains("verdict: needs migration (exit 1)"), "{text}");
    assert!(stderr_of(&out).contains("needs a migration"));

    // Identical: no differences.
    let out = diff(&wasm_arg("bank"), &wasm_arg("bank"), false);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout_of(&out).contains("no differences"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_data_directory_the_rows_decide_and_load_agrees() {
    let d = tempdir();
    let rt = open_with(d.path(), &["t_upgrade_v1"]).await;
    rt.call("t_upgrade", "open", vec![s("ann"), u(5)])
        .await
        .expect("open");
    rt.call("t_upgrade", "scratch_put", vec![u(1)])
        .await
        .expect("scratch");
    // The runtime holds the directory: schema-diff reads it without the lock.
    let out = diff(
        &installed(d.path(), "t_upgrade"),
        &wasm_arg("t_upgrade_drop"),
        true,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let p = plan(&out);
    assert_eq!(p["verdict"], "breaking");
    let scratch = about(&p, "table scratch");
    assert_eq!(scratch["class"], "breaking");
    assert_eq!(scratch["change"], "removed, but it still holds 1 rows");
    assert_eq!(p["load"]["accepted"], false);
    assert!(stderr_of(&out).contains("breaking"));
    // The real load refuses it too.
    let refused = rt.load_module(wasm("t_upgrade_drop")).await;
    assert!(
        refused.is_err(),
        "load must refuse dropping a non-empty table"
    );
    rt.shutdown().await.expect("shutdown");

    // An empty scratch table may be dropped: compatible, and load accepts.
    let e = tempdir();
    let rt = open_with(e.path(), &["t_upgrade_v1"]).await;
    rt.call("t_upgrade", "open", vec![s("ann"), u(5)])
        .await
        .expect("open");
    let out = diff(
        &installed(e.path(), "t_upgrade"),
        &wasm_arg("t_upgrade_drop"),
        false,
    );
    let text = expect_ok(&out, "schema-diff with an empty scratch");
    assert!(
        text.contains("compatible      table scratch: removed (it holds no rows)"),
        "{text}"
    );
    assert!(text.contains("load would accept it"), "{text}");
    rt.load_module(wasm("t_upgrade_drop"))
        .await
        .expect("load accepts it, as the plan said");
    rt.shutdown().await.expect("shutdown");
    // After the upgrade the directory's module is the new version: DIR
    // against the same .wasm has no table difference.
    let out = diff(
        &installed(e.path(), "t_upgrade"),
        &wasm_arg("t_upgrade_drop"),
        true,
    );
    let p = plan(&out);
    assert_eq!(p["old"]["version"], "2.1.0-drop");
    assert_eq!(p["differences"].as_array().unwrap().len(), 0, "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn load_dry_run_prints_the_plan_and_changes_nothing() {
    let d = tempdir();
    let rt = open_with(d.path(), &["t_upgrade_v1"]).await;
    rt.call("t_upgrade", "open", vec![s("ann"), u(5)])
        .await
        .expect("open");
    rt.shutdown().await.expect("shutdown");
    let entries = log_entries(d.path()).len();
    let dry = |names: &[&str]| {
        let mut v: Vec<String> = vec![
            "load".into(),
            "-d".into(),
            d.path().display().to_string(),
            "--dry-run".into(),
        ];
        v.extend(names.iter().map(|n| wasm_arg(n)));
        interstice(v)
    };
    let out = dry(&["t_upgrade_v2", "hello"]);
    let text = expect_ok(&out, "load --dry-run");
    assert!(
        text.contains("t_upgrade 1.0.0 -> t_upgrade 2.0.0"),
        "{text}"
    );
    assert!(
        text.contains("compatible      table audit: added"),
        "{text}"
    );
    assert!(text.contains("load would accept it"), "{text}");
    assert!(
        text.contains("hello 0.1.0: new module, would be installed (tables: greetings)"),
        "{text}"
    );
    let out = dry(&["t_upgrade_bad_type"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout_of(&out));
    assert!(stdout_of(&out).contains("needs migration table accounts"));
    assert_eq!(log_entries(d.path()).len(), entries, "nothing was written");
    let rt = open(d.path()).await;
    assert!(
        rt.call("hello", "hello", vec![s("x")]).await.is_err(),
        "hello was not installed by the dry run"
    );
    rt.shutdown().await.expect("shutdown");

    // A missing directory is not created.
    let missing = d.path().join("not-there");
    let out = interstice([
        "load".as_ref(),
        "-d".as_ref(),
        missing.as_os_str(),
        "--dry-run".as_ref(),
        wasm_path("hello").as_os_str(),
    ]);
    assert!(stdout_of(&out).contains("new module, would be installed"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !missing.exists(),
        "the dry run created {}",
        missing.display()
    );
    // --format needs --dry-run.
    let out = interstice([
        "load".as_ref(),
        "-d".as_ref(),
        missing.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        wasm_path("hello").as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_input_is_exit_3_with_a_specific_message() {
    let d = tempdir();
    let rt = open_with(d.path(), &["bank"]).await;
    rt.shutdown().await.expect("shutdown");
    let bank = wasm_arg("bank");
    let out = diff(&installed(d.path(), "nope"), &bank, false);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr_of(&out).contains("no module `nope` is installed (installed: bank)"),
        "{}",
        stderr_of(&out)
    );
    let out = diff("neither", &bank, false);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr_of(&out).contains("`neither` is neither a .wasm file nor DIR:MODULE"));
    let junk = d.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let out = diff(&junk.display().to_string(), &bank, false);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr_of(&out).contains("not a valid module"),
        "{}",
        stderr_of(&out)
    );
    let out = diff(
        &d.path().join("missing.wasm").display().to_string(),
        &bank,
        false,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr_of(&out).contains("missing.wasm"),
        "{}",
        stderr_of(&out)
    );
    let out = diff(&installed(&d.path().join("nodir"), "bank"), &bank, false);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr_of(&out).contains("no log/ directory"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn custom_type_changes_are_named() {
    // An enum variant appended: compatible, and said what changed.
    let out = diff(&wasm_arg("t_named_v1"), &wasm_arg("t_named_v2"), true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let p = plan(&out);
    assert_eq!(p["verdict"], "compatible");
    let items = about(&p, "table items");
    assert_eq!(items["class"], "compatible");
    assert_eq!(
        items["change"],
        "column 3 (`rarity`): `Rarity`: variants 3 → 4 (`Legendary` added at the end)"
    );
    assert!(items["rule"]
        .as_str()
        .unwrap()
        .contains("gain variants at the end"));
    assert_eq!(
        about(&p, "reducer add")["change"],
        "parameter `rarity`: `Rarity`: variants 3 → 4 (`Legendary` added at the end)"
    );
    assert_eq!(
        about(&p, "reducer rarity_of")["change"],
        "the result: `Rarity`: variants 3 → 4 (`Legendary` added at the end)"
    );
    assert_eq!(p["load"]["accepted"], true);
    // A variant inserted in the middle: needs a migration, and the
    // difference is named (not "from Rarity to Rarity").
    let out = diff(&wasm_arg("t_named_v1"), &wasm_arg("t_named_bad"), true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let p = plan(&out);
    let items = about(&p, "table items");
    assert_eq!(items["class"], "needs migration");
    assert!(
        items["change"].as_str().unwrap().contains(
            "column 3 (`rarity`) changed type: `Rarity`: variants 3 → 4, and variant 1 is \
             `Uncommon`, was `Rare` (variants may only be added at the end)"
        ),
        "{items}"
    );
    assert_eq!(p["load"]["accepted"], false);
}
