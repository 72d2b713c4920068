//! `interstice app-load`: the load generator of the economy application
//! (`modules/examples/economy`). Many simulated players join the world and
//! then, until the time is up, gather, craft, list items on the market and
//! buy the cheapest offers, each through `Runtime::call_json` like any
//! client. Every action the runtime acknowledges (a write call returns only
//! once its commit is durable) is appended to an acknowledgement file, one
//! JSON line each, written before the next action, so that after a crash
//! [`verify`] can check that each of them survived. `interstice demo --app`
//! runs it in process and as a child process it SIGKILLs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interstice_actors::{Limits, Runtime};
use serde_json::{json, Value as Json};

use crate::error::{read_file, CliError};
use crate::guest_build::{build_module, modules_dir};
use crate::output::say;

/// The economy's module crates (under `modules/`), in load order; the last
/// is version 2 of the leaderboard, the upgrade.
pub const CRATES: [&str; 5] = [
    "examples/economy/eco_world",
    "examples/economy/eco_inventory",
    "examples/economy/eco_market",
    "examples/economy/eco_leaderboard",
    "examples/economy/eco_leaderboard_v2",
];

/// The module names of the four crates loaded first.
pub const MODULES: [&str; 4] = [
    "eco_world",
    "eco_inventory",
    "eco_market",
    "eco_leaderboard",
];

/// The gold each player starts with (`eco_inventory::START_GOLD`).
pub const START_GOLD: u64 = 100;

const KINDS: [&str; 5] = ["Wood", "Ore", "Herb", "Tool", "Potion"];

/// Builds the economy's crates; their `.wasm` paths, in [`CRATES`] order.
pub fn build_all(modules: Option<&Path>) -> Result<Vec<PathBuf>, CliError> {
    let src = modules.map(Path::to_path_buf).unwrap_or_else(modules_dir);
    CRATES.iter().map(|c| build_module(&src.join(c))).collect()
}

/// Loads the version-1 modules that `rt` does not have yet.
pub async fn install(rt: &Runtime, wasm: &[PathBuf]) -> Result<(), CliError> {
    let loaded: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    for (name, path) in MODULES.iter().zip(wasm) {
        if !loaded.iter().any(|l| l == name) {
            rt.load_module(read_file(path)?).await?;
        }
    }
    Ok(())
}

/// What one run of the generator is asked for.
#[derive(Debug, Clone)]
pub struct LoadOpts {
    /// Simulated players (each joins as `p<phase>-<i>`).
    pub players: u32,
    /// How long they play.
    pub duration: Duration,
    /// Tells this run's names and nonces from other runs' on one data
    /// directory (1 to 255).
    pub phase: u8,
}

/// An acknowledged action, as written to the acknowledgement file.
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    /// `eco_world.join(name)` returned player `id`.
    Join {
        /// The name joined under.
        name: String,
        /// The player's id.
        id: u64,
    },
    /// `eco_inventory.gather` or `craft` committed with `nonce`.
    Receipt {
        /// The player who acted.
        player: u64,
        /// The action's nonce.
        nonce: u64,
    },
    /// `eco_market.list` returned `listing`.
    List {
        /// The action's nonce.
        nonce: u64,
        /// The new listing.
        listing: u64,
    },
    /// `eco_market.buy` accepted the order `nonce`.
    Buy {
        /// The order's nonce.
        nonce: u64,
        /// The listing bought.
        listing: u64,
    },
}

impl Ack {
    fn to_json(&self) -> Json {
        match self {
            Ack::Join { name, id } => json!({"a": "join", "name": name, "id": id}),
            Ack::Receipt { player, nonce } => {
                json!({"a": "receipt", "player": player, "nonce": nonce})
            }
            Ack::List { nonce, listing } => {
                json!({"a": "list", "nonce": nonce, "listing": listing})
            }
            Ack::Buy { nonce, listing } => json!({"a": "buy", "nonce": nonce, "listing": listing}),
        }
    }

    fn from_json(j: &Json) -> Option<Ack> {
        let n = |k: &str| j.get(k).and_then(Json::as_u64);
        Some(match j.get("a")?.as_str()? {
            "join" => Ack::Join {
                name: j.get("name")?.as_str()?.to_owned(),
                id: n("id")?,
            },
            "receipt" => Ack::Receipt {
                player: n("player")?,
                nonce: n("nonce")?,
            },
            "list" => Ack::List {
                nonce: n("nonce")?,
                listing: n("listing")?,
            },
            "buy" => Ack::Buy {
                nonce: n("nonce")?,
                listing: n("listing")?,
            },
            _ => return None,
        })
    }
}

/// Where acknowledged actions go: a file (appended, one line per action,
/// each written with one `write` before the next action starts) and a
/// count.
pub struct AckLog {
    file: Option<Mutex<std::fs::File>>,
    count: AtomicU64,
}

