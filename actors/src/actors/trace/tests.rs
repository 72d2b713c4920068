//! Unit tests of the trace writer: the Chrome JSON it writes for spans,
//! read calls, flows and drops, and the folded stacks.

use super::*;

fn span(start: Instant, module: &str, reducer: &str, dur_us: u64) -> ExecSpan {
    ExecSpan {
        start,
        dur: Duration::from_micros(dur_us),
        module: module.into(),
        reducer: reducer.into(),
        write: true,
        cause: Some(Cause::External),
        outcome: SpanOutcome::Ok,
        fuel: 42,
        attempts: 1,
        reads: Vec::new(),
        flow_in: None,
    }
}

fn read(start: Instant, module: &str, reducer: &str, dur_us: u64) -> ReadSpan {
    ReadSpan {
        start,
        dur: Duration::from_micros(dur_us),
        module: module.into(),
        reducer: reducer.into(),
        fuel: 7,
        outcome: SpanOutcome::Ok,
    }
}

fn events(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v.as_array().expect("the array format").clone()
}

#[test]
fn spans_reads_flows_and_metadata_are_written_and_the_array_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (chrome, folded) = (dir.path().join("t.json"), dir.path().join("t.folded"));
    let config = TraceConfig::default()
        .with_chrome(&chrome)
        .with_folded(&folded);
    let (tracer, writer) = TraceWriter::start(&config).unwrap().expect("tracing on");
    let t0 = Instant::now();
    let mut caller = span(t0, "caller", "greet", 100);
    caller
        .reads
        .push(read(t0 + Duration::from_micros(40), "hello", "count", 20));
    let flow = tracer.flow_id();
    tracer.exec(Some(5), Box::new(caller), vec![flow]);
    let mut delivery = span(t0 + Duration::from_micros(200), "hello", "hello", 10);
    delivery.cause = Some(Cause::Call {
        module: "caller".into(),
        ts: 5,
        index: 0,
        reply: None,
    });
    delivery.outcome = SpanOutcome::Err("UserError", "no".into());
    delivery.flow_in = Some(flow);
    tracer.exec(Some(6), Box::new(delivery), Vec::new());
    let mut outside = span(t0 + Duration::from_micros(300), "hello", "count", 5);
    outside.write = false;
    tracer.exec(None, Box::new(outside), Vec::new());
    writer.stop();

    let ev = events(&chrome);
    let xs: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(xs.len(), 4, "three executions and one read call: {ev:?}");
    let greet = xs.iter().find(|e| e["name"] == "caller.greet").unwrap();
    assert_eq!(greet["cat"], "write");
    assert_eq!(greet["args"]["module"], "caller");
    assert_eq!(greet["args"]["reducer"], "greet");
    assert_eq!(greet["args"]["ts"], 5);
    assert_eq!(greet["args"]["outcome"], "ok");
    assert_eq!(greet["args"]["fuel"], 42);
    assert_eq!(greet["args"]["cause"], "external");
    let count = xs
        .iter()
        .find(|e| e["cat"] == "read_call")
        .expect("the read call");
    assert_eq!(count["name"], "hello.count");
    assert_eq!(count["tid"], greet["tid"], "on the caller's thread");
    assert_eq!(count["args"]["ts"], 5, "the caller's timestamp");
    assert_eq!(count["args"]["caller"], "caller.greet");
    let (g0, gd) = (
        greet["ts"].as_f64().unwrap(),
        greet["dur"].as_f64().unwrap(),
    );
    let (c0, cd) = (
        count["ts"].as_f64().unwrap(),
        count["dur"].as_f64().unwrap(),
    );
    assert!(g0 < c0 && c0 + cd < g0 + gd, "nested: {greet} {count}");
    let hello = xs.iter().find(|e| e["name"] == "hello.hello").unwrap();
    assert_eq!(hello["args"]["outcome"], "err");
    assert_eq!(hello["args"]["error_kind"], "UserError");
    assert_eq!(hello["args"]["cause"], "async call #0 of caller at ts 5");
    assert_ne!(hello["tid"], greet["tid"], "one thread per module");
    let read = xs.iter().find(|e| e["cat"] == "read").unwrap();
    assert_eq!(read["args"]["ts"], Value::Null, "a read has no timestamp");

    let s = ev.iter().find(|e| e["ph"] == "s").expect("flow start");
    let f = ev.iter().find(|e| e["ph"] == "f").expect("flow finish");
    assert_eq!(s["id"], f["id"]);
    assert_eq!(f["bp"], "e");
    assert_eq!(s["tid"], greet["tid"]);
    assert_eq!(f["tid"], hello["tid"]);
    let inside = |e: &Value, x: &Value| {
        let t = e["ts"].as_f64().unwrap();
        let (x0, xd) = (x["ts"].as_f64().unwrap(), x["dur"].as_f64().unwrap());
        x0 <= t && t <= x0 + xd
    };
    assert!(
        inside(s, greet) && !inside(s, count),
        "bound to the span itself"
    );
    assert!(inside(f, hello));

    let names: Vec<&Value> = ev
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| &e["args"]["name"])
        .collect();
    assert_eq!(names, ["caller", "hello"]);
    let meta = ev.iter().find(|e| e["name"] == "interstice_trace").unwrap();
    assert_eq!(meta["args"]["executions"], 3);
    assert_eq!(meta["args"]["read_calls"], 1);
    assert_eq!(meta["args"]["dropped"], 0);

    let folded = std::fs::read_to_string(&folded).unwrap();
    assert_eq!(
        folded, "caller;greet 80\ncaller;greet;hello.count 20\nhello;count 5\nhello;hello 10\n",
        "self time of each stack, in µs"
    );
}

