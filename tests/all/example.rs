//! Tests: the inventory example (`modules/examples/inventory_v1` and
//! `inventory_v2`, `docs/SDK.md` §4). Version 1 through every index kind
//! (B-tree, unique, hash, composite), a price range, a pushed-down filter
//! and host-side aggregates over its columnar `sales` table, with a failing
//! sale rolled back; the upgrade to version 2, which migrates `items` by
//! code and extends the columnar `sales` with a defaulted column; version
//! 2's queries, a refund left out by a filter, and the state after a
//! restart and under `replay-check`.

use interstice_abi::Storage;
use interstice_actors::{ErrorKind, Runtime};
use serde_json::{json, Value as Json};

use crate::support::{open, reducer_error, replay_check_clean, tempdir, wasm};

/// Calls `inventory.reducer`; returns the JSON result.
async fn j(rt: &Runtime, reducer: &str, args: &[Json]) -> Json {
    let out = rt
        .call_json("inventory", reducer, args)
        .await
        .unwrap_or_else(|e| panic!("inventory.{reducer}({args:?}): {e}"));
    out.value.to_json(&out.ty)
}

/// Version 1 with five items and three sales.
async fn stocked() -> (tempfile::TempDir, Runtime) {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("inventory_v1")).await.unwrap();
    for (owner, kind, sku, warehouse, price, stock) in [
        ("ann", 0, "hammer", "north", 1500, 10),
        ("ann", 1, "nail", "north", 5, 1000),
        ("bob", 0, "saw", "south", 2500, 3),
        ("ann", 2, "glue", "south", 300, 2),
        ("bob", 1, "screw", "north", 8, 500),
    ] {
        let args = [
            json!(owner),
            json!(kind),
            json!(sku),
            json!(warehouse),
            json!(price),
            json!(stock),
        ];
        j(&rt, "add_item", &args).await;
    }
    for (sku, n) in [("hammer", 2), ("nail", 100), ("saw", 1)] {
        j(&rt, "sell", &[json!(sku), json!(n)]).await;
    }
    (dir, rt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_answers_through_every_index_filter_and_aggregate() {
    let (_dir, rt) = stocked().await;
    let sales = rt.modules()[0].schema.table("sales").unwrap().1.storage;
    assert_eq!(sales, Storage::Columnar);
    // B-tree, composite, hash.
    assert_eq!(
        j(&rt, "skus_of", &[json!("ann")]).await,
        json!(["hammer", "nail", "glue"])
    );
    assert_eq!(
        j(&rt, "skus_of_kind", &[json!("bob"), json!(1)]).await,
        json!(["screw"])
    );
    assert_eq!(
        j(&rt, "in_warehouse", &[json!("south")]).await,
        json!(["saw", "glue"])
    );
    // A range, cheapest first; a pushed-down filter.
    assert_eq!(
        j(&rt, "price_between", &[json!(5), json!(1500)]).await,
        json!([["nail", 5], ["screw", 8], ["glue", 300], ["hammer", 1500]])
    );
    assert_eq!(
        j(&rt, "low_stock", &[json!(8)]).await,
        json!(["hammer", "saw", "glue"])
    );
    // Aggregates over the columnar table: 3 sales, 103 units,
    // 2×1500 + 100×5 + 2500 cents, the biggest 3000.
    assert_eq!(j(&rt, "revenue", &[]).await, json!([3, 103, 6000, 3000]));
    assert_eq!(j(&rt, "item_revenue", &[json!("nail")]).await, json!(500));
    // A unique violation and a sale beyond the stock fail and write nothing.
    let dup = [
        json!("cat"),
        json!(0),
        json!("saw"),
        json!("x"),
        json!(1),
        json!(1),
    ];
    let e = reducer_error(rt.call_json("inventory", "add_item", &dup).await);
    assert_eq!(e.kind, ErrorKind::Constraint, "{e:?}");
    assert!(
        e.message.contains("`items_sku`") && e.message.contains("saw"),
        "{e:?}"
    );
    let e = reducer_error(
        rt.call_json("inventory", "sell", &[json!("saw"), json!(5)])
            .await,
    );
    assert!(e.message.contains("only 2 of saw in stock"), "{e:?}");
    assert_eq!(j(&rt, "revenue", &[]).await, json!([3, 103, 6000, 3000]));
    assert_eq!(j(&rt, "restock", &[json!("saw"), json!(4)]).await, json!(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_to_version_2_migrates_items_and_extends_sales() {
    let (dir, rt) = stocked().await;
    let up = rt.load_module(wasm("inventory_v2")).await.unwrap();
    assert_eq!(up.version, "2.0.0");
    // `items` rewritten by the migration: kinds became categories, the
    // indexes rebuilt under the new schema.
    assert_eq!(
        j(&rt, "skus_in", &[json!("ann")]).await,
        json!([["other", "glue"], ["part", "nail"], ["tool", "hammer"]])
    );
    assert_eq!(
        j(&rt, "in_warehouse", &[json!("north")]).await,
        json!(["hammer", "nail", "screw"])
    );
    assert_eq!(
        j(&rt, "low_stock", &[json!(8)]).await,
        json!(["hammer", "saw", "glue"])
    );
    // `sales` kept its rows, each with `refunded = false`, still columnar.
    let sales = rt.modules()[0].schema.table("sales").unwrap().1.storage;
    assert_eq!(sales, Storage::Columnar);
    assert_eq!(j(&rt, "revenue", &[]).await, json!([3, 103, 6000, 3000]));
    // A refund: the filter leaves it out of the sums, the stock comes back.
    assert_eq!(j(&rt, "refund", &[json!(1)]).await, json!(true));
    assert_eq!(j(&rt, "refund", &[json!(1)]).await, json!(false));
    assert_eq!(j(&rt, "revenue", &[]).await, json!([2, 101, 3000, 2500]));
    assert_eq!(j(&rt, "item_revenue", &[json!("hammer")]).await, json!(0));
    assert_eq!(
        j(&rt, "restock", &[json!("hammer"), json!(0)]).await,
        json!(10),
        "8 left after the sale, 2 back from the refund"
    );
    let id = j(
        &rt,
        "add_item",
        &[
            json!("cat"),
            json!("tool"),
            json!("drill"),
            json!("south"),
            json!(9900),
            json!(1),
        ],
    )
    .await;
    assert_eq!(id, json!(6));
    j(&rt, "sell", &[json!("drill"), json!(1)]).await;
    let hash = rt.state_hash().await.unwrap();
    let want = j(&rt, "revenue", &[]).await;
    assert_eq!(want, json!([3, 102, 12900, 9900]));
    rt.shutdown().await.unwrap();
    drop(rt);

    // A restart replays the migration's logged rows without running it.
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(j(&rt, "revenue", &[]).await, want);
    assert_eq!(
        j(&rt, "skus_in", &[json!("cat")]).await,
        json!([["tool", "drill"]])
    );
    rt.shutdown().await.unwrap();
    drop(rt);
    replay_check_clean(dir.path()).await;
}
