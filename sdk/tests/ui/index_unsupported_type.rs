use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "0.1.0",
    tables: [Reading],
    reducers: [],
}

#[table(name = "readings")]
pub struct Reading {
    #[primary_key]
    pub id: u64,
    #[index]
    pub value: f64,
}

fn main() {}
