use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "0.1.0",
    tables: [Item],
    reducers: [cheap],
}

#[table(name = "items")]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub price: u64,
}

#[reducer(mode = "read")]
fn cheap(ctx: &ReadContext) -> Result<u64, String> {
    Ok(ctx.tables.items().matching(|c| c.price.lt("ten".to_string())).count())
}

fn main() {}
