//! The transport's own cost: a bare WebSocket server (tokio-tungstenite on
//! the same tokio runtime, no runtime behind it) that answers each text
//! message with the answer shape the real server gives a `call`,
//! `{"id", "ok": true, "result": null, "ts"}`, parsing the request's JSON to
//! find its `id`. Like the real server's session writer, it writes every
//! answer it has ready in one flush. What the real server costs beyond
//! this (request decoding against the schema, the call, bounds, the reply
//! queue) is what `serve`'s ratio to it shows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::bench_err;
use crate::error::CliError;

/// A running echo server; stopped when dropped.
pub(super) struct Echo {
    addr: SocketAddr,
    answered: Arc<AtomicU64>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Echo {
    /// Listens on 127.0.0.1, on a port of the system's choice.
    pub(super) async fn start() -> Result<Echo, CliError> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(|e| bench_err("the echo server's listener", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| bench_err("the echo server's address", e))?;
        let answered = Arc::new(AtomicU64::new(0));
        let counter = answered.clone();
        let acceptor = tokio::spawn(async move {
            let mut sessions = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, counter.clone()));
                while sessions.try_join_next().is_some() {}
            }
        });
        Ok(Echo {
            addr,
            answered,
            acceptor,
        })
    }

    /// Where it listens.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Messages answered so far.
    pub(super) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        // Aborting the acceptor drops its JoinSet, which aborts the sessions.
        self.acceptor.abort();
    }
}

/// One session: answers until the client closes it or sends what is not
/// a JSON text message.
async fn session(stream: TcpStream, answered: Arc<AtomicU64>) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(first) = ws.next().await {
        let mut next = Some(Some(first));
        while let Some(Some(message)) = next.take() {
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Ping(_) | Message::Pong(_)) => {
                    next = ws.next().now_or_never();
                    continue;
                }
                _ => return,
            };
            let Ok(request) = serde_json::from_str::<Json>(text.as_str()) else {
                return;
            };
            let ts = answered.fetch_add(1, Ordering::Relaxed) + 1;
            let answer = json!({"id": request["id"], "ok": true, "result": null, "ts": ts});
            if ws.feed(Message::text(answer.to_string())).await.is_err() {
                return;
            }
            next = ws.next().now_or_never();
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
