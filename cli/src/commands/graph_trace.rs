//! `interstice graph-trace -d DIR OUT`: the transaction graph of a window
//! of the committed history (`--from-ts`/`--to-ts`) or of one chain
//! (`--caused-by TS`), written as DOT, GraphML, SVG or one self-contained
//! offline HTML page, chosen by `OUT`'s extension (`docs/TOOLS.md`), by
//! the writers it shares with `graph-subs` (`crate::graph`).
//!
//! Nodes are commits (module, reducer, outcome, mutation count, cause and
//! the `ctx.now()` the reducer read, when it asked: the log records no
//! other time). Edges are causes: an async call (`call`) or a trigger
//! (`trigger`) from the commit that caused a delivery to the delivery, and
//! a read call (`read`) from the commit that made it to a node standing
//! for the module it read (a read call commits nothing of its own). The
//! log has no separate reply record (a reply is the async call's own
//! delivery), so there are no reply edges.
//!
//! One read-only pass over the log (no lock; the hash chain verified).
//! Memory: the selected nodes and their edges; the `--caused-by` chain set
//! is the selection itself. A selection above `--max-nodes` is refused
//! while reading, before it grows further.

use std::collections::HashSet;
use std::path::PathBuf;

use interstice_persist::{for_each_entry, read_log, CommitRecord, LogEntry, Nondet, Outcome};

use crate::commands::log_inspect::{cause_text, cause_ts};
use crate::error::CliError;
use crate::graph::Format;
use crate::inspect::decode::wall_text;
use crate::inspect::progress::LogProgress;
use crate::inspect::state::{open_log, warn_torn_tail};

/// The command's arguments.
#[derive(Debug, Clone)]
pub struct GraphArgs {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The file to write.
    pub out: PathBuf,
    /// Only timestamps from TS on.
    pub from_ts: Option<u64>,
    /// Only timestamps up to TS.
    pub to_ts: Option<u64>,
    /// Only the chain the commit at TS set off.
    pub caused_by: Option<u64>,
    /// The largest number of nodes written.
    pub max_nodes: usize,
}

/// A node: a commit, or a module a read call read.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    ts: Option<u64>,
    module: String,
    reducer: String,
    outcome: String,
    mutations: usize,
    cause: String,
    now_micros: Option<i64>,
    /// When the commit finished (RFC 3339), if the log recorded it.
    time: Option<String>,
}

/// A cause.
#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    kind: &'static str,
}

/// The selected graph.
#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

fn commit_node(c: &CommitRecord) -> Node {
    Node {
        id: format!("c{}", c.ts),
        ts: Some(c.ts),
        module: c.module.clone(),
        reducer: c.reducer.clone(),
        outcome: match &c.outcome {
            Outcome::Ok(_) => "ok".into(),
            Outcome::Err { kind, message, .. } => format!("error {}: {message}", kind.name()),
        },
        mutations: c.mutations.len(),
        cause: cause_text(&c.cause),
        now_micros: c.nondet.iter().find_map(|n| match n {
            Nondet::Now(t) => Some(*t),
            _ => None,
        }),
        time: c.wall_micros.map(wall_text),
    }
}

