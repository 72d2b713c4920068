use interstice_sdk::prelude::*;

#[derive(IntersticeType)]
pub struct Borrowed {
    pub name: &'static str,
}

fn main() {}
