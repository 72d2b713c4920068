//! `interstice run`: a JSON-lines server on stdin/stdout. The protocol —
//! requests, replies, error kinds, subscription events, ordering and
//! shutdown — is specified in `docs/PROTOCOL.md`; `tests/all/run_protocol.rs`
//! pins it to this code.
//!
//! The shape of the server:
//! - one loop reads request lines as bytes (`lines::LineReader`: a line
//!   longer than `lines::MAX_LINE` or not UTF-8 gets a `BadRequest`
//!   reply and the loop goes on), parses them (`request::parse`) and
//!   answers `subscribe` and `metrics` at once; `call`, `read` and `hash`
//!   each run as a task, at most [`MAX_IN_FLIGHT`] at a time;
//! - each subscription is a forwarding task from the runtime's stream of
//!   durable changes to stdout;
//! - one writer task owns stdout ([`output::json_lines`]), fed by a queue
//!   of at most [`OUT_QUEUE`] lines: a client that reads slowly slows the
//!   server down rather than filling its memory.
//!
//! It stops reading at the end of input, at the first SIGINT or SIGTERM, or
//! when stdout's reader is gone; then it waits (up to [`DRAIN`]) for the
//! requests in flight and answers the ones still unfinished with
//! `Shutdown`, shuts the runtime down (flushing the log), forwards the
//! events still queued, ends the subscriptions, writes out every line
//! (within [`WRITER_GRACE`]) and exits 0. A second signal during all that exits at once (128 + the
//! signal's number).
//!
//! With `--listen ADDR` the HTTP and WebSocket server (`crate::server`,
//! `docs/SERVER.md`) serves the same runtime beside stdin; the ready line
//! names its address (`"listen"`). End of input then ends only the stdin
//! session: the server stops at a signal (or when stdout is gone), and is
//! stopped (its requests drained) before the stdin session's shutdown.

mod lines;
pub(crate) mod request;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use interstice_actors::{RowChange, Runtime};
use serde_json::{json, Value as Json};
use tokio::io::BufReader;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{Id as TaskId, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::args::{DataDirArgs, ListenArgs, ReplayArgs, SnapshotArgs, TraceArgs};
use crate::commands::{close, error_json};
use crate::error::{read_file, CliError};
use crate::output;
use lines::{Line, LineReader, MAX_LINE};
use request::{bad_request, fail, Op, Request};

/// Most `call`, `read` and `hash` requests served at once; at the limit the
/// server reads no further line until one finishes.
pub const MAX_IN_FLIGHT: usize = 1024;

/// How long shutdown waits for the requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);

/// How long, after the runtime shut down, the subscriptions and the writer
/// have to put the last events and replies on stdout (a client that stopped
/// reading must not keep the process alive).
pub const WRITER_GRACE: Duration = Duration::from_secs(5);

/// Lines waiting for stdout, at most. When the client reads stdout slower
/// than the server writes, senders wait: the read loop stops reading
/// requests, so the server's memory stays bounded.
pub const OUT_QUEUE: usize = 4096;

/// Where replies and events go: the writer task's queue.
type Out = mpsc::Sender<Json>;

/// Serves until end of input or a signal. With `--stop-at` or
/// `--skip-to-log-offset` the runtime is read-only: write requests get an
/// error of kind `ReadOnly`, and the ready line says why (`"read_only"`).
pub async fn run(
    dir: &DataDirArgs,
    replay: &ReplayArgs,
    snapshots: &SnapshotArgs,
    listen: &ListenArgs,
    trace: &TraceArgs,
    wasm: &[PathBuf],
) -> Result<(), CliError> {
    let mut b = Runtime::builder()
        .data_dir(&dir.data_dir)
        .durability(dir.durability)
        .trace(trace.config());
    if let Some(n) = snapshots.snapshot_every {
        b = b.snapshot_every_commits(n);
    }
    if let Some(n) = snapshots.snapshot_every_bytes {
        b = b.snapshot_every_bytes(n);
    }
    if let Some(k) = snapshots.keep_snapshots {
        b = b.keep_snapshots(k);
    }
    if let Some(n) = snapshots.segment_size {
        b = b.segment_size(n);
    }
    if let Some(ts) = replay.stop_at {
        b = b.stop_at(ts);
    }
    if let Some(pos) = &replay.skip_to_log_offset {
        b = b.skip_to_log_offset(pos.clone());
    }
    let rt = b.open().await?;
    // `serve` shuts the runtime down itself once it is past loading; then
    // `close` only returns serve's result.
    let res = serve(&rt, listen, wasm).await;
    close(&rt, res).await
}

async fn serve(rt: &Runtime, listen: &ListenArgs, wasm: &[PathBuf]) -> Result<(), CliError> {
    for path in wasm {
        rt.load_module(read_file(path)?).await?;
    }
    let server = match listen.options() {
        Some(opts) => Some(crate::server::start(rt, &opts).await?),
        None => None,
    };
    // Signal handlers first, so a signal right after the ready line is seen.
    let stop = CancellationToken::new();
    watch_signals(stop.clone());
    let (out, out_rx) = mpsc::channel::<Json>(OUT_QUEUE);
    let writer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let res = output::json_lines(out_rx).await;
            if let Err(e) = &res {
                if output::is_closed_pipe(e) {
                    tracing::info!("stdout was closed: shutting down");
                } else {
                    tracing::warn!("writing to stdout failed ({e}): shutting down");
                }
                stop.cancel();
            }
        }
    });

    let modules: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    let mut ready = json!({"ready": true, "modules": modules, "durable_ts": rt.durable_ts()});
    if let Some(why) = rt.read_only() {
        ready["read_only"] = json!(why);
    }
    if let Some(server) = &server {
        ready["listen"] = json!(server.addr().to_string());
    }
    let _ = out.send(ready).await;

    let mut session = Session {
        rt: rt.clone(),
        out,
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        tasks: JoinSet::new(),
        pending: HashMap::new(),
        subs: JoinSet::new(),
        end_subs: CancellationToken::new(),
        stop: stop.clone(),
    };
    let mut input = LineReader::new(
        BufReader::with_capacity(64 << 10, tokio::io::stdin()),
        MAX_LINE,
    );
    loop {
        let line = tokio::select! {
            l = input.next_line() => l,
            () = stop.cancelled() => break,
        };
        match line {
            Ok(Some(line)) => {
                if !session.take(line).await {
                    break;
                }
            }
            Ok(None) => {
                if server.is_some() {
                    tracing::info!("end of input; the HTTP server serves on until a signal");
                    wait_stopped(&mut session, &stop).await;
                } else {
                    tracing::info!("end of input: shutting down");
                }
                break;
            }
            Err(e) => {
                tracing::warn!("reading stdin failed ({e}): shutting down as at end of input");
                if server.is_some() {
                    wait_stopped(&mut session, &stop).await;
                }
                break;
            }
        }
        session.reap();
    }
    if let Some(server) = server {
        server.stop().await;
    }
    session.finish(writer).await
}

