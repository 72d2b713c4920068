// Tables and reducers may live in submodules; the module macro takes paths.
use interstice_sdk::prelude::*;

interstice_module! {
    name: "shop",
    tables: [model::Item, model::Order],
    reducers: [ops::add_item, ops::item_count, ops::price_of],
}

pub mod model {
    use interstice_sdk::prelude::*;

    #[derive(IntersticeType, Clone, Debug, PartialEq)]
    pub enum Category {
        Food,
        Tool { weight_g: u32 },
        Other(String),
    }

    #[table(name = "items", ephemeral, version = 2)]
    #[derive(Clone, Debug)]
    pub struct Item {
        #[primary_key]
        pub sku: String,
        #[index(unique)]
        pub code: u32,
        pub price: i64,
        pub category: Category,
        pub tags: Vec<String>,
        pub photo: Option<Bytes>,
    }

    #[table]
    pub struct Order {
        #[primary_key(auto_inc)]
        pub id: u32,
        pub lines: Vec<(String, u16)>,
    }
}

pub mod ops {
    use super::model::{Category, Item, ItemTableExt};
    use interstice_sdk::prelude::*;

    #[reducer]
    pub fn add_item(ctx: &mut WriteContext, sku: String, price: i64, category: Category) {
        ctx.tables.items().insert(Item {
            sku,
            code: 1,
            price,
            category,
            tags: vec![],
            photo: None,
        });
    }

    #[reducer(mode = "read")]
    pub fn item_count(ctx: &ReadContext) -> u64 {
        ctx.tables.items().count()
    }

    #[reducer(mode = "read")]
    pub fn price_of(ctx: &ReadContext, sku: String) -> Option<i64> {
        let n: Result<u64, ()> = ctx.read_call("other", "count", ());
        let _ = n;
        ctx.tables.items().get(&sku).map(|i| i.price)
    }
}

fn main() {
    let schema = __interstice_module_schema();
    schema.check().expect("schema checks");
    let items = &schema.tables[0];
    assert_eq!(items.name, "items");
    assert_eq!(items.version, 2);
    assert_eq!(items.persistence, interstice_sdk::abi::Persistence::Ephemeral);
    assert_eq!(items.indexes[0].columns, vec![1]);
    assert_eq!(schema.tables[1].name, "order");
    assert_eq!(reducers::PRICE_OF, "price_of");
}
