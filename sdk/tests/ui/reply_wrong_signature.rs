use interstice_sdk::prelude::*;

#[reducer]
fn send(ctx: &mut WriteContext, n: u64) {
    // `work` returns `Result<u64, String>`; `on_work` takes the replies of
    // a call returning `Result<String, String>`.
    ctx.call_with_reply::<u64, String>("callee", "work", (n,), reply_to!(on_work));
}

#[reducer]
fn on_work(_ctx: &mut WriteContext, _reply: Result<String, CallError<String>>) {}

#[reducer]
fn send_plain(ctx: &mut WriteContext, n: u64) {
    // `not_a_reply` does not take a reply at all.
    ctx.call_with_reply::<u64, String>("callee", "work", (n,), reply_to!(not_a_reply));
}

#[reducer]
fn not_a_reply(_ctx: &mut WriteContext, _n: u64) {}

fn main() {}
