use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "0.1.0",
    tables: [Item],
    reducers: [of_owner],
}

#[table(name = "items")]
pub struct Item {
    #[primary_key]
    pub id: u64,
    #[index(hash)]
    pub owner: String,
}

#[reducer(mode = "read")]
fn of_owner(ctx: &ReadContext) -> Result<u64, String> {
    // A u64 for a String index, and a range on a hash index.
    let a = ctx.tables.items().by_owner().filter(&5u64).count();
    let b = ctx.tables.items().by_owner().range("a".to_string()..).count();
    Ok(a + b)
}

fn main() {}
