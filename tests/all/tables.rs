//! `interstice tables`: the state rebuilt from the log (counts per table,
//! a table's rows, `--at-ts`, `--limit`, the three formats, across an
//! upgrade), `--where` evaluated with the host's filter code (checked
//! against the guest's own index queries and against a filter written
//! here over the unfiltered rows), and specific errors for a bad
//! predicate, an unknown module or table.

use std::path::Path;

use interstice_actors::Value;
use serde_json::{json, Value as Json};

use crate::support::{expect_ok, interstice, open_with, s, stderr_of, tempdir, u, wasm};

fn tables(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut v: Vec<&std::ffi::OsStr> = vec!["tables".as_ref(), "-d".as_ref(), dir.as_os_str()];
    v.extend(args.iter().map(std::ffi::OsStr::new));
    interstice(v)
}

fn rows(dir: &Path, args: &[&str]) -> Vec<Json> {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    expect_ok(&tables(dir, &a), "tables --format json")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn ids(rows: &[Json]) -> Vec<u64> {
    rows.iter().map(|r| r["id"].as_u64().expect("id")).collect()
}

/// t_indexes with 30 items of two owners (prices, an Option column, a
/// float), a price change and a delete; bank with two accounts and a
/// transfer.
async fn populate(dir: &Path) -> (interstice_actors::Runtime, u64) {
    let rt = open_with(dir, &["t_indexes", "bank"]).await;
    rt.call("t_indexes", "bulk", vec![s("ann"), Value::U32(20)])
        .await
        .expect("bulk ann");
    rt.call("t_indexes", "bulk", vec![s("bob"), Value::U32(10)])
        .await
        .expect("bulk bob");
    rt.call("t_indexes", "set_price", vec![u(3), Value::I64(-40)])
        .await
        .expect("set_price");
    rt.call("t_indexes", "remove", vec![u(5)])
        .await
        .expect("remove");
    rt.call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .expect("open");
    rt.call("bank", "open_account", vec![s("bob"), u(3)])
        .await
        .expect("open");
    let before_transfer = rt
        .call("bank", "open_account", vec![s("carol"), u(0)])
        .await
        .expect("open")
        .ts
        .expect("ts");
    rt.call("bank", "transfer", vec![u(1), u(2), u(4)])
        .await
        .expect("transfer");
    (rt, before_transfer)
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_rows_formats_limit_and_at_ts() {
    let d = tempdir();
    let (rt, before_transfer) = populate(d.path()).await;
    // The runtime still holds the directory.
    let counts = rows(d.path(), &[]);
    assert_eq!(
        counts,
        [
            json!({"module": "t_indexes", "table": "items", "rows": 29, "ephemeral": false}),
            json!({"module": "bank", "table": "accounts", "rows": 3, "ephemeral": false}),
        ]
    );
    let text = expect_ok(&tables(d.path(), &["bank"]), "tables bank");
    assert!(
        text.contains("bank") && text.contains("accounts") && text.ends_with('3'),
        "{text}"
    );

    let acc = rows(d.path(), &["bank", "accounts"]);
    assert_eq!(
        acc,
        [
            json!({"id": 1, "owner": "alice", "balance": 6}),
            json!({"id": 2, "owner": "bob", "balance": 7}),
            json!({"id": 3, "owner": "carol", "balance": 0}),
        ]
    );
    // As of the commit before the transfer.
    let then = rows(
        d.path(),
        &["bank", "accounts", "--at-ts", &before_transfer.to_string()],
    );
    assert_eq!(then[0]["balance"], 10);
    assert_eq!(then[1]["balance"], 3);
    // The deleted item is gone, the changed price is the new one.
    let items = rows(d.path(), &["t_indexes", "items"]);
    assert_eq!(items.len(), 29);
    assert!(!ids(&items).contains(&5));
    assert_eq!(items[2]["id"], 3);
    assert_eq!(items[2]["price"], -40);

    let limited = rows(d.path(), &["t_indexes", "items", "--limit", "4"]);
    assert_eq!(ids(&limited), [1, 2, 3, 4]);

    let out = tables(d.path(), &["bank", "accounts", "--format", "csv"]);
    let csv_text = expect_ok(&out, "csv");
    assert_eq!(
        csv_text, "id,owner,balance\n1,alice,6\n2,bob,7\n3,carol,0",
        "{csv_text}"
    );
    let out = tables(d.path(), &["bank", "accounts"]);
    let table = expect_ok(&out, "table");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "id  owner  balance");
    assert_eq!(lines[1], "1   alice  6");
    assert_eq!(lines.len(), 4);
    assert!(stderr_of(&out).contains("3 row(s)"), "{}", stderr_of(&out));
    rt.shutdown().await.expect("shutdown");
}

/// A row filter written in the test.
type Keep = Box<dyn Fn(&Json) -> bool>;

/// The rows of `all` that `keep` accepts, by id: the filter written here
/// independently of the tool.
fn expected(all: &[Json], keep: impl Fn(&Json) -> bool) -> Vec<u64> {
    all.iter()
        .filter(|r| keep(r))
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn where_uses_the_host_semantics() {
    let d = tempdir();
    let (rt, _) = populate(d.path()).await;
    // Against the guest's own queries (the host's index and filter code).
    for owner in ["ann", "bob"] {
        let guest = rt
            .read("t_indexes", "by_owner", vec![s(owner)])
            .await
            .expect("by_owner");
        let guest_ids: Vec<u64> =
            serde_json::from_value(guest.value.to_json(&guest.ty)["ok"].clone())
                .or_else(|_| serde_json::from_value(guest.value.to_json(&guest.ty)))
                .expect("a list of ids");
        let mut mine = ids(&rows(
            d.path(),
            &[
                "t_indexes",
                "items",
                "--where",
                &format!("owner = {owner:?}"),
            ],
        ));
        let mut g = guest_ids.clone();
        g.sort_unstable();
        mine.sort_unstable();
        assert_eq!(mine, g, "owner = {owner}");
        assert!(!mine.is_empty());
    }
    rt.shutdown().await.expect("shutdown");

    let all = rows(d.path(), &["t_indexes", "items"]);
    let cases: Vec<(&str, Keep)> = vec![
        (
            "price >= 3 and price < 7",
            Box::new(|r| (3..7).contains(&r["price"].as_i64().unwrap())),
        ),
        ("price < 0", Box::new(|r| r["price"].as_i64().unwrap() < 0)),
        ("discount is none", Box::new(|r| r["discount"].is_null())),
        (
            "discount is not none and discount > 5",
            Box::new(|r| r["discount"].as_u64().is_some_and(|x| x > 5)),
        ),
        // `!=` on an Option column: None is unequal to everything.
        (
            "discount != 2",
            Box::new(|r| r["discount"].as_u64() != Some(2)),
        ),
        (
            r#"not (color = "red") and weight > 2.0"#,
            Box::new(|r| r["color"] != "red" && r["weight"].as_f64().unwrap() > 2.0),
        ),
        (
            r#"owner = "bob" or kind = 2"#,
            Box::new(|r| r["owner"] == "bob" || r["kind"] == 2),
        ),
        (
            r#"(owner = "ann" or owner = "bob") and not kind <= 1"#,
            Box::new(|r| r["kind"].as_u64().unwrap() > 1),
        ),
        (r#"sku = "ann-7""#, Box::new(|r| r["sku"] == "ann-7")),
    ];
    for (pred, keep) in &cases {
        let got = ids(&rows(d.path(), &["t_indexes", "items", "--where", pred]));
        let want = expected(&all, keep);
        assert_eq!(got, want, "--where {pred}");
        assert!(!want.is_empty(), "{pred} selects something");
    }
    // --where with --limit stops after N matches.
    let two = ids(&rows(
        d.path(),
        &["t_indexes", "items", "--where", "kind = 0", "--limit", "2"],
    ));
    assert_eq!(two, expected(&all, |r| r["kind"] == 0)[..2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_follows_an_upgrade() {
    let d = tempdir();
    let rt = open_with(d.path(), &["t_upgrade_v1"]).await;
    rt.call("t_upgrade", "open", vec![s("ann"), u(5)])
        .await
        .expect("open");
    let before = rt
        .call("t_upgrade", "scratch_put", vec![u(9)])
        .await
        .expect("scratch")
        .ts
        .unwrap();
    rt.load_module(wasm("t_upgrade_v2")).await.expect("upgrade");
    rt.call("t_upgrade", "deposit", vec![u(1), u(2)])
        .await
        .expect("deposit");
    rt.shutdown().await.expect("shutdown");
    let now = rows(d.path(), &["t_upgrade"]);
    let names: Vec<(&str, u64)> = now
        .iter()
        .map(|r| (r["table"].as_str().unwrap(), r["rows"].as_u64().unwrap()))
        .collect();
    assert_eq!(names, [("accounts", 1), ("scratch", 1), ("audit", 1)]);
    assert_eq!(
        rows(d.path(), &["t_upgrade", "audit"]),
        [json!({"id": 1, "account": 1, "amount": 2})]
    );
    assert_eq!(rows(d.path(), &["t_upgrade", "accounts"])[0]["balance"], 7);
    let then = rows(d.path(), &["t_upgrade", "--at-ts", &before.to_string()]);
    assert_eq!(then.len(), 2, "no audit table before the upgrade: {then:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_predicates_and_names_are_specific_errors() {
    let d = tempdir();
    let (rt, _) = populate(d.path()).await;
    rt.shutdown().await.expect("shutdown");
    let bad = |args: &[&str], want: &str| {
        let out = tables(d.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(want),
            "{args:?}: {}",
            stderr_of(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}: no rows before the error");
    };
    let w = |p: &'static str| ["t_indexes", "items", "--where", p];
    bad(
        &w("price > 1 and colour = 3"),
        "--where: at position 15: unknown column `colour` (table `items` has: id, owner, kind, sku, color, price, discount, weight)",
    );
    bad(
        &w(r#"price = "cheap""#),
        "at position 9: \"cheap\" is not a i64 for column `price`",
    );
    bad(
        &w("owner = ann"),
        "at position 9: expected a JSON value for column `owner`",
    );
    bad(
        &w("(price = 1"),
        "expected `)` to close the `(` at position 1",
    );
    bad(
        &w("price is none"),
        "`is none` on column `price`, which is i64, not an Option",
    );
    bad(&w("discount = null"), "discount is none");
    bad(
        &w("kind = 1 kind = 2"),
        "at position 10: unexpected `kind = 2`",
    );
    bad(
        &["t_indexes", "--where", "kind = 1"],
        "--where needs a table",
    );
    bad(
        &["nope"],
        "no module `nope` in the log (installed: t_indexes, bank)",
    );
    bad(
        &["bank", "nope"],
        "module `bank` has no table `nope` (its tables: accounts)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_trimmed_by_retention_starts_from_its_snapshot() {
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
    rt.load_module(wasm("bank")).await.expect("bank");
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

    // The state: the snapshot's rows plus the suffix's mutations.
    assert_eq!(
        rows(d.path(), &["bank", "accounts"]),
        [json!({"id": 1, "owner": "alice", "balance": 300})]
    );
    // The history starts after the snapshot, with a note, and the rows
    // before each deposit are still known (from the snapshot on).
    let out = interstice([
        "log-inspect".as_ref(),
        "-d".as_ref(),
        d.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let text = expect_ok(&out, "log-inspect on a trimmed log");
    assert!(
        stderr_of(&out).contains("deleted by retention; starting from the snapshot"),
        "{}",
        stderr_of(&out)
    );
    let commits: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(!commits.is_empty());
    assert!(commits[0]["ts"].as_u64().unwrap() >= first_segment - 1);
    for c in &commits {
        let m = &c["mutations"][0];
        let before = m["before"]["balance"]
            .as_u64()
            .expect("a known previous row");
        assert_eq!(m["row"]["balance"].as_u64(), Some(before + 1), "{c}");
    }
    assert_eq!(
        commits.last().unwrap()["mutations"][0]["row"]["balance"],
        300
    );

    // log-dump reads it too, from the same point, rows decoded with the
    // snapshot's schema.
    let out = interstice(["log-dump".as_ref(), "-d".as_ref(), d.path().as_os_str()]);
    let dumped: Vec<Json> = expect_ok(&out, "log-dump on a trimmed log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert!(
        stderr_of(&out).contains("deleted by retention"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(dumped.len(), commits.len());
    assert_eq!(dumped[0]["ts"], commits[0]["ts"]);
    assert_eq!(
        dumped.last().unwrap()["mutations"][0]["row"]["balance"],
        300
    );
}
