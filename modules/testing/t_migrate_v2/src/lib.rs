//! `t_migrate_v2`: version 2 of module `t_migrate`. Table `items` goes to
//! version 2 with a new layout (`qty` widened to `u64` and scaled, `name`
//! upper-cased, a `tags` column), rewritten by the code migration
//! `items_v2`; table `notes` gains two columns with declared defaults (an
//! automatic migration); table `runs` is new and counts migration runs.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_migrate",
    version: "2.0.0",
    tables: [Item, Note, Run],
    reducers: [add, note, item, notes, runs, items_v2],
}

/// Version 1 of `items`, as the migration reads it.
#[table(name = "items", version = 1, old)]
pub struct ItemV1 {
    #[primary_key]
    pub id: u64,
    pub name: String,
    pub qty: u32,
}

/// An item (table version 2).
#[table(name = "items", version = 2)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub name: String,
    pub qty: u64,
    pub tags: Vec<String>,
}

/// A note, with two columns appended with defaults.
#[table(name = "notes")]
pub struct Note {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub text: String,
    #[default(3)]
    pub stars: u8,
    #[default(Some(String::from("anon")))]
    pub author: Option<String>,
}

/// One row per run of the migration (new in version 2).
#[table(name = "runs")]
pub struct Run {
    #[primary_key(auto_inc)]
    pub id: u64,
    /// Old rows the run read.
    pub rows: u64,
}

/// Rewrites every version-1 item; an item named `poison` makes it fail
/// (so the upgrade is refused and nothing changes).
#[migration(from_version = 1, to_version = 2)]
fn items_v2(ctx: &mut WriteContext, old: OldTable<ItemV1>) -> Result<(), String> {
    let mut rows = 0;
    for o in &old {
        if o.name == "poison" {
            return Err(format!("item {} is poisoned", o.id));
        }
        ctx.tables.items().insert(Item {
            id: o.id,
            name: o.name.to_uppercase(),
            qty: u64::from(o.qty) * 1000,
            tags: vec![String::from("migrated")],
        });
        rows += 1;
    }
    assert_eq!(old.count(), rows, "count agrees with the scan");
    ctx.tables.runs().insert(Run { id: 0, rows });
    Ok(())
}

/// Adds an item (version 2 layout).
#[reducer]
fn add(ctx: &mut WriteContext, id: u64, name: String, qty: u64) {
    ctx.tables.items().insert(Item {
        id,
        name,
        qty,
        tags: Vec::new(),
    });
}

/// Adds a note with 5 stars by `me`; returns its id.
#[reducer]
fn note(ctx: &mut WriteContext, text: String) -> u64 {
    ctx.tables
        .notes()
        .insert(Note {
            id: 0,
            text,
            stars: 5,
            author: Some(String::from("me")),
        })
        .id
}

/// Item `id` as `(name, qty, tags)`.
#[reducer(mode = "read")]
fn item(ctx: &ReadContext, id: u64) -> Option<(String, u64, Vec<String>)> {
    ctx.tables.items().get(&id).map(|i| (i.name, i.qty, i.tags))
}

/// Every note as `(text, stars, author)`, in id order.
#[reducer(mode = "read")]
fn notes(ctx: &ReadContext) -> Vec<(String, u8, Option<String>)> {
    ctx.tables
        .notes()
        .iter()
        .map(|n| (n.text, n.stars, n.author))
        .collect()
}

/// The migration runs: the old row count each read.
#[reducer(mode = "read")]
fn runs(ctx: &ReadContext) -> Vec<u64> {
    ctx.tables.runs().iter().map(|r| r.rows).collect()
}
