//! `interstice demo`: the tour. Builds the example modules, runs them in a
//! fresh data directory, shows calls, a cross-module async call, a
//! subscription firing, a failed transfer rolling back, the example pair
//! `shop` → `warehouse` working through generated bindings (a typed trigger,
//! a typed read call, typed async calls with replies), then restarts and
//! shows that replay restores the exact state (same hash, no wasm run).
//! `demo --app` runs the economy application instead (`demo/app.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use interstice_actors::{Runtime, RuntimeError, Value};

use crate::error::{read_file, CliError};

mod app;

use crate::guest_build::{build_module, modules_dir};
use crate::output::{hex, say};
pub use app::{run as run_app, AppOpts};

/// The example modules, in load order (caller subscribes to hello, shop
/// to warehouse).
const MODULES: [&str; 5] = [
    "hello",
    "caller",
    "bank",
    "examples/warehouse",
    "examples/shop",
];

/// Runs the demo.
pub async fn run(data_dir: &Path, modules: Option<&Path>) -> Result<(), CliError> {
    let src = modules.map(Path::to_path_buf).unwrap_or_else(modules_dir);
    say("== building the example modules (wasm32-unknown-unknown, release)");
    let mut wasm: Vec<(String, PathBuf)> = Vec::new();
    for m in MODULES {
        let path = build_module(&src.join(m))?;
        let name = m.trim_start_matches("examples/");
        say(format!("   {name:<9} {}", path.display()));
        wasm.push((name.to_owned(), path));
    }
    fresh_dir(data_dir)?;
    say(format!("== opening a runtime in {}", data_dir.display()));
    let rt = Runtime::builder().data_dir(data_dir).open().await?;
    for (name, path) in &wasm {
        let info = rt.load_module(read_file(path)?).await?;
        say(format!(
            "   loaded {name} {} ({} tables, {} reducers)",
            info.version,
            info.schema.tables.len(),
            info.schema.reducers.len()
        ));
    }
    let before = tour(&rt).await;
    let before = match before {
        Ok(h) => h,
        Err(e) => {
            let _ = rt.shutdown().await;
            return Err(e);
        }
    };
    let m = rt.metrics();
    say(format!(
        "   {} commits, {} rollbacks, {} fsyncs (group commit), durable up to ts {}",
        m.commits,
        m.rollbacks,
        m.fsyncs,
        rt.durable_ts()
    ));
    rt.shutdown().await?;

    say("== restart: reopening the same data directory (replay)");
    let t = Instant::now();
    let rt = Runtime::builder().data_dir(data_dir).open().await?;
    let elapsed = t.elapsed();
    let m = rt.metrics();
    say(format!(
        "   replayed {} log entries ({} mutations) in {:.1} ms; wasm instances created by replay: {}",
        m.replayed_entries,
        m.replayed_mutations,
        elapsed.as_secs_f64() * 1000.0,
        m.instantiations
    ));
    let after = rt.state_hash().await?;
    say(format!("   state hash before restart: {}", hex(&before)));
    say(format!("   state hash after replay:   {}", hex(&after)));
    let res = if before != after {
        Err(CliError::Demo(
            "state hash changed across the restart".into(),
        ))
    } else if m.instantiations != 0 {
        Err(CliError::Demo("replay instantiated wasm".into()))
    } else {
        say("   they match: replay restored the exact state without running any wasm");
        let total = rt.read("bank", "total", vec![]).await?;
        say(format!(
            "   bank.total() after restart = {}",
            total.to_json()
        ));
        Ok(())
    };
    rt.shutdown().await?;
    res?;
    say("== done");
    Ok(())
}

