//! A module's finished transactions between the moment they finish and the
//! moment they get their timestamps (`interstice_sync::CommitOrder`
//! describes the protocol).
//!
//! A module actor runs a transaction without a timestamp and puts the
//! finished entry here, already encoded (with timestamp 0:
//! `interstice_persist::UnnumberedEntry`). [`Outbox::flush`] numbers every
//! waiting entry at once (consecutive timestamps, in the order they ran),
//! writes the timestamps into their encodings, registers their callers' replies on the durability watermark and hands
//! them to the sequencer in one [`Numbered`]. It runs:
//!
//! - when the actor's mailbox is empty, or the outbox holds
//!   [`OUTBOX_MAX`] entries (batching: a burst of calls wakes the sequencer
//!   once);
//! - before the actor answers a read call of another module's write
//!   transaction, so that every commit the reader can see is numbered
//!   before the reader is;
//! - when a reducer asks for `ctx.timestamp()`;
//! - from the epoch callback while a long transaction runs, so the
//!   module's earlier commits are not held back by its next one;
//! - before an upgrade takes its install timestamp, and when the actor stops.
//!
//! An entry waiting here holds no timestamp, so it delays no other module.
//! The outbox is shared between the actor and its wasm store (for the last
//! two callers, which run inside a reducer call), behind a mutex that only
//! the module's own thread takes.

use std::sync::{Arc, Mutex};

use interstice_persist::UnnumberedEntry;
use interstice_sync::ModuleClock;
use interstice_sync::Refusal;

use crate::actors::messages::{
    EntryInfo, ExecError, ExecReply, Numbered, NumberedEntry, Responder,
};
use crate::actors::shared::Shared;

/// The most entries held before they are numbered anyway.
pub(crate) const OUTBOX_MAX: usize = 32;

/// A finished entry, not yet numbered.
pub(crate) struct Finished {
    /// The log entry, encoded; its timestamp is written when it is
    /// numbered.
    pub entry: UnnumberedEntry,
    pub info: EntryInfo,
    /// A caller to answer once the entry is durable, with the encoded `Ok`
    /// value (a failure is answered once numbered, without waiting for
    /// durability: `ModuleActor::conclude`).
    pub reply: Option<(Responder<ExecReply>, Vec<u8>)>,
}

/// One module's finished, unnumbered entries, and its place in the
/// timestamp order.
#[derive(Default)]
pub(crate) struct Outbox {
    clock: Arc<ModuleClock>,
    waiting: Mutex<Vec<Finished>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("last_ts", &self.clock.last())
            .field("waiting", &self.len())
            .finish()
    }
}

impl Outbox {
    /// The module's clock: the timestamp of its latest numbered entry.
    pub(crate) fn clock(&self) -> &Arc<ModuleClock> {
        &self.clock
    }

    /// Entries waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.lock().expect("outbox lock").len()
    }

    /// Adds a finished entry; returns how many are waiting.
    pub(crate) fn push(&self, f: Finished) -> usize {
        let mut w = self.waiting.lock().expect("outbox lock");
        w.push(f);
        w.len()
    }

    /// Numbers every waiting entry and hands them to the sequencer. Returns
    /// the timestamp of the last, if there was any.
    pub(crate) fn flush(&self, shared: &Shared) -> Option<u64> {
        let items = {
            let mut waiting = self.waiting.lock().expect("outbox lock");
            if waiting.is_empty() {
                return None;
            }
            // The next burst is likely as long as this one.
            let room = waiting.len();
            std::mem::replace(&mut *waiting, Vec::with_capacity(room))
        };
        let first = shared.order.allocate(&self.clock, items.len() as u64);
        Some(send_numbered(shared, first, items))
    }
}

/// Numbers entries from `first`, registers their replies and sends
/// them to the sequencer; returns the last timestamp.
pub(crate) fn send_numbered(shared: &Shared, first: u64, items: Vec<Finished>) -> u64 {
    let mut out = Vec::with_capacity(items.len());
    let mut ts = first;
    for f in items {
        if let Some((reply, value)) = f.reply {
            // Answered once the commit is durable, by whichever thread
            // publishes the watermark: the caller is woken once, and never
            // before the fsync that covers its commit.
            shared.watermark.on_reach(ts, move |durable| {
                reply.send(match durable {
                    Ok(()) => Ok((ts, value)),
                    Err(e) => Err(ExecError::Refused(Refusal::StorageFault(e.0))),
                })
            });
        }
        out.push((
            ts,
            NumberedEntry {
                entry: f.entry.numbered(ts),
                info: f.info,
            },
        ));
        ts += 1;
    }
    shared.sequencer().do_send(Numbered { items: out });
    ts - 1
}