impl AckLog {
    /// Appends to `path` (created if absent), or only counts.
    pub fn open(path: Option<&Path>) -> Result<AckLog, CliError> {
        let file = match path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| CliError::Usage(format!("opening {}: {e}", p.display())))?,
            )),
            None => None,
        };
        Ok(AckLog {
            file,
            count: AtomicU64::new(0),
        })
    }

    fn record(&self, ack: Ack) -> Result<(), CliError> {
        if let Some(f) = &self.file {
            let line = format!("{}\n", ack.to_json());
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(line.as_bytes())?;
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many actions were recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Reads an acknowledgement file. A last line cut short (the writer was
/// killed while writing it) is not an acknowledgement and is skipped;
/// anything else that does not parse is an error.
pub fn read_acks(path: &Path) -> Result<Vec<Ack>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::Usage(format!("reading {}: {e}", path.display()))),
    };
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .ok()
                .as_ref()
                .and_then(Ack::from_json)
                .ok_or_else(|| {
                    CliError::Demo(format!(
                        "{}:{}: not an acknowledgement: {line}",
                        path.display(),
                        i + 1
                    ))
                })
        })
        .collect()
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Acknowledged actions, joins included.
    pub acked: u64,
    /// Actions the economy refused (missing ingredients, a listing sold
    /// meanwhile, …): not errors.
    pub refused: u64,
}

/// A small deterministic generator (xorshift64*), one per player.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Plays `opts.players` players until `opts.duration` is over.
pub async fn play(
    rt: &Runtime,
    opts: &LoadOpts,
    acks: Arc<AckLog>,
) -> Result<LoadReport, CliError> {
    let deadline = Instant::now() + opts.duration;
    let mut tasks = Vec::new();
    for i in 0..opts.players {
        let rt = rt.clone();
        let acks = acks.clone();
        let phase = opts.phase;
        tasks.push(tokio::spawn(async move {
            player(&rt, phase, i, deadline, &acks).await
        }));
    }
    let mut report = LoadReport::default();
    for t in tasks {
        let r = t
            .await
            .map_err(|e| CliError::Demo(format!("a simulated player stopped: {e}")))??;
        report.acked += r.acked;
        report.refused += r.refused;
    }
    Ok(report)
}

/// Whether `e` is the economy saying no (a reducer's `Err`) rather than a
/// failure of the runtime.
fn refused(e: &interstice_actors::RuntimeError) -> bool {
    matches!(e, interstice_actors::RuntimeError::Reducer { .. })
}