#[test]
fn drops_are_reported_as_an_instant_and_in_the_closing_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let file = File::create(&path).unwrap();
    let mut out = Out::new(Some((BufWriter::new(file), path.clone())), false);
    out.begin();
    out.drops(3);
    out.drops(3);
    out.finish(5);
    drop(out);
    let ev = events(&path);
    let instants: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "i").collect();
    assert_eq!(instants.len(), 2, "3 dropped, then 2 more: {ev:?}");
    assert_eq!(instants[0]["args"]["dropped"], 3);
    assert_eq!(instants[1]["args"]["dropped"], 2);
    let meta = ev.iter().find(|e| e["name"] == "interstice_trace").unwrap();
    assert_eq!(meta["args"]["dropped"], 5);
}

#[test]
fn a_full_channel_drops_and_counts_instead_of_waiting() {
    let (tx, _rx) = sync_channel(1);
    let tracer = Tracer {
        tx,
        dropped: Arc::default(),
        next_flow: AtomicU64::new(1),
    };
    let t0 = Instant::now();
    for _ in 0..3 {
        tracer.exec(Some(1), Box::new(span(t0, "m", "r", 1)), Vec::new());
    }
    assert_eq!(tracer.dropped().load(Ordering::Relaxed), 2);
}

#[test]
fn a_crash_leaves_an_array_without_its_closing_bracket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let file = File::create(&path).unwrap();
    let mut out = Out::new(Some((BufWriter::new(file), path.clone())), false);
    out.begin();
    out.exec(Some(1), &span(Instant::now(), "m", "r", 1), &[]);
    out.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let closed: Value = serde_json::from_str(&format!("{text}]")).unwrap();
    assert!(closed
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "m.r"));
}

#[test]
fn no_file_named_means_tracing_is_off() {
    assert!(TraceWriter::start(&TraceConfig::default())
        .unwrap()
        .is_none());
}

#[test]
fn an_uncreatable_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("missing").join("t.json");
    let err = TraceWriter::start(&TraceConfig::default().with_chrome(&bad)).unwrap_err();
    assert!(err.to_string().contains("t.json"), "{err}");
}
