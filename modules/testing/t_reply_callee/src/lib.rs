//! `t_reply_callee`: the called side of the reply tests
//! (`tests/all/replies.rs`). `work(n)` commits `Ok(10 n)` for `n % 3 == 0`,
//! returns `Err("n")` for `n % 3 == 1` and panics for `n % 3 == 2`, so one
//! caller sees every kind of reply.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_reply_callee",
    version: "0.1.0",
    dependencies: [],
    tables: [Done],
    reducers: [work, done_count],
}

/// One row per committed `work`.
#[table(name = "done")]
#[derive(Clone, Debug)]
pub struct Done {
    #[primary_key]
    pub n: u64,
}

/// Commits, returns an error or panics, by `n % 3`.
#[reducer]
fn work(ctx: &mut WriteContext, n: u64) -> Result<u64, String> {
    match n % 3 {
        0 => {
            ctx.tables.done().insert(Done { n });
            Ok(n * 10)
        }
        1 => Err(n.to_string()),
        _ => panic!("work {n} panics"),
    }
}

/// How many `work`s committed.
#[reducer(mode = "read")]
fn done_count(ctx: &ReadContext) -> u64 {
    ctx.tables.done().count()
}
