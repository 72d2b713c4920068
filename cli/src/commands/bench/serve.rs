//! `serve`: calls through `run --listen`'s server (`docs/SERVER.md`) over
//! HTTP/1.1 and over WebSocket, against the embedding API in the same run,
//! all on 127.0.0.1 in this process.
//!
//! The server is the one `run --listen` starts (`crate::server::start`), on
//! the same tokio runtime as the callers. Each of the 64 clients holds one
//! connection and makes its calls one after another, awaiting each answer,
//! as the embedding API's 64 callers do: a kept-alive HTTP/1.1 connection
//! (hyper's client connection, `POST /v1/modules/t_hostile/reducers/noop/call`)
//! or a WebSocket session (`{"op":"call"}` messages, answered by `id`). The
//! reducer is `t_hostile.noop` (an empty write reducer), so what differs
//! between the three is the path: JSON encoding, the socket, the server's
//! request handling and its bounds. Durability `none` shows that cost
//! alone; `sync` shows it beside the fsync.
//!
//! Every answer is checked (`ok`, a commit timestamp), and the commits the
//! runtime counted must equal the calls made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use interstice_actors::{Durability, Runtime};
use serde_json::{json, Value as Json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::driver::{self, MetricsDelta};
use super::report::{Ratio, Role, Row, WorkloadReport};
use super::{guests, workload, Ctx};
use crate::error::CliError;
use crate::server::{self, ServerOptions};

mod echo;

/// The module and reducer every call goes to: the `noop` workload's, whose
/// caller factory the embedding-API baseline uses.
const MODULE: &str = "t_hostile";
const REDUCER: &str = "noop";

/// How long one call may take before the round fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn bench_err(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Bench(format!("serve: {what}: {e}"))
}

/// The server's address and the full-access header.
#[derive(Clone)]
struct Endpoint {
    addr: std::net::SocketAddr,
    auth: Arc<str>,
}

/// Checks one answer: `{"ok": true, "result": null, "ts": N}`.
fn check_answer(v: &Json) -> Result<(), CliError> {
    if v["ok"] == true && v["ts"].as_u64().is_some() {
        Ok(())
    } else {
        Err(bench_err("a call's answer", v))
    }
}

/// A connection to the server, with Nagle off (each call is one small
/// write awaiting its answer).
async fn connect(ep: &Endpoint) -> Result<TcpStream, CliError> {
    let stream = TcpStream::connect(ep.addr)
        .await
        .map_err(|e| bench_err("connecting", e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| bench_err("nodelay", e))?;
    Ok(stream)
}

/// One HTTP/1.1 client: a kept-alive connection, `per_client` calls.
async fn http_client(ep: Endpoint, per_client: usize) -> Result<Vec<Duration>, CliError> {
    let stream = connect(&ep).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bench_err("HTTP handshake", e))?;
    let driver = tokio::spawn(conn);
    let uri = format!(
        "http://{}/v1/modules/{MODULE}/reducers/{REDUCER}/call",
        ep.addr
    );
    let body = Bytes::from_static(br#"{"args":[]}"#);
    let mut lat = Vec::with_capacity(per_client);
    for _ in 0..per_client {
        let req = hyper::Request::post(uri.as_str())
            .header(hyper::header::AUTHORIZATION, &*ep.auth)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| bench_err("building a request", e))?;
        let t = Instant::now();
        let answer = tokio::time::timeout(CALL_TIMEOUT, async {
            let res = sender
                .send_request(req)
                .await
                .map_err(|e| bench_err("HTTP request", e))?;
            let status = res.status();
            let bytes = res
                .into_body()
                .collect()
                .await
                .map_err(|e| bench_err("HTTP body", e))?
                .to_bytes();
            if !status.is_success() {
                return Err(bench_err(
                    "HTTP status",
                    format!("{status}: {}", String::from_utf8_lossy(&bytes)),
                ));
            }
            serde_json::from_slice::<Json>(&bytes).map_err(|e| bench_err("HTTP answer", e))
        })
        .await
        .map_err(|_| bench_err("HTTP call", "no answer in 60 s"))??;
        lat.push(t.elapsed());
        check_answer(&answer)?;
    }
    drop(sender);
    let _ = driver.await;
    Ok(lat)
}

