//! Tests: ordering. Log timestamps are gapless and increasing across the
//! whole runtime; async calls and triggers are delivered exactly once, in
//! source-timestamp order.

use std::collections::HashMap;

use interstice_actors::{ErrorKind, Runtime};
use interstice_persist::{Cause, CommitRecord, LogEntry, MutationOp, Outcome};

use crate::support::{
    as_u64, commits, eventually, log_entries, open, reducer_error, s, tempdir, u, wasm,
};

async fn read_u64(rt: &Runtime, module: &str, reducer: &str) -> u64 {
    as_u64(&rt.read(module, reducer, vec![]).await.unwrap().value)
}

/// Waits until `module.reducer()` (a read returning u64) equals `want`.
async fn wait_for(rt: &Runtime, module: &'static str, reducer: &'static str, want: u64) {
    let rt2 = rt.clone();
    eventually(20, &format!("{module}.{reducer} == {want}"), move || {
        let rt = rt2.clone();
        async move { read_u64(&rt, module, reducer).await == want }
    })
    .await;
}

/// Loads hello, waits for its init greeting, then loads caller, so that
/// caller's subscription sees every greeting after the first.
async fn hello_then_caller(rt: &Runtime) {
    rt.load_module(wasm("hello")).await.unwrap();
    wait_for(rt, "hello", "greeting_count", 1).await;
    rt.load_module(wasm("caller")).await.unwrap();
}

