// A code migration and an automatic one (a column appended with a default)
// compile, and their schema says what the runtime needs.
use interstice_sdk::abi::Trigger;
use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "2.0.0",
    tables: [Item, Note],
    reducers: [items_v2],
}

#[table(name = "items", version = 1, old)]
pub struct ItemV1 {
    #[primary_key]
    pub id: u64,
    pub qty: u32,
}

#[table(name = "items", version = 2)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub qty: u64,
}

#[table(name = "notes")]
pub struct Note {
    #[primary_key]
    pub id: u64,
    #[default(String::from("anon"))]
    pub author: String,
}

#[migration(from_version = 1, to_version = 2)]
fn items_v2(ctx: &mut WriteContext, old: OldTable<ItemV1>) -> Result<(), String> {
    for o in &old {
        ctx.tables.items().insert(Item {
            id: o.id,
            qty: u64::from(o.qty),
        });
    }
    Ok(())
}

fn main() {
    let s = __interstice_module_schema();
    assert_eq!(s.tables.len(), 2, "the old layout is not a table of the module");
    assert_eq!(s.tables[0].version, 2);
    let notes = &s.tables[1];
    assert_eq!(notes.defaults.len(), 1);
    assert_eq!(notes.defaults[0].column, 1);
    assert_eq!(notes.defaults[0].value, b"\x64anon");
    match &s.reducers[0].trigger {
        Some(Trigger::Migration {
            table,
            from_version,
            to_version,
            columns,
        }) => {
            assert_eq!((table.as_str(), *from_version, *to_version), ("items", 1, 2));
            assert_eq!(columns.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.reducers[0].params.len(), 1);
    s.check().unwrap();
}
