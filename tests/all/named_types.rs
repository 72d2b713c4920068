//! Tests: named custom types in module schemas (`docs/ABI.md` §5.2). The
//! SDK exports each custom type once, by name; the log records that form;
//! an upgrade that appends an enum variant keeps the rows, one that
//! renumbers variants is refused with the difference named; and a module
//! built by an earlier SDK (every type inline) upgrades to a build of the
//! same module by this one.

use interstice_actors::{Runtime, RuntimeError, Value};
use interstice_persist::LogEntry;

use crate::support::{
    expect_ok, interstice, log_entries, open, raw_module_wat_for, replay_check_clean, s, tempdir,
    u, wasm, wasm_path,
};

const MODULE: &str = "t_named";

fn variant(tag: u32) -> Value {
    Value::Enum(tag, vec![])
}

fn stats(power: u32, weight: u32) -> Value {
    Value::Struct(vec![Value::U32(power), Value::U32(weight)])
}

async fn add(rt: &Runtime, name: &str, rarity: u32) -> u64 {
    let out = rt
        .call(
            MODULE,
            "add",
            vec![s("ann"), s(name), variant(rarity), stats(1, 2), stats(3, 4)],
        )
        .await
        .expect("add");
    match out.value {
        Value::U64(id) => id,
        v => panic!("add returned {v:?}"),
    }
}

async fn rarity_of(rt: &Runtime, id: u64) -> Value {
    rt.read(MODULE, "rarity_of", vec![u(id)])
        .await
        .expect("rarity_of")
        .value
}

fn some(v: Value) -> Value {
    Value::Option(Some(Box::new(v)))
}