/// Wipes the demo directory, refusing to touch anything that is not one.
fn fresh_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        let looks_ours = dir.join("log").is_dir()
            || dir
                .read_dir()
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
        if !looks_ours {
            return Err(CliError::Usage(format!(
                "{} exists and is not an Interstice data directory; choose another --data-dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

async fn show(
    rt: &Runtime,
    module: &str,
    reducer: &str,
    args: Vec<Value>,
) -> Result<serde_json::Value, CliError> {
    let shown: Vec<String> = args
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("{s:?}"),
            Value::U64(n) => n.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    let schema_mode = rt
        .modules()
        .into_iter()
        .find(|m| m.name == module)
        .and_then(|m| m.schema.reducer(reducer).map(|(_, r)| r.mode));
    let out = match schema_mode {
        Some(interstice_abi::ReducerMode::Read) => rt.read(module, reducer, args).await?,
        _ => rt.call(module, reducer, args).await?,
    };
    let ts = out
        .ts
        .map(|t| format!("  [committed at ts {t}]"))
        .unwrap_or_default();
    say(format!(
        "   {module}.{reducer}({}) -> {}{ts}",
        shown.join(", "),
        out.to_json()
    ));
    Ok(out.to_json())
}

/// The part of the demo before the restart; returns the state hash.
async fn tour(rt: &Runtime) -> Result<[u8; 32], CliError> {
    say("== subscribing to hello.greetings");
    let mut greetings = rt.subscribe("hello", "greetings")?;
    let printer = tokio::spawn(async move {
        while let Some(change) = greetings.next().await {
            say(format!("   [subscription] {}", change.to_json()));
        }
    });

    say("== calling reducers");
    show(rt, "hello", "hello", vec!["Ada".into()]).await?;
    show(rt, "hello", "greeting_count", vec![]).await?;

    say("== a cross-module async call: caller.greet -> hello.hello, and caller's trigger on hello.greetings.insert");
    let seen_before = rt.read("caller", "seen_count", vec![]).await?.value;
    show(rt, "caller", "greet", vec!["Grace".into()]).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = rt.read("caller", "seen_count", vec![]).await?.value;
        if seen != seen_before {
            break;
        }
        if Instant::now() > deadline {
            return Err(CliError::Demo("caller's subscription never fired".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    show(rt, "caller", "seen_count", vec![]).await?;
    show(rt, "caller", "hello_count", vec![]).await?;
    show(rt, "hello", "last_greeting", vec![]).await?;

    say("== bank: transfers, and one that fails and rolls back");
    let alice = show(
        rt,
        "bank",
        "open_account",
        vec!["alice".into(), 100u64.into()],
    )
    .await?;
    let bob = show(rt, "bank", "open_account", vec!["bob".into(), 50u64.into()]).await?;
    let id = |j: &serde_json::Value| Value::U64(j.as_u64().unwrap_or(0));
    show(
        rt,
        "bank",
        "transfer",
        vec![id(&alice), id(&bob), 30u64.into()],
    )
    .await?;
    let total_before = show(rt, "bank", "total", vec![]).await?;
    match rt
        .call(
            "bank",
            "transfer",
            vec![id(&bob), id(&alice), 1000u64.into()],
        )
        .await
    {
        Err(e @ RuntimeError::Reducer { .. }) => {
            say(format!("   bank.transfer(bob -> alice, 1000) failed: {e}"))
        }
        Ok(_) => return Err(CliError::Demo("an overdraft transfer succeeded".into())),
        Err(e) => return Err(e.into()),
    }
    show(rt, "bank", "balance", vec![id(&alice)]).await?;
    show(rt, "bank", "balance", vec![id(&bob)]).await?;
    let total_after = show(rt, "bank", "total", vec![]).await?;
    if total_before != total_after {
        return Err(CliError::Demo(
            "the failed transfer changed balances".into(),
        ));
    }
    say("   balances unchanged: the failed transfer's debit was rolled back");

    pair(rt).await?;

    tokio::time::sleep(Duration::from_millis(50)).await;
    printer.abort();
    Ok(rt.state_hash().await?)
}

/// Calls `module.reducer` with JSON arguments and prints the answer.
async fn show_json(
    rt: &Runtime,
    module: &str,
    reducer: &str,
    args: &[serde_json::Value],
) -> Result<serde_json::Value, CliError> {
    let out = rt.call_json(module, reducer, args).await?;
    let ts = out
        .ts
        .map(|t| format!("  [committed at ts {t}]"))
        .unwrap_or_default();
    let shown: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    say(format!(
        "   {module}.{reducer}({}) -> {}{ts}",
        shown.join(", "),
        out.to_json()
    ));
    Ok(out.to_json())
}

/// The example pair: `shop` reaches `warehouse` through generated bindings.
async fn pair(rt: &Runtime) -> Result<(), CliError> {
    use serde_json::json;
    say("== the example pair shop -> warehouse, typed through generated bindings");
    let hammer = show_json(
        rt,
        "warehouse",
        "add_item",
        &[
            json!({"name": "hammer", "category": "Tool", "cents": 1500}),
            json!(3),
        ],
    )
    .await?;
    let until = |what: &'static str, want: serde_json::Value, reducer: &'static str| {
        let want = want.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let got = rt.call_json("shop", reducer, &[]).await?.to_json();
                if got == want {
                    return Ok::<_, CliError>(());
                }
                if Instant::now() > deadline {
                    return Err(CliError::Demo(format!("{what}: shop.{reducer}() is {got}")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    until(
        "shop's typed trigger on warehouse.items never listed the hammer",
        json!(["hammer"]),
        "catalog",
    )
    .await?;
    say("   shop's typed trigger on warehouse.items.insert listed it:");
    show_json(rt, "shop", "catalog", &[]).await?;
    // Two orders: the warehouse reserves the first and refuses the second;
    // each reply settles its order, in order.
    show_json(rt, "shop", "order", &[hammer.clone(), json!(2)]).await?;
    show_json(rt, "shop", "order", &[hammer, json!(5)]).await?;
    until(
        "the warehouse's replies never settled the orders",
        json!([
            [1, 3000, "reserved (1 left)"],
            [2, 7500, "refused: only 1 of hammer in stock"]
        ]),
        "orders",
    )
    .await?;
    say("   each order was priced by a typed read call and settled by the reply to a typed async call:");
    show_json(rt, "shop", "orders", &[]).await?;
    Ok(())
}
