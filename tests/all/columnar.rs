//! Tests: a columnar table behaves exactly like a row table. Module
//! `t_columnar` is built twice, `t_columnar_rows` (row storage) and
//! `t_columnar_cols` (`#[table(storage = "columnar")]`); the same random
//! sequence of inserts, updates, deletes, unique violations, index lookups
//! (btree, hash, unique, composite and its prefix), primary-key and index
//! ranges, pushed-down filters, host-side aggregates and rolled-back
//! transactions runs on one runtime of each, and every answer and the state
//! hash must agree; after a restart (replay, and a snapshot restore of the
//! columnar one) too. An upgrade from row to columnar storage converts the
//! table in place, logged only as the new schema.

use std::path::Path;

use interstice_abi::Storage;
use interstice_actors::{Runtime, RuntimeError};
use serde_json::{json, Value as Json};

use crate::support::{open_retrying, tempdir, wasm};

/// A small deterministic generator.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
    fn price(&mut self) -> i64 {
        self.below(101) as i64 - 50
    }
}

const OWNERS: [&str; 3] = ["a", "b", "c"];
const WEIGHTS: [f64; 5] = [0.0, 0.25, 1.5, 2.0, -3.5];

/// One call of `t_columnar.reducer`: its JSON result, or its error's kind
/// and message.
async fn call(rt: &Runtime, reducer: &str, args: &[Json]) -> Result<Json, String> {
    match rt.call_json("t_columnar", reducer, args).await {
        Ok(out) => Ok(out.value.to_json(&out.ty)),
        Err(RuntimeError::Reducer { error, .. }) => {
            Err(format!("{:?}: {}", error.kind, error.message))
        }
        Err(e) => panic!("t_columnar.{reducer}({args:?}): {e}"),
    }
}

/// A random operation: `(reducer, arguments)`.
fn operation(rng: &mut Rng, max_id: u64) -> (&'static str, Vec<Json>) {
    let id = json!(rng.below(max_id + 3));
    let discount = |rng: &mut Rng| {
        if rng.below(3) == 0 {
            json!(null)
        } else {
            json!(rng.below(20))
        }
    };
    match rng.below(20) {
        0..=4 => (
            "put",
            vec![
                json!(rng.pick(&OWNERS)),
                json!(rng.below(4)),
                json!(format!("s{}", rng.below(60))),
                json!(rng.price()),
                json!(rng.below(100)),
                json!(WEIGHTS[rng.below(5) as usize]),
                discount(rng),
            ],
        ),
        5 | 6 => (
            "set",
            vec![id, json!(rng.price()), json!(rng.below(100)), discount(rng)],
        ),
        7 => ("set_sku", vec![id, json!(format!("s{}", rng.below(60)))]),
        8 => ("remove", vec![id]),
        9 => (
            "write_then_fail",
            vec![json!(rng.pick(&OWNERS)), id, json!(rng.price())],
        ),
        10 => ("get", vec![id]),
        11 => ("by_owner", vec![json!(rng.pick(&OWNERS))]),
        12 => ("by_kind", vec![json!(rng.below(4))]),
        13 => ("by_sku", vec![json!(format!("s{}", rng.below(60)))]),
        14 => (
            "owner_kind",
            vec![json!(rng.pick(&OWNERS)), json!(rng.below(4))],
        ),
        15 => ("owner_prefix", vec![json!(rng.pick(&OWNERS))]),
        16 => ("price_range", vec![json!(rng.price()), json!(rng.price())]),
        17 => (
            "id_range",
            vec![json!(rng.below(max_id + 2)), json!(rng.below(max_id + 2))],
        ),
        18 => (
            "filtered",
            vec![
                json!(rng.below(3)),
                json!(rng.below(6)),
                json!(rng.pick(&OWNERS)),
                json!(rng.price()),
                json!(rng.below(100)),
            ],
        ),
        _ => (
            "stats",
            vec![
                json!(rng.below(7)),
                json!(rng.price()),
                json!(rng.below(100)),
            ],
        ),
    }
}

async fn open_at(dir: &Path) -> Runtime {
    open_retrying(Runtime::builder().data_dir(dir).snapshots(true))
        .await
        .expect("opening runtime")
}

/// The storage of `t_columnar.items` as the loaded schema says.
fn storage(rt: &Runtime) -> Storage {
    let m = rt.modules().into_iter().find(|m| m.name == "t_columnar");
    m.expect("t_columnar is loaded")
        .schema
        .table("items")
        .expect("items")
        .1
        .storage
}