/// The schemas the log's installs recorded, as bytes.
fn logged_schemas(dir: &std::path::Path) -> Vec<Vec<u8>> {
    log_entries(dir)
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Install(i) => Some(i.schema),
            LogEntry::Commit(_) | LogEntry::Engine(_) | LogEntry::Unload(_) => None,
        })
        .collect()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_a_variant_keeps_the_rows_and_survives_a_restart() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let info = rt.load_module(wasm("t_named_v1")).await.unwrap();
    let names: Vec<String> = info.schema.types.iter().map(|t| t.display_name()).collect();
    assert_eq!(names, ["Rarity", "Stats"]);
    let common = add(&rt, "stick", 0).await;
    let epic = add(&rt, "sword", 2).await;

    let info = rt.load_module(wasm("t_named_v2")).await.unwrap();
    assert_eq!(info.version, "2.0.0");
    // The rows of version 1 read under version 2's `Rarity`.
    assert_eq!(rarity_of(&rt, common).await, some(variant(0)));
    assert_eq!(rarity_of(&rt, epic).await, some(variant(2)));
    let stats_of = rt.read(MODULE, "stats_of", vec![u(epic)]).await.unwrap();
    assert_eq!(
        stats_of.value,
        some(Value::Tuple(vec![stats(1, 2), stats(3, 4)]))
    );
    // The new variant works.
    let legendary = add(&rt, "crown", 3).await;
    assert_eq!(rarity_of(&rt, legendary).await, some(variant(3)));
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();

    // Both installs logged the named form: each type defined once.
    let schemas = logged_schemas(dir.path());
    assert_eq!(schemas.len(), 2);
    for (schema, last) in schemas.iter().zip(["Epic", "Legendary"]) {
        assert_eq!(count(schema, b"Common"), 1, "one definition of Rarity");
        assert_eq!(count(schema, last.as_bytes()), 1);
        assert_eq!(count(schema, b"power"), 1, "one definition of Stats");
        // Column `rarity`, parameter `rarity`, result `Option<Rarity>`.
        assert_eq!(count(schema, b"\x65Named\x66Rarity"), 3);
        assert!(count(schema, b"\x65Named\x65Stats") >= 4);
    }

    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(rarity_of(&rt, epic).await, some(variant(2)));
    assert_eq!(rarity_of(&rt, legendary).await, some(variant(3)));
    rt.shutdown().await.unwrap();
    let report = replay_check_clean(dir.path()).await;
    assert_eq!(report.checked, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserting_a_variant_in_the_middle_is_refused_with_the_difference() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_named_v1")).await.unwrap();
    let epic = add(&rt, "sword", 2).await;
    let e = rt.load_module(wasm("t_named_bad")).await.unwrap_err();
    match &e {
        RuntimeError::IncompatibleSchema {
            module,
            table,
            change,
        } => {
            assert_eq!((module.as_str(), table.as_str()), (MODULE, "items"));
            assert_eq!(
                change,
                "logged version 1, new version 1: the layout changed (column 3 (`rarity`) \
                 changed type: `Rarity`: variants 3 → 4, and variant 1 is `Uncommon`, was \
                 `Rare` (variants may only be added at the end)) but the version did not: bump \
                 the version and declare a #[migration(from_version = 1, to_version = 2)]"
            );
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    assert_eq!(rt.modules()[0].version, "1.0.0");
    assert_eq!(rarity_of(&rt, epic).await, some(variant(2)));
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_of_an_earlier_sdk_upgrades_to_one_of_this_sdk() {
    // The schema `t_named_v1` exports, with every type inline and no
    // `types`: what an SDK before named types exported for the same code.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let named = rt.load_module(wasm("t_named_v1")).await.unwrap().schema;
    rt.shutdown().await.unwrap();
    let mut inline = (*named).clone();
    inline.types.clear();
    let bytes = inline.canonical_bytes();
    assert_eq!(count(&bytes, b"Named"), 0);
    assert!(count(&bytes, b"Common") >= 3, "Rarity inline at each use");
    let bodies = vec![""; inline.reducers.len()];
    let old_build = wat::parse_str(raw_module_wat_for(
        &inline,
        interstice_abi::ABI_VERSION as i32,
        "",
        &[],
        &bodies,
    ))
    .expect("valid wat");

    let dir = tempdir();
    let rt = open(dir.path()).await;
    let old = rt.load_module(old_build).await.unwrap();
    assert!(old.schema.types.is_empty());
    // Structurally the same tables: the upgrade is accepted, not refused.
    let new = rt.load_module(wasm("t_named_v1")).await.unwrap();
    assert_eq!(new.schema.tables, old.schema.tables);
    assert_ne!(new.schema.hash(), old.schema.hash());
    let id = add(&rt, "stick", 1).await;
    let hash = rt.state_hash().await.unwrap();
    rt.shutdown().await.unwrap();
    // The log holds both forms, and replays.
    let schemas = logged_schemas(dir.path());
    assert_eq!(schemas.len(), 2);
    assert_eq!(count(&schemas[0], b"Named"), 0);
    assert!(count(&schemas[1], b"Named") > 0);
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), hash);
    assert_eq!(rarity_of(&rt, id).await, some(variant(1)));
    rt.shutdown().await.unwrap();
}

fn export(format: &str) -> String {
    let wasm = wasm_path("t_named_v1");
    expect_ok(
        &interstice([
            "schema",
            wasm.to_str().expect("utf-8 path"),
            "--format",
            format,
        ]),
        &format!("schema t_named_v1 --format {format}"),
    )
}

#[test]
fn exports_follow_the_names() {
    // TypeScript: one declaration per custom type, referred to by name.
    let ts = export("typescript");
    assert_eq!(ts.matches("export type Rarity =").count(), 1, "{ts}");
    assert_eq!(ts.matches("export interface Stats {").count(), 1, "{ts}");
    assert_eq!(ts.matches("\"Common\"").count(), 1, "{ts}");
    assert!(ts.contains("  rarity: Rarity;\n"), "{ts}");
    assert!(ts.contains("  base: Stats;\n  bonus: Stats;\n"), "{ts}");
    // JSON: the schema with every reference resolved, as for an inline one.
    let json: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    let text = json.to_string();
    assert!(!text.contains("\"Named\""), "{text}");
    let column = &json["schema"]["tables"][0]["columns"][3];
    assert_eq!(column["name"], "rarity");
    let variants: Vec<&str> = column["ty"]["Enum"]["variants"]
        .as_array()
        .expect("the column's enum, inline")
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["Common", "Rare", "Epic"]);
    // ... and the list of the names the encoding uses.
    let types = json["schema"]["types"].as_array().expect("types");
    assert_eq!(types[0]["Enum"]["name"], "Rarity");
    assert_eq!(types[1]["Struct"]["name"], "Stats");
}
