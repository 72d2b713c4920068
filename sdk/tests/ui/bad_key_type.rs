use interstice_sdk::prelude::*;

interstice_module! {
    name: "geo",
    tables: [Point, Name],
}

#[table(name = "points")]
pub struct Point {
    #[primary_key]
    pub x: f64,
    pub y: f64,
}

#[table(name = "names")]
pub struct Name {
    #[primary_key(auto_inc)]
    pub name: String,
}

fn main() {}
