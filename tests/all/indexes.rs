//! Tests: secondary indexes through the typed SDK (`t_indexes`): every
//! index kind, composite prefixes, every range form and its boundaries,
//! unique violations and rollback, a transaction reading its own writes
//! through indexes, and the index state after a rollback, a restart
//! (replay), a snapshot restore and an upgrade.

use std::path::Path;

use interstice_actors::{ErrorKind, Runtime};
use serde_json::{json, Value as Json};

use crate::support::{open, open_retrying, open_with, reducer_error, tempdir, wasm};

/// Calls `t_indexes.reducer` with JSON arguments; returns the JSON result.
pub(crate) async fn j(rt: &Runtime, reducer: &str, args: &[Json]) -> Json {
    let out = rt
        .call_json("t_indexes", reducer, args)
        .await
        .unwrap_or_else(|e| panic!("t_indexes.{reducer}({args:?}): {e}"));
    out.value.to_json(&out.ty)
}

/// Adds an item; returns its id.
pub(crate) async fn add(
    rt: &Runtime,
    owner: &str,
    kind: u32,
    sku: &str,
    color: &str,
    price: i64,
) -> u64 {
    j(
        rt,
        "add",
        &[
            json!(owner),
            json!(kind),
            json!(sku),
            json!(color),
            json!(price),
            json!(null),
            json!(0.0),
        ],
    )
    .await
    .as_u64()
    .expect("an id")
}

/// Calls `t_indexes.reducer`, which must fail with `kind`; returns the error.
async fn fails(
    rt: &Runtime,
    reducer: &str,
    args: &[Json],
    kind: ErrorKind,
) -> interstice_actors::ReducerError {
    let err = reducer_error(rt.call_json("t_indexes", reducer, args).await);
    assert_eq!(err.kind, kind, "t_indexes.{reducer}: {err:?}");
    err
}

/// A fixed data set: ids 1..=6.
async fn fill(rt: &Runtime) {
    add(rt, "ann", 1, "s1", "red", 10).await;
    add(rt, "bob", 2, "s2", "blue", -5).await;
    add(rt, "ann", 2, "s3", "red", 20).await;
    add(rt, "cat", 1, "s4", "green", 20).await;
    add(rt, "ann", 1, "s5", "blue", 30).await;
    add(rt, "bob", 1, "s6", "red", 0).await;
}

/// A runtime on a fresh data directory with `t_indexes` and [`fill`]'s rows.
async fn filled() -> (tempfile::TempDir, Runtime) {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    fill(&rt).await;
    (dir, rt)
}

