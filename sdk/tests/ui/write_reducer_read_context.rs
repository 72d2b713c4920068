use interstice_sdk::prelude::*;

#[reducer]
fn deposit(_ctx: &ReadContext, _id: u64) {}

fn main() {}
