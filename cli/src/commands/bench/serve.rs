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
use futures::{SinkExt, StreamExt};
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

/// One WebSocket client: a session, `per_client` calls one at a time.
async fn ws_client(ep: Endpoint, per_client: usize) -> Result<Vec<Duration>, CliError> {
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
    let mut lat = Vec::with_capacity(per_client);
    for id in 0..per_client {
        let msg = json!({"id": id, "op": "call", "module": MODULE, "reducer": REDUCER, "args": []});
        let t = Instant::now();
        ws.send(Message::text(msg.to_string()))
            .await
            .map_err(|e| bench_err("WebSocket send", e))?;
        let answer = loop {
            let next = tokio::time::timeout(CALL_TIMEOUT, ws.next())
                .await
                .map_err(|_| bench_err("WebSocket call", "no answer in 60 s"))?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    break serde_json::from_str::<Json>(text.as_str())
                        .map_err(|e| bench_err("WebSocket answer", e))?
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => return Err(bench_err("WebSocket answer", other)),
                Some(Err(e)) => return Err(bench_err("WebSocket receive", e)),
                None => return Err(bench_err("WebSocket", "the server closed the session")),
            }
        };
        lat.push(t.elapsed());
        if answer["id"] != id {
            return Err(bench_err("WebSocket answer id", &answer));
        }
        check_answer(&answer)?;
    }
    let _ = ws.close(None).await;
    Ok(lat)
}

/// Which way the clients call.
#[derive(Clone, Copy)]
enum Transport {
    Http,
    WebSocket,
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
                    Transport::WebSocket => ws_client(ep, per_client).await,
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

/// The three paths at one durability: rows embedding, HTTP, WebSocket.
async fn measure(
    ctx: &Ctx,
    rt: &Runtime,
    ep: &Endpoint,
    label: &str,
    report: &mut WorkloadReport,
) -> Result<(), CliError> {
    let s = &ctx.sizes;
    let (clients, per) = (s.callers, s.serve_per_client);
    let note = format!("{clients} clients × {per} calls, {} rounds", s.rounds);
    ctx.progress.step(format!("{label}: embedding API"));
    let mut r = driver::rounds(rt, s.rounds, clients, per, &super::noop::factory(), |_| {}).await?;
    report.rows.push(r.metrics.annotate(Row::new(
        format!("embedding API, durability {label}"),
        Role::Baseline,
        "calls/s",
        r.rates,
        Some(&mut r.latencies),
        note.clone(),
    )));
    for (transport, name) in [
        (Transport::Http, "HTTP/1.1"),
        (Transport::WebSocket, "WebSocket"),
    ] {
        ctx.progress.step(format!("{label}: {name} warm-up"));
        remote_round(ep, transport, clients, per.min(20)).await?;
        let before = rt.metrics();
        let (mut rates, mut lat) = (Vec::new(), Vec::new());
        for i in 0..s.rounds {
            ctx.progress
                .step(format!("{label}: {name} round {}/{}", i + 1, s.rounds));
            let (rate, l) = remote_round(ep, transport, clients, per).await?;
            rates.push(rate);
            lat.extend(l);
        }
        let delta = MetricsDelta::between(&before, &rt.metrics());
        let calls = (s.rounds * clients * per) as u64;
        if delta.commits != calls {
            return Err(bench_err(
                "checking the commits",
                format!(
                    "{name}: {calls} calls answered but {} commits counted",
                    delta.commits
                ),
            ));
        }
        report.rows.push(delta.annotate(Row::new(
            format!("{name}, durability {label}"),
            Role::Interstice,
            "calls/s",
            rates,
            Some(&mut lat),
            note.clone(),
        )));
    }
    Ok(())
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
        let api = median(&format!("embedding API, durability {label}"))?;
        let ws = median(&format!("WebSocket, durability {label}"))?;
        let http = median(&format!("HTTP/1.1, durability {label}"))?;
        let ws_ratio = Ratio::of(format!("WebSocket / embedding API ({label})"), ws, api);
        ratios.push(if label == "none" {
            ws_ratio.at_least(0.5)
        } else {
            ws_ratio
        });
        ratios.push(Ratio::of(
            format!("HTTP/1.1 / embedding API ({label})"),
            http,
            api,
        ));
    }
    report.ratios = ratios;
    Ok(report)
}
