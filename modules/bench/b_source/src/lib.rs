//! `b_source`: the source of the fanout benchmark. Each `emit` inserts one
//! row into `events`; every loaded `b_sub_*` module's trigger runs on it.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "b_source",
    tables: [Event],
    reducers: [emit, count],
}

/// One event.
#[table(name = "events")]
#[derive(Clone, Debug)]
pub struct Event {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub value: u64,
}

/// Inserts one event; returns its id.
#[reducer]
fn emit(ctx: &mut WriteContext, value: u64) -> u64 {
    ctx.tables.events().insert(Event { id: 0, value }).id
}

/// The number of events.
#[reducer(mode = "read")]
fn count(ctx: &ReadContext) -> u64 {
    ctx.tables.events().count()
}
