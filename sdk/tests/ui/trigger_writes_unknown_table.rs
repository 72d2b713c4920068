use interstice_sdk::prelude::*;

interstice_module! {
    name: "ticker",
    tables: [Tick],
    reducers: [on_tick, on_init, on_other],
}

#[table(name = "ticks")]
#[derive(Clone, Debug)]
pub struct Tick {
    #[primary_key(auto_inc)]
    pub id: u64,
}

// `tockz` is no table of this module.
#[reducer(on = "ticker.ticks.insert", writes = [ticks, tockz])]
fn on_tick(_ctx: &mut WriteContext, _row: Tick) {}

// `writes` is for table triggers only.
#[reducer(on = "init", writes = [ticks])]
fn on_init(_ctx: &mut WriteContext) {}

// `recursive` needs declared writes.
#[reducer(on = "ticker.ticks.delete", recursive)]
fn on_other(_ctx: &mut WriteContext, _row: Tick) {}

fn main() {}
