//! `t_storm`: deliveries that multiply. A trigger on its own table inserts
//! two more rows (a tree, not a chain: the depth limit alone does not stop
//! it), and `echo` async-calls itself twice. The fan-out tests use it.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_storm",
    version: "0.1.0",
    tables: [Node],
    reducers: [seed, grow, echo, node_count],
}

/// A node of the storm's tree.
#[table(name = "nodes")]
#[derive(Clone, Debug)]
pub struct Node {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub parent: u64,
}

/// Inserts the first node.
#[reducer]
fn seed(ctx: &mut WriteContext) {
    ctx.tables.nodes().insert(Node { id: 0, parent: 0 });
}

/// Every inserted node inserts two children.
#[reducer(on = "t_storm.nodes.insert")]
fn grow(ctx: &mut WriteContext, node: Node) {
    for _ in 0..2 {
        ctx.tables.nodes().insert(Node {
            id: 0,
            parent: node.id,
        });
    }
}

/// Calls itself twice, asynchronously.
#[reducer]
fn echo(ctx: &mut WriteContext, n: u64) {
    ctx.call("t_storm", "echo", (n + 1,));
    ctx.call("t_storm", "echo", (n + 1,));
}

/// Nodes so far.
#[reducer(mode = "read")]
fn node_count(ctx: &ReadContext) -> u64 {
    ctx.tables.nodes().count()
}
