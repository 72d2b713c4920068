//! Tests: predicate pushdown. Every filter operator (on integer, float and
//! `Option` columns, with `and`/`or`/`not`, over the whole table and over an
//! index query) and the host-side aggregates give what filtering the same
//! rows in the test gives; malformed queries and filters from a
//! hand-written guest get a specific error, never a host panic.

use interstice_abi::cbor::Writer;
use interstice_abi::codec::field;
use interstice_abi::{IndexKind, IndexSchema, ModuleSchema, Persistence, TableSchema, Type};
use interstice_actors::{ErrorKind, ReducerMode};
use serde_json::{json, Value as Json};

use crate::indexes::j;
use crate::support::{open, open_with, raw, raw_module_wat_for, reducer_error, tempdir};

/// The rows `t_indexes.bulk("dan", n)` writes, as the test's model:
/// `(id, price, kind, discount, weight, color)`.
struct Row {
    id: u64,
    price: i64,
    kind: u32,
    discount: Option<u32>,
    weight: f64,
    red: bool,
}

fn model(n: u32) -> Vec<Row> {
    (0..n)
        .map(|i| Row {
            id: u64::from(i) + 1,
            price: i64::from(i),
            kind: i % 3,
            discount: (i % 4 != 0).then_some(i % 10),
            weight: f64::from(i) / 2.0,
            red: i % 2 == 0,
        })
        .collect()
}

fn ids(rows: impl Iterator<Item = u64>) -> Json {
    json!(rows.collect::<Vec<_>>())
}

fn holds<T: PartialOrd>(op: u8, a: T, b: T) -> bool {
    match op {
        0 => a == b,
        1 => a != b,
        2 => a < b,
        3 => a <= b,
        4 => a > b,
        _ => a >= b,
    }
}

const N: u32 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_matches_the_same_rows_as_filtering_in_the_test() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    j(&rt, "bulk", &[json!("dan"), json!(N)]).await;
    let rows = model(N);
    for op in 0..6u8 {
        for v in [-1i64, 0, 7, 150, 299, 300] {
            let want = ids(rows.iter().filter(|r| holds(op, r.price, v)).map(|r| r.id));
            assert_eq!(
                j(&rt, "filter_price", &[json!(op), json!(v)]).await,
                want,
                "price op {op} {v}"
            );
        }
        for v in [0u32, 3, 9] {
            // A None discount matches only ≠.
            let want = ids(rows
                .iter()
                .filter(|r| match r.discount {
                    Some(d) => holds(op, d, v),
                    None => op == 1,
                })
                .map(|r| r.id));
            assert_eq!(
                j(&rt, "filter_discount", &[json!(op), json!(v)]).await,
                want,
                "discount op {op} {v}"
            );
        }
        for v in [-0.5f64, 0.0, 10.5, 149.5, 1e9] {
            let want = ids(rows.iter().filter(|r| holds(op, r.weight, v)).map(|r| r.id));
            assert_eq!(
                j(&rt, "filter_weight", &[json!(op), json!(v)]).await,
                want,
                "weight op {op} {v}"
            );
        }
    }
    // NaN compares false with everything except ≠.
    for op in 0..6u8 {
        let want = if op == 1 { N as usize } else { 0 };
        let got = j(&rt, "filter_weight", &[json!(op), json!("NaN")]).await;
        assert_eq!(got.as_array().unwrap().len(), want, "NaN op {op}");
    }
    let none = ids(rows.iter().filter(|r| r.discount.is_none()).map(|r| r.id));
    let some = ids(rows.iter().filter(|r| r.discount.is_some()).map(|r| r.id));
    assert_eq!(j(&rt, "filter_discount", &[json!(6), json!(0)]).await, none);
    assert_eq!(j(&rt, "filter_discount", &[json!(7), json!(0)]).await, some);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn and_or_not_over_an_index_query_and_aggregates_run_host_side() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_indexes"]).await;
    j(&rt, "bulk", &[json!("dan"), json!(N)]).await;
    j(&rt, "bulk", &[json!("eve"), json!(20)]).await;
    let rows = model(N);
    for max in [0i64, 10, 100, 1000] {
        let want = ids(rows
            .iter()
            .filter(|r| (r.red && r.price < max) || r.kind != 0)
            .map(|r| r.id));
        assert_eq!(
            j(&rt, "filter_logic", &[json!("dan"), json!(max)]).await,
            want,
            "logic {max}"
        );
    }
    for min in [0i64, 100, 299, 300] {
        let sel: Vec<&Row> = rows.iter().filter(|r| r.price >= min).collect();
        let count = sel.len() as u64;
        let sum: i64 = sel.iter().map(|r| r.price).sum();
        let lo = sel.iter().map(|r| r.price).min();
        let hi = sel.iter().map(|r| r.price).max();
        let dsum: u64 = sel.iter().filter_map(|r| r.discount).map(u64::from).sum();
        let wsum: f64 = sel.iter().map(|r| r.weight).sum();
        assert_eq!(
            j(&rt, "stats", &[json!("dan"), json!(min)]).await,
            json!([count, sum, lo, hi, dsum, wsum]),
            "stats from {min}"
        );
    }
    // Paging: a whole-table scan and a pushed-down filter over 320 rows
    // (five pages of 64 and more), the filter keeping a third of them.
    let total = N as u64 + 20;
    let kind0 = rows.iter().filter(|r| r.kind == 0).count() as u64
        + (0..20u32).filter(|i| i % 3 == 0).count() as u64;
    let got = j(&rt, "ids_where_page_boundary", &[json!(1)]).await;
    assert_eq!(got, json!(total * 1_000_000 + kind0));
}

