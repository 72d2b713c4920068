//! Reducer traces: every reducer execution as a span in Chrome's Trace
//! Event format (`RuntimeConfig::trace`, `run --trace FILE`; loadable in
//! Perfetto or `chrome://tracing`), and folded stacks for flamegraph tools
//! (`run --trace-folded FILE`). `docs/TOOLS.md`, "Reducer traces", specifies
//! both files.
//!
//! A write transaction runs before it has a timestamp, so its span is only
//! complete once it is numbered: the module actor measures the execution
//! (wall-clock start and duration, fuel, outcome, attempts) and its read
//! calls (measured by the caller's [`crate::actors::peers::LivePeers`])
//! into an [`ExecSpan`] that travels with the entry's `CommitInfo`; the
//! router, which learns the timestamp, hands it to this writer with the
//! flow ids of the deliveries the commit caused. A failed transaction is
//! logged with a timestamp too, so it gets one here. A read reducer called
//! from outside has no timestamp (`ts` is `null`) and is handed over by
//! the module actor directly.
//!
//! The writer is a thread of its own fed through a bounded channel: no
//! module thread and no actor ever waits for it. When the channel is full
//! an event is dropped and counted (`Metrics::trace_dropped`, an instant
//! event in the trace once there is room, and the total in the closing
//! metadata event). With tracing off, `Shared::tracer` is `None` and every
//! place that would measure takes one branch on it and allocates nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use interstice_persist::{Cause, ErrorKind};
use serde_json::{json, Value};

use crate::config::TraceConfig;

/// The `pid` of every event (one process: the runtime).
const PID: u64 = 1;
/// How often the writer flushes while events keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SpanOutcome {
    Ok,
    /// The error kind's name and message.
    Err(&'static str, String),
}

impl SpanOutcome {
    pub(crate) fn of<T>(result: &Result<T, crate::wasm::transaction::Failure>) -> Self {
        match result {
            Ok(_) => SpanOutcome::Ok,
            Err(f) => SpanOutcome::Err(f.kind.name(), f.message.clone()),
        }
    }

    fn err(kind: ErrorKind, message: &str) -> Self {
        SpanOutcome::Err(kind.name(), message.to_owned())
    }

    fn put(&self, args: &mut serde_json::Map<String, Value>) {
        match self {
            SpanOutcome::Ok => {
                args.insert("outcome".into(), json!("ok"));
            }
            SpanOutcome::Err(kind, message) => {
                args.insert("outcome".into(), json!("err"));
                args.insert("error_kind".into(), json!(kind));
                args.insert("error".into(), json!(message));
            }
        }
    }
}

/// One read call, measured by its caller around the round trip.
#[derive(Debug, Clone)]
pub(crate) struct ReadSpan {
    pub start: Instant,
    pub dur: Duration,
    /// The module called.
    pub module: Arc<str>,
    pub reducer: String,
    /// Fuel the read burnt (0 if it failed).
    pub fuel: u64,
    pub outcome: SpanOutcome,
}

impl ReadSpan {
    /// Measures a read call that started at `start` and answered `result`
    /// (the tagged result bytes of a read reducer, or the failure).
    pub(crate) fn measured(
        start: Instant,
        module: Arc<str>,
        reducer: &str,
        result: &Result<crate::wasm::env::ReadAnswer, crate::wasm::env::ReadCallError>,
    ) -> Self {
        use crate::wasm::env::ReadCallError;
        let (fuel, outcome) = match result {
            Ok(a) => {
                let mut r = interstice_abi::cbor::Reader::new(&a.result);
                let tag = interstice_abi::host::read_result_head(&mut r);
                let outcome = match tag {
                    Ok(interstice_abi::host::ResultTag::Ok) => SpanOutcome::Ok,
                    _ => SpanOutcome::err(ErrorKind::UserError, "the read returned Err"),
                };
                (a.fuel, outcome)
            }
            Err(ReadCallError::Failed(f)) => (0, SpanOutcome::err(f.kind, &f.message)),
            Err(ReadCallError::UnknownModule) => {
                (0, SpanOutcome::err(ErrorKind::Host, "no such module"))
            }
            Err(ReadCallError::TimedOut) => (0, SpanOutcome::err(ErrorKind::Timeout, "timed out")),
            Err(ReadCallError::Stopped) => {
                (0, SpanOutcome::err(ErrorKind::Host, "the module stopped"))
            }
            Err(ReadCallError::Offline) => (0, SpanOutcome::err(ErrorKind::Host, "offline")),
        };
        ReadSpan {
            start,
            dur: start.elapsed(),
            module,
            reducer: reducer.to_owned(),
            fuel,
            outcome,
        }
    }
}