async fn player(
    rt: &Runtime,
    phase: u8,
    i: u32,
    deadline: Instant,
    acks: &AckLog,
) -> Result<LoadReport, CliError> {
    let mut report = LoadReport::default();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (u64::from(phase) << 40) ^ u64::from(i + 1));
    let name = format!("p{phase}-{i}");
    let id = rt
        .call_json("eco_world", "join", &[json!(name)])
        .await?
        .to_json()
        .as_u64()
        .ok_or_else(|| CliError::Demo("join returned no id".into()))?;
    acks.record(Ack::Join { name, id })?;
    report.acked += 1;
    let mut seq: u64 = 0;
    // The player's last order, until its settlement's reply came: the
    // gold it will take is not spent yet, so the player waits for it
    // before buying again (other players can only add to its gold).
    let mut pending = None;
    while Instant::now() < deadline {
        seq += 1;
        let nonce = (u64::from(phase) << 56) | (u64::from(i) << 32) | seq;
        let roll = dice.below(100);
        let outcome = if roll < 45 {
            rt.call_json("eco_inventory", "gather", &[json!(id), json!(nonce)])
                .await
                .map(|_| Some(Ack::Receipt { player: id, nonce }))
        } else if roll < 60 {
            let kind = if dice.below(2) == 0 { "Tool" } else { "Potion" };
            rt.call_json(
                "eco_inventory",
                "craft",
                &[json!(id), json!(kind), json!(nonce)],
            )
            .await
            .map(|_| Some(Ack::Receipt { player: id, nonce }))
        } else if roll < 80 {
            list(rt, id, nonce, &mut dice).await
        } else {
            buy(rt, id, nonce, &mut dice, &mut pending).await
        };
        match outcome {
            Ok(Some(ack)) => {
                acks.record(ack)?;
                report.acked += 1;
            }
            Ok(None) => {}
            Err(e) if refused(&e) => report.refused += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

/// Lists up to 3 of something the player holds, at 5 to 60 gold.
async fn list(
    rt: &Runtime,
    id: u64,
    nonce: u64,
    dice: &mut Dice,
) -> Result<Option<Ack>, interstice_actors::RuntimeError> {
    let held = rt
        .call_json("eco_inventory", "holdings", &[json!(id)])
        .await?
        .to_json();
    let held = held.as_array().cloned().unwrap_or_default();
    if held.is_empty() {
        return Ok(None);
    }
    let pick = &held[dice.below(held.len() as u64) as usize];
    let have = pick[1].as_u64().unwrap_or(0);
    let qty = 1 + dice.below(have.min(3));
    let price = 5 + dice.below(56);
    let out = rt
        .call_json(
            "eco_market",
            "list",
            &[
                json!(id),
                pick[0].clone(),
                json!(qty),
                json!(price),
                json!(nonce),
            ],
        )
        .await?;
    Ok(out
        .to_json()
        .as_u64()
        .map(|listing| Ack::List { nonce, listing }))
}

/// Buys one of the cheapest offers of a random kind that the player can
/// afford, once its previous order is settled.
async fn buy(
    rt: &Runtime,
    id: u64,
    nonce: u64,
    dice: &mut Dice,
    pending: &mut Option<u64>,
) -> Result<Option<Ack>, interstice_actors::RuntimeError> {
    if let Some(last) = *pending {
        let order = rt
            .call_json("eco_market", "order", &[json!(last)])
            .await?
            .to_json();
        if order[2] == json!("pending") {
            return Ok(None);
        }
        *pending = None;
    }
    let gold = rt
        .call_json("eco_inventory", "gold_of", &[json!(id)])
        .await
        .map(|o| o.to_json().as_u64().unwrap_or(0))
        .unwrap_or(0);
    let kind = KINDS[dice.below(KINDS.len() as u64) as usize];
    let offers = rt
        .call_json(
            "eco_market",
            "offers",
            &[json!(kind), json!(gold), json!(4)],
        )
        .await?
        .to_json();
    let Some(offer) = offers.as_array().and_then(|o| {
        o.get(dice.below(o.len() as u64) as usize)
            .and_then(|x| x[0].as_u64())
    }) else {
        return Ok(None);
    };
    rt.call_json(
        "eco_market",
        "buy",
        &[json!(id), json!(offer), json!(nonce)],
    )
    .await?;
    *pending = Some(nonce);
    Ok(Some(Ack::Buy {
        nonce,
        listing: offer,
    }))
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Survival {
    /// Acknowledged actions checked, all present.
    pub checked: usize,
    /// Players, each with a wallet.
    pub players: u64,
    /// Gold in all wallets (`players × START_GOLD`).
    pub gold: u64,
    /// Trades and the gold they moved.
    pub trades: u64,
    /// Gold traded.
    pub traded: u64,
    /// The leaderboard's total volume (twice `traded`).
    pub volume: u64,
}

/// Checks that every acknowledged action in `acks` is in the state, waits
/// (up to `settle`) for the replies and triggers still owed to be
/// delivered, then checks the economy's invariants: every player has a
/// wallet and no gold was made or lost; every item is held or in escrow
/// exactly as the receipts account for; the leaderboard counted every
/// trade exactly once.
pub async fn verify(rt: &Runtime, acks: &[Ack], settle: Duration) -> Result<Survival, CliError> {
    let lost = |what: String| {
        Err(CliError::Demo(format!(
            "an acknowledged action was lost: {what}"
        )))
    };
    for ack in acks {
        match ack {
            Ack::Join { name, id } => {
                let got = rt.call_json("eco_world", "player", &[json!(id)]).await;
                match got.map(|o| o.to_json()) {
                    Ok(j) if j[0] == json!(name) => {}
                    other => return lost(format!("player {id} ({name}): {other:?}")),
                }
            }
            Ack::Receipt { player, nonce } => {
                let j = rt
                    .call_json("eco_inventory", "receipt", &[json!(nonce)])
                    .await?
                    .to_json();
                if j[0] != json!(player) {
                    return lost(format!("receipt {nonce} of player {player}: {j}"));
                }
            }
            Ack::List { nonce, listing } => {
                let j = rt
                    .call_json("eco_market", "listing", &[json!(listing)])
                    .await?
                    .to_json();
                if j.is_null() {
                    return lost(format!("listing {listing} (nonce {nonce})"));
                }
            }
            Ack::Buy { nonce, listing } => {
                let j = rt
                    .call_json("eco_market", "order", &[json!(nonce)])
                    .await?
                    .to_json();
                if j[1] != json!(listing) {
                    return lost(format!("order {nonce} for listing {listing}: {j}"));
                }
            }
        }
    }
    let deadline = Instant::now() + settle;
    loop {
        let s = survival(rt, acks.len()).await?;
        let busy = rt.call_json("eco_market", "stats", &[]).await?.to_json()[2]
            .as_u64()
            .unwrap_or(0);
        let (wallets, _) = wallets(rt).await?;
        let settled = busy == 0 && s.volume == 2 * s.traded && wallets == s.players;
        if settled {
            return check_invariants(rt, s).await;
        }
        if Instant::now() > deadline {
            return Err(CliError::Demo(format!(
                "the economy did not settle within {settle:?}: {busy} listings pending or \
                 settling, {wallets} wallets for {} players, leaderboard volume {} for {} gold \
                 traded",
                s.players, s.volume, s.traded
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wallets(rt: &Runtime) -> Result<(u64, u64), CliError> {
    let j = rt
        .call_json("eco_inventory", "total_gold", &[])
        .await?
        .to_json();
    Ok((j[0].as_u64().unwrap_or(0), j[1].as_u64().unwrap_or(0)))
}

async fn survival(rt: &Runtime, checked: usize) -> Result<Survival, CliError> {
    let players = rt
        .call_json("eco_world", "player_count", &[])
        .await?
        .to_json()
        .as_u64()
        .unwrap_or(0);
    let (_, gold) = wallets(rt).await?;
    let stats = rt.call_json("eco_market", "stats", &[]).await?.to_json();
    let volume = rt
        .call_json("eco_leaderboard", "total_volume", &[])
        .await?
        .to_json()
        .as_u64()
        .unwrap_or(0);
    Ok(Survival {
        checked,
        players,
        gold,
        trades: stats[0].as_u64().unwrap_or(0),
        traded: stats[1].as_u64().unwrap_or(0),
        volume,
    })
}

async fn check_invariants(rt: &Runtime, s: Survival) -> Result<Survival, CliError> {
    if s.gold != s.players * START_GOLD {
        return Err(CliError::Demo(format!(
            "gold was made or lost: {} in the wallets of {} players",
            s.gold, s.players
        )));
    }
    let items = rt
        .call_json("eco_inventory", "item_totals", &[])
        .await?
        .to_json();
    let (held, escrowed) = (
        items[0].as_i64().unwrap_or(-1),
        items[1].as_i64().unwrap_or(-1),
    );
    if held + escrowed != items[2].as_i64().unwrap_or(-2) {
        return Err(CliError::Demo(format!(
            "items were made or lost: {held} held and {escrowed} in escrow, receipts account for {}",
            items[2]
        )));
    }
    Ok(s)
}

/// `interstice app-load`: installs the economy in `data_dir` if it is not
/// there, and plays.
pub async fn run(
    data_dir: &Path,
    opts: &LoadOpts,
    acks: Option<&Path>,
    modules: Option<&Path>,
) -> Result<(), CliError> {
    if opts.phase == 0 {
        return Err(CliError::Usage("--phase is 1 to 255".into()));
    }
    let rt = Runtime::builder().data_dir(data_dir).open().await?;
    let loaded: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    if !MODULES.iter().all(|m| loaded.iter().any(|l| l == m)) {
        let wasm = build_all(modules)?;
        install(&rt, &wasm).await?;
    }
    let log = Arc::new(AckLog::open(acks)?);
    say(format!(
        "app-load: {} players playing for {:.1} s in {}",
        opts.players,
        opts.duration.as_secs_f64(),
        data_dir.display()
    ));
    let res = play(&rt, opts, log).await;
    rt.shutdown().await?;
    let r = res?;
    say(format!(
        "app-load: {} actions acknowledged, {} refused by the economy",
        r.acked, r.refused
    ));
    Ok(())
}

/// The limits of a runtime that audits the economy ([`verify`]): its
/// invariants sum every receipt, one per action ever acknowledged, which
/// outgrows the default fuel after some 600,000 actions (the soak of
/// `scripts/stress-soak.sh` found it at 620,000). An audit may take what
/// it needs; the players' calls keep the default limits.
pub fn audit_limits() -> Limits {
    Limits::default()
        .with_fuel(u64::MAX / 4)
        .with_tx_time(Duration::from_secs(600))
}

/// `interstice app-load --verify-only`: opens `data_dir` (replaying it,
/// running the deliveries still owed), checks every acknowledgement in
/// `acks` with [`verify`] and prints what it found.
pub async fn verify_only(data_dir: &Path, acks: &Path) -> Result<(), CliError> {
    crate::commands::require_data_dir(data_dir)?;
    let acked = read_acks(acks)?;
    let rt = Runtime::builder()
        .data_dir(data_dir)
        .limits(audit_limits())
        .open()
        .await?;
    let res = verify(&rt, &acked, Duration::from_secs(60)).await;
    rt.shutdown().await?;
    let s = res?;
    say(format!(
        "app-load: {} acknowledged actions all present; {} players, {} gold, {} trades \
         ({} gold traded, leaderboard volume {})",
        s.checked, s.players, s.gold, s.trades, s.traded, s.volume
    ));
    Ok(())
}
