//! Tests: generated bindings (`interstice generate rust`, `docs/SDK.md`,
//! "Bindings") used by a real module pair: `t_bind_market` reaches
//! `t_bind_inventory` 0.1.0 only through `src/inventory.rs`, generated from
//! it. Typed async calls, typed read calls (from write and read reducers),
//! a typed trigger and the dependency's own types in a table all work end
//! to end; the committed bindings are what regenerating writes; the
//! binding the schema records is the dependency's own signatures; a
//! compatible newer dependency (a parameter enum that gained a variant)
//! loads and serves, an incompatible one is refused at load in either
//! order with both versions and the difference named; a mistyped read-call
//! result names both types and the caller's line; and `interstice init`
//! scaffolds a crate that builds, loads and answers calls.

use std::path::Path;
use std::time::{Duration, Instant};

use interstice_abi::{Binding, ModuleSchema};
use interstice_actors::{Runtime, RuntimeError, Value};

use crate::support::{
    cli_call, expect_ok, interstice, open, reducer_error, s, stdout_of, tempdir, u, wasm,
    wasm_path, workspace_root,
};

const MARKET: &str = "t_bind_market";
const INVENTORY: &str = "t_bind_inventory";

/// Reads `reducer(args)` of `module` until it returns something other
/// than `None` (an async delivery or a trigger ran), for up to 20 s.
async fn eventually(rt: &Runtime, module: &str, reducer: &str, args: Vec<Value>) -> Value {
    let start = Instant::now();
    loop {
        let v = rt
            .read(module, reducer, args.clone())
            .await
            .expect(reducer)
            .value;
        if v != Value::Option(None) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{module}.{reducer} stayed None"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls read reducer `peek(1)` of the market until it is `Ok(place)`
/// containing `want`.
async fn place_becomes(rt: &Runtime, want: &str) {
    let start = Instant::now();
    loop {
        let got = rt.read(MARKET, "peek", vec![u(1)]).await;
        if let Ok(out) = &got {
            if format!("{:?}", out.value).contains(want) {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "peek(1) never showed {want}: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn schema_of(name: &str) -> ModuleSchema {
    let info = interstice_actors::inspect_module(&wasm(name)).expect("inspect");
    (*info.schema).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_calls_reads_and_triggers_work_through_generated_bindings() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm(INVENTORY)).await.expect("inventory");
    rt.load_module(wasm(MARKET)).await.expect("market");

    // A typed async call: market.stock → inventory.add_item(1, ItemSpec).
    rt.call(MARKET, "stock", vec![u(1), s("sword"), Value::Bool(true)])
        .await
        .expect("stock");
    // The typed trigger on inventory.items saw the inserted row.
    let seen = eventually(&rt, MARKET, "seen", vec![u(1)]).await;
    assert_eq!(seen, Value::Option(Some(Box::new(s("sword")))));

    // A typed read call from a write reducer, stored with the
    // dependency's own enum type.
    let listing = rt
        .call(MARKET, "list_item", vec![u(1)])
        .await
        .expect("list_item");
    assert_eq!(listing.value, u(1));
    // Its Err side is typed too: the inventory's own message.
    let e = reducer_error(rt.call(MARKET, "list_item", vec![u(9)]).await);
    assert!(e.message.contains("no item 9"), "{}", e.message);

    // A typed async call with a dependency's enum argument, seen through
    // a typed read call from a read reducer.
    rt.call(MARKET, "relocate", vec![u(1), s("north")])
        .await
        .expect("relocate");
    place_becomes(&rt, "Bank { vault: \\\"north\\\" }").await;
    // A read reducer without an error type.
    let size = rt
        .read(MARKET, "inventory_size", vec![])
        .await
        .expect("size");
    assert_eq!(size.value, u(1));

    // Typed async calls with replies: one the inventory commits, one it
    // refuses with its own error, each replied once, in order.
    for (id, vault) in [(1, "south"), (9, "east")] {
        rt.call(MARKET, "relocate_replied", vec![u(id), s(vault)])
            .await
            .expect("relocate_replied");
    }
    let want = Value::Vec(vec![s("moved"), s("refused: no item 9")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let moves = rt.read(MARKET, "moves", vec![]).await.expect("moves");
        if moves.value == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replies never arrived: {:?}",
            moves.value
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    place_becomes(&rt, "Bank { vault: \\\"south\\\" }").await;
    rt.shutdown().await.expect("shutdown");
}

#[test]
fn the_committed_bindings_are_what_generate_writes() {
    let committed = workspace_root().join("modules/testing/t_bind_market/src/inventory.rs");
    let out = interstice([
        "generate".as_ref(),
        "rust".as_ref(),
        wasm_path(INVENTORY).as_os_str(),
    ]);
    let generated = expect_ok(&out, "generate rust");
    let want = std::fs::read_to_string(&committed).expect("committed bindings");
    assert_eq!(
        generated.trim_end(),
        want.trim_end(),
        "{} is stale: regenerate it with `interstice generate rust {} -o {}`",
        committed.display(),
        wasm_path(INVENTORY).display(),
        committed.display()
    );
    // The stale module's copy is the same file.
    let stale = workspace_root().join("modules/testing/t_bind_stale/src/inventory.rs");
    assert_eq!(std::fs::read_to_string(stale).expect("stale copy"), want);
    // The example pair's bindings (shop → warehouse) too.
    let committed = workspace_root().join("modules/examples/shop/src/warehouse.rs");
    let out = interstice([
        "generate".as_ref(),
        "rust".as_ref(),
        wasm_path("warehouse").as_os_str(),
    ]);
    assert_eq!(
        expect_ok(&out, "generate rust warehouse").trim_end(),
        std::fs::read_to_string(&committed)
            .expect("committed bindings")
            .trim_end(),
        "{} is stale: regenerate it with `interstice generate rust {} -o {}`",
        committed.display(),
        wasm_path("warehouse").display(),
        committed.display()
    );
}

#[test]
fn the_recorded_binding_is_the_dependencys_own_signatures() {
    let market = schema_of(MARKET);
    let inventory = schema_of(INVENTORY);
    assert_eq!(market.dependencies, [INVENTORY]);
    assert_eq!(market.bindings, [Binding::of(&inventory)]);
    // The dependency's types are named once in the user's schema.
    assert!(market.types.iter().any(|t| t.display_name() == "Rarity"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compatible_newer_dependency_loads_and_serves() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm(INVENTORY)).await.expect("inventory");
    rt.load_module(wasm(MARKET)).await.expect("market");
    // 0.2.0: `Location`, a parameter type only, gained `Lost` at the end.
    let v2 = rt
        .load_module(wasm("t_bind_inventory_v2"))
        .await
        .expect("a compatible upgrade of the dependency");
    assert_eq!(v2.version, "0.2.0");
    rt.call(MARKET, "stock", vec![u(1), s("shield"), Value::Bool(false)])
        .await
        .expect("stock");
    eventually(&rt, MARKET, "seen", vec![u(1)]).await;
    rt.call(MARKET, "relocate", vec![u(1), s("south")])
        .await
        .expect("relocate");
    place_becomes(&rt, "south").await;
    rt.shutdown().await.expect("shutdown");

    // And the market loads beside 0.2.0 from scratch.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_bind_inventory_v2"))
        .await
        .expect("v2");
    rt.load_module(wasm(MARKET))
        .await
        .expect("market beside v2");
    rt.shutdown().await.expect("shutdown");
}

/// The refusal of `t_bind_inventory_bad` (0.3.0) under bindings of 0.1.0.
fn assert_refused(e: RuntimeError) {
    assert_eq!(e.kind(), "IncompatibleDependency", "{e}");
    let text = e.to_string();
    for want in [
        "module `t_bind_market` was built with bindings for `t_bind_inventory` 0.1.0 (schema ",
        "but `t_bind_inventory` 0.3.0 (schema ",
        "reducer `get_item` result: `Rarity`: variants 2 → 3 (`Epic` added at the end), which \
         the bindings cannot read",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_dependency_is_refused_in_either_order() {
    // The dependency is upgraded under the module with bindings.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm(INVENTORY)).await.expect("inventory");
    rt.load_module(wasm(MARKET)).await.expect("market");
    assert_refused(
        rt.load_module(wasm("t_bind_inventory_bad"))
            .await
            .expect_err("refused"),
    );
    // Nothing changed: 0.1.0 still serves the market.
    let info = rt.modules().into_iter().find(|m| m.name == INVENTORY);
    assert_eq!(info.expect("loaded").version, "0.1.0");
    rt.call(MARKET, "stock", vec![u(1), s("axe"), Value::Bool(false)])
        .await
        .expect("stock");
    eventually(&rt, MARKET, "seen", vec![u(1)]).await;
    rt.shutdown().await.expect("shutdown");

    // The module with bindings loads after the incompatible dependency.
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_bind_inventory_bad"))
        .await
        .expect("bad");
    assert_refused(rt.load_module(wasm(MARKET)).await.expect_err("refused"));
    rt.shutdown().await.expect("shutdown");

    // The CLI says the same, and exits non-zero.
    let dir = tempdir();
    let d = dir.path().to_str().expect("utf-8");
    let bad = wasm_path("t_bind_inventory_bad");
    expect_ok(
        &interstice(["load", "-d", d, bad.to_str().expect("utf-8")]),
        "load bad",
    );
    let out = interstice(["load", "-d", d, wasm_path(MARKET).to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0.1.0") && err.contains("0.3.0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_read_call_result_names_both_types_and_the_callers_line() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_bind_inventory_bad"))
        .await
        .expect("bad");
    // No binding recorded, so no load check: the stale bindings run.
    rt.load_module(wasm("t_bind_stale")).await.expect("stale");
    let epic = Value::Enum(2, vec![]);
    rt.call(
        INVENTORY,
        "add_item",
        vec![u(1), Value::Struct(vec![s("relic"), epic])],
    )
    .await
    .expect("add an Epic item");
    let e = reducer_error(rt.read("t_bind_stale", "look", vec![u(1)]).await);
    let m = &e.message;
    assert!(
        m.contains("read_call t_bind_inventory.get_item: asked for Result<ItemView, String>"),
        "{m}"
    );
    // The caller's line in the caller's file, not the bindings' or the SDK's.
    let line = include_str!("../../modules/testing/t_bind_stale/src/lib.rs")
        .lines()
        .position(|l| l.contains("inventory::get_item(ctx, id)"))
        .expect("the call")
        + 1;
    assert!(m.contains(&format!("src/lib.rs:{line}:")), "{m}");
    rt.shutdown().await.expect("shutdown");
}

#[test]
fn init_scaffolds_a_crate_that_builds_loads_and_answers() {
    let tmp = tempdir();
    let crate_dir = tmp.path().join("notes");
    let crate_str = crate_dir.to_str().expect("utf-8");
    let out = interstice([
        "init",
        crate_str,
        "--dep",
        wasm_path(INVENTORY).to_str().expect("utf-8"),
    ]);
    assert_eq!(expect_ok(&out, "init").trim(), crate_str);
    let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).expect("lib.rs");
    assert!(lib.contains("dependencies: [t_bind_inventory]"), "{lib}");
    let bindings = std::fs::read_to_string(crate_dir.join("src/t_bind_inventory.rs"))
        .expect("the dependency's bindings");
    assert!(bindings.contains("pub fn get_item("), "{bindings}");
    // A second init into the same directory is refused.
    let again = interstice(["init", crate_str]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");

    // Build (into the dev tests' shared guest target), load, call.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dev-guests");
    let built = std::process::Command::new(crate::support::bin())
        .args(["build", crate_str])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run build");
    let wasm_file = expect_ok(&built, "build");
    let wasm_file = wasm_file.lines().last().expect("the .wasm path").trim();
    let data = tmp.path().join("data");
    let d = data.to_str().expect("utf-8");
    expect_ok(
        &interstice([
            "load",
            "-d",
            d,
            wasm_path(INVENTORY).to_str().expect("utf-8"),
        ]),
        "load inventory",
    );
    expect_ok(&interstice(["load", "-d", d, wasm_file]), "load notes");
    let id = cli_call(&data, "notes", "add_note", &["\"hello\""]);
    assert_eq!(stdout_of(&id).trim(), "1");
    let count = cli_call(&data, "notes", "note_count", &[]);
    assert_eq!(stdout_of(&count).trim(), "1");
}