/// Reads the selection.
fn collect(a: &GraphArgs) -> Result<Graph, CliError> {
    let mut source = open_log(&a.data_dir)?;
    if let Some(to) = a.to_ts {
        source.opts = source.opts.with_stop_at(Some(to));
    }
    let mut g = Graph::default();
    let mut selected: HashSet<u64> = HashSet::new();
    let mut read_targets: HashSet<String> = HashSet::new();
    let mut seen_root = false;
    let mut progress = LogProgress::new("graph-trace");
    let in_range = |ts: u64| a.from_ts.is_none_or(|f| ts >= f) && a.to_ts.is_none_or(|t| ts <= t);
    let report = read_log(
        &source.storage,
        &source.opts,
        for_each_entry(|entry| {
            progress.entry(entry.ts());
            let LogEntry::Commit(c) = &entry else {
                return Ok(());
            };
            let from = cause_ts(&c.cause).map(|(ts, via, _)| (ts, via));
            let chosen = if !in_range(c.ts) {
                false
            } else if let Some(root) = a.caused_by {
                if c.ts == root {
                    seen_root = true;
                }
                c.ts == root || from.is_some_and(|(f, _)| f >= root && selected.contains(&f))
            } else {
                true
            };
            if !chosen {
                return Ok(());
            }
            selected.insert(c.ts);
            g.nodes.push(commit_node(c));
            if let Some((f, kind)) = from {
                if selected.contains(&f) {
                    g.edges.push(Edge {
                        from: format!("c{f}"),
                        to: format!("c{}", c.ts),
                        kind,
                    });
                }
            }
            for n in &c.nondet {
                if let Nondet::ReadCall { module, .. } = n {
                    if read_targets.insert(module.clone()) {
                        g.nodes.push(Node {
                            id: format!("m{module}"),
                            ts: None,
                            module: module.clone(),
                            reducer: String::new(),
                            outcome: "read target".into(),
                            mutations: 0,
                            cause: String::new(),
                            now_micros: None,
                            time: None,
                        });
                    }
                    g.edges.push(Edge {
                        from: format!("c{}", c.ts),
                        to: format!("m{module}"),
                        kind: "read",
                    });
                }
            }
            if g.nodes.len() > a.max_nodes {
                return Err(CliError::Usage(format!(
                    "the selection has more than {} nodes (--max-nodes); narrow it with \
                     --from-ts/--to-ts or --caused-by, or raise --max-nodes",
                    a.max_nodes
                )));
            }
            Ok::<(), CliError>(())
        }),
    )?;
    drop(progress);
    warn_torn_tail(&report, "graphed up to");
    if let Some(ts) = a.caused_by {
        if !seen_root {
            return Err(CliError::Usage(format!(
                "--caused-by {ts}: there is no commit at timestamp {ts} in the log{}",
                if in_range(ts) { "" } else { " window" }
            )));
        }
    }
    Ok(g)
}

/// Runs the command.
pub fn run(a: &GraphArgs) -> Result<(), CliError> {
    Format::of(&a.out)?;
    if let (Some(f), Some(t)) = (a.from_ts, a.to_ts) {
        if f > t {
            return Err(CliError::Usage(format!(
                "--from-ts {f} is after --to-ts {t}"
            )));
        }
    }
    if a.max_nodes == 0 {
        return Err(CliError::Usage("--max-nodes must be at least 1".into()));
    }
    to_graph(collect(a)?).write(&a.out)?;
    Ok(())
}

fn label(n: &Node) -> String {
    match n.ts {
        Some(ts) => format!("#{ts} {}.{}", n.module, n.reducer),
        None => format!("module {}", n.module),
    }
}

/// The selection in the shared graph model: a timeline, one lane per
/// module.
fn to_graph(g: Graph) -> crate::graph::Graph {
    use crate::graph::{Datum, Edge as GEdge, Node as GNode, Placement};
    let nodes = g
        .nodes
        .into_iter()
        .map(|n| {
            let failed = n.outcome.starts_with("error");
            let mut data = Vec::new();
            if let Some(ts) = n.ts {
                data.push(("ts", Datum::Int(ts as i64)));
            }
            data.push(("module", Datum::Text(n.module.clone())));
            data.push(("reducer", Datum::Text(n.reducer.clone())));
            data.push(("outcome", Datum::Text(n.outcome.clone())));
            data.push(("cause", Datum::Text(n.cause.clone())));
            data.push(("mutations", Datum::Int(n.mutations as i64)));
            if let Some(t) = n.now_micros {
                data.push(("now", Datum::Int(t)));
            }
            if let Some(t) = &n.time {
                data.push(("time", Datum::Text(t.clone())));
            }
            GNode {
                label: vec![
                    label(&n),
                    format!("{} ({} mutations)", n.outcome, n.mutations),
                ],
                lines: [
                    label(&n),
                    format!(
                        "{} · {} mut",
                        n.outcome.split(':').next().unwrap_or_default(),
                        n.mutations
                    ),
                ],
                color: if failed { "red" } else { "black" },
                fill: if n.ts.is_none() {
                    "#eee"
                } else if failed {
                    "#fcc"
                } else {
                    "#cfc"
                },
                tick: n.ts.map(|ts| format!("ts {ts}")),
                data,
                id: n.id,
                lane: n.module,
            }
        })
        .collect();
    crate::graph::Graph {
        title: "interstice graph-trace",
        keys: vec![
            ("ts", "ts", "long", "node"),
            ("module", "module", "string", "node"),
            ("reducer", "reducer", "string", "node"),
            ("outcome", "outcome", "string", "node"),
            ("mutations", "mutations", "int", "node"),
            ("cause", "cause", "string", "node"),
            ("now", "now_micros", "long", "node"),
            ("time", "time", "string", "node"),
        ],
        nodes,
        edges: g
            .edges
            .into_iter()
            .map(|e| GEdge::new(e.from, e.to, e.kind))
            .collect(),
        placement: Placement::Timeline,
    }
}