/// Waits for `stop` (a signal, stdout gone) while the stdin session's
/// requests finish.
async fn wait_stopped(session: &mut Session, stop: &CancellationToken) {
    loop {
        tokio::select! {
            done = session.tasks.join_next_with_id(), if !session.tasks.is_empty() => {
                if let Some(done) = done {
                    session.done(done);
                }
            }
            () = stop.cancelled() => return,
        }
    }
}

/// The server's state while it serves.
struct Session {
    rt: Runtime,
    out: Out,
    permits: Arc<Semaphore>,
    /// The `call`, `read` and `hash` requests in flight…
    tasks: JoinSet<()>,
    /// …and their ids, to answer them if shutdown cannot wait for them.
    pending: HashMap<TaskId, Json>,
    /// One forwarding task per subscription.
    subs: JoinSet<()>,
    /// Tells the forwarding tasks to stop (after forwarding what is queued).
    end_subs: CancellationToken,
    /// Cancelled when the server is to stop reading (a signal, stdout gone).
    stop: CancellationToken,
}

impl Session {
    /// Queues a reply, waiting while stdout is behind, unless the server is
    /// told to stop (then stdout is not worth waiting for).
    async fn reply(&self, v: Json) {
        tokio::select! {
            biased;
            _ = self.out.send(v) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// Queues a reply if there is room (during shutdown, which must not
    /// wait for a client that does not read).
    fn try_reply(&self, v: Json) {
        if self.out.try_send(v).is_err() {
            tracing::warn!("shutdown: stdout is not being read; a reply was dropped");
        }
    }

    /// Handles one input line. `false` when the server is stopping.
    async fn take(&mut self, line: Line) -> bool {
        let text = match line {
            Line::TooLong { number } => {
                self.reply(bad_request(format!(
                    "request line {number} is longer than {MAX_LINE} bytes; \
                     skipped up to the next newline"
                )))
                .await;
                return true;
            }
            Line::Complete { number, bytes } => match lines::decode(number, bytes) {
                Ok(text) => text,
                Err(message) => {
                    self.reply(bad_request(message)).await;
                    return true;
                }
            },
        };
        // Blank: nothing but JSON whitespace (`docs/PROTOCOL.md` §2).
        if text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return true;
        }
        let Request { id, op } = match request::parse(&text) {
            Ok(r) => r,
            Err(reply) => {
                self.reply(reply).await;
                return true;
            }
        };
        match op {
            Op::Subscribe { module, table } => {
                let reply = match self.rt.subscribe(&module, &table) {
                    Ok(stream) => {
                        self.subs.spawn(forward(
                            stream,
                            id.clone(),
                            self.out.clone(),
                            self.end_subs.clone(),
                        ));
                        json!({"id": id, "ok": true, "result": "subscribed"})
                    }
                    Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
                };
                self.reply(reply).await;
            }
            Op::Metrics => self.reply(request::metrics(&self.rt, &id)).await,
            op => {
                let permit = tokio::select! {
                    p = self.permits.clone().acquire_owned() => p.ok(),
                    () = self.stop.cancelled() => None,
                };
                let Some(permit) = permit else {
                    self.try_reply(fail(
                        &id,
                        "Shutdown",
                        "the server is shutting down; this request was not run",
                    ));
                    return false;
                };
                let (rt, out, rid) = (self.rt.clone(), self.out.clone(), id.clone());
                let handle = self.tasks.spawn(async move {
                    let reply = match &op {
                        Op::Call {
                            module,
                            reducer,
                            args,
                            read,
                        } => request::call(&rt, &rid, module, reducer, args, *read).await,
                        _ => request::hash(&rt, &rid).await,
                    };
                    let _ = out.send(reply).await;
                    drop(permit);
                });
                self.pending.insert(handle.id(), id);
            }
        }
        true
    }

    /// Forgets the requests that finished.
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.done(done);
        }
    }

    fn done(&mut self, done: Result<(TaskId, ()), tokio::task::JoinError>) {
        match done {
            Ok((task, ())) => {
                self.pending.remove(&task);
            }
            Err(e) => {
                // Never expected: a panic in a request's task. Its client
                // still gets one reply.
                if let Some(id) = self.pending.remove(&e.id()) {
                    tracing::error!("request {id} failed: {e}");
                    self.try_reply(fail(&id, "Error", format!("internal error: {e}")));
                }
            }
        }
    }

    /// Shutdown (`docs/PROTOCOL.md` §9), after the read loop stopped.
    async fn finish(mut self, writer: tokio::task::JoinHandle<()>) -> Result<(), CliError> {
        // 1. The requests in flight, for up to DRAIN.
        let deadline = tokio::time::Instant::now() + DRAIN;
        loop {
            tokio::select! {
                done = self.tasks.join_next_with_id() => match done {
                    Some(done) => self.done(done),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "shutdown: {} request(s) still running after {DRAIN:?}; answering them \
                         with Shutdown",
                        self.pending.len()
                    );
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    for (_, id) in std::mem::take(&mut self.pending) {
                        self.try_reply(fail(
                            &id,
                            "Shutdown",
                            "the server shut down before this request finished; a write may \
                             still have been committed",
                        ));
                    }
                    break;
                }
            }
        }
        // 2. The runtime: makes everything durable, stops the actors. That
        //    ends the subscriptions' streams once their queued events are
        //    taken.
        let closed = self.rt.shutdown().await.map_err(CliError::from);
        // 3. The subscriptions: forward what is queued, then stop; and 4.
        //    stdout: every line written. Both within WRITER_GRACE.
        let deadline = tokio::time::Instant::now() + WRITER_GRACE;
        let subs = async { while self.subs.join_next().await.is_some() {} };
        if tokio::time::timeout_at(deadline, subs).await.is_err() {
            self.end_subs.cancel();
            while self.subs.join_next().await.is_some() {}
        }
        drop(self);
        if tokio::time::timeout_at(deadline, writer).await.is_err() {
            tracing::warn!("shutdown: stdout took no more output for {WRITER_GRACE:?}; giving up");
        }
        closed
    }
}

