//! Taking snapshots (`docs/SNAPSHOT_FORMAT.md`, "Taking snapshots").
//!
//! A snapshot must be a consistent cut at a timestamp. Module actors own
//! their tables, so instead of pausing them the runtime keeps a **shadow**
//! of the replayed state on a dedicated thread (the snapshotter): the
//! log-writer forwards every batch it appends, the shadow applies its logged
//! mutations exactly as replay does (no wasm), and when a snapshot is due
//! the log-writer fsyncs the log and asks for a snapshot at the timestamp it
//! made durable. Messages arrive in log order, so the shadow then holds
//! exactly the state after that timestamp: consistent by construction, and
//! never newer than the durable log. After writing it the snapshotter applies
//! retention: it keeps the newest `keep` snapshots and deletes the log
//! segments the oldest kept one fully covers.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use interstice_abi::cbor::Reader;
use interstice_persist::{decode_entry_ref, Hash, Snapshot, Storage};

use crate::error::{RuntimeError, SnapshotError};
use crate::recovery::deliveries::DeliveryLimits;
use crate::recovery::log_state::{LogState, SHADOW_OVERLAY_MAX_BYTES};

/// The replayed state without compiled modules, kept by the snapshotter:
/// a [`LogState`] advanced by every batch the log-writer appends.
pub(crate) struct Shadow {
    ts: u64,
    hash: Hash,
    state: LogState,
}

impl Shadow {
    /// The shadow of a snapshot's state.
    pub(crate) fn from_snapshot(
        snap: &Snapshot,
        limits: DeliveryLimits,
    ) -> Result<Shadow, RuntimeError> {
        let mut state = LogState::from_snapshot(snap, limits)?;
        state.limit_overlays(SHADOW_OVERLAY_MAX_BYTES);
        Ok(Shadow {
            ts: snap.ts,
            hash: snap.log_hash,
            state,
        })
    }

    /// The timestamp the shadow is at.
    pub(crate) fn ts(&self) -> u64 {
        self.ts
    }

    /// The shadow as a snapshot.
    pub(crate) fn snapshot(&mut self) -> Snapshot {
        self.state.snapshot(self.ts, self.hash)
    }

    /// Applies one appended batch (its entries' CBOR concatenated).
    pub(crate) fn apply_batch(
        &mut self,
        first_ts: u64,
        count: u32,
        payload: &[u8],
        hash: Hash,
    ) -> Result<(), SnapshotError> {
        if first_ts != self.ts + 1 {
            return Err(SnapshotError::Gap {
                first_ts,
                state_ts: self.ts,
            });
        }
        let mut r = Reader::new(payload);
        let apply_error = |e: RuntimeError| SnapshotError::Apply(Box::new(e));
        for _ in 0..count {
            let entry = decode_entry_ref(&mut r).map_err(|e| apply_error(e.into()))?;
            self.state.apply(entry).map_err(apply_error)?;
        }
        self.ts = first_ts + u64::from(count) - 1;
        self.hash = hash;
        Ok(())
    }
}

/// Reply to an on-demand snapshot: the covered timestamp, or why not.
pub(crate) type SnapshotReply = tokio::sync::oneshot::Sender<Result<u64, SnapshotError>>;

/// Messages to the snapshotter thread, in log order.
pub(crate) enum SnapMsg {
    /// A batch the log-writer appended.
    Batch {
        first_ts: u64,
        count: u32,
        payload: Vec<u8>,
        hash: Hash,
    },
    /// Write a snapshot at `ts` (the log is durable up to `ts`).
    Take {
        ts: u64,
        reply: Option<SnapshotReply>,
    },
    /// Finish and exit.
    Stop,
}

/// Where snapshots go and how many are kept.
pub(crate) struct SnapshotterConfig {
    pub dir: PathBuf,
    pub keep: usize,
    pub storage: Arc<dyn Storage>,
}

/// The snapshotter thread.
pub(crate) struct SnapshotterHandle {
    tx: mpsc::Sender<SnapMsg>,
    thread: Option<JoinHandle<()>>,
}