/// A message from the server: an answer, `None` for a ping or pong, or
/// an error for anything else.
fn answer_of(
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<Json>, CliError> {
    match message {
        Some(Ok(Message::Text(text))) => serde_json::from_str::<Json>(text.as_str())
            .map(Some)
            .map_err(|e| bench_err("WebSocket answer", e)),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Ok(other)) => Err(bench_err("WebSocket answer", other)),
        Some(Err(e)) => Err(bench_err("WebSocket receive", e)),
        None => Err(bench_err("WebSocket", "the server closed the session")),
    }
}

/// One WebSocket client: a session, `calls` calls with up to `in_flight`
/// of them sent and not yet answered (1: one after another, as the
/// embedding API's callers make them). Answers may come in any order; each
/// is matched to its call by `id`, once.
async fn ws_client(
    ep: Endpoint,
    calls: usize,
    in_flight: usize,
) -> Result<Vec<Duration>, CliError> {
    let stream = connect(&ep).await?;
    let mut req = format!("ws://{}/v1/ws", ep.addr)
        .into_client_request()
        .map_err(|e| bench_err("WebSocket request", e))?;
    req.headers_mut().insert(
        hyper::header::AUTHORIZATION,
        ep.auth
            .parse()
            .map_err(|e| bench_err("the token header", e))?,
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
        .await
        .map_err(|e| bench_err("WebSocket handshake", e))?;
    let call = |id: usize| {
        Message::text(
            json!({"id": id, "op": "call", "module": MODULE, "reducer": REDUCER, "args": []})
                .to_string(),
        )
    };
    // When each call was sent, until it is answered.
    let mut sent: Vec<Option<Instant>> = Vec::with_capacity(calls);
    let mut lat = Vec::with_capacity(calls);
    let mut to_send = calls.min(in_flight.max(1));
    while lat.len() < calls {
        // Send what the window allows in one write, then take every answer
        // that has come (at least one).
        for _ in 0..to_send {
            let id = sent.len();
            sent.push(Some(Instant::now()));
            ws.feed(call(id))
                .await
                .map_err(|e| bench_err("WebSocket send", e))?;
        }
        ws.flush()
            .await
            .map_err(|e| bench_err("WebSocket send", e))?;
        let first = tokio::time::timeout(CALL_TIMEOUT, ws.next())
            .await
            .map_err(|_| bench_err("WebSocket call", "no answer in 60 s"))?;
        let mut answered = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            if let Some(answer) = answer_of(message)? {
                let started = answer["id"]
                    .as_u64()
                    .and_then(|id| sent.get_mut(usize::try_from(id).ok()?))
                    .and_then(Option::take)
                    .ok_or_else(|| {
                        bench_err("WebSocket answer id (unknown or repeated)", &answer)
                    })?;
                lat.push(started.elapsed());
                check_answer(&answer)?;
                answered += 1;
            }
            next = ws.next().now_or_never();
        }
        to_send = answered.min(calls - sent.len());
    }
    let _ = ws.close(None).await;
    Ok(lat)
}

/// Which way the clients call.
#[derive(Clone, Copy)]
enum Transport {
    /// One call at a time on a kept-alive connection.
    Http,
    /// Up to `in_flight` calls sent and not yet answered on one session.
    WebSocket { in_flight: usize },
}