/// Forwards a subscription's changes as events until its stream ends or
/// `end` is cancelled (then it forwards what is already queued and stops).
async fn forward(
    mut stream: tokio_stream::wrappers::UnboundedReceiverStream<RowChange>,
    id: Json,
    out: Out,
    end: CancellationToken,
) {
    let event = |change: RowChange| json!({"id": id, "event": change.to_json()});
    loop {
        let next = tokio::select! {
            c = stream.next() => c,
            () = end.cancelled() => None,
        };
        let Some(change) = next else { break };
        tokio::select! {
            biased;
            sent = out.send(event(change)) => if sent.is_err() { return },
            () = end.cancelled() => break,
        }
    }
    // Ended: what is already queued goes out if stdout has room.
    while let Some(Some(change)) = stream.next().now_or_never() {
        if out.try_send(event(change)).is_err() {
            return;
        }
    }
}

/// Cancels `stop` at the first SIGINT or SIGTERM; exits the process at the
/// second (128 + its number: 130, 143), without waiting for anything.
#[cfg(unix)]
pub(crate) fn watch_signals(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (int, term) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(
                "cannot handle SIGINT/SIGTERM ({e}); only end of input stops the server"
            );
            return;
        }
    };
    tokio::spawn(async move {
        let (mut int, mut term) = (int, term);
        let mut first = true;
        loop {
            let (name, code) = tokio::select! {
                _ = int.recv() => ("SIGINT", 130),
                _ = term.recv() => ("SIGTERM", 143),
            };
            if first {
                tracing::info!("{name}: shutting down (a second signal exits at once)");
                stop.cancel();
                first = false;
            } else {
                tracing::warn!("second signal ({name}): exiting now, without waiting");
                std::process::exit(code);
            }
        }
    });
}

#[cfg(not(unix))]
pub(crate) fn watch_signals(stop: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl+C: shutting down (a second one exits at once)");
            stop.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}
