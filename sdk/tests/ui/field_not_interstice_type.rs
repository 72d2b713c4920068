use interstice_sdk::prelude::*;

pub struct Plain {
    pub x: u64,
}

#[derive(IntersticeType)]
pub struct Wrapper {
    pub plain: Plain,
    pub shared: std::rc::Rc<u64>,
}

#[reducer]
fn takes_plain(_ctx: &mut WriteContext, _p: Plain) {}

fn main() {}
