//! Containment of guests (`docs/SECURITY.md`, "A hostile module"): what a
//! transaction may accumulate in the host is bounded (`Limits::tx_*`), the
//! fan-out of one external call is bounded (`Limits::fanout`) and stays cut
//! across a restart, other modules are served during a storm, and guest log
//! output is cut and bounded.

use std::time::Duration;

use interstice_abi::codec::field;
use interstice_abi::{ModuleSchema, Persistence, ReducerMode, ReducerSchema, TableSchema, Type};
use interstice_actors::{ErrorKind, Limits, Runtime};
use interstice_persist::{Cause, Outcome};

use crate::support::{
    commits, log_entries, open_account, raw_module_wat_for, reducer_error, stderr_of, tempdir, u,
    wasm,
};

use crate::support::open_unsynced as open;

/// The limits of the storm tests: a fan-out budget of `budget` deliveries
/// and a depth limit that does not get in its way.
fn storm_limits(budget: u64) -> Limits {
    Limits::default()
        .with_fanout(budget)
        .with_max_trigger_depth(1_000_000)
}

/// A runtime on `dir` with [`storm_limits`] and `t_storm` loaded.
async fn storm_runtime(dir: &std::path::Path, budget: u64) -> Runtime {
    let rt = open(dir, storm_limits(budget)).await;
    rt.load_module(wasm("t_storm")).await.unwrap();
    rt
}

/// Where the big buffers of [`big_module`] start (after the first page).
const BIG: u32 = 65536;
/// 1 MiB.
const MIB: u32 = 1 << 20;

/// wat that stores `bytes` at `at`, one byte at a time.
fn stores(at: u32, bytes: &[u8]) -> String {
    bytes
        .iter()
        .enumerate()
        .map(|(i, b)| format!("(i32.store8 (i32.const {}) (i32.const {b}))", at + i as u32))
        .collect()
}

/// `t_big`: a table of `(id: u64, data: bytes)` rows and reducers that pile
/// up host memory in one transaction, the way the issue's hostile guests
/// did: update one 1 MiB row 2,000 times; insert 3,000 distinct 1 MiB rows;
/// queue 200 async calls with 16 MiB arguments each; log 200 lines of
/// 1 MiB. Each grows its memory first (within the 64 MiB cap). The loop
/// counter is the `$len` parameter of `__interstice_call`.
fn big_module() -> Vec<u8> {
    let reducer = |name: &str, params: Vec<interstice_abi::Field>| ReducerSchema {
        writes: None,
        recursive: false,
        name: name.into(),
        mode: ReducerMode::Write,
        params,
        returns: Type::Unit,
        error: None,
        trigger: None,
    };
    let schema = ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "t_big".into(),
        version: "0.1.0".into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: "blobs".into(),
            version: 1,
            columns: vec![field("id", Type::U64), field("data", Type::Bytes)],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: vec![
            reducer("update_one", vec![]),
            reducer("insert_many", vec![]),
            reducer("call_big", vec![]),
            reducer("log_big", vec![]),
            reducer("sink", vec![field("data", Type::Bytes)]),
        ],
        types: vec![],
        bindings: vec![],
    };
    let grow = "(drop (memory.grow (i32.const 320)))";
    // [1, h'00…' (1 MiB)]: 0x82 0x01 0x5a <len BE>.
    let row1 = [0x82, 0x01, 0x5a, 0x00, 0x10, 0x00, 0x00];
    let update_one = format!(
        "{grow} {} (drop (call $insert (i32.const 0) (i32.const {BIG}) (i32.const {len})))
         (local.set $len (i32.const 0))
         (block $done (loop $next
           (br_if $done (i32.ge_u (local.get $len) (i32.const 2000)))
           (drop (call $update (i32.const 0) (i32.const {BIG}) (i32.const {len})))
           (local.set $len (i32.add (local.get $len) (i32.const 1)))
           (br $next)))",
        stores(BIG, &row1),
        len = row1.len() as u32 + MIB,
    );
    // [id, h'00…' (1 MiB)] with id = 0x19 hi lo: ids 256 to 3255 (the
    // canonical 2-byte form).
    let head = [0x82, 0x19, 0x00, 0x00, 0x5a, 0x00, 0x10, 0x00, 0x00];
    let insert_many = format!(
        "{grow} {}
         (local.set $len (i32.const 256))
         (block $done (loop $next
           (br_if $done (i32.ge_u (local.get $len) (i32.const 3256)))
           (i32.store8 (i32.const {hi}) (i32.shr_u (local.get $len) (i32.const 8)))
           (i32.store8 (i32.const {lo}) (local.get $len))
           (drop (call $insert (i32.const 0) (i32.const {BIG}) (i32.const {len})))
           (local.set $len (i32.add (local.get $len) (i32.const 1)))
           (br $next)))",
        stores(BIG, &head),
        hi = BIG + 2,
        lo = BIG + 3,
        len = head.len() as u32 + MIB,
    );
    // ["t_big", "sink", [h'00…' (16 MiB)]].
    let mut target = vec![0x83, 0x65];
    target.extend_from_slice(b"t_big");
    target.push(0x64);
    target.extend_from_slice(b"sink");
    target.extend_from_slice(&[0x81, 0x5a, 0x01, 0x00, 0x00, 0x00]);
    let call_big = format!(
        "{grow} {}
         (local.set $len (i32.const 0))
         (block $done (loop $next
           (br_if $done (i32.ge_u (local.get $len) (i32.const 200)))
           (call $call_async (i32.const {BIG}) (i32.const {len}))
           (local.set $len (i32.add (local.get $len) (i32.const 1)))
           (br $next)))",
        stores(BIG, &target),
        len = target.len() as u32 + 16 * MIB,
    );
    let log_big = format!(
        "{grow} (memory.fill (i32.const {BIG}) (i32.const 120) (i32.const {MIB}))
         (local.set $len (i32.const 0))
         (block $done (loop $next
           (br_if $done (i32.ge_u (local.get $len) (i32.const 200)))
           (call $log (i32.const 2) (i32.const {BIG}) (i32.const {MIB}))
           (local.set $len (i32.add (local.get $len) (i32.const 1)))
           (br $next)))"
    );
    let imports = r#"(import "interstice" "table_insert" (func $insert (param i32 i32 i32) (result i64)))
  (import "interstice" "table_update" (func $update (param i32 i32 i32) (result i32)))
  (import "interstice" "call_async" (func $call_async (param i32 i32)))
  (import "interstice" "log" (func $log (param i32 i32 i32)))"#;
    let text = raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        imports,
        &[],
        &[&update_one, &insert_many, &call_big, &log_big, ""],
    );
    wat::parse_str(text).expect("valid wat")
}