/// A caller that saw a call fail and then calls another module gets a later
/// timestamp: a failure is numbered before it is answered, so the log's
/// order agrees with the order each caller saw its replies in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_answered_before_a_later_call_has_the_smaller_timestamp() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("bank")).await.unwrap();
    rt.load_module(wasm("t_hostile")).await.unwrap();
    const ROUNDS: usize = 300;
    for _ in 0..ROUNDS {
        reducer_error(rt.call("t_hostile", "fail", vec![]).await);
        // No account 1: this transfer fails too.
        reducer_error(rt.call("bank", "transfer", vec![u(1), u(2), u(1)]).await);
    }
    rt.shutdown().await.unwrap();
    let failed: Vec<String> = commits(&log_entries(dir.path()))
        .into_iter()
        .filter(|c| matches!(c.outcome, Outcome::Err { .. }))
        .map(|c| c.module.clone())
        .collect();
    let expected: Vec<String> = (0..ROUNDS)
        .flat_map(|_| ["t_hostile".to_owned(), "bank".to_owned()])
        .collect();
    let first_out_of_order = failed.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(failed.len(), expected.len());
    assert_eq!(
        first_out_of_order, None,
        "log order of the failures: {failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_timestamps_are_gapless_and_increasing() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    hello_then_caller(&rt).await;
    rt.load_module(wasm("bank")).await.unwrap();
    rt.load_module(wasm("t_hostile")).await.unwrap();

    let mut acknowledged = Vec::new();
    let mut ack = |ts: Option<u64>| acknowledged.push(ts.expect("writes have a ts"));
    ack(rt.call("hello", "hello", vec![s("a")]).await.unwrap().ts);
    let acct = rt
        .call("bank", "open_account", vec![s("alice"), u(10)])
        .await
        .unwrap();
    ack(acct.ts);
    // Failures take timestamps too (they are logged).
    for reducer in ["trap", "fail", "panic"] {
        reducer_error(rt.call("t_hostile", reducer, vec![]).await);
    }
    reducer_error(
        rt.call(
            "bank",
            "transfer",
            vec![acct.value.clone(), u(99), u(1_000)],
        )
        .await,
    );
    // Concurrent calls on several modules, with async calls and triggers.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let rt = rt.clone();
            tokio::spawn(async move {
                let (m, r, args) = match i % 4 {
                    0 => ("caller", "greet", vec![s(&format!("g{i}"))]),
                    1 => ("hello", "hello", vec![s(&format!("h{i}"))]),
                    2 => ("bank", "deposit", vec![u(1), u(i)]),
                    _ => ("t_hostile", "mark", vec![s(&format!("m{i}"))]),
                };
                rt.call(m, r, args).await.unwrap().ts.unwrap()
            })
        })
        .collect();
    for t in tasks {
        acknowledged.push(t.await.unwrap());
    }
    // Greetings caller saw: "a", 5 direct ones and 5 through greet.
    wait_for(&rt, "caller", "seen_count", 11).await;
    let last = rt.durable_ts();
    let metrics = rt.metrics();
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let stamps: Vec<u64> = entries.iter().map(LogEntry::ts).collect();
    let expected: Vec<u64> = (1..=stamps.len() as u64).collect();
    assert_eq!(stamps, expected, "log timestamps are exactly 1..=N");
    assert!(
        stamps.len() as u64 >= last,
        "durable ts {last} is in the log"
    );
    // 4 installs, the rest commits: every commit and rollback is logged.
    let installs = entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Install(_)))
        .count();
    assert_eq!(installs, 4);
    let all = commits(&entries);
    assert_eq!(
        all.len() as u64,
        metrics.commits + metrics.rollbacks,
        "{metrics:?}"
    );
    let failed: Vec<ErrorKind> = all
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Err { kind, .. } => Some(*kind),
            Outcome::Ok(_) => None,
        })
        .collect();
    assert_eq!(
        failed,
        [
            ErrorKind::Trap,
            ErrorKind::UserError,
            ErrorKind::Panic,
            ErrorKind::UserError
        ]
    );
    // Every acknowledged write is the logged entry at its timestamp.
    for ts in acknowledged {
        let e = &entries[ts as usize - 1];
        assert_eq!(e.ts(), ts);
        assert!(
            matches!(e, LogEntry::Commit(c) if matches!(c.outcome, Outcome::Ok(_))),
            "{e:?}"
        );
    }

    // Timestamps continue after a restart, still without a gap.
    let n = stamps.len() as u64;
    let rt = open(dir.path()).await;
    let out = rt.call("hello", "hello", vec![s("later")]).await.unwrap();
    assert_eq!(out.ts, Some(n + 1));
    wait_for(&rt, "caller", "seen_count", 12).await;
    rt.shutdown().await.unwrap();
    let stamps: Vec<u64> = log_entries(dir.path()).iter().map(LogEntry::ts).collect();
    assert_eq!(stamps, (1..=n + 2).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_and_triggers_arrive_exactly_once_in_order() {
    const N: u64 = 50;
    let dir = tempdir();
    let rt = open(dir.path()).await;
    hello_then_caller(&rt).await;

    // Half sequential, half concurrent.
    let mut greet_ts = Vec::new();
    for i in 0..N / 2 {
        let out = rt
            .call("caller", "greet", vec![s(&format!("n{i}"))])
            .await
            .unwrap();
        greet_ts.push(out.ts.unwrap());
    }
    let tasks: Vec<_> = (N / 2..N)
        .map(|i| {
            let rt = rt.clone();
            tokio::spawn(async move {
                rt.call("caller", "greet", vec![s(&format!("n{i}"))])
                    .await
                    .unwrap()
                    .ts
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        greet_ts.push(t.await.unwrap());
    }
    wait_for(&rt, "caller", "seen_count", N).await;
    wait_for(&rt, "hello", "greeting_count", N + 1).await;
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let all = commits(&entries);
    let by_ts: HashMap<u64, &CommitRecord> = all.iter().map(|c| (c.ts, *c)).collect();
    let caller_installed = entries
        .iter()
        .find_map(|e| match e {
            LogEntry::Install(i) if i.name == "caller" => Some(i.ts),
            _ => None,
        })
        .expect("caller's install is logged");

    // --- Async calls: caller.greet -> hello.hello.
    let greets: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "caller" && c.reducer == "greet")
        .collect();
    assert_eq!(greets.len() as u64, N);
    greet_ts.sort();
    assert_eq!(greets.iter().map(|c| c.ts).collect::<Vec<_>>(), greet_ts);
    for g in &greets {
        assert!(matches!(g.outcome, Outcome::Ok(_)));
        assert_eq!(g.calls.len(), 1, "greet makes one call");
        assert_eq!(
            (g.calls[0].module.as_str(), g.calls[0].reducer.as_str()),
            ("hello", "hello")
        );
    }
    let delivered: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "hello" && matches!(c.cause, Cause::Call { .. }))
        .collect();
    let mut calls_per_source: HashMap<u64, u32> = HashMap::new();
    let mut source_order = Vec::new();
    for d in &delivered {
        let Cause::Call {
            module, ts, index, ..
        } = &d.cause
        else {
            unreachable!()
        };
        assert_eq!(module, "caller");
        assert_eq!(*index, 0);
        assert!(d.ts > *ts, "a call runs after its source commit");
        let src = by_ts.get(ts).expect("the source commit is logged");
        assert_eq!(d.args, src.calls[0].args, "the call carries its arguments");
        assert!(matches!(d.outcome, Outcome::Ok(_)));
        *calls_per_source.entry(*ts).or_default() += 1;
        source_order.push(*ts);
    }
    assert_eq!(
        calls_per_source.len() as u64,
        N,
        "every greet was delivered"
    );
    assert!(
        calls_per_source.values().all(|n| *n == 1),
        "a call was delivered twice: {calls_per_source:?}"
    );
    assert_eq!(
        source_order, greet_ts,
        "calls are delivered in source-ts order"
    );

    // --- Triggers: every insert into hello.greetings after caller was
    // installed fires caller.on_greeting exactly once, in order.
    let inserts: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| {
            c.module == "hello"
                && c.ts > caller_installed
                && c.mutations
                    .iter()
                    .any(|m| matches!(m.op, MutationOp::Insert(_)))
        })
        .collect();
    assert_eq!(inserts.len() as u64, N);
    let triggers: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.module == "caller" && c.reducer == "on_greeting")
        .collect();
    let mut fired: HashMap<u64, u32> = HashMap::new();
    let mut trigger_order = Vec::new();
    for t in &triggers {
        let Cause::Trigger { module, ts, index } = &t.cause else {
            panic!("on_greeting ran for another cause: {:?}", t.cause);
        };
        assert_eq!(module, "hello");
        assert!(t.ts > *ts, "a trigger runs after its source commit");
        let src = by_ts.get(ts).expect("the source commit is logged");
        let MutationOp::Insert(row) = &src.mutations[*index as usize].op else {
            panic!("trigger on a non-insert: {:?}", src.mutations);
        };
        // The trigger's argument array is `[row]`.
        assert_eq!(t.args, [&[0x81u8][..], row].concat());
        assert!(matches!(t.outcome, Outcome::Ok(_)), "{:?}", t.outcome);
        *fired.entry(*ts).or_default() += 1;
        trigger_order.push(*ts);
    }
    let insert_ts: Vec<u64> = inserts.iter().map(|c| c.ts).collect();
    assert!(
        fired.values().all(|n| *n == 1),
        "a trigger fired twice: {fired:?}"
    );
    assert_eq!(
        trigger_order, insert_ts,
        "every insert fired exactly one trigger, in source-ts order"
    );
}

