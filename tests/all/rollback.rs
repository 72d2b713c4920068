//! Tests: rollback. Every way a reducer can fail (trap, panic, `Err`,
//! exhausted budget, memory cap) rolls back all of its changes, reports a
//! typed error, and leaves the host able to run the next call.

use interstice_actors::{ErrorKind, Limits, ReducerMode, Runtime, Value};
use interstice_persist::{Cause, Outcome};

use crate::support::{
    as_u64, call_target, commits, eventually, log_entries, open, open_account, open_with,
    open_with_limits, raw_module, raw_module_wat_for, reducer_error, s, tempdir, u, wasm,
    RawReducer,
};

async fn mark_count(rt: &Runtime) -> u64 {
    as_u64(
        &rt.read("t_hostile", "mark_count", vec![])
            .await
            .expect("mark_count")
            .value,
    )
}

/// Calls the failing `t_hostile` reducer `reducer` after writing one mark,
/// checks the table is unchanged by the failure and that the module still
/// takes calls, and returns the error.
async fn fail_and_survive(rt: &Runtime, reducer: &str) -> interstice_actors::ReducerError {
    rt.call("t_hostile", "mark", vec![s("before")])
        .await
        .expect("mark before");
    let before = mark_count(rt).await;
    let rollbacks = rt.metrics().rollbacks;
    let err = reducer_error(rt.call("t_hostile", reducer, vec![]).await);
    assert_eq!(
        mark_count(rt).await,
        before,
        "t_hostile.{reducer} failed ({err:?}) but its write is still there"
    );
    assert_eq!(
        rt.metrics().rollbacks,
        rollbacks + 1,
        "one rollback counted"
    );
    // The host survived: the same module runs the next call, and it commits.
    let id = as_u64(
        &rt.call("t_hostile", "mark", vec![s("after")])
            .await
            .unwrap_or_else(|e| panic!("mark after {reducer} failed: {e}"))
            .value,
    );
    assert_eq!(id, before + 1, "the next id follows the last committed one");
    assert_eq!(mark_count(rt).await, before + 1);
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_rolls_back() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    let err = fail_and_survive(&rt, "trap").await;
    assert_eq!(err.kind, ErrorKind::Trap, "{err:?}");
    assert!(err.value.is_none());
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_rolls_back_and_reports_its_message() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    let err = fail_and_survive(&rt, "panic").await;
    assert_eq!(err.kind, ErrorKind::Panic, "{err:?}");
    assert!(
        err.message.contains("boom"),
        "panic message: {:?}",
        err.message
    );
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_err_return_rolls_back() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    let err = fail_and_survive(&rt, "fail").await;
    assert_eq!(err.kind, ErrorKind::UserError, "{err:?}");
    assert_eq!(err.message, "failed on purpose");
    assert_eq!(err.value, Some(serde_json::json!("failed on purpose")));
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_by_the_budget() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    let err = fail_and_survive(&rt, "spin").await;
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_rolls_back_and_is_deterministic() {
    let dir = tempdir();
    let rt = open_with_limits(dir.path(), Limits::default().with_fuel(2_000_000)).await;
    rt.load_module(wasm("t_hostile")).await.unwrap();
    // Within the budget.
    rt.call("t_hostile", "busy", vec![u(1_000)])
        .await
        .expect("a short busy loop fits the budget");
    // Over it, every time (fuel is deterministic).
    for _ in 0..3 {
        let err = reducer_error(rt.call("t_hostile", "busy", vec![u(10_000_000)]).await);
        assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    }
    // A writing reducer that runs out (spin) leaves nothing behind, and the
    // module keeps working under the small budget.
    let err = fail_and_survive(&rt, "spin").await;
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_capped() {
    let dir = tempdir();
    let rt = open_with_limits(dir.path(), Limits::default().with_memory_bytes(16 << 20)).await;
    rt.load_module(wasm("t_hostile")).await.unwrap();
    let err = fail_and_survive(&rt, "membomb").await;
    assert_eq!(err.kind, ErrorKind::Memory, "{err:?}");
    // Again: the fresh instance is capped just the same.
    let err = fail_and_survive(&rt, "membomb").await;
    assert_eq!(err.kind, ErrorKind::Memory, "{err:?}");
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reducer_that_writes_then_traps_leaves_no_row() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["t_hostile"]).await;
    assert_eq!(mark_count(&rt).await, 0);
    let before = rt.durable_ts();
    let err = reducer_error(rt.call("t_hostile", "write_then_trap", vec![]).await);
    assert_eq!(err.kind, ErrorKind::Trap, "{err:?}");
    assert_eq!(
        mark_count(&rt).await,
        0,
        "the row written before the trap is gone"
    );
    // The first successful insert gets id 1: the rolled-back insert did not
    // use the auto_inc counter up.
    let id = rt.call("t_hostile", "mark", vec![s("ok")]).await.unwrap();
    assert_eq!(id.value, u(1));
    assert_eq!(mark_count(&rt).await, 1);
    rt.shutdown().await.unwrap();

    // The failure is logged as a failure, with no mutations.
    let entries = log_entries(dir.path());
    let failed: Vec<_> = commits(&entries)
        .into_iter()
        .filter(|c| c.reducer == "write_then_trap")
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].ts > before);
    assert!(
        matches!(
            failed[0].outcome,
            Outcome::Err {
                kind: ErrorKind::Trap,
                ..
            }
        ),
        "{:?}",
        failed[0].outcome
    );
    assert!(failed[0].mutations.is_empty(), "{:?}", failed[0].mutations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transfer_leaves_both_balances_unchanged() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["bank"]).await;
    let alice = open_account(&rt, "alice", 100).await;
    let bob = open_account(&rt, "bob", 5).await;
    let balance = |id: Value| {
        let rt = rt.clone();
        async move { as_u64(&rt.read("bank", "balance", vec![id]).await.unwrap().value) }
    };

    // transfer debits the source before it checks the balance: the Err
    // return must undo that debit.
    let err = reducer_error(
        rt.call("bank", "transfer", vec![bob.clone(), alice.clone(), u(50)])
            .await,
    );
    assert_eq!(err.kind, ErrorKind::UserError, "{err:?}");
    assert!(
        err.message.contains("insufficient funds"),
        "{}",
        err.message
    );
    assert_eq!(balance(alice.clone()).await, 100);
    assert_eq!(balance(bob.clone()).await, 5);

    // Money to an account that does not exist: the debit is undone too.
    let err = reducer_error(
        rt.call("bank", "transfer", vec![alice.clone(), u(999), u(10)])
            .await,
    );
    assert_eq!(err.kind, ErrorKind::UserError, "{err:?}");
    assert_eq!(err.message, "no account 999");
    assert_eq!(balance(alice.clone()).await, 100);
    assert_eq!(
        as_u64(&rt.read("bank", "total", vec![]).await.unwrap().value),
        105
    );

    // A valid transfer still commits.
    rt.call("bank", "transfer", vec![alice.clone(), bob.clone(), u(30)])
        .await
        .unwrap();
    assert_eq!(balance(alice).await, 70);
    assert_eq!(balance(bob).await, 35);
    rt.shutdown().await.unwrap();
}

