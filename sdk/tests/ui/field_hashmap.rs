use std::collections::HashMap;

use interstice_sdk::prelude::*;

#[table(name = "inventories")]
pub struct Inventory {
    #[primary_key]
    pub id: u64,
    pub items: HashMap<String, u64>,
}

fn main() {}
