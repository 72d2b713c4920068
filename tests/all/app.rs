//! Tests: the economy application (`modules/examples/economy`, `interstice
//! demo --app`). A trade settles through the inventory's escrow by an
//! async call and its reply, and the leaderboard's trigger counts it once;
//! a buyer short of gold is refused by the reply and nothing moves; the
//! leaderboard's upgrade to version 2 migrates its scores and keeps
//! counting; the committed bindings between the modules are what
//! `interstice generate rust` writes; the load generator's survival check
//! catches a lost action; and `demo --app` runs end to end (a SIGKILLed
//! child included) leaving a directory whose every acknowledged action a
//! fresh check finds.

use std::time::Duration;

use interstice_actors::Runtime;
use interstice_cli::commands::app_load::{self, Ack};
use serde_json::{json, Value as Json};

use crate::support::{
    eventually, expect_ok, interstice, open, open_with, replay_check_clean, tempdir, wasm,
    wasm_path, workspace_root,
};

const MODULES: [&str; 4] = [
    "eco_world",
    "eco_inventory",
    "eco_market",
    "eco_leaderboard",
];

async fn call(rt: &Runtime, module: &str, reducer: &str, args: &[Json]) -> Json {
    rt.call_json(module, reducer, args)
        .await
        .unwrap_or_else(|e| panic!("{module}.{reducer}{args:?}: {e}"))
        .to_json()
}

/// Polls `module.reducer(args)` until it returns `want`.
async fn becomes(rt: &Runtime, module: &str, reducer: &str, args: &[Json], want: Json) {
    let what = format!("{module}.{reducer}{args:?} == {want}");
    eventually(20, &what, || async {
        call(rt, module, reducer, args).await == want
    })
    .await;
}

/// Two players, `ann` (1) and `bob` (2), with wallets; ann has gathered
/// until she holds something. What she holds first, and how many.
async fn two_players(rt: &Runtime) -> (Json, u64) {
    assert_eq!(
        call(rt, "eco_world", "join", &[json!("ann")]).await,
        json!(1)
    );
    assert_eq!(
        call(rt, "eco_world", "join", &[json!("bob")]).await,
        json!(2)
    );
    // The inventory's typed trigger on world.players opens the wallets.
    becomes(rt, "eco_inventory", "total_gold", &[], json!([2, 200])).await;
    let found = call(rt, "eco_inventory", "gather", &[json!(1), json!(1)]).await;
    let (kind, qty) = (found[0].clone(), found[1].as_u64().expect("a quantity"));
    assert!((1..=3).contains(&qty), "{found}");
    // A retried gather (same nonce) is answered from its receipt.
    assert_eq!(
        call(rt, "eco_inventory", "gather", &[json!(1), json!(1)]).await,
        found
    );
    assert_eq!(
        call(rt, "eco_inventory", "holdings", &[json!(1)]).await,
        json!([[kind, qty]])
    );
    (kind, qty)
}

