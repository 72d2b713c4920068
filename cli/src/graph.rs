//! The graph writers `graph-trace` and `graph-subs` share: one model of a
//! directed graph (nodes in lanes, one per module; typed edges, some
//! highlighted) written as DOT, GraphML, SVG or one self-contained offline
//! HTML page (inline `graph/page.js` and `graph/page.css`: pan, zoom, an
//! optional timeline, a details panel on click, `?select=ID` clicks a
//! node), chosen by the output file's extension.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::error::CliError;

/// The output formats, by `OUT`'s extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Graphviz.
    Dot,
    /// GraphML (XML).
    GraphMl,
    /// A static SVG.
    Svg,
    /// One offline HTML page.
    Html,
}

impl Format {
    /// The format `out`'s extension names.
    pub fn of(out: &Path) -> Result<Format, CliError> {
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

/// A GraphML attribute: its key id, name, type (`string`, `int`, `long`,
/// `boolean`) and what it is for (`node` or `edge`).
pub type Key = (&'static str, &'static str, &'static str, &'static str);

/// A node's attribute value.
#[derive(Debug, Clone)]
pub enum Datum {
    /// A number.
    Int(i64),
    /// Text.
    Text(String),
}

impl Datum {
    fn text(&self) -> String {
        match self {
            Datum::Int(i) => i.to_string(),
            Datum::Text(t) => t.clone(),
        }
    }
}

/// A node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Unique id.
    pub id: String,
    /// Its lane (a module).
    pub lane: String,
    /// The DOT label's lines.
    pub label: Vec<String>,
    /// The two lines of its box in the SVG and the page.
    pub lines: [String; 2],
    /// DOT border colour.
    pub color: &'static str,
    /// SVG and page fill.
    pub fill: &'static str,
    /// GraphML data (keys of [`Graph::keys`]) and the page's details, in
    /// order; empty texts are left out of the details.
    pub data: Vec<(&'static str, Datum)>,
    /// A timeline tick above it (`ts 5`).
    pub tick: Option<String>,
}

/// An edge.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// Its kind (label, GraphML `kind`, CSS class).
    pub kind: &'static str,
    /// Drawn red (on a cycle).
    pub highlight: bool,
    /// Drawn dashed (a possibility, not a declaration).
    pub dashed: bool,
    /// Further GraphML data.
    pub data: Vec<(&'static str, String)>,
}

impl Edge {
    /// A plain edge of `kind`.
    pub fn new(from: String, to: String, kind: &'static str) -> Self {
        Self {
            from,
            to,
            kind,
            highlight: false,
            dashed: false,
            data: Vec::new(),
        }
    }
}

/// How nodes are placed along x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In node order across all lanes (a timeline).
    Timeline,
    /// In node order within each lane.
    Lanes,
}

/// A graph to write.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The page title.
    pub title: &'static str,
    /// The GraphML keys (node keys, then edge keys; `kind` is always an
    /// edge key and need not be listed).
    pub keys: Vec<Key>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
    /// Node placement.
    pub placement: Placement,
}

