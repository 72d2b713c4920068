//! The debugger's in-memory checkpoints: the state (every module's logged
//! rows, in the snapshot form `interstice_persist::Snapshot`) at batch
//! boundaries, so that `back` and `goto` restart from the nearest one
//! instead of from the start of the log.
//!
//! **The bound.** A checkpoint is taken at the first batch boundary at
//! least `every` entries after the previous one, and at most `max` are
//! kept besides the base (the start of the log, or the snapshot it starts
//! from). When one more would exceed `max`, every second checkpoint is
//! evicted and `every` doubles, so the kept ones still cover the whole log
//! evenly. Memory is therefore at most `max + 1` copies of the state's
//! logged rows, whatever the log's length; going to any position replays
//! at most about `every` entries (`every` grown by the evictions) from the
//! checkpoint before it.

use interstice_persist::Snapshot;

/// The defaults: a checkpoint every this many entries...
pub(crate) const DEFAULT_EVERY: u64 = 1000;
/// ...and at most this many kept (besides the base).
pub(crate) const DEFAULT_MAX: usize = 32;

/// The checkpoints, in timestamp order; the first is the base.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    list: Vec<Snapshot>,
    every: u64,
    max: usize,
}

impl Checkpoints {
    /// Only the base checkpoint; `every` ≥ 1 and `max` ≥ 1 are enforced.
    pub(crate) fn new(base: Snapshot, every: u64, max: usize) -> Self {
        Self {
            list: vec![base],
            every: every.max(1),
            max: max.max(1),
        }
    }

    /// The current spacing (grows as checkpoints are evicted).
    pub(crate) fn every(&self) -> u64 {
        self.every
    }

    /// The base: the state before the first entry read.
    pub(crate) fn base(&self) -> &Snapshot {
        &self.list[0]
    }

    /// Every checkpoint, base first.
    pub(crate) fn all(&self) -> &[Snapshot] {
        &self.list
    }

    /// Whether a checkpoint at `ts` would be taken (none within `every`
    /// of it on either side).
    pub(crate) fn wants(&self, ts: u64) -> bool {
        let at = self.list.partition_point(|c| c.ts <= ts);
        let below_ok = at == 0 || ts >= self.list[at - 1].ts + self.every;
        let above_ok = self.list.get(at).is_none_or(|c| c.ts >= ts + self.every);
        below_ok && above_ok
    }

    /// Adds a checkpoint (the caller checked [`Checkpoints::wants`]),
    /// evicting every second one when there are more than `max`.
    pub(crate) fn add(&mut self, snap: Snapshot) {
        let at = self.list.partition_point(|c| c.ts <= snap.ts);
        if at > 0 && self.list[at - 1].ts == snap.ts {
            return;
        }
        self.list.insert(at, snap);
        if self.list.len() > self.max + 1 {
            let mut i = 0usize;
            self.list.retain(|_| {
                i += 1;
                // Keep the base (i == 1) and every second one after it.
                i == 1 || i % 2 == 1
            });
            self.every = self.every.saturating_mul(2);
        }
    }

    /// The latest checkpoint strictly before `ts`, or the base when `ts` is
    /// the base's own timestamp (`None`: `ts` is before the base).
    pub(crate) fn before(&self, ts: u64) -> Option<&Snapshot> {
        if ts == self.list[0].ts {
            return Some(&self.list[0]);
        }
        self.list.iter().rev().find(|c| c.ts < ts)
    }

    /// The latest checkpoint at or before `ts` (`None`: before the base).
    pub(crate) fn at_or_before(&self, ts: u64) -> Option<&Snapshot> {
        self.list.iter().rev().find(|c| c.ts <= ts)
    }
}
