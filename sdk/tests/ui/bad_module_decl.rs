use interstice_sdk::prelude::*;

interstice_module! {
    name: "Bank",
    reducers: [],
}

fn main() {}
