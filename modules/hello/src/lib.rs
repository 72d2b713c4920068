//! `hello`: the smallest useful module. One table, an init reducer, a write
//! reducer and two read reducers.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "hello",
    version: "0.1.0",
    tables: [Greeting],
    reducers: [init, hello, greeting_count, last_greeting],
}

/// One row per greeting.
#[table(name = "greetings")]
#[derive(Clone, Debug)]
pub struct Greeting {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub name: String,
    /// The logical timestamp of the transaction that greeted.
    pub greeted_at: u64,
}

fn greet(ctx: &WriteContext, name: String) -> Greeting {
    ctx.tables.greetings().insert(Greeting {
        id: 0,
        name,
        greeted_at: ctx.timestamp(),
    })
}

/// Runs once, when the module is installed.
#[reducer(on = "init")]
fn init(ctx: &mut WriteContext) {
    greet(ctx, "world".to_string());
}

/// Greets `name`; returns the greeting's id.
#[reducer]
fn hello(ctx: &mut WriteContext, name: String) -> u64 {
    let g = greet(ctx, name);
    info!("hello, {}! (greeting #{})", g.name, g.id);
    g.id
}

/// How many greetings there have been.
#[reducer(mode = "read")]
fn greeting_count(ctx: &ReadContext) -> u64 {
    ctx.tables.greetings().count()
}

/// The name greeted last, if any.
#[reducer(mode = "read")]
fn last_greeting(ctx: &ReadContext) -> Option<String> {
    ctx.tables.greetings().iter().last().map(|g| g.name)
}