/// A schema with one table `items {id: u64, name: String, score:
/// Option<u32>}`, a btree index on `name` and a hash index on `score`'s
/// neighbour `id`, and one write reducer per body.
fn hostile_schema(n: usize) -> ModuleSchema {
    ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "t_bad_filter".into(),
        version: "0.1.0".into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: "items".into(),
            version: 1,
            columns: vec![
                field("id", Type::U64),
                field("name", Type::String),
                field("score", Type::Option(Box::new(Type::U32))),
            ],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![
                IndexSchema {
                    name: "items_name".into(),
                    columns: vec![1],
                    kind: IndexKind::BTree,
                },
                IndexSchema {
                    name: "items_name_hash".into(),
                    columns: vec![1],
                    kind: IndexKind::Hash,
                },
            ],
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: (0..n)
            .map(|i| interstice_abi::ReducerSchema {
                writes: None,
                recursive: false,
                name: format!("case{i}"),
                mode: ReducerMode::Write,
                params: vec![],
                returns: Type::Unit,
                error: None,
                trigger: None,
            })
            .collect(),
        types: vec![],
        bindings: vec![],
    }
}

fn cbor(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.into_vec()
}

/// `[null, null, null, filter]` with `filter` already encoded.
fn with_filter(filter: &[u8]) -> Vec<u8> {
    cbor(|w| {
        w.array(4);
        w.null();
        w.null();
        w.null();
        w.raw(filter);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_from_a_hand_written_guest_get_specific_errors() {
    let deep = {
        let mut f = cbor(|w| {
            w.array(2);
            w.u64(9);
            w.u64(2);
        });
        for _ in 0..40 {
            f = cbor(|w| {
                w.array(2);
                w.u64(8);
                w.raw(&f);
            });
        }
        f
    };
    let wide = cbor(|w| {
        w.array(2);
        w.u64(7);
        w.array(260);
        for _ in 0..260 {
            w.array(2);
            w.u64(9);
            w.u64(2);
        }
    });
    // (what the guest sends, host call, expected words of the error)
    let open_cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0x01], "query is not [index, lower, upper, filter]"),
        (
            with_filter(&cbor(|w| {
                w.array(3);
                w.u64(12);
                w.u64(0);
                w.u64(1);
            })),
            "unknown operator 12",
        ),
        (
            with_filter(&cbor(|w| {
                w.array(2);
                w.u64(0);
                w.u64(1);
            })),
            "operator 0 takes 2 operand(s), found 1",
        ),
        (
            with_filter(&cbor(|w| {
                w.array(3);
                w.u64(0);
                w.u64(9);
                w.u64(1);
            })),
            "column 9 out of range",
        ),
        (
            with_filter(&cbor(|w| {
                w.array(3);
                w.u64(2);
                w.u64(1);
                w.u64(5);
            })),
            "for column `name` is not a String",
        ),
        (
            with_filter(&cbor(|w| {
                w.array(3);
                w.u64(2);
                w.u64(2);
                w.str("x");
            })),
            "for column `score` is not a u32",
        ),
        (
            with_filter(&cbor(|w| {
                w.array(2);
                w.u64(9);
                w.u64(1);
            })),
            "is String, not an Option",
        ),
        (with_filter(&deep), "nested deeper than 32 levels"),
        (with_filter(&wide), "more than 256 nodes"),
        (with_filter(&[0x80]), "empty array"),
        (
            cbor(|w| {
                w.array(4);
                w.u64(7);
                w.null();
                w.null();
                w.null();
            }),
            "no index #7 on table `items`",
        ),
        (
            cbor(|w| {
                w.array(4);
                w.u64(0);
                w.array(2);
                w.u64(0);
                w.array(2);
                w.str("a");
                w.str("b");
                w.null();
                w.null();
            }),
            "2 value(s), the index has 1",
        ),
        (
            cbor(|w| {
                w.array(4);
                w.u64(0);
                w.array(2);
                w.u64(5);
                w.array(1);
                w.str("a");
                w.null();
                w.null();
            }),
            "lower bound at byte 2: unknown tag 5",
        ),
        (
            cbor(|w| {
                w.array(4);
                w.u64(1);
                w.array(2);
                w.u64(0);
                w.array(1);
                w.str("a");
                w.null();
                w.null();
            }),
            "hash index `items_name_hash` of table `items` answers only equality",
        ),
        (vec![0x84, 0xf6, 0xf6, 0xf6], "invalid CBOR"),
        ([with_filter(&[0xf6]), vec![0]].concat(), "query: "),
    ];
    let agg_cases: Vec<(Vec<u8>, &str)> = vec![
        (
            cbor(|w| {
                w.array(3);
                w.raw(&with_filter(&[0xf6]));
                w.u64(1);
                w.u64(1);
            }),
            "sum of column `name`, which is String, not a number",
        ),
        (
            cbor(|w| {
                w.array(3);
                w.raw(&with_filter(&[0xf6]));
                w.u64(9);
                w.u64(0);
            }),
            "unknown operation 9",
        ),
        (
            cbor(|w| {
                w.array(3);
                w.raw(&with_filter(&[0xf6]));
                w.u64(2);
                w.u64(5);
            }),
            "column 5 out of range",
        ),
    ];
    let mut data = Vec::new();
    let mut bodies = Vec::new();
    let mut expect = Vec::new();
    for (bytes, call, want) in open_cases
        .iter()
        .map(|(b, w)| (b, "$qopen", *w))
        .chain(agg_cases.iter().map(|(b, w)| (b, "$qagg", *w)))
    {
        let at = raw::DATA as usize + data.len();
        bodies.push(format!(
            "(drop (call {call} (i32.const 0) (i32.const {at}) (i32.const {})))",
            bytes.len()
        ));
        data.extend_from_slice(bytes);
        expect.push(want.to_owned());
    }
    assert!(
        raw::DATA as usize + data.len() < raw::ARGS as usize,
        "data fits"
    );
    bodies.push("(drop (call $qopen (i32.const 0) (i32.const 0) (i32.const 0x7fffffff)))".into());
    expect.push("query of 2147483647 bytes, more than 65536".into());
    bodies.push("(drop (call $qpage (i32.const 99) (i32.const 10)))".into());
    expect.push("query_page: no open query #99".into());
    bodies.push("(call $qclose (i32.const 3))".into());
    expect.push("query_close: no open query #3".into());
    // A well-formed query and page last: the module still works.
    let good = with_filter(&cbor(|w| {
        w.array(2);
        w.u64(9);
        w.u64(2);
    }));
    let at = raw::DATA as usize + data.len();
    bodies.push(format!(
        "(drop (call $qpage (call $qopen (i32.const 0) (i32.const {at}) (i32.const {})) (i32.const 1000000)))",
        good.len()
    ));
    data.extend_from_slice(&good);
    let body_refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let wat = raw_module_wat_for(
        &hostile_schema(bodies.len()),
        interstice_abi::ABI_VERSION as i32,
        r#"(import "interstice" "query_open" (func $qopen (param i32 i32 i32) (result i32)))
  (import "interstice" "query_page" (func $qpage (param i32 i32) (result i64)))
  (import "interstice" "query_close" (func $qclose (param i32)))
  (import "interstice" "query_aggregate" (func $qagg (param i32 i32 i32) (result i64)))"#,
        &data,
        &body_refs,
    );
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wat::parse_str(wat).expect("valid wat"))
        .await
        .expect("load");
    for (i, want) in expect.iter().enumerate() {
        let err = reducer_error(rt.call("t_bad_filter", &format!("case{i}"), vec![]).await);
        assert_eq!(err.kind, ErrorKind::Host, "case {i}: {err:?}");
        assert!(
            err.message.contains(want.as_str()),
            "case {i}: expected {want:?} in {:?}",
            err.message
        );
    }
    rt.call("t_bad_filter", &format!("case{}", expect.len()), vec![])
        .await
        .expect("a good query after the bad ones");
}