/// A wat module whose `on_tick` trigger inserts into the very table it
/// listens to: a subscription cycle only the depth limit stops (a possible
/// one: `on_tick` declares no `writes`). `start` inserts the first row.
pub(crate) fn self_triggering_module() -> Vec<u8> {
    self_triggering_module_declaring(None, false)
}

/// [`self_triggering_module`] whose `on_tick` declares `writes` (and
/// `recursive`).
pub(crate) fn self_triggering_module_declaring(
    writes: Option<&[&str]>,
    recursive: bool,
) -> Vec<u8> {
    use interstice_abi::{
        Field, ModuleSchema, Persistence, ReducerMode, ReducerSchema, RowEvent, StructType,
        TableSchema, Trigger, Type,
    };
    let id = Field {
        name: "id".into(),
        ty: Type::U64,
    };
    let reducer = |name: &str, params: Vec<Field>, trigger: Option<Trigger>| ReducerSchema {
        writes: None,
        recursive: false,
        name: name.into(),
        mode: ReducerMode::Write,
        params,
        returns: Type::Unit,
        error: None,
        trigger,
    };
    let schema = ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "t_loop".into(),
        version: "0.1.0".into(),
        dependencies: Vec::new(),
        tables: vec![TableSchema {
            name: "ticks".into(),
            version: 1,
            columns: vec![id.clone()],
            primary_key: 0,
            auto_inc: true,
            persistence: Persistence::Logged,
            indexes: Vec::new(),
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: vec![
            reducer("start", Vec::new(), None),
            reducer(
                "on_tick",
                vec![Field {
                    name: "row".into(),
                    ty: Type::Struct(StructType {
                        name: "Tick".into(),
                        fields: vec![id],
                    }),
                }],
                Some(Trigger::Table {
                    module: "t_loop".into(),
                    table: "ticks".into(),
                    event: RowEvent::Insert,
                }),
            ),
        ],
        types: vec![],
        bindings: vec![],
    };
    let mut schema = schema;
    schema.reducers[1].writes = writes.map(|w| w.iter().map(|t| t.to_string()).collect());
    schema.reducers[1].recursive = recursive;
    // The row `[0]`: the host assigns the auto_inc id.
    let insert = format!(
        "(drop (call $insert (i32.const 0) (i32.const {}) (i32.const 2)))",
        crate::support::raw::DATA
    );
    let text = crate::support::raw_module_wat_for(
        &schema,
        interstice_abi::ABI_VERSION as i32,
        r#"(import "interstice" "table_insert" (func $insert (param i32 i32 i32) (result i64)))"#,
        &[0x81, 0x00],
        &[&insert, &insert],
    );
    wat::parse_str(text).expect("valid wat")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_cycle_is_cut_by_the_depth_limit() {
    const DEPTH: u32 = 6;
    let dir = tempdir();
    let limits = interstice_actors::Limits::default().with_max_trigger_depth(DEPTH);
    let rt = crate::support::open_with_limits(dir.path(), limits).await;
    rt.load_module(self_triggering_module()).await.unwrap();
    let start = rt.call("t_loop", "start", vec![]).await.unwrap();
    let start_ts = start.ts.unwrap();
    rt.shutdown().await.unwrap();
    // Whatever the shutdown left pending runs after a reopen, exactly once.
    let rt = crate::support::open_with_limits(dir.path(), limits).await;
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let all = commits(&entries);
    let ticks: Vec<&CommitRecord> = all
        .iter()
        .copied()
        .filter(|c| c.reducer == "on_tick")
        .collect();
    assert_eq!(
        ticks.len(),
        DEPTH as usize,
        "one trigger per level down to the depth limit, then none"
    );
    // A chain: each trigger is caused by the commit before it.
    let mut source = start_ts;
    for t in &ticks {
        assert!(matches!(t.outcome, Outcome::Ok(_)), "{:?}", t.outcome);
        assert_eq!(
            t.cause,
            Cause::Trigger {
                module: "t_loop".into(),
                ts: source,
                index: 0
            }
        );
        assert_eq!(t.mutations.len(), 1);
        source = t.ts;
    }
    let stamps: Vec<u64> = entries.iter().map(LogEntry::ts).collect();
    assert_eq!(stamps, (1..=stamps.len() as u64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_runs_before_the_first_call_after_load() {
    // `Runtime::load_module` says it "installs a module; runs its init
    // reducer". So the first call made after it returns must see init's
    // work: hello's init greeting gets id 1 and the caller's greeting 2.
    // The race is narrow, so try many fresh runtimes; without fsync the
    // install is acknowledged sooner, which widens it.
    for round in 0..40 {
        let dir = tempdir();
        let rt = interstice_actors::Runtime::builder()
            .data_dir(dir.path())
            .durability(interstice_actors::Durability::None)
            .open()
            .await
            .unwrap();
        rt.load_module(wasm("hello")).await.unwrap();
        let id = rt.call("hello", "hello", vec![s("first")]).await.unwrap();
        rt.shutdown().await.unwrap();
        assert_eq!(
            id.value,
            u(2),
            "round {round}: a call right after load_module ran before hello's init"
        );
    }
}
