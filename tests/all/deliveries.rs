//! Tests: deliveries that fail. An async call (or a trigger) has no caller
//! waiting for it, so when its transaction fails the runtime makes the
//! failure visible three ways: a `warn` event naming the module, the reducer
//! and the commit that caused it; `Metrics::failed_deliveries`; and the
//! logged commit record with the error, which the log tools show.

use interstice_actors::{ErrorKind, ReducerMode};
use interstice_persist::{Cause, Outcome};

use crate::support::{
    commits, eventually, log_entries, open, raw_module, tempdir, warn_events, warnings, RawReducer,
};

/// `t_failee.boom` traps; `t_failer.fire` queues an async call to it.
pub(crate) fn failing_pair() -> (Vec<u8>, Vec<u8>) {
    let failee = raw_module(
        "t_failee",
        "",
        &[],
        &[RawReducer {
            name: "boom",
            mode: ReducerMode::Write,
            body: "(unreachable)",
        }],
    );
    // `["t_failee", "boom", []]`: no arguments.
    let mut w = interstice_abi::cbor::Writer::new();
    w.array(3);
    w.str("t_failee");
    w.str("boom");
    w.array(0);
    let target = w.into_vec();
    let fire = format!(
        "(call $call_async (i32.const {}) (i32.const {}))",
        crate::support::raw::DATA,
        target.len()
    );
    let failer = raw_module(
        "t_failer",
        r#"(import "interstice" "call_async" (func $call_async (param i32 i32)))"#,
        &target,
        &[RawReducer {
            name: "fire",
            mode: ReducerMode::Write,
            body: &fire,
        }],
    );
    (failee, failer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_async_call_is_warned_counted_and_logged() {
    warnings(); // installs the capture before anything runs
    let dir = tempdir();
    let rt = open(dir.path()).await;
    let (failee, failer) = failing_pair();
    rt.load_module(failee).await.expect("loading t_failee");
    rt.load_module(failer).await.expect("loading t_failer");
    let before = rt.metrics().failed_deliveries;

    let fired = rt
        .call("t_failer", "fire", vec![])
        .await
        .expect("the caller commits: the call is only queued");
    let fired_ts = fired.ts.expect("a write has a timestamp");

    let rt2 = rt.clone();
    eventually(10, "the failed delivery to be counted", move || {
        let rt = rt2.clone();
        async move { rt.metrics().failed_deliveries == before + 1 }
    })
    .await;

    let warned = warnings();
    let line = warned
        .lines()
        .find(|l| l.contains("delivery failed") && l.contains("t_failee"))
        .unwrap_or_else(|| panic!("no warn event for the failed delivery in:\n{warned}"));
    for part in [
        "WARN",
        "module=t_failee",
        "reducer=boom",
        "cause=\"async call\"",
        "cause_module=t_failer",
        &format!("cause_ts={fired_ts}"),
        "kind=\"Trap\"",
    ] {
        assert!(
            line.contains(part),
            "`{part}` missing from the warning: {line}"
        );
    }
    rt.shutdown().await.unwrap();

    let entries = log_entries(dir.path());
    let all = commits(&entries);
    let failed: Vec<_> = all
        .iter()
        .filter(|c| c.module == "t_failee" && c.reducer == "boom")
        .collect();
    // The event is emitted inside a span carrying the module, the reducer
    // and the failed commit's timestamp (`actors/src/events.rs`).
    let event = warn_events()
        .into_iter()
        .find(|e| {
            e.message.starts_with("delivery failed")
                && e.span_fields.get("module").map(String::as_str) == Some("t_failee")
        })
        .expect("the failed delivery's warn event, seen by the capturing layer");
    assert_eq!(event.level, "WARN");
    assert_eq!(event.span_fields["reducer"], "boom", "{event:?}");
    assert_eq!(
        event.span_fields.get("ts"),
        failed.first().map(|c| c.ts.to_string()).as_ref(),
        "the span's ts is the failed commit's: {event:?}"
    );
    assert_eq!(event.fields["cause_ts"], fired_ts.to_string(), "{event:?}");
    assert_eq!(failed.len(), 1, "the failed delivery is logged once");
    assert_eq!(
        failed[0].cause,
        Cause::Call {
            module: "t_failer".into(),
            ts: fired_ts,
            index: 0,
            reply: None
        }
    );
    match &failed[0].outcome {
        Outcome::Err { kind, .. } => assert_eq!(*kind, ErrorKind::Trap),
        other => panic!("the failed delivery is logged as {other:?}"),
    }
    assert!(failed[0].mutations.is_empty(), "a failure writes nothing");
}