/// Each of the issue's host-memory exhaustions now ends its transaction
/// with `Budget`, naming the limit, and rolls everything back; the module
/// keeps working. (Before, each grew the host by gigabytes until the OOM
/// killer ended the process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_transaction_piles_up_in_the_host_is_bounded() {
    let dir = tempdir();
    let rt = open(dir.path(), Limits::default()).await;
    rt.load_module(big_module()).await.unwrap();
    let cases = [
        ("update_one", "Limits::tx_mutation_bytes"),
        ("insert_many", "Limits::tx_mutation_bytes"),
        ("call_big", "Limits::tx_call_bytes"),
    ];
    for (reducer, limit) in cases {
        let err = reducer_error(rt.call("t_big", reducer, vec![]).await);
        assert_eq!(err.kind, ErrorKind::Budget, "{reducer}: {err}");
        assert!(err.message.contains(limit), "{reducer}: {err}");
    }
    // Nothing of it stayed: the table is empty, no call was queued.
    rt.shutdown().await.unwrap();
    let logged = log_entries(dir.path());
    let all = commits(&logged);
    assert_eq!(all.len(), 3);
    for c in all {
        assert!(
            c.mutations.is_empty() && c.calls.is_empty(),
            "{}",
            c.reducer
        );
    }
}

/// The count limits, with small limits: row writes and async calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_limits_name_themselves() {
    let dir = tempdir();
    let limits = Limits::default()
        .with_tx_mutations(100)
        .with_tx_calls(50)
        .with_tx_mutation_bytes(u64::MAX)
        .with_tx_call_bytes(u64::MAX);
    let rt = open(dir.path(), limits).await;
    rt.load_module(big_module()).await.unwrap();
    let err = reducer_error(rt.call("t_big", "update_one", vec![]).await);
    assert!(
        err.kind == ErrorKind::Budget && err.message.contains("Limits::tx_mutations = 100"),
        "{err}"
    );
    let err = reducer_error(rt.call("t_big", "call_big", vec![]).await);
    assert!(
        err.kind == ErrorKind::Budget && err.message.contains("Limits::tx_calls = 50"),
        "{err}"
    );
    rt.shutdown().await.unwrap();
}

