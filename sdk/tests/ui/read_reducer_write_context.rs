use interstice_sdk::prelude::*;

#[reducer(mode = "read")]
fn balance(_ctx: &mut WriteContext, _id: u64) -> u64 {
    0
}

fn main() {}
