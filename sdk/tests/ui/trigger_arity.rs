use interstice_sdk::prelude::*;

#[reducer(on = "init")]
fn init(_ctx: &mut WriteContext, _x: u64) {}

#[reducer(on = "hello.greetings.update")]
fn on_update(_ctx: &mut WriteContext, _row: u64) {}

#[reducer(on = "init", mode = "read")]
fn read_init(_ctx: &ReadContext) {}

fn main() {}