impl SnapshotterHandle {
    /// Starts the thread with the shadow of the state at open.
    pub(crate) fn spawn(shadow: Shadow, config: SnapshotterConfig) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("interstice-snapshotter".into())
            .spawn(move || run(shadow, config, rx))?;
        Ok(Self {
            tx,
            thread: Some(thread),
        })
    }

    /// Where the log-writer sends batches and snapshot requests.
    pub(crate) fn sender(&self) -> mpsc::Sender<SnapMsg> {
        self.tx.clone()
    }

    /// Lets the thread finish what it was sent, then joins it.
    pub(crate) fn stop(&mut self) {
        let _ = self.tx.send(SnapMsg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SnapshotterHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(mut shadow: Shadow, config: SnapshotterConfig, rx: mpsc::Receiver<SnapMsg>) {
    // Once the shadow cannot follow the log, no further snapshot is taken.
    let mut broken: Option<Arc<SnapshotError>> = None;
    while let Ok(msg) = rx.recv() {
        match msg {
            SnapMsg::Batch {
                first_ts,
                count,
                payload,
                hash,
            } => {
                if broken.is_none() {
                    if let Err(e) = shadow.apply_batch(first_ts, count, &payload, hash) {
                        crate::event_in!(WARN, None, None, Some(first_ts);
                            "snapshots stopped: the snapshot state cannot follow the log: {e}"
                        );
                        broken = Some(Arc::new(e));
                    }
                }
            }
            SnapMsg::Take { ts, reply } => {
                let result = match &broken {
                    Some(e) => Err(SnapshotError::Stopped(e.clone())),
                    None if shadow.ts() != ts => Err(SnapshotError::NotAt {
                        state_ts: shadow.ts(),
                        requested: ts,
                    }),
                    None => take(&mut shadow, &config),
                };
                if let Err(e) = &result {
                    crate::event_in!(WARN, None, None, Some(ts); "no snapshot at timestamp {ts}: {e}");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            SnapMsg::Stop => break,
        }
    }
}

/// Writes the shadow as a snapshot, then applies retention.
fn take(shadow: &mut Shadow, config: &SnapshotterConfig) -> Result<u64, SnapshotError> {
    let snap = shadow.snapshot();
    let path =
        interstice_persist::write_snapshot(&config.dir, &snap).map_err(SnapshotError::Write)?;
    crate::event_in!(INFO, None, None, Some(snap.ts); file = %path.display(), "snapshot written");
    if let Err(e) = retention(config) {
        crate::event_in!(WARN, None, None, None; "snapshot retention failed: {e}");
    }
    Ok(snap.ts)
}

fn retention(config: &SnapshotterConfig) -> Result<(), String> {
    let snaps: Vec<u64> = interstice_persist::list_snapshots(&config.dir)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(ts, _)| ts)
        .collect();
    let segments: Vec<u64> = config
        .storage
        .list()
        .map_err(|e| format!("listing the log: {e}"))?
        .iter()
        .filter_map(|n| interstice_persist::segment::parse_segment_name(n))
        .collect();
    let plan = interstice_persist::plan_retention(&snaps, config.keep, &segments);
    // Segments first: a kept snapshot always covers what is deleted.
    for first_ts in &plan.delete_segments {
        let name = interstice_persist::segment::segment_name(*first_ts);
        config
            .storage
            .remove(&name)
            .map_err(|e| format!("removing segment {name}: {e}"))?;
        crate::event_in!(DEBUG, None, None, None; segment = %name, "retention removed a covered segment");
    }
    if !plan.delete_segments.is_empty() {
        config
            .storage
            .sync_dir()
            .map_err(|e| format!("syncing the log directory: {e}"))?;
    }
    for ts in &plan.delete_snapshots {
        interstice_persist::remove_snapshot(&config.dir, *ts).map_err(|e| e.to_string())?;
    }
    Ok(())
}
