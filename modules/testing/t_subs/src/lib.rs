//! `t_subs`: declared trigger writes (`docs/SDK.md`, "Triggers"). `on_tick`
//! writes the table it subscribes to, so it is a certain subscription
//! cycle, accepted because it says `recursive`: one `start` sets off a
//! chain the depth limit cuts. `on_note` declares it writes `audit` only;
//! given a note with `sneak`, it also writes `notes`, which the host
//! refuses (the transaction fails).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_subs",
    version: "0.1.0",
    tables: [Tick, Audit, Note],
    reducers: [start, on_tick, note, on_note],
}

/// A tick of the chain.
#[table(name = "ticks")]
#[derive(Clone, Debug)]
pub struct Tick {
    #[primary_key(auto_inc)]
    pub id: u64,
    /// How far down the chain.
    pub n: u64,
}

/// What the triggers did.
#[table(name = "audit")]
#[derive(Clone, Debug)]
pub struct Audit {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub what: String,
}

/// A note; `sneak` makes its trigger write a table it did not declare.
#[table(name = "notes")]
#[derive(Clone, Debug)]
pub struct Note {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub sneak: bool,
}

/// Starts a chain of ticks.
#[reducer]
fn start(ctx: &mut WriteContext) -> u64 {
    ctx.tables.ticks().insert(Tick { id: 0, n: 0 }).id
}

/// Each tick inserts the next one (and audits it): bounded recursion.
#[reducer(on = "t_subs.ticks.insert", writes = [ticks, audit], recursive)]
fn on_tick(ctx: &mut WriteContext, row: Tick) {
    ctx.tables.ticks().insert(Tick {
        id: 0,
        n: row.n + 1,
    });
    ctx.tables.audit().insert(Audit {
        id: 0,
        what: format!("tick {}", row.n),
    });
}

/// Adds a note.
#[reducer]
fn note(ctx: &mut WriteContext, sneak: bool) -> u64 {
    ctx.tables.notes().insert(Note { id: 0, sneak }).id
}

/// Audits each note; with `sneak`, also writes `notes`, undeclared.
#[reducer(on = "t_subs.notes.insert", writes = [audit])]
fn on_note(ctx: &mut WriteContext, row: Note) {
    ctx.tables.audit().insert(Audit {
        id: 0,
        what: format!("note {}", row.id),
    });
    if row.sneak {
        ctx.tables.notes().insert(Note {
            id: 0,
            sneak: false,
        });
    }
}
