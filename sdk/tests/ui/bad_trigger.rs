use interstice_sdk::prelude::*;

#[reducer(on = "hello.greetings.upsert")]
fn on_greeting(_ctx: &mut WriteContext, _row: u64) {}

#[reducer(on = "hello.greetings")]
fn on_other(_ctx: &mut WriteContext, _row: u64) {}

#[reducer(on = "Hello.greetings.insert")]
fn on_upper(_ctx: &mut WriteContext, _row: u64) {}

fn main() {}
