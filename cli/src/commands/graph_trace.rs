//! `interstice graph-trace -d DIR OUT`: the transaction graph of a window
//! of the committed history (`--from-ts`/`--to-ts`) or of one chain
//! (`--caused-by TS`), written as DOT, GraphML, SVG or one self-contained
//! offline HTML page, chosen by `OUT`'s extension (`docs/TOOLS.md`).
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

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use interstice_persist::{for_each_entry, read_log, CommitRecord, LogEntry, Nondet, Outcome};
use serde_json::json;

use crate::commands::log_inspect::{cause_text, cause_ts};
use crate::error::CliError;
use crate::inspect::decode::wall_text;
use crate::inspect::progress::LogProgress;
use crate::inspect::state::{open_log, warn_torn_tail};

/// The output formats, by `OUT`'s extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Dot,
    GraphMl,
    Svg,
    Html,
}

impl Format {
    fn of(out: &Path) -> Result<Format, CliError> {
        let ext = out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("dot") => Ok(Format::Dot),
            Some("graphml") => Ok(Format::GraphMl),
            Some("svg") => Ok(Format::Svg),
            Some("html") => Ok(Format::Html),
            _ => Err(CliError::Usage(format!(
                "{}: unknown output format; OUT must end in .html, .graphml, .svg or .dot",
                out.display()
            ))),
        }
    }
}

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
            Outcome::Err { kind, message } => format!("error {}: {message}", kind.name()),
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
    let format = Format::of(&a.out)?;
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
    let g = collect(a)?;
    let text = match format {
        Format::Dot => dot(&g),
        Format::GraphMl => graphml(&g),
        Format::Svg => svg(&g, &layout(&g)),
        Format::Html => html(&g, &layout(&g)),
    };
    write_replacing(&a.out, text.as_bytes()).map_err(|source| CliError::File {
        path: a.out.display().to_string(),
        source,
    })?;
    crate::output::say(format!(
        "wrote {} ({} nodes, {} edges)",
        a.out.display(),
        g.nodes.len(),
        g.edges.len()
    ));
    Ok(())
}

fn label(n: &Node) -> String {
    match n.ts {
        Some(ts) => format!("#{ts} {}.{}", n.module, n.reducer),
        None => format!("module {}", n.module),
    }
}

/// A DOT string literal's contents.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn dot(g: &Graph) -> String {
    let mut o = String::from("digraph interstice {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in &g.nodes {
        let color = if n.outcome.starts_with("error") {
            "red"
        } else {
            "black"
        };
        let _ = writeln!(
            o,
            "  \"{}\" [label=\"{}\\n{} ({} mutations)\", color={color}];",
            n.id,
            dot_escape(&label(n)),
            dot_escape(&n.outcome),
            n.mutations
        );
    }
    for e in &g.edges {
        let _ = writeln!(
            o,
            "  \"{}\" -> \"{}\" [label=\"{}\"];",
            e.from, e.to, e.kind
        );
    }
    o.push_str("}\n");
    o
}

/// XML text and attribute escaping.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

fn graphml(g: &Graph) -> String {
    let mut o = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
    );
    for (id, name, ty, on) in [
        ("ts", "ts", "long", "node"),
        ("module", "module", "string", "node"),
        ("reducer", "reducer", "string", "node"),
        ("outcome", "outcome", "string", "node"),
        ("mutations", "mutations", "int", "node"),
        ("cause", "cause", "string", "node"),
        ("now", "now_micros", "long", "node"),
        ("time", "time", "string", "node"),
        ("kind", "kind", "string", "edge"),
    ] {
        let _ = writeln!(
            o,
            "  <key id=\"{id}\" for=\"{on}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
        );
    }
    o.push_str("  <graph id=\"interstice\" edgedefault=\"directed\">\n");
    for n in &g.nodes {
        let _ = writeln!(o, "    <node id=\"{}\">", xml_escape(&n.id));
        if let Some(ts) = n.ts {
            let _ = writeln!(o, "      <data key=\"ts\">{ts}</data>");
        }
        for (k, v) in [
            ("module", &n.module),
            ("reducer", &n.reducer),
            ("outcome", &n.outcome),
            ("cause", &n.cause),
        ] {
            let _ = writeln!(o, "      <data key=\"{k}\">{}</data>", xml_escape(v));
        }
        let _ = writeln!(o, "      <data key=\"mutations\">{}</data>", n.mutations);
        if let Some(t) = n.now_micros {
            let _ = writeln!(o, "      <data key=\"now\">{t}</data>");
        }
        if let Some(t) = &n.time {
            let _ = writeln!(o, "      <data key=\"time\">{}</data>", xml_escape(t));
        }
        o.push_str("    </node>\n");
    }
    for (i, e) in g.edges.iter().enumerate() {
        let _ = writeln!(
            o,
            "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"kind\">{}</data></edge>",
            xml_escape(&e.from),
            xml_escape(&e.to),
            e.kind
        );
    }
    o.push_str("  </graph>\n</graphml>\n");
    o
}