/// Lists one of `kind` of ann's at `price` and waits for the escrow's reply
/// to open it; the listing's id.
async fn list_one(rt: &Runtime, kind: &Json, price: u64, nonce: u64) -> u64 {
    let id = call(
        rt,
        "eco_market",
        "list",
        &[json!(1), kind.clone(), json!(1), json!(price), json!(nonce)],
    )
    .await
    .as_u64()
    .expect("a listing id");
    eventually(20, "the escrow's reply opens the listing", || async {
        call(rt, "eco_market", "listing", &[json!(id)]).await[4] == json!("open")
    })
    .await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trade_settles_through_escrow_and_the_leaderboard_counts_it_once() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &MODULES).await;
    let (kind, qty) = two_players(&rt).await;
    // More than she holds is refused at once (a typed read call of her
    // holdings), before anything is escrowed.
    let err = rt
        .call_json(
            "eco_market",
            "list",
            &[json!(1), kind.clone(), json!(qty + 1), json!(30), json!(9)],
        )
        .await
        .expect_err("listing more than held");
    assert!(err.to_string().contains(&format!("holds {qty}")), "{err}");
    let listing = list_one(&rt, &kind, 30, 10).await;
    // The item is in escrow, out of her holdings.
    let held = call(&rt, "eco_inventory", "item_totals", &[]).await;
    assert_eq!(held, json!([qty - 1, 1, qty]), "(held, escrowed, net)");
    let offers = call(
        &rt,
        "eco_market",
        "offers",
        &[kind.clone(), json!(100), json!(5)],
    )
    .await;
    assert_eq!(offers, json!([[listing, 1, 30]]));
    // Too dear for the range: not offered.
    let none = call(
        &rt,
        "eco_market",
        "offers",
        &[kind.clone(), json!(29), json!(5)],
    )
    .await;
    assert_eq!(none, json!([]));

    call(
        &rt,
        "eco_market",
        "buy",
        &[json!(2), json!(listing), json!(20)],
    )
    .await;
    becomes(
        &rt,
        "eco_market",
        "order",
        &[json!(20)],
        json!([2, listing, "bought"]),
    )
    .await;
    assert_eq!(
        call(&rt, "eco_inventory", "gold_of", &[json!(1)]).await,
        json!(130)
    );
    assert_eq!(
        call(&rt, "eco_inventory", "gold_of", &[json!(2)]).await,
        json!(70)
    );
    assert_eq!(
        call(&rt, "eco_inventory", "holdings", &[json!(2)]).await,
        json!([[kind, 1]])
    );
    assert_eq!(
        call(&rt, "eco_inventory", "item_totals", &[]).await,
        json!([qty, 0, qty])
    );
    // A retried buy is answered, not repeated.
    call(
        &rt,
        "eco_market",
        "buy",
        &[json!(2), json!(listing), json!(20)],
    )
    .await;
    assert_eq!(
        call(&rt, "eco_market", "stats", &[]).await,
        json!([1, 30, 0])
    );
    // The leaderboard's trigger on market.trades credits both sides.
    becomes(&rt, "eco_leaderboard", "total_volume", &[], json!(60)).await;
    assert_eq!(
        call(&rt, "eco_leaderboard", "score", &[json!(1)]).await,
        json!([30, 1])
    );
    assert_eq!(
        call(&rt, "eco_leaderboard", "score", &[json!(2)]).await,
        json!([30, 1])
    );
    // Once: after a restart (replay), still one trade each.
    rt.shutdown().await.expect("shutdown");
    let rt = open(dir.path()).await;
    assert_eq!(
        call(&rt, "eco_leaderboard", "total_volume", &[]).await,
        json!(60)
    );
    rt.shutdown().await.expect("shutdown");
    replay_check_clean(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buyer_short_of_gold_is_refused_by_the_reply_and_nothing_moves() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &MODULES).await;
    let (kind, qty) = two_players(&rt).await;
    let listing = list_one(&rt, &kind, 150, 10).await;
    // The market accepts the order; the inventory refuses to settle it and
    // the refusal comes back by the reply.
    call(
        &rt,
        "eco_market",
        "buy",
        &[json!(2), json!(listing), json!(20)],
    )
    .await;
    let reason = "player 2 has 100 gold, the price is 150";
    becomes(
        &rt,
        "eco_market",
        "order",
        &[json!(20)],
        json!([2, listing, format!("refused: {reason}")]),
    )
    .await;
    let l = call(&rt, "eco_market", "listing", &[json!(listing)]).await;
    assert_eq!(l[4], json!("open"), "the listing is offered again: {l}");
    assert_eq!(l[5], json!(format!("order 20 refused: {reason}")));
    assert_eq!(
        call(&rt, "eco_inventory", "gold_of", &[json!(1)]).await,
        json!(100)
    );
    assert_eq!(
        call(&rt, "eco_inventory", "gold_of", &[json!(2)]).await,
        json!(100)
    );
    assert_eq!(
        call(&rt, "eco_inventory", "item_totals", &[]).await,
        json!([qty - 1, 1, qty]),
        "the item stays in escrow"
    );
    assert_eq!(
        call(&rt, "eco_market", "stats", &[]).await,
        json!([0, 0, 0])
    );
    assert_eq!(
        call(&rt, "eco_leaderboard", "total_volume", &[]).await,
        json!(0)
    );
    // A seller cannot buy their own listing.
    let err = rt
        .call_json("eco_market", "buy", &[json!(1), json!(listing), json!(21)])
        .await
        .expect_err("buying one's own listing");
    assert!(err.to_string().contains("own listing"), "{err}");
    rt.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_leaderboard_migrates_to_v2_and_keeps_counting() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &MODULES).await;
    let (kind, qty) = two_players(&rt).await;
    assert!(qty >= 1);
    let first = list_one(&rt, &kind, 40, 10).await;
    call(
        &rt,
        "eco_market",
        "buy",
        &[json!(2), json!(first), json!(20)],
    )
    .await;
    becomes(&rt, "eco_leaderboard", "total_volume", &[], json!(80)).await;
    // Version 1 has no tiers.
    assert!(rt
        .read("eco_leaderboard", "tier_of", vec![1u64.into()])
        .await
        .is_err());

    let info = rt
        .load_module(wasm("eco_leaderboard_v2"))
        .await
        .expect("upgrading the leaderboard");
    assert_eq!(info.version, "2.0.0");
    // The migration rewrote each score with its tier, keeping the counts.
    assert_eq!(
        call(&rt, "eco_leaderboard", "score", &[json!(1)]).await,
        json!([40, 1])
    );
    assert_eq!(
        call(&rt, "eco_leaderboard", "tier_of", &[json!(1)]).await,
        json!("bronze")
    );
    assert_eq!(
        call(&rt, "eco_leaderboard", "in_tier", &[json!("bronze")]).await,
        json!(2)
    );
    // Version 2's trigger keeps counting: bob sells the item back.
    let back = call(
        &rt,
        "eco_market",
        "list",
        &[json!(2), kind.clone(), json!(1), json!(1000), json!(30)],
    )
    .await;
    eventually(20, "bob's listing opens", || async {
        call(&rt, "eco_market", "listing", std::slice::from_ref(&back)).await[4] == json!("open")
    })
    .await;
    // Ann has 140 gold: short of 1000, refused; the leaderboard is unchanged.
    call(
        &rt,
        "eco_market",
        "buy",
        &[json!(1), back.clone(), json!(40)],
    )
    .await;
    eventually(20, "ann's order is refused", || async {
        let o = call(&rt, "eco_market", "order", &[json!(40)]).await;
        o[2].as_str().is_some_and(|s| s.starts_with("refused"))
    })
    .await;
    assert_eq!(
        call(&rt, "eco_leaderboard", "total_volume", &[]).await,
        json!(80)
    );
    rt.shutdown().await.expect("shutdown");
    replay_check_clean(dir.path()).await;
}