impl Graph {
    /// The graph as `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Dot => self.dot(),
            Format::GraphMl => self.graphml(),
            Format::Svg => self.svg(&self.layout()),
            Format::Html => self.html(&self.layout()),
        }
    }

    /// Writes the graph to `out` as its extension says (replacing it).
    pub fn write(&self, out: &Path) -> Result<(), CliError> {
        let text = self.render(Format::of(out)?);
        write_replacing(out, text.as_bytes()).map_err(|source| CliError::File {
            path: out.display().to_string(),
            source,
        })?;
        crate::output::say(format!(
            "wrote {} ({} nodes, {} edges)",
            out.display(),
            self.nodes.len(),
            self.edges.len()
        ));
        Ok(())
    }

    fn dot(&self) -> String {
        let mut o = String::from("digraph interstice {\n  rankdir=LR;\n  node [shape=box];\n");
        for n in &self.nodes {
            let label: Vec<String> = n.label.iter().map(|l| dot_escape(l)).collect();
            let _ = writeln!(
                o,
                "  \"{}\" [label=\"{}\", color={}];",
                n.id,
                label.join("\\n"),
                n.color
            );
        }
        for e in &self.edges {
            let mut style = String::new();
            if e.highlight {
                style += ", color=red";
            }
            if e.dashed {
                style += ", style=dashed";
            }
            let _ = writeln!(
                o,
                "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
                e.from, e.to, e.kind
            );
        }
        o.push_str("}\n");
        o
    }

    fn graphml(&self) -> String {
        let mut o = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
        );
        let kind: Key = ("kind", "kind", "string", "edge");
        for (id, name, ty, on) in self.keys.iter().chain(std::iter::once(&kind)) {
            let _ = writeln!(
                o,
                "  <key id=\"{id}\" for=\"{on}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
            );
        }
        o.push_str("  <graph id=\"interstice\" edgedefault=\"directed\">\n");
        for n in &self.nodes {
            let _ = writeln!(o, "    <node id=\"{}\">", xml_escape(&n.id));
            for (k, v) in &n.data {
                let _ = writeln!(
                    o,
                    "      <data key=\"{k}\">{}</data>",
                    xml_escape(&v.text())
                );
            }
            o.push_str("    </node>\n");
        }
        for (i, e) in self.edges.iter().enumerate() {
            let mut data = format!("<data key=\"kind\">{}</data>", e.kind);
            for (k, v) in &e.data {
                let _ = write!(data, "<data key=\"{k}\">{}</data>", xml_escape(v));
            }
            let _ = writeln!(
                o,
                "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\">{data}</edge>",
                xml_escape(&e.from),
                xml_escape(&e.to),
            );
        }
        o.push_str("  </graph>\n</graphml>\n");
        o
    }

    fn layout(&self) -> Layout {
        let mut lanes: Vec<String> = Vec::new();
        let mut in_lane: Vec<usize> = Vec::new();
        let mut pos = HashMap::new();
        let mut columns = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let lane = match lanes.iter().position(|l| *l == n.lane) {
                Some(l) => l,
                None => {
                    lanes.push(n.lane.clone());
                    in_lane.push(0);
                    lanes.len() - 1
                }
            };
            let col = match self.placement {
                Placement::Timeline => i,
                Placement::Lanes => in_lane[lane],
            };
            in_lane[lane] += 1;
            columns = columns.max(col + 1);
            pos.insert(
                n.id.clone(),
                (LEFT + col as f64 * COL, TOP + lane as f64 * LANE),
            );
        }
        Layout {
            width: LEFT + columns as f64 * COL + 20.0,
            height: TOP + lanes.len() as f64 * LANE + 20.0,
            lanes,
            pos,
        }
    }

    fn svg(&self, l: &Layout) -> String {
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
        for e in &self.edges {
            if let (Some(a), Some(b)) = (l.pos.get(&e.from), l.pos.get(&e.to)) {
                let _ = writeln!(
                    o,
                    "<line class=\"edge {k}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\"{} \
                     marker-end=\"url(#arrow)\"><title>{k}</title></line>",
                    a.0 + W,
                    a.1 + H / 2.0,
                    b.0,
                    b.1 + H / 2.0,
                    if e.highlight { "#d00" } else { "#555" },
                    if e.dashed {
                        " stroke-dasharray=\"4 3\""
                    } else {
                        ""
                    },
                    k = e.kind
                );
            }
        }
        for n in &self.nodes {
            let (x, y) = l.pos[&n.id];
            let _ = writeln!(
                o,
                "<g class=\"node\" id=\"{id}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" \
                 height=\"{H}\" rx=\"4\" fill=\"{}\" stroke=\"#333\"/><text x=\"{}\" \
                 y=\"{}\">{}</text><text x=\"{}\" y=\"{}\">{}</text></g>",
                n.fill,
                x + 4.0,
                y + 16.0,
                xml_escape(&n.lines[0]),
                x + 4.0,
                y + 32.0,
                xml_escape(&n.lines[1]),
                id = xml_escape(&n.id)
            );
        }
        o.push_str("</svg>\n");
        o
    }

    fn html(&self, l: &Layout) -> String {
        let nodes: Vec<_> = self
            .nodes
            .iter()
            .map(|n| {
                let (x, y) = l.pos[&n.id];
                let fields: Vec<(&str, String)> = n
                    .data
                    .iter()
                    .map(|(k, v)| (*k, v.text()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                json!({
                    "id": n.id, "x": x, "y": y, "fill": n.fill, "lines": n.lines,
                    "fields": fields, "tick": n.tick,
                })
            })
            .collect();
        let edges: Vec<_> = self
            .edges
            .iter()
            .map(|e| {
                json!({
                    "from": e.from, "to": e.to, "kind": e.kind,
                    "highlight": e.highlight, "dashed": e.dashed,
                })
            })
            .collect();
        let lanes: Vec<_> = l
            .lanes
            .iter()
            .enumerate()
            .map(|(i, name)| json!({ "name": name, "y": TOP + i as f64 * LANE + H / 2.0 }))
            .collect();
        let data = json!({
            "nodes": nodes, "edges": edges, "lanes": lanes,
            "width": l.width, "height": l.height, "w": W, "h": H, "top": TOP,
        });
        // `</` never appears inside the inline script.
        let data = data.to_string().replace("</", "<\\/");
        let title = self.title;
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <style>{HTML_CSS}</style></head><body data-rendered=\"\">\
             <div id=\"graph\"><svg id=\"svg\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>\
             <div id=\"details\">click a node</div><pre id=\"errors\"></pre>\
             <script>window.onerror=function(m){{document.getElementById('errors').textContent+=m+'\\n';}};\
             const GRAPH={data};</script><script>{HTML_JS}</script></body></html>\n"
        )
    }
}

const COL: f64 = 150.0;
const LANE: f64 = 80.0;
const LEFT: f64 = 120.0;
const TOP: f64 = 50.0;
const W: f64 = 130.0;
const H: f64 = 40.0;

/// Where every node goes: one lane per module along y.
struct Layout {
    lanes: Vec<String>,
    pos: HashMap<String, (f64, f64)>,
    width: f64,
    height: f64,
}

/// The page's script: pan (drag), zoom (wheel), the timeline ticks, the
/// details panel on click, `?select=ID` clicks a node; the page records
/// `data-rendered` (node count) and any script error in `#errors`.
const HTML_JS: &str = include_str!("graph/page.js");
const HTML_CSS: &str = include_str!("graph/page.css");

/// A DOT string literal's contents.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

/// Writes `bytes` to a new file beside `out` (created exclusively, never
/// through a symlink) and renames it over `out`: a symlink at `out` is
/// replaced, not written through, and a failed write leaves `out` as it
/// was.
pub(crate) fn write_replacing(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
