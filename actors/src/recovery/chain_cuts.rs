//! Where `Limits::max_trigger_depth` cut a delivery chain, derived from the
//! log alone: the router drops every delivery of a commit whose depth plus
//! one exceeds the limit (`deliveries.rs: route`), and both the depth and
//! the deliveries a commit makes are functions of the log and the logged
//! schemas. A commit's depth is its cause's depth plus one (0 for an
//! external call, an init or a migration); its deliveries are its logged
//! outbound calls and, for each logged mutation, the triggers subscribed to
//! that table and event (`Subscriptions`, the router's own table), and,
//! committed or not, the reply of a call made with a reply. So
//! `interstice log-inspect` shows each cut at the commit where it happened
//! without the log recording it, and every log, old or new, shows its cuts.
//!
//! Memory: one entry per commit whose deliveries are not all consumed yet
//! (the chains in flight), never the log.

use std::collections::HashMap;

use interstice_abi::{ModuleSchema, RowEvent};
use interstice_persist::{Cause, CommitRecord, MutationOp, Outcome, Snapshot};

use crate::config::Limits;
use crate::error::RuntimeError;
use crate::recovery::deliveries::Subscriptions;

/// A cut: the commit at `ts` made `dropped` deliveries at `depth`, above
/// `max_depth`, and the router dropped them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainCut {
    /// The commit whose deliveries were dropped.
    pub ts: u64,
    /// How many.
    pub dropped: usize,
    /// Their trigger depth (the commit's depth plus one).
    pub depth: u32,
    /// `Limits::max_trigger_depth`.
    pub max_depth: u32,
}

/// Follows a log's delivery chains, entry by entry, and says where the
/// depth limit cut one.
#[derive(Debug)]
pub struct ChainCuts {
    subs: Subscriptions,
    max_depth: u32,
    /// Commits with deliveries not consumed yet: their depth and how many
    /// are still to come.
    open: HashMap<u64, (u32, usize)>,
}

impl ChainCuts {
    /// Before the first entry of a log, under `limits` (the limits the
    /// runtime that wrote it ran with: the cut depends on them).
    pub fn new(limits: &Limits) -> Self {
        Self {
            subs: Subscriptions::default(),
            max_depth: limits.max_trigger_depth,
            open: HashMap::new(),
        }
    }

    /// The state a snapshot holds (a log whose start retention deleted):
    /// its modules' triggers and its pending deliveries' depths.
    pub fn from_snapshot(snap: &Snapshot, limits: &Limits) -> Result<Self, RuntimeError> {
        let mut c = Self::new(limits);
        for m in &snap.modules {
            let schema = ModuleSchema::decode(&m.schema).map_err(|e| {
                RuntimeError::replay(snap.ts, &m.name, format!("snapshot schema is invalid: {e}"))
            })?;
            c.install(&schema);
        }
        for d in &snap.pending {
            let e = c
                .open
                .entry(d.source_ts)
                .or_insert((d.depth.saturating_sub(1), 0));
            e.1 += 1;
        }
        Ok(c)
    }

    /// A module's install (or upgrade): its triggers replace its old ones.
    pub fn install(&mut self, schema: &ModuleSchema) {
        let _init = self.subs.add_module(schema);
    }

    /// A commit of a module whose schema is `schema`; the cut it made, if
    /// the depth limit dropped its deliveries.
    pub fn commit(&mut self, c: &CommitRecord, schema: &ModuleSchema) -> Option<ChainCut> {
        let depth = match &c.cause {
            Cause::Call { ts, .. } | Cause::Trigger { ts, .. } | Cause::Reply { ts, .. } => {
                // A source the log does not show (before its start) counts
                // as a root.
                let d = self.open.get_mut(ts).map_or(0, |(d, left)| {
                    *left = left.saturating_sub(1);
                    *d
                });
                if self.open.get(ts).is_some_and(|(_, left)| *left == 0) {
                    self.open.remove(ts);
                }
                d + 1
            }
            Cause::External | Cause::Init | Cause::Migration { .. } => 0,
        };
        // A replied commit owes one more delivery, its reply, even failed.
        let reply = usize::from(c.cause.reply_to().is_some());
        if !matches!(c.outcome, Outcome::Ok(_)) || matches!(c.cause, Cause::Migration { .. }) {
            return self.made(c.ts, depth, reply);
        }
        let changes = c.mutations.iter().map(|m| {
            let event = match m.op {
                MutationOp::Insert(_) => RowEvent::Insert,
                MutationOp::Update(_) => RowEvent::Update,
                MutationOp::Delete(_) => RowEvent::Delete,
            };
            (m.table, event)
        });
        let made = self
            .subs
            .count_for(&c.module, schema, c.calls.len(), changes)
            + reply;
        self.made(c.ts, depth, made)
    }

    /// The commit at `ts`, at `depth`, made `made` deliveries.
    fn made(&mut self, ts: u64, depth: u32, made: usize) -> Option<ChainCut> {
        if made == 0 {
            return None;
        }
        if depth + 1 > self.max_depth {
            return Some(ChainCut {
                ts,
                dropped: made,
                depth: depth + 1,
                max_depth: self.max_depth,
            });
        }
        self.open.insert(ts, (depth, made));
        None
    }

    /// Commits with deliveries still to come.
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests;