/// One reducer execution: a write transaction (with all its attempts), a
/// migration, a delivery cut by the fan-out budget (which does not run:
/// fuel 0), or a read reducer called from outside.
#[derive(Debug, Clone)]
pub(crate) struct ExecSpan {
    pub start: Instant,
    pub dur: Duration,
    pub module: Arc<str>,
    pub reducer: String,
    /// A write transaction (logged, numbered) or a read.
    pub write: bool,
    pub cause: Option<Cause>,
    pub outcome: SpanOutcome,
    /// Fuel burnt over every attempt, read calls included.
    pub fuel: u64,
    /// Runs of the reducer (more than 1 when a module it read committed
    /// before it was numbered).
    pub attempts: u32,
    /// Its read calls, in order.
    pub reads: Vec<ReadSpan>,
    /// The flow id of the delivery this execution is (an async call or a
    /// trigger the router delivered while tracing).
    pub flow_in: Option<u64>,
}

/// What the writer is sent.
enum Msg {
    /// An execution, with its logical timestamp (`None` for a read) and
    /// the flow ids of the deliveries it caused.
    Exec {
        ts: Option<u64>,
        span: Box<ExecSpan>,
        flows_out: Vec<u64>,
    },
    /// Read calls made by a read reducer that was itself read-called by
    /// `thread`'s module: drawn on that module's thread, inside its span.
    Nested {
        thread: Arc<str>,
        via: String,
        reads: Vec<ReadSpan>,
    },
    /// Close the files, then exit.
    Stop,
}

/// The runtime's end: hands spans over without waiting.
#[derive(Debug)]
pub(crate) struct Tracer {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    next_flow: AtomicU64,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Exec { .. } => "Exec",
            Msg::Nested { .. } => "Nested",
            Msg::Stop => "Stop",
        })
    }
}

