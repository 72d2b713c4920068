//! `caller`: talks to `hello` in the three ways modules interact.
//!
//! - `greet` queues an asynchronous write call to `hello.hello`;
//! - `on_greeting` subscribes to inserts into `hello.greetings`;
//! - `hello_count` makes a synchronous read call along the declared
//!   dependency on `hello`.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "caller",
    version: "0.1.0",
    dependencies: ["hello"],
    tables: [Seen],
    reducers: [greet, on_greeting, seen_count, hello_count],
}

/// A row of `hello.greetings`, as this module receives it: same fields,
/// same types, same order.
#[derive(IntersticeType, Clone, Debug)]
pub struct Greeting {
    pub id: u64,
    pub name: String,
    pub greeted_at: u64,
}

/// One row per greeting seen through the subscription. Keyed by the
/// greeting's id, so a greeting delivered twice would fail the insert.
#[table(name = "seen")]
#[derive(Clone, Debug)]
pub struct Seen {
    #[primary_key]
    pub greeting_id: u64,
    pub name: String,
}

/// Asks `hello` to greet `name`. The call is delivered after this
/// transaction commits.
#[reducer]
fn greet(ctx: &mut WriteContext, name: String) {
    ctx.call("hello", "hello", (name,));
}

/// Runs after every commit that inserts into `hello.greetings`.
#[reducer(on = "hello.greetings.insert")]
fn on_greeting(ctx: &mut WriteContext, row: Greeting) {
    ctx.tables.seen().insert(Seen {
        greeting_id: row.id,
        name: row.name,
    });
}

/// How many greetings this module has seen.
#[reducer(mode = "read")]
fn seen_count(ctx: &ReadContext) -> u64 {
    ctx.tables.seen().count()
}

/// `hello`'s greeting count, read synchronously.
#[reducer(mode = "read")]
fn hello_count(ctx: &ReadContext) -> u64 {
    match ctx.read_call::<u64, ()>("hello", "greeting_count", ()) {
        Ok(n) => n,
        Err(()) => unreachable!("greeting_count cannot fail"),
    }
}