/// The issue's fan-out storm: a trigger that inserts two rows into its own
/// table grew without end (the depth limit bounds chains, not trees) and
/// resumed after a restart. Now the tree of one external call makes at most
/// `Limits::fanout` deliveries; the rest are logged as `FanOut` failures
/// without running, so after a restart nothing resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_storm_is_cut_by_the_fanout_budget_and_stays_cut() {
    const BUDGET: u64 = 300;
    let dir = tempdir();
    let limits = storm_limits(BUDGET);
    let rt = storm_runtime(dir.path(), BUDGET).await;
    let seed = rt
        .call("t_storm", "seed", vec![])
        .await
        .unwrap()
        .ts
        .unwrap();
    crate::support::eventually(60, "the storm is cut", || async {
        rt.metrics().fanout_cuts > 0
            && rt
                .read("t_storm", "node_count", vec![])
                .await
                .unwrap()
                .value
                == u(1 + 2 * BUDGET)
    })
    .await;
    rt.shutdown().await.unwrap();
    let after_first = commits(&log_entries(dir.path())).len();
    // Reopening resumes only what was pending, and the cut stays cut.
    let rt = open(dir.path(), limits).await;
    rt.shutdown().await.unwrap();
    let rt = open(dir.path(), limits).await;
    let nodes = rt
        .read("t_storm", "node_count", vec![])
        .await
        .unwrap()
        .value;
    rt.shutdown().await.unwrap();
    assert_eq!(nodes, u(1 + 2 * BUDGET), "no node after the budget");
    let logged = log_entries(dir.path());
    let all = commits(&logged);
    let grown = all
        .iter()
        .filter(|c| c.reducer == "grow" && matches!(c.outcome, Outcome::Ok(_)))
        .count() as u64;
    let cut: Vec<_> = all
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                Outcome::Err {
                    kind: ErrorKind::FanOut,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(grown, BUDGET, "exactly the budget ran");
    assert_eq!(
        cut.len() as u64,
        BUDGET + 1,
        "each node beyond it is cut once"
    );
    for c in &cut {
        assert!(c.mutations.is_empty() && c.nondet.is_empty());
        let Outcome::Err { message, .. } = &c.outcome else {
            unreachable!()
        };
        assert!(
            message.contains(&format!("external call at ts {seed}"))
                && message.contains("Limits::fanout = 300"),
            "{message}"
        );
        assert!(matches!(c.cause, Cause::Trigger { .. }));
    }
    assert!(all.len() >= after_first);
    // replay-check agrees: the cut deliveries are not re-executed.
    let out = crate::support::interstice(["replay-check".as_ref(), dir.path().as_os_str()]);
    crate::support::expect_ok(&out, "replay-check of a cut storm");
}

/// The same with async calls: `echo` calls itself twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_storm_is_cut_by_the_fanout_budget() {
    const BUDGET: u64 = 200;
    let dir = tempdir();
    let rt = storm_runtime(dir.path(), BUDGET).await;
    rt.call("t_storm", "echo", vec![u(0)]).await.unwrap();
    crate::support::eventually(60, "the storm is cut", || async {
        rt.metrics().fanout_cuts == BUDGET + 2
    })
    .await;
    rt.shutdown().await.unwrap();
    let all = commits(&log_entries(dir.path()))
        .into_iter()
        .filter(|c| c.reducer == "echo")
        .count() as u64;
    assert_eq!(
        all,
        1 + BUDGET + BUDGET + 2,
        "root, budget, and the cut frontier"
    );
}

/// While one module's storm runs, another module's calls are answered: the
/// storm shares the pipeline with them instead of taking it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_modules_are_served_during_a_storm() {
    let dir = tempdir();
    let rt = storm_runtime(dir.path(), 1_000_000).await;
    rt.load_module(wasm("bank")).await.unwrap();
    rt.call("t_storm", "seed", vec![]).await.unwrap();
    for i in 0..20 {
        tokio::time::timeout(
            Duration::from_secs(30),
            open_account(&rt, &format!("b{i}"), 1),
        )
        .await
        .expect("another module's call is answered during the storm");
    }
    let during = rt.metrics().fanout_cuts;
    assert_eq!(
        during, 0,
        "the storm was still running when the calls were answered"
    );
    rt.shutdown_within(Duration::from_secs(1)).await.unwrap();
}

/// The issue's log flood: 200 lines of 1 MiB went to stderr. Now each line
/// is cut to `Limits::log_line_bytes`, the transaction's output is bounded
/// by `Limits::tx_log_bytes` (reaching it fails the transaction), and the
/// process's stderr stays small.
#[test]
fn guest_log_lines_are_cut_and_bounded() {
    let dir = tempdir();
    let wasm_path = dir.path().join("t_big.wasm");
    std::fs::write(&wasm_path, big_module()).unwrap();
    let data = dir.path().join("data");
    let load = std::process::Command::new(crate::support::bin())
        .args(["load", "--data-dir"])
        .arg(&data)
        .arg(&wasm_path)
        .output()
        .unwrap();
    crate::support::expect_ok(&load, "loading t_big");
    let out = std::process::Command::new(crate::support::bin())
        .args(["--log-level", "info", "call", "--data-dir"])
        .arg(&data)
        .args(["t_big", "log_big"])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert!(!out.status.success(), "the flood fails its transaction");
    assert!(
        stderr.contains("Limits::tx_log_bytes"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    assert!(stderr.contains("cut: 1048576 bytes"), "lines are cut");
    assert!(
        stderr.len() < 2 << 20,
        "stderr holds {} bytes for 200 MiB of guest log",
        stderr.len()
    );
}
