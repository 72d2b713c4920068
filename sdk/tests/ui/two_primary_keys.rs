use interstice_sdk::prelude::*;

#[table(name = "accounts")]
pub struct Account {
    #[primary_key]
    pub id: u64,
    #[primary_key]
    pub owner: String,
}

fn main() {}