/// The bindings the economy's modules use, with the module each is
/// generated from.
const BINDINGS: [(&str, &str); 3] = [
    ("eco_inventory/src/eco_world.rs", "eco_world"),
    ("eco_market/src/eco_inventory.rs", "eco_inventory"),
    ("eco_leaderboard/src/eco_market.rs", "eco_market"),
];

#[test]
fn the_committed_bindings_are_what_generate_writes() {
    let root = workspace_root().join("modules/examples/economy");
    for (file, module) in BINDINGS {
        let committed = root.join(file);
        let out = interstice([
            "generate".as_ref(),
            "rust".as_ref(),
            wasm_path(module).as_os_str(),
        ]);
        assert_eq!(
            expect_ok(&out, "generate rust").trim_end(),
            std::fs::read_to_string(&committed)
                .expect("committed bindings")
                .trim_end(),
            "{} is stale: regenerate it with `interstice generate rust {} -o {}`",
            committed.display(),
            wasm_path(module).display(),
            committed.display()
        );
    }
    // Version 2 of the leaderboard uses version 1's copy, not one of its own.
    let v2 = std::fs::read_to_string(root.join("eco_leaderboard_v2/src/lib.rs")).expect("v2");
    assert!(v2.contains("#[path = \"../../eco_leaderboard/src/eco_market.rs\"]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_survival_check_finds_a_lost_action() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &MODULES).await;
    two_players(&rt).await;
    let kept = [
        Ack::Join {
            name: "ann".into(),
            id: 1,
        },
        Ack::Receipt {
            player: 1,
            nonce: 1,
        },
    ];
    let s = app_load::verify(&rt, &kept, Duration::from_secs(20))
        .await
        .expect("the kept actions are there");
    assert_eq!((s.checked, s.players, s.gold), (2, 2, 200));
    for lost in [
        Ack::Receipt {
            player: 1,
            nonce: 77,
        },
        Ack::Join {
            name: "cyd".into(),
            id: 2,
        },
        Ack::List {
            nonce: 5,
            listing: 9,
        },
        Ack::Buy {
            nonce: 6,
            listing: 9,
        },
    ] {
        let err = app_load::verify(&rt, std::slice::from_ref(&lost), Duration::from_secs(1))
            .await
            .expect_err("a lost action");
        assert!(err.to_string().contains("was lost"), "{lost:?}: {err}");
    }
    rt.shutdown().await.expect("shutdown");
}

#[test]
fn an_acknowledgement_file_cut_mid_line_keeps_its_complete_lines() {
    let dir = tempdir();
    let path = dir.path().join("acks.jsonl");
    std::fs::write(
        &path,
        "{\"a\":\"join\",\"name\":\"ann\",\"id\":1}\n{\"a\":\"receipt\",\"player\":1,\"no",
    )
    .expect("write");
    let acks = app_load::read_acks(&path).expect("read");
    assert_eq!(
        acks,
        [Ack::Join {
            name: "ann".into(),
            id: 1
        }]
    );
    std::fs::write(&path, "{\"a\":\"sell\"}\n").expect("write");
    let err = app_load::read_acks(&path).expect_err("an unknown line");
    assert!(err.to_string().contains("not an acknowledgement"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_app_runs_end_to_end_and_every_acknowledged_action_survives() {
    let tmp = tempdir();
    let data = tmp.path().join("eco");
    // Build first, so that the demo's own builds are no-ops.
    crate::support::wasm_dir();
    let out = interstice([
        "demo".as_ref(),
        "--app".as_ref(),
        "--players".as_ref(),
        "4".as_ref(),
        "--seconds".as_ref(),
        "1.5".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    let text = expect_ok(&out, "demo --app");
    for want in [
        "upgrading eco_leaderboard 1.0.0 -> 2.0.0",
        "SIGKILLed pid",
        "acknowledged actions survived",
        "invariants hold",
        "re-executed exactly as logged",
        "--listen 127.0.0.1:7070",
        "== done",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    // A fresh check of the directory it left, independent of the demo's.
    let acks = app_load::read_acks(&tmp.path().join("eco.acks.jsonl")).expect("acks");
    let child = acks
        .iter()
        .filter(|a| matches!(a, Ack::Join { name, .. } if name.starts_with("p2-")))
        .count();
    assert_eq!(child, 4, "the child's players joined before the kill");
    assert!(acks.len() > 8, "{} acknowledgements", acks.len());
    let rt = open(&data).await;
    let s = app_load::verify(&rt, &acks, Duration::from_secs(20))
        .await
        .expect("every acknowledged action survived");
    assert_eq!(s.checked, acks.len());
    assert_eq!(s.players, 8);
    let tiers = call(&rt, "eco_leaderboard", "in_tier", &[json!("bronze")]).await;
    assert!(tiers.is_u64(), "version 2 is installed: {tiers}");
    rt.shutdown().await.expect("shutdown");
    assert!(tmp.path().join("eco.subs.html").is_file());
    assert!(tmp.path().join("eco.trace.html").is_file());
}
