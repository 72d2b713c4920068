//! Reducer traces (`docs/TOOLS.md`, "Reducer traces"): the Chrome Trace
//! Event JSON and the folded stacks a traced runtime writes, through the
//! embedding API and through `interstice run --trace`, checked against the
//! log the same runtime wrote.

use std::path::Path;
use std::time::Duration;

use interstice_actors::{Runtime, TraceConfig};
use interstice_persist::{Cause, Outcome};
use serde_json::{json, Value as Json};

use crate::support::{
    as_u64, commits, eventually, log_entries, open_retrying, s, tempdir, u, wasm, Server,
};

/// The trace file as the array of its events (it must parse whole).
fn trace_events(path: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).expect("the trace file");
    let v: Json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the trace is not valid JSON ({e}):\n{text}"));
    v.as_array().expect("Chrome's JSON array format").clone()
}

/// The complete (`X`) events of category `cat`.
fn spans<'a>(events: &'a [Json], cat: &str) -> Vec<&'a Json> {
    events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == cat)
        .collect()
}

fn interval(e: &Json) -> (f64, f64) {
    let t = e["ts"].as_f64().expect("ts in µs");
    (t, t + e["dur"].as_f64().expect("dur in µs"))
}

/// Whether the event at `e.ts` on `e.tid` lies inside span `x`.
fn inside(e: &Json, x: &Json) -> bool {
    let (a, b) = interval(x);
    let t = e["ts"].as_f64().expect("ts");
    e["tid"] == x["tid"] && a <= t && t <= b
}

/// The one write span of the commit at `ts`.
fn write_span(events: &[Json], ts: u64) -> &Json {
    let found: Vec<&Json> = spans(events, "write")
        .into_iter()
        .filter(|e| e["args"]["ts"] == ts)
        .collect();
    assert_eq!(found.len(), 1, "one span for the commit at ts {ts}");
    found[0]
}

/// Every flow start has exactly one finish with its id; returns the pairs.
fn flow_pairs(events: &[Json]) -> Vec<(&Json, &Json)> {
    let starts: Vec<&Json> = events.iter().filter(|e| e["ph"] == "s").collect();
    let finishes: Vec<&Json> = events.iter().filter(|e| e["ph"] == "f").collect();
    assert_eq!(
        starts.len(),
        finishes.len(),
        "flows pair up: {starts:?} {finishes:?}"
    );
    starts
        .into_iter()
        .map(|s| {
            let f: Vec<&Json> = finishes
                .iter()
                .copied()
                .filter(|f| f["id"] == s["id"])
                .collect();
            assert_eq!(f.len(), 1, "one finish for flow {}", s["id"]);
            assert_eq!(f[0]["bp"], "e", "bound to the enclosing slice");
            (s, f[0])
        })
        .collect()
}

