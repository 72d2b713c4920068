//! Tests: errors. Every misuse of the embedding API and every bad module
//! binary gets its own typed error, and none of them harms the runtime.

use interstice_abi::AbiError;
use interstice_actors::{inspect_module, ErrorKind, ReducerMode, Runtime, RuntimeError};

use crate::support::{
    open, open_with, raw_module, raw_module_wat, reducer_error, s, tempdir, u, wasm, RawReducer,
    NOOP,
};

/// The runtime still works: hello loads (if needed) and greets.
async fn still_works(rt: &Runtime) {
    rt.load_module(wasm("hello")).await.expect("loading hello");
    let out = rt
        .call("hello", "hello", vec![s("still here")])
        .await
        .expect("a normal call after the error");
    assert!(out.ts.is_some());
}

/// Waits until `n` log entries (installs, hello's init…) are durable, so
/// that nothing is in flight.
async fn settled(rt: &Runtime, n: u64) {
    let rt = rt.clone();
    crate::support::eventually(20, &format!("{n} durable entries"), move || {
        let rt = rt.clone();
        async move { rt.durable_ts() == n }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_module() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    let e = rt.call("nope", "hello", vec![s("x")]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownModule(m) if m == "nope"),
        "{e:?}"
    );
    let e = rt.read("nope", "greeting_count", vec![]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownModule(m) if m == "nope"),
        "{e:?}"
    );
    let e = rt.call_json("nope", "x", &[]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownModule(m) if m == "nope"),
        "{e:?}"
    );
    let e = rt.call_encoded("nope", "x", vec![0x80]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownModule(m) if m == "nope"),
        "{e:?}"
    );
    let e = rt.subscribe("nope", "greetings").unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownModule(m) if m == "nope"),
        "{e:?}"
    );
    assert!(e.to_string().contains("nope"), "{e}");
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_reducer_and_table() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    for e in [
        rt.call("hello", "goodbye", vec![]).await.unwrap_err(),
        rt.read("hello", "goodbye", vec![]).await.unwrap_err(),
        rt.call_json("hello", "goodbye", &[]).await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, RuntimeError::UnknownReducer { module, reducer }
                if module == "hello" && reducer == "goodbye"),
            "{e:?}"
        );
    }
    let e = rt.subscribe("hello", "farewells").unwrap_err();
    assert!(
        matches!(&e, RuntimeError::UnknownTable { module, table }
            if module == "hello" && table == "farewells"),
        "{e:?}"
    );
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_argument_count() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "bank"]).await;
    settled(&rt, 3).await;
    let before = rt.durable_ts();
    let e = rt.call("hello", "hello", vec![]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ArgCount { module, reducer, expected: 1, got: 0 }
            if module == "hello" && reducer == "hello"),
        "{e:?}"
    );
    let e = rt.call("bank", "deposit", vec![u(1)]).await.unwrap_err();
    assert!(
        matches!(
            &e,
            RuntimeError::ArgCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let e = rt
        .read("hello", "greeting_count", vec![u(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            RuntimeError::ArgCount {
                expected: 0,
                got: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let e = rt
        .call_json(
            "hello",
            "hello",
            &[serde_json::json!("a"), serde_json::json!("b")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            RuntimeError::ArgCount {
                expected: 1,
                got: 2,
                ..
            }
        ),
        "{e:?}"
    );
    // A bad call never reaches the module: nothing was committed or logged.
    assert_eq!(rt.durable_ts(), before);
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_argument_type() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "bank"]).await;
    settled(&rt, 3).await;
    let before = rt.durable_ts();
    let e = rt.call("hello", "hello", vec![u(5)]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ArgType { module, reducer, index: 0, param, .. }
            if module == "hello" && reducer == "hello" && param == "name"),
        "{e:?}"
    );
    let e = rt
        .call("bank", "deposit", vec![u(1), s("lots")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ArgType { index: 1, param, .. } if param == "amount"),
        "{e:?}"
    );
    // A negative number does not fit a u64.
    let e = rt
        .call(
            "bank",
            "deposit",
            vec![u(1), interstice_actors::Value::I64(-5)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ArgType { index: 1, .. }),
        "{e:?}"
    );
    let e = rt
        .call_json(
            "bank",
            "open_account",
            &[serde_json::json!(7), serde_json::json!(1)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ArgType { index: 0, param, .. } if param == "owner"),
        "{e:?}"
    );
    // Pre-encoded arguments are checked against the parameter types too.
    let mut w = interstice_abi::cbor::Writer::new();
    w.array(1);
    w.u64(5);
    let e = rt
        .call_encoded("hello", "hello", w.into_vec())
        .await
        .unwrap_err();
    assert!(matches!(&e, RuntimeError::ArgType { .. }), "{e:?}");
    assert_eq!(rt.durable_ts(), before, "nothing was committed");
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_mode() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello", "caller"]).await;
    let e = rt
        .call("hello", "greeting_count", vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::WrongMode { module, reducer, mode: "read", .. }
            if module == "hello" && reducer == "greeting_count"),
        "{e:?}"
    );
    let e = rt.read("hello", "hello", vec![s("x")]).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::WrongMode { module, reducer, mode: "write", .. }
            if module == "hello" && reducer == "hello"),
        "{e:?}"
    );
    // Trigger and init reducers are the runtime's to call.
    let e = rt.call("hello", "init", vec![]).await.unwrap_err();
    assert!(
        matches!(
            &e,
            RuntimeError::WrongMode {
                mode: "trigger",
                ..
            }
        ),
        "{e:?}"
    );
    let e = rt
        .call_encoded("hello", "greeting_count", vec![0x80])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::WrongMode { mode: "read", .. }),
        "{e:?}"
    );
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_wasm() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    for bytes in [
        b"not wasm at all".to_vec(),
        Vec::new(),
        // A valid header followed by garbage.
        [b"\0asm\x01\0\0\0".as_slice(), &[0xff; 16]].concat(),
        // A truncated real module.
        wasm("hello")[..100].to_vec(),
    ] {
        let e = rt.load_module(bytes.clone()).await.unwrap_err();
        assert!(matches!(e, RuntimeError::MalformedWasm(_)), "{e:?}");
        let e = inspect_module(&bytes).unwrap_err();
        assert!(matches!(e, RuntimeError::MalformedWasm(_)), "{e:?}");
    }
    assert!(rt.modules().is_empty());
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_exports() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let cases = [
        // No memory at all.
        (r#"(module (func (export "f")))"#, "memory"),
        // A memory but none of the functions.
        (
            r#"(module (memory (export "memory") 1))"#,
            "__interstice_abi_version",
        ),
        // Everything but the call entry point.
        (
            r#"(module
                (memory (export "memory") 1)
                (func (export "__interstice_abi_version") (result i32) (i32.const 1))
                (func (export "__interstice_schema") (result i64) (i64.const 0))
                (func (export "__interstice_alloc") (param i32) (result i32) (i32.const 0)))"#,
            "__interstice_call",
        ),
        // An export of the wrong type.
        (
            r#"(module
                (memory (export "memory") 1)
                (func (export "__interstice_abi_version") (result i64) (i64.const 1)))"#,
            "__interstice_abi_version",
        ),
    ];
    for (text, missing) in cases {
        let bytes = wat::parse_str(text).expect("valid wat");
        let e = rt.load_module(bytes).await.unwrap_err();
        assert!(
            matches!(&e, RuntimeError::MissingExport { name, .. } if *name == missing),
            "expected MissingExport({missing}), got {e:?}"
        );
    }
    assert!(rt.modules().is_empty());
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abi_version_mismatch() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let text = raw_module_wat("t_future", 999, "", &[], &[NOOP]);
    let e = rt
        .load_module(wat::parse_str(&text).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RuntimeError::Abi(AbiError::AbiMismatch {
                module: 999,
                host: interstice_abi::ABI_VERSION
            })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("999"), "{e}");
    // The same module with the right version loads: the mismatch was the
    // only thing wrong with it.
    let text = raw_module_wat(
        "t_future",
        interstice_abi::ABI_VERSION as i32,
        "",
        &[],
        &[NOOP],
    );
    rt.load_module(wat::parse_str(&text).unwrap())
        .await
        .expect("the module with the right ABI version");
    rt.call("t_future", "noop", vec![]).await.unwrap();
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_import() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    for (module, name) in [("interstice", "launch_missiles"), ("env", "abort")] {
        let import = format!(r#"(import "{module}" "{name}" (func (param i32)))"#);
        let e = rt
            .load_module(raw_module("t_importer", &import, &[], &[NOOP]))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RuntimeError::UnknownImport { module: m, name: n }
                if m == module && n == name),
            "{e:?}"
        );
    }
    // A known host call with the wrong signature is refused as well.
    let e = rt
        .load_module(raw_module(
            "t_importer",
            r#"(import "interstice" "table_get" (func (param i32)))"#,
            &[],
            &[NOOP],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RuntimeError::ImportMismatch { name, .. } if name == "table_get")
            && e.to_string().contains("(param i32)"),
        "{e:?}"
    );
    assert!(rt.modules().is_empty());
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_cycle_is_refused_and_named() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    rt.load_module(wasm("t_cycle_a"))
        .await
        .expect("t_cycle_a alone closes no cycle");
    let e = rt.load_module(wasm("t_cycle_b")).await.unwrap_err();
    let RuntimeError::DependencyCycle(cycle) = &e else {
        panic!("expected DependencyCycle, got {e:?}");
    };
    assert_eq!(cycle, "t_cycle_b -> t_cycle_a -> t_cycle_b");
    assert!(
        e.to_string()
            .contains("t_cycle_b -> t_cycle_a -> t_cycle_b"),
        "{e}"
    );
    let names: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["t_cycle_a"], "the refused module was not installed");
    still_works(&rt).await;
    rt.shutdown().await.unwrap();

    // The refusal was not logged: a reopened runtime has only t_cycle_a
    // (and hello).
    let rt = open(dir.path()).await;
    let names: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["hello", "t_cycle_a"]);
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_pointer_in_a_host_call_is_a_host_error() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let import = r#"(import "interstice" "table_get" (func $table_get (param i32 i32 i32) (result i64)))
  (import "interstice" "log" (func $log (param i32 i32 i32)))"#;
    let past_end = "(drop (call $table_get (i32.const 0) (i32.const 0x7fff0000) (i32.const 16)))";
    let wraps = "(drop (call $table_get (i32.const 0) (i32.const -1) (i32.const 16)))";
    let long_log = "(call $log (i32.const 2) (i32.const 0) (i32.const 0x10000000))";
    let wasm = raw_module(
        "t_badptr",
        import,
        &[],
        &[
            NOOP,
            RawReducer {
                name: "past_end",
                mode: ReducerMode::Write,
                body: past_end,
            },
            RawReducer {
                name: "wraps",
                mode: ReducerMode::Write,
                body: wraps,
            },
            RawReducer {
                name: "long_log",
                mode: ReducerMode::Write,
                body: long_log,
            },
            RawReducer {
                name: "past_end_read",
                mode: ReducerMode::Read,
                body: past_end,
            },
        ],
    );
    rt.load_module(wasm).await.expect("loading t_badptr");
    rt.call("t_badptr", "noop", vec![]).await.expect("noop");
    for reducer in ["past_end", "wraps", "long_log"] {
        let err = reducer_error(rt.call("t_badptr", reducer, vec![]).await);
        assert_eq!(err.kind, ErrorKind::Host, "{reducer}: {err:?}");
        assert!(
            err.message.contains("outside guest memory"),
            "{reducer}: {}",
            err.message
        );
        // The host survived, and so did the module.
        rt.call("t_badptr", "noop", vec![])
            .await
            .unwrap_or_else(|e| panic!("noop after {reducer}: {e}"));
    }
    let err = reducer_error(rt.read("t_badptr", "past_end_read", vec![]).await);
    assert_eq!(err.kind, ErrorKind::Host, "{err:?}");
    rt.call("t_badptr", "noop", vec![]).await.expect("noop");
    still_works(&rt).await;
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_shutdown_are_refused() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &["hello"]).await;
    let clone = rt.clone();
    rt.shutdown().await.unwrap();
    // Shutting down twice is fine.
    clone.shutdown().await.unwrap();
    let e = clone
        .call("hello", "hello", vec![s("x")])
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::Shutdown), "{e:?}");
    let e = clone
        .read("hello", "greeting_count", vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::Shutdown), "{e:?}");
    let e = clone.load_module(wasm("bank")).await.unwrap_err();
    assert!(matches!(e, RuntimeError::Shutdown), "{e:?}");
    let e = clone.subscribe("hello", "greetings").unwrap_err();
    assert!(matches!(e, RuntimeError::Shutdown), "{e:?}");
    // The data directory was released: it opens again.
    let rt = open(dir.path()).await;
    rt.call("hello", "hello", vec![s("again")]).await.unwrap();
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_results_and_writes_in_reads_are_refused() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    // At DATA: `[0, 5]` (a u64 where `()` is declared), then `[7, null]`
    // (an unknown result tag), then a call target for call_async.
    let target = crate::support::call_target("hello", "hello", "from a read");
    let data = [&[0x82, 0x00, 0x05, 0x82, 0x07, 0xf6][..], &target].concat();
    let at = crate::support::raw::DATA as u64;
    let ret = |ptr: u64, len: u64| format!("(return (i64.const {}))", (ptr << 32) | len);
    let wrong_type = ret(at, 3);
    let bad_tag = ret(at + 3, 3);
    let outside = ret(0x7fff_0000, 16);
    let insert_in_read =
        "(drop (call $insert (i32.const 0) (i32.const 0) (i32.const 1)))".to_owned();
    let call_in_read = format!(
        "(call $call_async (i32.const {}) (i32.const {}))",
        at + 6,
        target.len()
    );
    let imports = r#"(import "interstice" "table_insert" (func $insert (param i32 i32 i32) (result i64)))
  (import "interstice" "call_async" (func $call_async (param i32 i32)))"#;
    let cases: [(&str, ReducerMode, &str, ErrorKind, &str); 5] = [
        (
            "wrong_type",
            ReducerMode::Write,
            &wrong_type,
            ErrorKind::Host,
            "does not match",
        ),
        (
            "bad_tag",
            ReducerMode::Write,
            &bad_tag,
            ErrorKind::Host,
            "result tag",
        ),
        (
            "outside",
            ReducerMode::Write,
            &outside,
            ErrorKind::Trap,
            "outside guest memory",
        ),
        (
            "insert_in_read",
            ReducerMode::Read,
            &insert_in_read,
            ErrorKind::Host,
            "read reducer",
        ),
        (
            "call_in_read",
            ReducerMode::Read,
            &call_in_read,
            ErrorKind::Host,
            "read reducer",
        ),
    ];
    let mut reducers = vec![NOOP];
    reducers.extend(cases.iter().map(|(name, mode, body, _, _)| RawReducer {
        name,
        mode: *mode,
        body,
    }));
    rt.load_module(wasm("hello")).await.unwrap();
    rt.load_module(raw_module("t_rawresult", imports, &data, &reducers))
        .await
        .unwrap();
    let before = rt.metrics();
    for (name, mode, _, kind, text) in cases {
        let result = match mode {
            ReducerMode::Write => rt.call("t_rawresult", name, vec![]).await,
            ReducerMode::Read => rt.read("t_rawresult", name, vec![]).await,
        };
        let err = reducer_error(result);
        assert_eq!(err.kind, kind, "{name}: {err:?}");
        assert!(err.message.contains(text), "{name}: {}", err.message);
        rt.call("t_rawresult", "noop", vec![])
            .await
            .unwrap_or_else(|e| panic!("noop after {name}: {e}"));
    }
    let after = rt.metrics();
    assert_eq!(
        after.rollbacks - before.rollbacks,
        3,
        "the three writes rolled back"
    );
    rt.shutdown().await.unwrap();

    // The read's async call went nowhere: hello only has its init greeting.
    let rt = open(dir.path()).await;
    let n = rt.read("hello", "greeting_count", vec![]).await.unwrap();
    assert_eq!(n.value, u(1));
    rt.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_code_under_a_loaded_name_and_dangling_subscriptions_are_refused() {
    let dir = tempdir();
    let rt = open(dir.path()).await;
    // caller subscribes to hello.greetings: hello must be loaded first.
    let e = rt.load_module(wasm("caller")).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::BadSubscription { module, reason }
            if module == "caller" && reason.contains("hello")),
        "{e:?}"
    );
    assert!(rt.modules().is_empty());

    rt.load_module(wasm("hello")).await.unwrap();
    let rt2 = rt.clone();
    crate::support::eventually(10, "hello's init greeting", move || {
        let rt = rt2.clone();
        async move {
            rt.read("hello", "greeting_count", vec![])
                .await
                .unwrap()
                .value
                == u(1)
        }
    })
    .await;
    // The same binary again is a no-op…
    rt.load_module(wasm("hello")).await.unwrap();
    // …other code under the same name is an upgrade, refused here: it
    // drops the table that holds the greeting.
    let impostor = raw_module("hello", "", &[], &[NOOP]);
    let e = rt.load_module(impostor).await.unwrap_err();
    assert!(
        matches!(&e, RuntimeError::IncompatibleSchema { module, table, .. }
            if module == "hello" && table == "greetings"),
        "{e:?}"
    );
    rt.load_module(wasm("caller"))
        .await
        .expect("caller loads once hello is there");
    // hello is still the real one.
    let out = rt.call("hello", "hello", vec![s("real")]).await.unwrap();
    assert_eq!(out.value, u(2), "init greeted first; this is greeting 2");
    rt.shutdown().await.unwrap();

    let entries = crate::support::log_entries(dir.path());
    let installs: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            interstice_persist::LogEntry::Install(i) => Some(i.name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(installs, ["hello", "caller"], "one install each");
}

/// The kinds `run` replies carry come from `RuntimeError::kind`, and a
/// reducer failure's kind is its `ErrorKind`'s name: the spelling the CLI
/// derived by hand before (`{:?}` of the kind), for every kind.
#[test]
fn error_kinds_are_stable_strings() {
    use interstice_actors::ReducerError;
    for kind in ErrorKind::ALL {
        assert_eq!(kind.name(), format!("{kind:?}"));
        let e = RuntimeError::Reducer {
            module: "m".into(),
            reducer: "r".into(),
            error: ReducerError {
                kind,
                message: String::new(),
                value: None,
            },
        };
        assert_eq!(e.kind(), kind.name());
    }
    assert_eq!(
        RuntimeError::UnknownModule("m".into()).kind(),
        "UnknownModule"
    );
    assert_eq!(
        RuntimeError::ArgCount {
            module: "m".into(),
            reducer: "r".into(),
            expected: 1,
            got: 2
        }
        .kind(),
        "BadArguments"
    );
    assert_eq!(RuntimeError::Internal("x".into()).kind(), "Internal");
}
