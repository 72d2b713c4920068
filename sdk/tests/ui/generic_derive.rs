use interstice_sdk::prelude::*;

#[derive(IntersticeType)]
pub struct Pair<T> {
    pub a: T,
    pub b: T,
}

fn main() {}