/// A runtime on `dir` with `t_indexes` loaded and room (fuel, time) for
/// bulk fills of thousands of rows in one transaction.
async fn roomy_t_indexes(dir: &std::path::Path) -> interstice_actors::Runtime {
    let roomy = interstice_actors::Limits::default()
        .with_fuel(5_000_000_000)
        .with_tx_time(std::time::Duration::from_secs(120));
    let rt = crate::support::open_unsynced(dir, roomy).await;
    rt.load_module(crate::support::wasm("t_indexes"))
        .await
        .expect("loading t_indexes");
    rt
}

/// Host-side query work is charged to the transaction's fuel
/// (`FUEL_PER_EXAMINED_ENTRY` per entry examined, `docs/ABI.md` §6): the
/// same aggregates that fit a small budget over a few rows run out of it
/// over many, although the guest's own instructions are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_query_examines_are_charged_to_the_transactions_fuel() {
    use interstice_actors::Limits;
    let dir = tempdir();
    {
        let rt = roomy_t_indexes(dir.path()).await;
        j(&rt, "bulk", &[json!("many"), json!(10_000)]).await;
        j(&rt, "bulk", &[json!("few"), json!(5)]).await;
        rt.shutdown().await.unwrap();
    }
    // `stats` runs six aggregates over the owner's rows: over 10,000 rows
    // that examines 60,000 entries, 3.84M units of fuel (the fourth
    // aggregate passes 2M); over 5 rows, 30 entries.
    let fuel = 2_000_000;
    let rt = crate::support::open_with_limits(dir.path(), Limits::default().with_fuel(fuel)).await;
    let few = j(&rt, "stats", &[json!("few"), json!(0)]).await;
    assert_eq!(few[0], json!(5), "{few}");
    let err = reducer_error(
        rt.call_json("t_indexes", "stats", &[json!("many"), json!(0)])
            .await,
    );
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    assert!(
        err.message
            .contains("execution budget exhausted in query_aggregate")
            && err.message.contains("entries examined")
            && err.message.contains(&format!("Limits::fuel = {fuel}")),
        "{}",
        err.message
    );
    rt.shutdown().await.unwrap();
}

/// `Query::first` (one `query_first` host call) gives the first row of the
/// query in its order, as `iter().next()` does, also when the filter
/// rejects more entries than one page examines (16,384), and `None` when
/// nothing matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_returns_the_querys_first_row_past_rejected_pages() {
    let dir = tempdir();
    let rt = roomy_t_indexes(dir.path()).await;
    j(&rt, "bulk", &[json!("eve"), json!(20)]).await;
    // `zed`'s ids are 21..=20020, price = id - 21.
    j(&rt, "bulk", &[json!("zed"), json!(20_000)]).await;
    for (owner, min, want) in [
        ("zed", 0i64, json!(21)),
        ("zed", 250, json!(271)),
        ("zed", 19_990, json!(20_011)),
        ("zed", 20_000, json!(null)),
        ("eve", 5, json!(6)),
        ("nobody", 0, json!(null)),
    ] {
        assert_eq!(
            j(&rt, "first_from", &[json!(owner), json!(min)]).await,
            json!([want, want]),
            "{owner} from {min}"
        );
    }
    rt.shutdown().await.unwrap();
}