/// `(stack, weight)` of each folded line; every line is well formed.
fn folded_lines(path: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(path).expect("the folded file");
    text.lines()
        .map(|l| {
            let (stack, w) = l.rsplit_once(' ').expect("`stack weight`");
            let w: u64 = w.parse().expect("an integer weight");
            assert!(w >= 1, "a stack that ran weighs at least 1 µs: {l}");
            (stack.to_owned(), w)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_execution_is_a_span_with_nested_read_calls_and_flows_to_its_deliveries() {
    let dir = tempdir();
    let out = tempdir();
    let (chrome, folded) = (out.path().join("trace.json"), out.path().join("t.folded"));
    let b = Runtime::builder().data_dir(dir.path()).trace(
        TraceConfig::default()
            .with_chrome(&chrome)
            .with_folded(&folded),
    );
    let rt = open_retrying(b).await.expect("opening a traced runtime");
    for m in ["hello", "caller", "bank"] {
        rt.load_module(wasm(m)).await.expect("loading");
    }
    let greet = rt.call("caller", "greet", vec![s("ann")]).await.unwrap();
    let greet_ts = greet.ts.expect("a write");
    let rt2 = rt.clone();
    eventually(20, "the trigger to reach caller", move || {
        let rt = rt2.clone();
        async move {
            let n = rt.read("caller", "seen_count", vec![]).await.unwrap();
            as_u64(&n.value) == 1
        }
    })
    .await;
    let count = rt.read("caller", "hello_count", vec![]).await.unwrap();
    assert_eq!(as_u64(&count.value), 2, "world (init) and ann");
    let failed = rt.call("bank", "transfer", vec![u(1), u(2), u(5)]).await;
    assert!(failed.is_err(), "no such account");
    rt.shutdown().await.unwrap();

    let events = trace_events(&chrome);
    let entries = log_entries(dir.path());
    let logged = commits(&entries);

    // One write span per logged commit, with its logged facts.
    assert_eq!(
        spans(&events, "write").len(),
        logged.len(),
        "one span per commit: {events:#?}"
    );
    for c in &logged {
        let e = write_span(&events, c.ts);
        let a = &e["args"];
        assert_eq!(a["module"], c.module.as_str());
        assert_eq!(a["reducer"], c.reducer.as_str());
        assert_eq!(e["name"], format!("{}.{}", c.module, c.reducer));
        match &c.outcome {
            Outcome::Ok(_) => {
                assert_eq!(a["outcome"], "ok", "{e}");
                assert!(a["fuel"].as_u64().unwrap() > 0, "it ran: {e}");
            }
            Outcome::Err { kind, message, .. } => {
                assert_eq!(a["outcome"], "err", "{e}");
                assert_eq!(a["error_kind"], kind.name());
                assert_eq!(a["error"], message.as_str());
            }
        }
        assert!(e["dur"].as_f64().unwrap() > 0.0);
    }
    let transfer = logged
        .iter()
        .find(|c| c.reducer == "transfer")
        .expect("the failed transfer is logged");
    assert_eq!(
        write_span(&events, transfer.ts)["args"]["error_kind"],
        "UserError"
    );

    // The deliveries: greet's async call and the trigger of hello.hello's
    // insert, each an arrow from the commit's span to the delivery's.
    let hello = logged
        .iter()
        .find(|c| matches!(&c.cause, Cause::Call { ts, .. } if *ts == greet_ts))
        .expect("the async call's commit");
    let seen = logged
        .iter()
        .find(|c| matches!(&c.cause, Cause::Trigger { ts, .. } if *ts == hello.ts))
        .expect("the trigger's commit");
    let (greet_span, hello_span, seen_span) = (
        write_span(&events, greet_ts),
        write_span(&events, hello.ts),
        write_span(&events, seen.ts),
    );
    assert_eq!(
        hello_span["args"]["cause"],
        format!("async call #0 of caller at ts {greet_ts}")
    );
    let pairs = flow_pairs(&events);
    assert_eq!(pairs.len(), 2, "two deliveries: {pairs:?}");
    let arrow =
        |from: &Json, to: &Json| pairs.iter().any(|(s, f)| inside(s, from) && inside(f, to));
    assert!(arrow(greet_span, hello_span), "greet → hello.hello");
    assert!(arrow(hello_span, seen_span), "hello.hello → on_greeting");

    // The read from outside, with its read call nested on its thread.
    let reads = spans(&events, "read");
    let hc = reads
        .iter()
        .find(|e| e["name"] == "caller.hello_count")
        .expect("the read's span");
    assert_eq!(hc["args"]["ts"], Json::Null, "a read has no timestamp");
    assert_eq!(hc["args"]["outcome"], "ok");
    let calls = spans(&events, "read_call");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let gc = calls[0];
    assert_eq!(gc["name"], "hello.greeting_count");
    assert_eq!(gc["args"]["module"], "hello");
    assert_eq!(gc["args"]["caller"], "caller.hello_count");
    assert_eq!(gc["tid"], hc["tid"], "on the caller's thread");
    let ((a, b), (c, d)) = (interval(hc), interval(gc));
    assert!(a <= c && d <= b, "nested: {hc} {gc}");
    assert!(gc["args"]["fuel"].as_u64().unwrap() > 0);
    assert!(hc["args"]["fuel"].as_u64() >= gc["args"]["fuel"].as_u64());

    // Metadata: the threads are named after the modules; the closing
    // record counts what was written.
    let mut names: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bank", "caller", "hello"]);
    for e in spans(&events, "write") {
        let module = e["args"]["module"].as_str().unwrap();
        let named = events.iter().any(|m| {
            m["name"] == "thread_name" && m["tid"] == e["tid"] && m["args"]["name"] == module
        });
        assert!(named, "{module}'s thread is named");
    }
    let meta = events
        .iter()
        .find(|e| e["name"] == "interstice_trace")
        .expect("the closing metadata");
    assert_eq!(
        meta["args"]["executions"],
        logged.len() as u64 + reads.len() as u64
    );
    assert_eq!(meta["args"]["read_calls"], 1);
    assert_eq!(meta["args"]["dropped"], 0);
    assert_eq!(rt.metrics().trace_dropped, 0);

    // Folded stacks: one line per stack that ran.
    let lines = folded_lines(&folded);
    let stacks: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
    for want in [
        "caller;greet",
        "hello;hello",
        "hello;init",
        "caller;on_greeting",
        "caller;hello_count",
        "caller;hello_count;hello.greeting_count",
        "caller;seen_count",
        "bank;transfer",
    ] {
        assert!(stacks.contains(&want), "`{want}` in {stacks:?}");
    }
    let mut sorted = stacks.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, stacks, "one line per stack, sorted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_off_writes_nothing_and_tracing_on_an_unwritable_path_fails_the_open() {
    let dir = tempdir();
    let rt = open_retrying(Runtime::builder().data_dir(dir.path()))
        .await
        .unwrap();
    rt.load_module(wasm("hello")).await.unwrap();
    rt.shutdown().await.unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(
        !files.iter().any(|f| f.contains("trace")),
        "no trace file: {files:?}"
    );

    let bad = dir.path().join("no-such-dir").join("trace.json");
    let err = Runtime::builder()
        .data_dir(tempdir().path())
        .trace(TraceConfig::default().with_chrome(&bad))
        .open()
        .await
        .expect_err("the trace file cannot be created");
    assert!(err.to_string().contains("trace.json"), "{err}");
}

#[test]
fn run_trace_writes_a_valid_trace_after_a_normal_shutdown() {
    let dir = tempdir();
    let out = tempdir();
    let chrome = out.path().join("run.json");
    let folded = out.path().join("run.folded");
    let (c, f) = (chrome.to_str().unwrap(), folded.to_str().unwrap());
    let mut srv = Server::start(
        dir.path(),
        &["--trace", c, "--trace-folded", f],
        &["hello", "caller"],
    );
    let r = srv.request(
        json!({"id": 1, "op": "call", "module": "caller", "reducer": "greet",
        "args": ["bo"]}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let greet_ts = r["ts"].as_u64().expect("a timestamp");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = srv.request(
            json!({"id": 2, "op": "read", "module": "caller", "reducer": "seen_count", "args": []}),
        );
        if r["result"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the trigger never ran: {r}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    srv.close_input();
    let (status, _, stderr) = srv.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");

    let events = trace_events(&chrome);
    let greet = write_span(&events, greet_ts);
    assert_eq!(greet["name"], "caller.greet");
    assert_eq!(greet["args"]["outcome"], "ok");
    assert_eq!(
        flow_pairs(&events).len(),
        2,
        "the async call and the trigger"
    );
    assert!(events.iter().any(|e| e["name"] == "interstice_trace"));
    let stacks: Vec<String> = folded_lines(&folded).into_iter().map(|(s, _)| s).collect();
    assert!(stacks.contains(&"caller;greet".to_owned()), "{stacks:?}");
    assert!(
        stacks.contains(&"caller;seen_count".to_owned()),
        "{stacks:?}"
    );
}