/// Every index answer the checks below compare, as one JSON value.
async fn index_view(rt: &Runtime) -> Json {
    let mut v = serde_json::Map::new();
    for o in ["ann", "bob", "cat", "dan", "two"] {
        v.insert(format!("owner {o}"), j(rt, "by_owner", &[json!(o)]).await);
        v.insert(
            format!("prefix {o}"),
            j(rt, "owner_prefix", &[json!(o)]).await,
        );
    }
    for c in ["red", "blue", "green", "white"] {
        v.insert(format!("color {c}"), j(rt, "by_color", &[json!(c)]).await);
    }
    for s in ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "x"] {
        v.insert(format!("sku {s}"), j(rt, "by_sku", &[json!(s)]).await);
    }
    v.insert(
        "prices".into(),
        j(rt, "price_range", &[json!(0), json!(0), json!(0)]).await,
    );
    Json::Object(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_index_kind_answers_point_queries() {
    let (_dir, rt) = filled().await;
    // btree on a String column, in primary-key order among equal values.
    assert_eq!(j(&rt, "by_owner", &[json!("ann")]).await, json!([1, 3, 5]));
    assert_eq!(j(&rt, "by_owner", &[json!("bob")]).await, json!([2, 6]));
    assert_eq!(j(&rt, "by_owner", &[json!("zed")]).await, json!([]));
    // hash.
    assert_eq!(j(&rt, "by_color", &[json!("red")]).await, json!([1, 3, 6]));
    assert_eq!(j(&rt, "by_color", &[json!("green")]).await, json!([4]));
    assert_eq!(j(&rt, "by_color", &[json!("white")]).await, json!([]));
    // unique.
    assert_eq!(j(&rt, "by_sku", &[json!("s4")]).await, json!(4));
    assert_eq!(j(&rt, "by_sku", &[json!("s")]).await, json!(null));
    // composite, every column.
    assert_eq!(
        j(&rt, "owner_kind", &[json!("ann"), json!(1)]).await,
        json!([1, 5])
    );
    assert_eq!(
        j(&rt, "owner_kind", &[json!("ann"), json!(2)]).await,
        json!([3])
    );
    assert_eq!(
        j(&rt, "owner_kind", &[json!("bob"), json!(3)]).await,
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_prefix_queries_return_the_prefix_in_index_order() {
    let (_dir, rt) = filled().await;
    // A prefix must not match a longer owner ("an" is a byte prefix of "ann").
    add(&rt, "an", 0, "p1", "red", 1).await;
    add(&rt, "anna", 0, "p2", "red", 1).await;
    // (kind, id), ordered by kind then id.
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("ann")]).await,
        json!([[1, 1], [1, 5], [2, 3]])
    );
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("an")]).await,
        json!([[0, 7]])
    );
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("anna")]).await,
        json!([[0, 8]])
    );
    assert_eq!(j(&rt, "owner_prefix", &[json!("a")]).await, json!([]));
    // An owner with a NUL byte sorts between "an" and "an…" and stays apart.
    add(&rt, "an\u{0}", 4, "p3", "red", 1).await;
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("an")]).await,
        json!([[0, 7]])
    );
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("an\u{0}")]).await,
        json!([[4, 9]])
    );
    assert_eq!(j(&rt, "by_owner", &[json!("an\u{0}")]).await, json!([9]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_range_form_has_the_right_boundaries() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    fill(&rt).await; // prices -5, 0, 10, 20, 20, 30
    let range = |form: u8, a: i64, b: i64| {
        let rt = rt.clone();
        async move { j(&rt, "price_range", &[json!(form), json!(a), json!(b)]).await }
    };
    assert_eq!(range(0, 0, 0).await, json!([-5, 0, 10, 20, 20, 30]));
    assert_eq!(range(1, 10, 0).await, json!([10, 20, 20, 30]));
    assert_eq!(range(1, 11, 0).await, json!([20, 20, 30]));
    assert_eq!(range(2, 0, 20).await, json!([-5, 0, 10]));
    assert_eq!(range(3, 0, 20).await, json!([-5, 0, 10, 20, 20]));
    assert_eq!(range(4, 0, 20).await, json!([0, 10]));
    assert_eq!(range(5, 0, 20).await, json!([0, 10, 20, 20]));
    assert_eq!(range(6, 0, 30).await, json!([10, 20, 20]));
    assert_eq!(range(6, -5, 0).await, json!([]));
    // Empty and inverted ranges are empty, not errors.
    assert_eq!(range(4, 20, 20).await, json!([]));
    assert_eq!(range(5, 30, -5).await, json!([]));
    assert_eq!(range(4, 30, -5).await, json!([]));
    // The extremes of i64.
    assert_eq!(
        range(5, i64::MIN, i64::MAX).await,
        json!([-5, 0, 10, 20, 20, 30])
    );
    assert_eq!(
        range(6, i64::MIN, i64::MAX).await,
        json!([-5, 0, 10, 20, 20, 30])
    );
    assert_eq!(range(1, i64::MAX, 0).await, json!([]));
    assert_eq!(range(3, 0, i64::MIN).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_deletes_move_rows_in_every_index() {
    let (_dir, rt) = filled().await;
    assert_eq!(
        j(&rt, "set_price", &[json!(1), json!(100)]).await,
        json!(true)
    );
    assert_eq!(
        j(&rt, "price_range", &[json!(1), json!(25), json!(0)]).await,
        json!([30, 100])
    );
    assert_eq!(j(&rt, "remove", &[json!(3)]).await, json!(true));
    assert_eq!(j(&rt, "by_owner", &[json!("ann")]).await, json!([1, 5]));
    assert_eq!(j(&rt, "by_color", &[json!("red")]).await, json!([1, 6]));
    assert_eq!(j(&rt, "by_sku", &[json!("s3")]).await, json!(null));
    assert_eq!(
        j(&rt, "owner_prefix", &[json!("ann")]).await,
        json!([[1, 1], [1, 5]])
    );
    // The sku of a deleted row can be used again.
    let id = add(&rt, "dan", 1, "s3", "red", 1).await;
    assert_eq!(j(&rt, "by_sku", &[json!("s3")]).await, json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_violation_names_table_index_and_value_and_rolls_back() {
    let (_dir, rt) = filled().await;
    let before = index_view(&rt).await;
    // The second insert of the transaction collides with an existing row.
    let err = fails(
        &rt,
        "add_two",
        &[json!("n1"), json!("s2")],
        ErrorKind::Constraint,
    )
    .await;
    for part in ["items_sku", "`items`", "\"s2\""] {
        assert!(
            err.message.contains(part),
            "{part} missing from: {}",
            err.message
        );
    }
    // Within the transaction: the two rows collide with each other.
    let err = fails(
        &rt,
        "add_two",
        &[json!("n2"), json!("n2")],
        ErrorKind::Constraint,
    )
    .await;
    assert!(err.message.contains("\"n2\""), "{}", err.message);
    // An update onto another row's value is refused; onto its own is not.
    let err = fails(
        &rt,
        "set_sku",
        &[json!(1), json!("s4")],
        ErrorKind::Constraint,
    )
    .await;
    assert!(err.message.contains("\"s4\""), "{}", err.message);
    assert_eq!(
        j(&rt, "set_sku", &[json!(1), json!("s1")]).await,
        json!(true)
    );
    // Nothing of either transaction is left, in rows or in any index.
    assert_eq!(index_view(&rt).await, before);
    assert_eq!(j(&rt, "by_sku", &[json!("n1")]).await, json!(null));
    // The refused skus are free again, for rows of other keys too (the
    // rolled-back rows' ids are given out again: id 7 goes to `x`).
    assert_eq!(add(&rt, "x", 0, "n9", "white", 1).await, 7);
    assert_eq!(j(&rt, "by_owner", &[json!("two")]).await, json!([]));
    j(&rt, "add_two", &[json!("n1"), json!("n3")]).await;
    assert_eq!(j(&rt, "by_owner", &[json!("two")]).await, json!([8, 9]));
    assert_eq!(j(&rt, "by_sku", &[json!("n2")]).await, json!(null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_its_own_writes_through_indexes_and_a_rollback_undoes_them() {
    let (_dir, rt) = filled().await;
    let before = index_view(&rt).await;
    // The failing reducer saw its own insert through the btree and unique
    // indexes before it rolled back.
    let err = fails(
        &rt,
        "add_then_fail",
        &[json!("ann"), json!("tmp")],
        ErrorKind::UserError,
    )
    .await;
    assert_eq!(
        err.value,
        Some(json!("seen [1, 3, 5, 7] sku Some(7) id 7")),
        "{err:?}"
    );
    assert_eq!(
        index_view(&rt).await,
        before,
        "the rollback left index entries"
    );
    // Id 7 is given out again, to another owner, sku and color: no index
    // may still point the rolled-back values at it.
    assert_eq!(add(&rt, "zed", 5, "zz", "white", 1).await, 7);
    assert_eq!(j(&rt, "by_owner", &[json!("ann")]).await, json!([1, 3, 5]));
    assert_eq!(j(&rt, "by_sku", &[json!("tmp")]).await, json!(null));
    assert_eq!(j(&rt, "by_color", &[json!("blue")]).await, json!([2, 5]));
    // Inserts, an update and a delete, read back in the same transaction.
    let got = j(&rt, "add_and_read_back", &[json!("eve")]).await;
    // Ids 8, 9, 10 (10 deleted again); item 4 ("cat") was green already.
    assert_eq!(got, json!([[8, 9], [8], [4, 8, 9], [8, 9]]));
}

async fn check_survives(rt: &Runtime, want: &Json) {
    assert_eq!(&index_view(rt).await, want);
}

async fn churn(rt: &Runtime) {
    fill(rt).await;
    j(rt, "set_price", &[json!(2), json!(50)]).await;
    j(rt, "remove", &[json!(4)]).await;
    j(rt, "bulk", &[json!("dan"), json!(150)]).await;
    let _ = rt
        .call_json("t_indexes", "add_two", &[json!("z"), json!("s1")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_are_rebuilt_by_replay_after_a_restart() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    churn(&rt).await;
    let want = index_view(&rt).await;
    assert_eq!(
        j(&rt, "by_owner", &[json!("dan")])
            .await
            .as_array()
            .unwrap()
            .len(),
        150
    );
    rt.shutdown().await.unwrap();
    drop(rt);
    let rt = open(dir.path()).await;
    check_survives(&rt, &want).await;
    // And they are maintained after replay: a duplicate is still refused.
    fails(
        &rt,
        "add_two",
        &[json!("q"), json!("s5")],
        ErrorKind::Constraint,
    )
    .await;
}

async fn open_snapshotting(dir: &Path) -> Runtime {
    open_retrying(Runtime::builder().data_dir(dir).snapshots(true))
        .await
        .expect("opening runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_are_rebuilt_after_a_snapshot_restore() {
    let dir = tempdir();
    let rt = open_snapshotting(dir.path()).await;
    rt.load_module(wasm("t_indexes")).await.unwrap();
    churn(&rt).await;
    rt.snapshot_now().await.unwrap();
    // A suffix after the snapshot, replayed on top of the restored indexes.
    j(&rt, "set_price", &[json!(1), json!(-100)]).await;
    add(&rt, "fay", 2, "f1", "white", 7).await;
    let want = index_view(&rt).await;
    rt.shutdown().await.unwrap();
    drop(rt);
    let rt = open_snapshotting(dir.path()).await;
    check_survives(&rt, &want).await;
    assert_eq!(
        j(&rt, "price_range", &[json!(3), json!(0), json!(0)]).await,
        json!([-100, 0, 0]),
        "prices ≤ 0: item 1 (moved to -100 after the snapshot), item 6 and dan's first; \
         item 2's -5 moved to 50 before it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_survive_an_upgrade_of_the_module() {
    // Loading a different build of the same module (its version string
    // differs) keeps the rows and rebuilds the indexes under the new schema.
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    churn(&rt).await;
    let want = index_view(&rt).await;
    let mut bin = wasm("t_indexes");
    // The same code with another custom section: a different binary hash.
    bin.extend_from_slice(&[0, 4, 3, b'x', b'y', b'z']);
    rt.load_module(bin).await.expect("upgrade");
    check_survives(&rt, &want).await;
    add(&rt, "gus", 1, "g1", "red", 3).await;
    assert_eq!(
        j(&rt, "by_owner", &[json!("gus")])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    rt.shutdown().await.unwrap();
    drop(rt);
    let rt = open(dir.path()).await;
    assert_eq!(
        j(&rt, "by_owner", &[json!("gus")])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
