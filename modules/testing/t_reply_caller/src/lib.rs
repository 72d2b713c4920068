//! `t_reply_caller`: the calling side of the reply tests
//! (`tests/all/replies.rs`). `send(n)` calls `t_reply_callee.work(n)` with
//! the reply reducer `on_work`, which matches each reply to the oldest call
//! still waiting (replies come in the order the calls committed) and
//! records what came back; a reply out of order or twice fails. The other
//! senders call without a reply, with a failing reply reducer and with one
//! named at run time (for the host's checks).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_reply_caller",
    version: "0.1.0",
    dependencies: [],
    tables: [Waiting, Reply],
    reducers: [send, send_plain, send_bad, send_named, on_work, on_bad, on_wrong, replies, waiting_count],
}

/// A call whose reply has not come yet, by the order its `send` committed
/// in (which is the order the replies come in).
#[table(name = "waiting")]
#[derive(Clone, Debug)]
pub struct Waiting {
    #[primary_key(auto_inc)]
    pub seq: u64,
    /// The call's argument.
    pub n: u64,
}

/// A reply, keyed by its call's `n` (a second reply would fail the insert).
#[table(name = "replies")]
#[derive(Clone, Debug)]
pub struct Reply {
    #[primary_key]
    pub n: u64,
    /// `ok 10n`, `returned n` or `failed KIND: message`.
    pub outcome: String,
}

/// Calls `work(n)`; its outcome comes back to `on_work`.
#[reducer]
fn send(ctx: &mut WriteContext, n: u64) {
    ctx.tables.waiting().insert(Waiting { seq: 0, n });
    ctx.call_with_reply::<u64, String>("t_reply_callee", "work", (n,), reply_to!(on_work));
}

/// Calls `work(n)` without a reply: its failure is only warned, counted
/// and logged.
#[reducer]
fn send_plain(ctx: &mut WriteContext, n: u64) {
    ctx.call("t_reply_callee", "work", (n,));
}

/// Calls `work(n)` with the failing reply reducer `on_bad`.
#[reducer]
fn send_bad(ctx: &mut WriteContext, n: u64) {
    ctx.call_with_reply::<u64, String>("t_reply_callee", "work", (n,), reply_to!(on_bad));
}

/// Calls `work(n)` naming the reply reducer by string (checked by the host
/// only).
#[reducer]
fn send_named(ctx: &mut WriteContext, n: u64, reply: String) {
    ctx.call_with_reply_named("t_reply_callee", "work", (n,), &reply);
}

/// The reply to `send`: for the oldest waiting call.
#[reducer]
fn on_work(ctx: &mut WriteContext, reply: Result<u64, CallError<String>>) -> Result<(), String> {
    let Some(first) = ctx.tables.waiting().iter().next() else {
        return Err("a reply with no call waiting".into());
    };
    let (seq, n) = (first.seq, first.n);
    let outcome = match reply {
        Ok(v) if v == n * 10 => format!("ok {v}"),
        Err(CallError::Returned(e)) if e == n.to_string() => format!("returned {e}"),
        Err(CallError::Failed { kind, message }) => format!("failed {kind}: {message}"),
        other => return Err(format!("reply {other:?} is not the reply of call {n}")),
    };
    ctx.tables.waiting().delete(&seq);
    ctx.tables.replies().insert(Reply { n, outcome });
    Ok(())
}

/// A reply reducer that always fails.
#[reducer]
fn on_bad(_ctx: &mut WriteContext, _reply: Result<u64, CallError<String>>) -> Result<(), String> {
    Err("on_bad refuses every reply".into())
}

/// A reducer whose parameter does not read `work`'s replies.
#[reducer]
fn on_wrong(_ctx: &mut WriteContext, _reply: Result<String, CallError<String>>) {}

/// Every reply, in `n` order.
#[reducer(mode = "read")]
fn replies(ctx: &ReadContext) -> Vec<(u64, String)> {
    ctx.tables
        .replies()
        .iter()
        .map(|r| (r.n, r.outcome))
        .collect()
}

/// Calls still waiting for their reply.
#[reducer(mode = "read")]
fn waiting_count(ctx: &ReadContext) -> u64 {
    ctx.tables.waiting().count()
}