impl Tracer {
    fn send(&self, msg: Msg) {
        match self.tx.try_send(msg) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Hands an execution over (the router, once `ts` is known; the module
    /// actor for a read, `ts` `None`).
    pub(crate) fn exec(&self, ts: Option<u64>, span: Box<ExecSpan>, flows_out: Vec<u64>) {
        self.send(Msg::Exec {
            ts,
            span,
            flows_out,
        });
    }

    /// Hands over the read calls of the read reducer `via` (`module.reducer`)
    /// that module `thread` read-called.
    pub(crate) fn nested(&self, thread: Arc<str>, via: String, reads: Vec<ReadSpan>) {
        self.send(Msg::Nested { thread, via, reads });
    }

    /// A new flow id (one per delivery).
    pub(crate) fn flow_id(&self) -> u64 {
        self.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    /// Events dropped so far because the writer was behind.
    pub(crate) fn dropped(&self) -> &Arc<AtomicU64> {
        &self.dropped
    }
}

/// The writer thread; [`TraceWriter::stop`] closes the files and joins it
/// (dropping it does the same).
#[derive(Debug)]
pub(crate) struct TraceWriter {
    handle: Option<JoinHandle<()>>,
    tx: Option<SyncSender<Msg>>,
}

impl TraceWriter {
    /// Creates the files `config` names (truncating them) and starts the
    /// writer; `None` when it names none (tracing off).
    pub(crate) fn start(config: &TraceConfig) -> std::io::Result<Option<(Tracer, TraceWriter)>> {
        if config.chrome.is_none() && config.folded.is_none() {
            return Ok(None);
        }
        let create = |p: &PathBuf| {
            File::create(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("trace file {}: {e}", p.display()))
            })
        };
        let chrome = match &config.chrome {
            Some(p) => Some((BufWriter::with_capacity(64 << 10, create(p)?), p.clone())),
            None => None,
        };
        let folded = match &config.folded {
            Some(p) => Some((create(p)?, p.clone())),
            None => None,
        };
        let (tx, rx) = sync_channel(config.buffer.max(1));
        let dropped: Arc<AtomicU64> = Arc::default();
        let mut out = Out::new(chrome, folded.is_some());
        out.begin();
        let counter = dropped.clone();
        let handle = std::thread::Builder::new()
            .name("interstice traces".into())
            .spawn(move || run(out, folded, rx, counter))?;
        let tracer = Tracer {
            tx: tx.clone(),
            dropped,
            next_flow: AtomicU64::new(1),
        };
        let writer = TraceWriter {
            handle: Some(handle),
            tx: Some(tx),
        };
        Ok(Some((tracer, writer)))
    }

    /// Lets the writer write what it was given, close the JSON array and
    /// write the folded stacks, then joins it.
    pub(crate) fn stop(mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// The Chrome trace being written, and the folded stacks being summed.
struct Out {
    chrome: Option<(BufWriter<File>, PathBuf)>,
    /// Whether anything was written after the opening `[`.
    any: bool,
    /// Module → `tid`, in order of first appearance.
    tids: HashMap<Arc<str>, u64>,
    epoch: Instant,
    /// Stack → nanoseconds of wall time (self time), if folded stacks are
    /// wanted.
    folded: Option<HashMap<String, u128>>,
    executions: u64,
    read_calls: u64,
    /// Dropped events already reported.
    reported_drops: u64,
    last_flush: Instant,
}

/// Microseconds since `epoch`, to the nanosecond.
fn micros(epoch: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(epoch).as_nanos() as f64 / 1000.0
}

fn dur_micros(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// Where a flow event of `span` is placed: inside the span, before its
/// first read call (so it binds to the span itself, not to a read call).
fn anchor(span: &ExecSpan) -> Instant {
    let until = span
        .reads
        .first()
        .map_or(span.dur, |r| r.start.saturating_duration_since(span.start));
    span.start + until / 2
}

fn cause_text(cause: &Cause) -> String {
    match cause {
        Cause::External => "external".into(),
        Cause::Init => "init".into(),
        Cause::Call {
            module, ts, index, ..
        } => format!("async call #{index} of {module} at ts {ts}"),
        Cause::Reply { module, ts, .. } => format!("reply of {module} at ts {ts}"),
        Cause::Trigger { module, ts, index } => {
            format!("trigger of mutation #{index} of {module} at ts {ts}")
        }
        Cause::Migration { table, .. } => format!("migration of table {table}"),
    }
}

impl Out {
    fn new(chrome: Option<(BufWriter<File>, PathBuf)>, folded: bool) -> Self {
        Out {
            chrome,
            any: false,
            tids: HashMap::new(),
            epoch: Instant::now(),
            folded: folded.then(HashMap::new),
            executions: 0,
            read_calls: 0,
            reported_drops: 0,
            last_flush: Instant::now(),
        }
    }

    /// Writes one event (a JSON object) to the array.
    fn event(&mut self, v: &Value) {
        let Some((w, path)) = &mut self.chrome else {
            return;
        };
        let sep: &[u8] = if self.any { b",\n" } else { b"\n" };
        let res = w
            .write_all(sep)
            .and_then(|()| serde_json::to_writer(&mut *w, v).map_err(std::io::Error::from));
        if let Err(e) = res {
            crate::event_in!(WARN, None, None, None;
                file = %path.display(), "the trace is off from here on: {e}");
            self.chrome = None;
            return;
        }
        self.any = true;
    }

    fn begin(&mut self) {
        if let Some((w, _)) = &mut self.chrome {
            let _ = w.write_all(b"[");
        }
        self.event(&json!({
            "name": "process_name", "ph": "M", "pid": PID,
            "args": {"name": "interstice"},
        }));
    }

    /// The `tid` of `module`'s thread, named by a metadata event the first
    /// time.
    fn tid(&mut self, module: &Arc<str>) -> u64 {
        if let Some(t) = self.tids.get(module) {
            return *t;
        }
        let t = self.tids.len() as u64 + 1;
        self.tids.insert(module.clone(), t);
        self.event(&json!({
            "name": "thread_name", "ph": "M", "pid": PID, "tid": t,
            "args": {"name": &**module},
        }));
        self.event(&json!({
            "name": "thread_sort_index", "ph": "M", "pid": PID, "tid": t,
            "args": {"sort_index": t},
        }));
        t
    }

    fn fold(&mut self, stack: String, d: Duration) {
        if let Some(f) = &mut self.folded {
            *f.entry(stack).or_default() += d.as_nanos();
        }
    }

    fn read_event(&mut self, tid: u64, ts: Option<u64>, caller: &str, r: &ReadSpan) {
        self.read_calls += 1;
        let mut args = serde_json::Map::new();
        args.insert("module".into(), json!(&*r.module));
        args.insert("reducer".into(), json!(r.reducer));
        args.insert("ts".into(), json!(ts));
        r.outcome.put(&mut args);
        args.insert("fuel".into(), json!(r.fuel));
        args.insert("caller".into(), json!(caller));
        let v = json!({
            "name": format!("{}.{}", r.module, r.reducer),
            "cat": "read_call", "ph": "X", "pid": PID, "tid": tid,
            "ts": micros(self.epoch, r.start), "dur": dur_micros(r.dur),
            "args": args,
        });
        self.event(&v);
    }

    fn exec(&mut self, ts: Option<u64>, span: &ExecSpan, flows_out: &[u64]) {
        self.executions += 1;
        let tid = self.tid(&span.module);
        let mut args = serde_json::Map::new();
        args.insert("module".into(), json!(&*span.module));
        args.insert("reducer".into(), json!(span.reducer));
        args.insert("ts".into(), json!(ts));
        span.outcome.put(&mut args);
        args.insert("fuel".into(), json!(span.fuel));
        if let Some(c) = &span.cause {
            args.insert("cause".into(), json!(cause_text(c)));
        }
        if span.attempts > 1 {
            args.insert("attempts".into(), json!(span.attempts));
        }
        let v = json!({
            "name": format!("{}.{}", span.module, span.reducer),
            "cat": if span.write { "write" } else { "read" },
            "ph": "X", "pid": PID, "tid": tid,
            "ts": micros(self.epoch, span.start), "dur": dur_micros(span.dur),
            "args": args,
        });
        self.event(&v);
        let caller = format!("{}.{}", span.module, span.reducer);
        let mut in_reads = Duration::ZERO;
        for r in &span.reads {
            self.read_event(tid, ts, &caller, r);
            in_reads += r.dur;
            self.fold(
                format!(
                    "{};{};{}.{}",
                    span.module, span.reducer, r.module, r.reducer
                ),
                r.dur,
            );
        }
        self.fold(
            format!("{};{}", span.module, span.reducer),
            span.dur.saturating_sub(in_reads),
        );
        let at = micros(self.epoch, anchor(span));
        if let Some(id) = span.flow_in {
            self.event(&json!({
                "name": "delivery", "cat": "flow", "ph": "f", "bp": "e", "id": id,
                "pid": PID, "tid": tid, "ts": at,
            }));
        }
        for id in flows_out {
            self.event(&json!({
                "name": "delivery", "cat": "flow", "ph": "s", "id": id,
                "pid": PID, "tid": tid, "ts": at,
            }));
        }
    }

    fn nested(&mut self, thread: &Arc<str>, via: &str, reads: &[ReadSpan]) {
        let tid = self.tid(thread);
        for r in reads {
            self.read_event(tid, None, via, r);
        }
    }

    /// Reports events dropped since the last report, as an instant event.
    fn drops(&mut self, total: u64) {
        if total > self.reported_drops {
            let v = json!({
                "name": "trace events dropped", "ph": "i", "s": "g", "pid": PID, "tid": 0,
                "ts": micros(self.epoch, Instant::now()),
                "args": {"dropped": total - self.reported_drops},
            });
            self.reported_drops = total;
            self.event(&v);
        }
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        if let Some((w, _)) = &mut self.chrome {
            let _ = w.flush();
        }
    }

    /// The closing metadata event and `]`.
    fn finish(&mut self, dropped: u64) {
        self.drops(dropped);
        let v = json!({
            "name": "interstice_trace", "ph": "M", "pid": PID,
            "args": {
                "format": 1,
                "executions": self.executions,
                "read_calls": self.read_calls,
                "dropped": dropped,
            },
        });
        self.event(&v);
        if let Some((w, path)) = &mut self.chrome {
            if let Err(e) = w.write_all(b"\n]\n").and_then(|()| w.flush()) {
                crate::event_in!(WARN, None, None, None;
                    file = %path.display(), "the trace could not be closed: {e}");
            }
        }
    }
}

/// The folded stacks, one `stack weight` line each, sorted by stack; the
/// weight is microseconds of wall time, rounded up (a stack that ran has
/// a weight of at least 1).
fn folded_lines(stacks: &HashMap<String, u128>) -> String {
    let mut lines: Vec<(&String, &u128)> = stacks.iter().collect();
    lines.sort();
    let mut s = String::new();
    for (stack, ns) in lines {
        let us = ns.div_ceil(1000).max(1);
        s.push_str(&format!("{stack} {us}\n"));
    }
    s
}

/// The writer's loop.
fn run(mut out: Out, folded: Option<(File, PathBuf)>, rx: Receiver<Msg>, dropped: Arc<AtomicU64>) {
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Ok(msg) => {
                out.drops(dropped.load(Ordering::Relaxed));
                match msg {
                    Msg::Exec {
                        ts,
                        span,
                        flows_out,
                    } => out.exec(ts, &span, &flows_out),
                    Msg::Nested { thread, via, reads } => out.nested(&thread, &via, &reads),
                    Msg::Stop => unreachable!("matched above"),
                }
                if out.last_flush.elapsed() >= FLUSH_EVERY {
                    out.flush();
                }
            }
            Err(RecvTimeoutError::Timeout) => out.flush(),
        }
    }
    out.finish(dropped.load(Ordering::Relaxed));
    if let (Some((mut file, path)), Some(stacks)) = (folded, &out.folded) {
        let res = file
            .write_all(folded_lines(stacks).as_bytes())
            .and_then(|()| file.flush());
        if let Err(e) = res {
            crate::event_in!(WARN, None, None, None;
                file = %path.display(), "the folded stacks could not be written: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