/// A wat module that queues `hello.hello(name)` and then either commits or
/// traps.
fn async_caller_module() -> Vec<u8> {
    let ghost = call_target("hello", "hello", "ghost");
    let real = call_target("hello", "hello", "real");
    let data = [ghost.clone(), real.clone()].concat();
    let at = crate::support::raw::DATA as usize;
    let (ghost_at, real_at) = (at, at + ghost.len());
    let call_then_trap = format!(
        "(call $call_async (i32.const {ghost_at}) (i32.const {})) (unreachable)",
        ghost.len()
    );
    let call_then_commit = format!(
        "(call $call_async (i32.const {real_at}) (i32.const {}))",
        real.len()
    );
    raw_module(
        "t_rawcall",
        r#"(import "interstice" "call_async" (func $call_async (param i32 i32)))"#,
        &data,
        &[
            RawReducer {
                name: "call_then_trap",
                mode: ReducerMode::Write,
                body: &call_then_trap,
            },
            RawReducer {
                name: "call_then_commit",
                mode: ReducerMode::Write,
                body: &call_then_commit,
            },
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transactions_async_calls_do_not_happen() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    rt.load_module(async_caller_module())
        .await
        .expect("loading the wat module");
    let greetings = |rt: Runtime| async move {
        as_u64(
            &rt.read("hello", "greeting_count", vec![])
                .await
                .unwrap()
                .value,
        )
    };
    eventually(10, "hello's init greeting", || {
        let rt = rt.clone();
        async move { greetings(rt).await == 1 }
    })
    .await;

    let err = reducer_error(rt.call("t_rawcall", "call_then_trap", vec![]).await);
    assert_eq!(err.kind, ErrorKind::Trap, "{err:?}");
    let ok = rt
        .call("t_rawcall", "call_then_commit", vec![])
        .await
        .expect("the committing caller");
    let ok_ts = ok.ts.expect("a write has a timestamp");

    // Deliveries run in timestamp order, so once the committed call's
    // greeting is in, a leaked one from the trapped call would be too.
    let rt2 = rt.clone();
    eventually(10, "the committed call's greeting", move || {
        let rt = rt2.clone();
        async move {
            rt.read("hello", "last_greeting", vec![])
                .await
                .unwrap()
                .value
                == Value::Option(Some(Box::new(s("real"))))
        }
    })
    .await;
    assert_eq!(greetings(rt.clone()).await, 2, "world + real, and no ghost");
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let all = commits(&entries);
    let trapped = all
        .iter()
        .find(|c| c.reducer == "call_then_trap")
        .expect("the trapped call is logged");
    assert!(
        trapped.calls.is_empty(),
        "a rolled-back commit keeps no calls"
    );
    assert!(trapped.ts < ok_ts);
    let delivered: Vec<_> = all
        .iter()
        .filter(|c| c.module == "hello" && matches!(c.cause, Cause::Call { .. }))
        .collect();
    assert_eq!(delivered.len(), 1, "exactly one async call was delivered");
    assert_eq!(
        delivered[0].cause,
        Cause::Call {
            module: "t_rawcall".into(),
            ts: ok_ts,
            index: 0,
            reply: None
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_violation_rolls_back_the_whole_transaction() {
    use interstice_abi::{Field, ModuleSchema, Persistence, ReducerSchema, TableSchema, Type};
    let reducer = |name: &str| ReducerSchema {
        writes: None,
        recursive: false,
        name: name.into(),
        mode: ReducerMode::Write,
        params: Vec::new(),
        returns: Type::Unit,
        error: None,
        trigger: None,
    };
    let schema = ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "t_rows".into(),
        version: "0.1.0".into(),
        dependencies: Vec::new(),
        tables: vec![TableSchema {
            name: "rows".into(),
            version: 1,
            columns: vec![
                Field {
                    name: "id".into(),
                    ty: Type::U64,
                },
                Field {
                    name: "v".into(),
                    ty: Type::U64,
                },
            ],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: Vec::new(),
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: vec![
            reducer("insert_a"),
            reducer("insert_b_then_dup"),
            reducer("insert_b"),
        ],
        types: vec![],
        bindings: vec![],
    };
    // Rows [1, 7], [2, 8] and [1, 9] (a duplicate key of the first).
    let data = [0x82, 1, 7, 0x82, 2, 8, 0x82, 1, 9];
    let at = crate::support::raw::DATA;
    let insert = |offset: u32| {
        format!(
            "(drop (call $insert (i32.const 0) (i32.const {}) (i32.const 3)))",
            at + offset
        )
    };
    let bodies = [insert(0), format!("{} {}", insert(3), insert(6)), insert(3)];
    let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let text = raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        r#"(import "interstice" "table_insert" (func $insert (param i32 i32 i32) (result i64)))"#,
        &data,
        &bodies,
    );
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wat::parse_str(&text).unwrap())
        .await
        .unwrap();
    let empty = rt.state_hash().await.unwrap();
    rt.call("t_rows", "insert_a", vec![]).await.unwrap();
    let one_row = rt.state_hash().await.unwrap();
    assert_ne!(one_row, empty);

    // Inserting row 1 again is a constraint violation.
    let err = reducer_error(rt.call("t_rows", "insert_a", vec![]).await);
    assert_eq!(err.kind, ErrorKind::Constraint, "{err:?}");
    // So is the second insert of this one; its first insert (row 2) goes too.
    let err = reducer_error(rt.call("t_rows", "insert_b_then_dup", vec![]).await);
    assert_eq!(err.kind, ErrorKind::Constraint, "{err:?}");
    assert_eq!(
        rt.state_hash().await.unwrap(),
        one_row,
        "row 2 was rolled back"
    );
    // Row 2 really is absent: inserting it alone succeeds.
    rt.call("t_rows", "insert_b", vec![])
        .await
        .expect("row 2 was not left behind");
    let two_rows = rt.state_hash().await.unwrap();
    assert_ne!(two_rows, one_row);
    rt.shutdown().await.unwrap();

    // Replay agrees: only the committed rows are in the log.
    let rt = open(dir.path()).await;
    assert_eq!(rt.state_hash().await.unwrap(), two_rows);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reads_and_stack_overflows_are_stopped() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let recurse = "(drop (call $call (local.get $reducer) (local.get $ptr) (local.get $len)))";
    let wasm = raw_module(
        "t_rawhostile",
        "",
        &[],
        &[
            RawReducer {
                name: "ok",
                mode: ReducerMode::Read,
                body: "",
            },
            RawReducer {
                name: "spin_read",
                mode: ReducerMode::Read,
                body: "(loop $forever (br $forever))",
            },
            RawReducer {
                name: "trap_read",
                mode: ReducerMode::Read,
                body: "(unreachable)",
            },
            RawReducer {
                name: "recurse_read",
                mode: ReducerMode::Read,
                body: recurse,
            },
            RawReducer {
                name: "recurse",
                mode: ReducerMode::Write,
                body: recurse,
            },
        ],
    );
    rt.load_module(wasm).await.unwrap();
    rt.read("t_rawhostile", "ok", vec![]).await.unwrap();
    for (reducer, kind, write) in [
        ("spin_read", ErrorKind::Budget, false),
        ("trap_read", ErrorKind::Trap, false),
        ("recurse_read", ErrorKind::Trap, false),
        ("recurse", ErrorKind::Trap, true),
    ] {
        let result = if write {
            rt.call("t_rawhostile", reducer, vec![]).await
        } else {
            rt.read("t_rawhostile", reducer, vec![]).await
        };
        let err = reducer_error(result);
        assert_eq!(err.kind, kind, "{reducer}: {err:?}");
        if reducer.starts_with("recurse") {
            assert!(
                err.message.contains("stack overflow"),
                "{reducer}: {}",
                err.message
            );
        }
        rt.read("t_rawhostile", "ok", vec![])
            .await
            .unwrap_or_else(|e| panic!("a read after {reducer}: {e}"));
    }
    rt.shutdown().await.unwrap();
}