const COL: f64 = 150.0;
const LANE: f64 = 80.0;
const LEFT: f64 = 120.0;
const TOP: f64 = 50.0;
const W: f64 = 130.0;
const H: f64 = 40.0;

/// A timeline layout: nodes in timestamp order along x (read targets at
/// the end), one lane per module along y.
struct Layout {
    lanes: Vec<String>,
    pos: HashMap<String, (f64, f64)>,
    width: f64,
    height: f64,
}

fn layout(g: &Graph) -> Layout {
    let mut lanes: Vec<String> = Vec::new();
    let mut pos = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let lane = match lanes.iter().position(|l| *l == n.module) {
            Some(l) => l,
            None => {
                lanes.push(n.module.clone());
                lanes.len() - 1
            }
        };
        pos.insert(
            n.id.clone(),
            (LEFT + i as f64 * COL, TOP + lane as f64 * LANE),
        );
    }
    Layout {
        width: LEFT + g.nodes.len() as f64 * COL + 20.0,
        height: TOP + lanes.len() as f64 * LANE + 20.0,
        lanes,
        pos,
    }
}

fn svg(g: &Graph, l: &Layout) -> String {
    let mut o = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" \
         font-size=\"11\">\n<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" \
         refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 \
         L0,10 z\"/></marker></defs>\n",
        w = l.width,
        h = l.height
    );
    for (i, lane) in l.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE + H / 2.0;
        let _ = writeln!(
            o,
            "<text class=\"lane\" x=\"8\" y=\"{y}\">{}</text>",
            xml_escape(lane)
        );
    }
    for e in &g.edges {
        if let (Some(a), Some(b)) = (l.pos.get(&e.from), l.pos.get(&e.to)) {
            let _ = writeln!(
                o,
                "<line class=\"edge {k}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\" \
                 marker-end=\"url(#arrow)\"><title>{k}</title></line>",
                a.0 + W,
                a.1 + H / 2.0,
                b.0,
                b.1 + H / 2.0,
                k = e.kind
            );
        }
    }
    for n in &g.nodes {
        let (x, y) = l.pos[&n.id];
        let fill = if n.ts.is_none() {
            "#eee"
        } else if n.outcome.starts_with("error") {
            "#fcc"
        } else {
            "#cfc"
        };
        let _ = writeln!(
            o,
            "<g class=\"node\" id=\"{id}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" \
             height=\"{H}\" rx=\"4\" fill=\"{fill}\" stroke=\"#333\"/><text x=\"{}\" \
             y=\"{}\">{}</text><text x=\"{}\" y=\"{}\">{} · {} mut</text></g>",
            x + 4.0,
            y + 16.0,
            xml_escape(&label(n)),
            x + 4.0,
            y + 32.0,
            xml_escape(n.outcome.split(':').next().unwrap_or_default()),
            n.mutations,
            id = xml_escape(&n.id)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The page's script: pan (drag), zoom (wheel), the ts timeline, the
/// details panel on click, `?select=TS` clicks a node; the page records
/// `data-rendered` (node count) and any script error in `#errors`.
const HTML_JS: &str = include_str!("graph_trace/page.js");
const HTML_CSS: &str = include_str!("graph_trace/page.css");

fn html(g: &Graph, l: &Layout) -> String {
    let nodes: Vec<_> = g
        .nodes
        .iter()
        .map(|n| {
            let (x, y) = l.pos[&n.id];
            json!({
                "id": n.id, "ts": n.ts, "module": n.module, "reducer": n.reducer,
                "outcome": n.outcome, "mutations": n.mutations, "cause": n.cause,
                "now_micros": n.now_micros, "time": n.time, "x": x, "y": y,
            })
        })
        .collect();
    let edges: Vec<_> = g
        .edges
        .iter()
        .map(|e| json!({ "from": e.from, "to": e.to, "kind": e.kind }))
        .collect();
    let data = json!({
        "nodes": nodes, "edges": edges, "lanes": l.lanes,
        "width": l.width, "height": l.height, "w": W, "h": H, "top": TOP,
    });
    // `</` never appears inside the inline script.
    let data = data.to_string().replace("</", "<\\/");
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>interstice graph-trace</title>\
         <style>{HTML_CSS}</style></head><body data-rendered=\"\">\
         <div id=\"graph\"><svg id=\"svg\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>\
         <div id=\"details\">click a node</div><pre id=\"errors\"></pre>\
         <script>window.onerror=function(m){{document.getElementById('errors').textContent+=m+'\\n';}};\
         const GRAPH={data};</script><script>{HTML_JS}</script></body></html>\n"
    )
}

/// Writes `bytes` to a new file beside `out` (created exclusively, never
/// through a symlink) and renames it over `out`: a symlink at `out` is
/// replaced, not written through, and a failed write leaves `out` as it
/// was.
pub(crate) fn write_replacing(out: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = out
        .file_name()
        .ok_or_else(|| std::io::Error::other("OUT names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = out.with_file_name(tmp_name);
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}