/// Every read answer over the current rows, as one JSON value.
async fn view(rt: &Runtime) -> Json {
    let mut v = vec![call(rt, "all", &[]).await.expect("all")];
    for form in 0..7 {
        v.push(
            call(rt, "stats", &[json!(form), json!(0), json!(50)])
                .await
                .expect("stats"),
        );
    }
    for o in OWNERS {
        v.push(call(rt, "owner_prefix", &[json!(o)]).await.expect("prefix"));
    }
    Json::Array(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_columnar_table_gives_the_answers_and_state_of_a_row_table() {
    let (dir_rows, dir_cols) = (tempdir(), tempdir());
    let rows = open_at(dir_rows.path()).await;
    let cols = open_at(dir_cols.path()).await;
    rows.load_module(wasm("t_columnar_rows")).await.unwrap();
    cols.load_module(wasm("t_columnar_cols")).await.unwrap();
    assert_eq!(storage(&rows), Storage::Rows);
    assert_eq!(storage(&cols), Storage::Columnar);

    let mut rng = Rng(0x5eed);
    let (mut max_id, mut kinds) = (0u64, std::collections::BTreeMap::new());
    for step in 0..400 {
        let (reducer, args) = operation(&mut rng, max_id);
        let a = call(&rows, reducer, &args).await;
        let b = call(&cols, reducer, &args).await;
        assert_eq!(a, b, "step {step}: t_columnar.{reducer}({args:?})");
        *kinds
            .entry(match &a {
                Ok(_) => reducer.to_string(),
                Err(e) => format!("{reducer} failed: {}", &e[..e.find(':').unwrap_or(0)]),
            })
            .or_insert(0) += 1;
        if reducer == "put" {
            if let Ok(id) = &a {
                max_id = max_id.max(id.as_u64().unwrap());
            }
        }
        if step % 50 == 0 {
            assert_eq!(
                rows.state_hash().await.unwrap(),
                cols.state_hash().await.unwrap(),
                "step {step}: state hash"
            );
        }
        if step == 250 {
            // The columnar runtime restarts from this snapshot later.
            cols.snapshot_now().await.unwrap();
        }
    }
    // The sequence exercised every kind of operation, and failures.
    for k in [
        "put",
        "put failed: Constraint",
        "set",
        "set_sku",
        "remove",
        "write_then_fail failed: UserError",
        "stats",
        "filtered",
        "price_range",
    ] {
        assert!(kinds.contains_key(k), "no `{k}` in {kinds:?}");
    }
    let count = view(&rows).await[1][0].as_u64().unwrap();
    assert!(count > 10, "the workload keeps rows: {count}");
    let hash = rows.state_hash().await.unwrap();
    assert_eq!(cols.state_hash().await.unwrap(), hash);
    let want = view(&rows).await;
    assert_eq!(view(&cols).await, want);

    // A restart: the row runtime replays its whole log, the columnar one
    // restores its snapshot and replays the suffix.
    rows.shutdown().await.unwrap();
    cols.shutdown().await.unwrap();
    drop((rows, cols));
    let rows = open_at(dir_rows.path()).await;
    let cols = open_at(dir_cols.path()).await;
    assert_eq!(storage(&cols), Storage::Columnar, "after replay");
    assert_eq!(rows.state_hash().await.unwrap(), hash, "rows replayed");
    assert_eq!(cols.state_hash().await.unwrap(), hash, "columnar restored");
    assert_eq!(view(&cols).await, want);
    // The indexes were rebuilt: a taken sku is still refused, the same way.
    let sku = want[0][0]["sku"].clone();
    let dup = [
        json!("a"),
        json!(0),
        sku,
        json!(1),
        json!(1),
        json!(0.0),
        json!(null),
    ];
    let a = call(&rows, "put", &dup).await;
    assert!(
        a.as_ref().is_err_and(|e| e.starts_with("Constraint")),
        "{a:?}"
    );
    assert_eq!(a, call(&cols, "put", &dup).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_to_columnar_storage_converts_the_table() {
    let dir = tempdir();
    let rt = open_at(dir.path()).await;
    rt.load_module(wasm("t_columnar_rows")).await.unwrap();
    let mut rng = Rng(77);
    let mut max_id = 0;
    for _ in 0..120 {
        let (reducer, args) = operation(&mut rng, max_id);
        if let ("put", Ok(id)) = (reducer, call(&rt, reducer, &args).await) {
            max_id = max_id.max(id.as_u64().unwrap());
        }
    }
    let hash = rt.state_hash().await.unwrap();
    let want = view(&rt).await;
    // Same code, same layout, another storage: an upgrade that keeps the
    // rows (the log gets only the new schema).
    rt.load_module(wasm("t_columnar_cols")).await.unwrap();
    assert_eq!(storage(&rt), Storage::Columnar);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(view(&rt).await, want);
    let id = call(
        &rt,
        "put",
        &[
            json!("z"),
            json!(1),
            json!("new"),
            json!(5),
            json!(5),
            json!(0.25),
            json!(3),
        ],
    )
    .await
    .unwrap();
    assert_eq!(call(&rt, "by_owner", &[json!("z")]).await, Ok(json!([id])));
    let hash = rt.state_hash().await.unwrap();
    let want = view(&rt).await;
    // Replay converts at the install the same way, and back to rows too.
    rt.shutdown().await.unwrap();
    drop(rt);
    let rt = open_at(dir.path()).await;
    assert_eq!(storage(&rt), Storage::Columnar);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(view(&rt).await, want);
    rt.load_module(wasm("t_columnar_rows")).await.unwrap();
    assert_eq!(storage(&rt), Storage::Rows);
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(view(&rt).await, want);
}