/// One round: `clients` clients, `per_client` calls each; the round's rate
/// and every latency.
async fn remote_round(
    ep: &Endpoint,
    transport: Transport,
    clients: usize,
    per_client: usize,
) -> Result<(f64, Vec<Duration>), CliError> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let ep = ep.clone();
            tokio::spawn(async move {
                match transport {
                    Transport::Http => http_client(ep, per_client).await,
                    Transport::WebSocket { in_flight } => {
                        ws_client(ep, per_client, in_flight).await
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(clients * per_client);
    for t in tasks {
        latencies.extend(t.await.map_err(|e| bench_err("a client task", e))??);
    }
    let rate = (clients * per_client) as f64 / start.elapsed().as_secs_f64();
    Ok((rate, latencies))
}

/// Calls each pipelining WebSocket client keeps in flight; the embedding
/// API's baseline for it has this many callers per client.
const PIPELINE: usize = 16;

/// The row names, shared by [`measure`] and the ratios.
fn api_row(label: &str) -> String {
    format!("embedding API, durability {label}")
}
fn api_pipelined_row(clients: usize, label: &str) -> String {
    format!(
        "embedding API, {} callers, durability {label}",
        clients * PIPELINE
    )
}
fn ws_pipelined_row(label: &str) -> String {
    format!("WebSocket, {PIPELINE} in flight, durability {label}")
}
fn echo_row() -> String {
    "bare WebSocket echo".to_owned()
}
fn echo_pipelined_row() -> String {
    format!("bare WebSocket echo, {PIPELINE} in flight")
}

/// The embedding API's rounds: `callers` callers, `per` calls each.
async fn api_rows(
    ctx: &Ctx,
    rt: &Runtime,
    name: String,
    callers: usize,
    per: usize,
    report: &mut WorkloadReport,
) -> Result<(), CliError> {
    let rounds = ctx.sizes.rounds;
    ctx.progress.step(name.clone());
    let mut r = driver::rounds(rt, rounds, callers, per, &super::noop::factory(), |_| {}).await?;
    report.rows.push(r.metrics.annotate(Row::new(
        name,
        Role::Baseline,
        "calls/s",
        r.rates,
        Some(&mut r.latencies),
        format!("{callers} callers × {per} calls, {rounds} rounds"),
    )));
    Ok(())
}

/// A warm-up, then `on_warm` (where counting starts), then the rounds over
/// `transport`: `clients` clients, `per` calls each; each round's rate and
/// every latency.
async fn remote_rounds(
    ctx: &Ctx,
    ep: &Endpoint,
    transport: Transport,
    name: &str,
    (clients, per): (usize, usize),
    on_warm: impl FnOnce(),
) -> Result<(Vec<f64>, Vec<Duration>), CliError> {
    let rounds = ctx.sizes.rounds;
    ctx.progress.step(format!("{name}: warm-up"));
    remote_round(ep, transport, clients, per.min(20)).await?;
    on_warm();
    let (mut rates, mut lat) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        ctx.progress
            .step(format!("{name}: round {}/{rounds}", i + 1));
        let (rate, l) = remote_round(ep, transport, clients, per).await?;
        rates.push(rate);
        lat.extend(l);
    }
    Ok((rates, lat))
}

/// `what` counted over the rounds must equal the `calls` answered.
fn check_count(name: &str, what: &str, calls: usize, counted: u64) -> Result<(), CliError> {
    let calls = calls as u64;
    if counted == calls {
        Ok(())
    } else {
        Err(bench_err(
            "checking the count",
            format!("{name}: {calls} calls answered but {counted} {what} counted"),
        ))
    }
}

/// The server's rounds over `transport`; the commits the runtime counted
/// must equal the calls answered.
async fn remote_rows(
    ctx: &Ctx,
    rt: &Runtime,
    ep: &Endpoint,
    (transport, name): (Transport, String),
    clients: usize,
    per: usize,
    report: &mut WorkloadReport,
) -> Result<(), CliError> {
    let mut before = None;
    let (rates, mut lat) = remote_rounds(ctx, ep, transport, &name, (clients, per), || {
        before = Some(rt.metrics());
    })
    .await?;
    let before = before.ok_or_else(|| bench_err(&name, "no rounds ran"))?;
    let delta = MetricsDelta::between(&before, &rt.metrics());
    let rounds = ctx.sizes.rounds;
    check_count(&name, "commits", rounds * clients * per, delta.commits)?;
    report.rows.push(delta.annotate(Row::new(
        name,
        Role::Interstice,
        "calls/s",
        rates,
        Some(&mut lat),
        format!("{clients} clients × {per} calls, {rounds} rounds"),
    )));
    Ok(())
}

/// The bare echo server's rounds ([`echo`]), one call at a time and
/// [`PIPELINE`] in flight: the transport's own cost.
async fn echo_rows(ctx: &Ctx, report: &mut WorkloadReport) -> Result<(), CliError> {
    let echo = echo::Echo::start().await?;
    let ep = Endpoint {
        addr: echo.addr(),
        auth: Arc::from("Bearer unused"),
    };
    let (clients, per) = (ctx.sizes.callers, ctx.sizes.serve_per_client);
    let rounds = ctx.sizes.rounds;
    let pipelined = per.div_ceil(PIPELINE) * PIPELINE;
    for (in_flight, per, name) in [
        (1, per, echo_row()),
        (PIPELINE, pipelined, echo_pipelined_row()),
    ] {
        let mut before = 0;
        let transport = Transport::WebSocket { in_flight };
        let (rates, mut lat) = remote_rounds(ctx, &ep, transport, &name, (clients, per), || {
            before = echo.answered();
        })
        .await?;
        let answered = echo.answered() - before;
        check_count(&name, "answers", rounds * clients * per, answered)?;
        report.rows.push(Row::new(
            name,
            Role::Baseline,
            "calls/s",
            rates,
            Some(&mut lat),
            format!("{clients} clients × {per} calls, {rounds} rounds"),
        ));
    }
    Ok(())
}

/// Every path at one durability: one call at a time from each of the
/// clients (embedding API, HTTP, WebSocket), then [`PIPELINE`] calls in
/// flight per WebSocket client against as many embedding-API callers.
async fn measure(
    ctx: &Ctx,
    rt: &Runtime,
    ep: &Endpoint,
    label: &str,
    report: &mut WorkloadReport,
) -> Result<(), CliError> {
    let (clients, per) = (ctx.sizes.callers, ctx.sizes.serve_per_client);
    api_rows(ctx, rt, api_row(label), clients, per, report).await?;
    for path in [
        (Transport::Http, format!("HTTP/1.1, durability {label}")),
        (
            Transport::WebSocket { in_flight: 1 },
            format!("WebSocket, durability {label}"),
        ),
    ] {
        remote_rows(ctx, rt, ep, path, clients, per, report).await?;
    }
    let per_caller = per.div_ceil(PIPELINE);
    let callers = clients * PIPELINE;
    api_rows(
        ctx,
        rt,
        api_pipelined_row(clients, label),
        callers,
        per_caller,
        report,
    )
    .await?;
    let path = (
        Transport::WebSocket {
            in_flight: PIPELINE,
        },
        ws_pipelined_row(label),
    );
    remote_rows(ctx, rt, ep, path, clients, per_caller * PIPELINE, report).await
}

/// Runs the workload.
pub(super) async fn run(ctx: &Ctx) -> Result<WorkloadReport, CliError> {
    let s = &ctx.sizes;
    let mut report = workload(
        "serve",
        json!({
            "clients": s.callers,
            "calls_per_client": s.serve_per_client,
            "rounds": s.rounds,
            "module": MODULE,
            "reducer": REDUCER,
        }),
    );
    echo_rows(ctx, &mut report).await?;
    for (label, durability) in [("none", Durability::None), ("sync", Durability::Sync)] {
        let dir = ctx.scratch.path(&format!("serve-{label}"));
        let rt = guests::open(&dir, durability).await?;
        ctx.guests.load(&rt, &[MODULE]).await?;
        let running = server::start(
            &rt,
            &ServerOptions {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                public: false,
                allowed_origins: Vec::new(),
            },
        )
        .await?;
        let ep = Endpoint {
            addr: running.addr(),
            auth: Arc::from(format!("Bearer {}", server::full_token(&dir)?)),
        };
        let measured = measure(ctx, &rt, &ep, label, &mut report).await;
        running.stop().await;
        rt.shutdown().await?;
        ctx.scratch.remove(&dir);
        measured?;
    }
    let median = |name: &str| {
        report
            .rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.median)
            .ok_or_else(|| bench_err("the report", format!("no row {name}")))
    };
    let mut ratios = Vec::new();
    for label in ["none", "sync"] {
        let api = median(&api_row(label))?;
        let ws = median(&format!("WebSocket, durability {label}"))?;
        let http = median(&format!("HTTP/1.1, durability {label}"))?;
        let api_pipelined = median(&api_pipelined_row(s.callers, label))?;
        let ws_pipelined = median(&ws_pipelined_row(label))?;
        let ws_ratio = Ratio::of(format!("WebSocket / embedding API ({label})"), ws, api);
        let pipelined_ratio = Ratio::of(
            format!(
                "WebSocket, {PIPELINE} in flight / embedding API, {} callers ({label})",
                s.callers * PIPELINE
            ),
            ws_pipelined,
            api_pipelined,
        );
        if label == "none" {
            ratios.push(ws_ratio.at_least(0.5));
            ratios.push(pipelined_ratio.at_least(0.5));
        } else {
            ratios.push(ws_ratio);
            ratios.push(pipelined_ratio);
        }
        ratios.push(Ratio::of(
            format!("HTTP/1.1 / embedding API ({label})"),
            http,
            api,
        ));
    }
    for (real, echo, name) in [
        (
            "WebSocket, durability none".to_owned(),
            echo_row(),
            "WebSocket (none) / bare WebSocket echo".to_owned(),
        ),
        (
            ws_pipelined_row("none"),
            echo_pipelined_row(),
            format!("WebSocket, {PIPELINE} in flight (none) / bare echo, {PIPELINE} in flight"),
        ),
    ] {
        ratios.push(Ratio::of(name, median(&real)?, median(&echo)?).at_least(0.5));
    }
    report.ratios = ratios;
    Ok(report)
}
