//! `GET /v1/stats`: the runtime's counters sampled once a second over the
//! last ten minutes, for the dashboard's chart of commits and fsyncs per
//! second (`docs/SERVER.md`, "Stats"). A task of the server takes a sample
//! every [`EVERY`] into a ring of [`KEEP`]; a request gets the ring (or the
//! samples after `since`) and one sample taken as it is answered, so the
//! newest point is always current.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use interstice_actors::Runtime;
use serde_json::json;

use super::{status, AppState};
use crate::commands::run::request;

/// How often a sample is taken.
pub(crate) const EVERY: Duration = Duration::from_secs(1);
/// Samples kept: ten minutes.
pub(crate) const KEEP: usize = 600;
/// The fields of a sample, in order.
pub(crate) const FIELDS: [&str; 5] = ["unix_ms", "commits", "fsyncs", "rollbacks", "durable_ts"];

/// One sample: [`FIELDS`].
pub(crate) type Sample = [u64; 5];

/// The ring of samples.
#[derive(Debug, Default)]
pub(crate) struct Samples(Mutex<VecDeque<Sample>>);

/// The counters now.
fn sample(rt: &Runtime) -> Sample {
    let m = rt.metrics();
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    [unix_ms, m.commits, m.fsyncs, m.rollbacks, rt.durable_ts()]
}

impl Samples {
    fn push(&self, s: Sample) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == KEEP {
            ring.pop_front();
        }
        ring.push_back(s);
    }

    /// The samples taken after `since` (milliseconds since the epoch).
    fn after(&self, since: u64) -> Vec<Sample> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().filter(|s| s[0] > since).copied().collect()
    }
}

/// Samples once a [`EVERY`] until the server stops.
pub(super) fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => state.samples.push(sample(&state.rt)),
                () = state.stop.cancelled() => return,
            }
        }
    });
}

/// `GET /v1/stats[?since=UNIX_MS]`.
pub(super) async fn samples(
    State(state): State<Arc<AppState>>,
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let since = match params.map(|Query(p)| p.get("since").cloned()) {
        Ok(None) => 0,
        Ok(Some(v)) => match v.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                return status::reply(request::bad_request(format!(
                    "`since` must be milliseconds since the Unix epoch, got {v:?}"
                )))
            }
        },
        Err(e) => {
            return status::reply(request::bad_request(format!(
                "the query string: {}",
                e.body_text()
            )))
        }
    };
    let mut samples = state.samples.after(since);
    let now = sample(&state.rt);
    if now[0] > since {
        samples.push(now);
    }
    status::ok(json!({
        "interval_ms": EVERY.as_millis() as u64,
        "fields": FIELDS,
        "samples": samples,
    }))
}
