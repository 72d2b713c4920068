//! `interstice graph-subs [-d DIR] [MODULE.wasm…] OUT`: the subscription
//! and dependency graph of the modules installed in a data directory
//! (their schemas at the end of the log, read without the lock) and/or of
//! module binaries (each replacing an installed module of its name, as a
//! load would), written as DOT, GraphML, SVG or offline HTML by `OUT`'s
//! extension (`crate::graph`, shared with `graph-trace`; `docs/TOOLS.md`).
//!
//! Nodes: modules, tables, reducers. Edges: `subscribes` (a table to the
//! trigger it runs, with the row event), `writes` (a trigger to each table
//! it may write: its `writes = […]` declaration, or, dashed, `any` table of
//! its module when it declares none) and `reads` (a module to a module it
//! declares as a read-call dependency). Async calls are not in the
//! schema, so they have no edges. Edges on a subscription cycle are red
//! (`cycle` in the GraphML), and each cycle is listed before the `wrote`
//! line with the
//! verdict a load gives it (`interstice_abi::subscriptions`, the
//! runtime's own check).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use interstice_abi::subscriptions::{ModuleSet, SubscriptionGraph};
use interstice_abi::{ModuleSchema, Persistence, ReducerMode, Trigger};

use crate::error::{read_file, CliError};
use crate::graph::{Datum, Edge, Format, Graph, Node, Placement};
use crate::inspect::state::replay;

/// The command's arguments.
#[derive(Debug, Clone)]
pub struct SubsArgs {
    /// A data directory whose installed modules to draw.
    pub data_dir: Option<PathBuf>,
    /// Module binaries to draw (in place of installed modules of their
    /// names).
    pub wasm: Vec<PathBuf>,
    /// The file to write.
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(a: &SubsArgs) -> Result<(), CliError> {
    Format::of(&a.out)?;
    if a.data_dir.is_none() && a.wasm.is_empty() {
        return Err(CliError::Usage(
            "graph-subs needs modules: -d DIR (the installed ones), MODULE.wasm files, or both"
                .into(),
        ));
    }
    let mut schemas: Vec<ModuleSchema> = Vec::new();
    if let Some(dir) = &a.data_dir {
        let (state, _) = replay(dir, None, |_| false, "graph-subs: reading the installs")?;
        schemas.extend(state.loaded_schemas().cloned());
    }
    for w in &a.wasm {
        if !is_wasm(w) {
            return Err(CliError::Usage(format!(
                "{}: expected MODULE.wasm (OUT comes last)",
                w.display()
            )));
        }
        let info = interstice_actors::inspect_module(&read_file(w)?)
            .map_err(|e| CliError::Usage(format!("{}: not a loadable module: {e}", w.display())))?;
        schemas.push((*info.schema).clone());
    }
    let set = ModuleSet::new(schemas.iter());
    if set.iter().next().is_none() {
        return Err(CliError::Usage(format!(
            "{}: no module is installed",
            a.data_dir
                .as_deref()
                .map_or("".into(), |d| d.display().to_string())
        )));
    }
    let subs = SubscriptionGraph::of(&set);
    for c in subs.cycles() {
        let verdict = if !c.certain() {
            "possible (through undeclared writes; load warns)".to_owned()
        } else if c.not_recursive().is_empty() {
            "certain, bounded (every trigger on it says `recursive`)".to_owned()
        } else {
            format!(
                "certain (load refuses it: not `recursive`: {})",
                c.not_recursive().join(", ")
            )
        };
        crate::output::say(format!("cycle {}: {verdict}", c.path()));
    }
    graph(&set, &subs).write(&a.out)
}

fn table_id(module: &str, table: &str) -> String {
    format!("t:{module}.{table}")
}

fn reducer_id(module: &str, reducer: &str) -> String {
    format!("r:{module}.{reducer}")
}

fn node(
    id: String,
    lane: &str,
    what: &'static str,
    name: &str,
    detail: String,
    fill: &'static str,
) -> Node {
    let title = format!("{what} {name}");
    Node {
        label: vec![title.clone(), detail.clone()],
        lines: [title, detail.clone()],
        color: "black",
        fill,
        data: vec![
            ("type", Datum::Text(what.into())),
            ("module", Datum::Text(lane.into())),
            ("name", Datum::Text(name.into())),
            ("detail", Datum::Text(detail)),
        ],
        tick: None,
        id,
        lane: lane.into(),
    }
}

/// What a reducer is, in a few words.
fn reducer_detail(r: &interstice_abi::ReducerSchema) -> String {
    match (&r.trigger, r.mode) {
        (
            Some(Trigger::Table {
                module,
                table,
                event,
            }),
            _,
        ) => {
            format!("on {module}.{table}.{}", event.as_str())
        }
        (Some(Trigger::Init), _) => "init".into(),
        (Some(Trigger::Migration { table, .. }), _) => format!("migration of {table}"),
        (None, ReducerMode::Read) => "read".into(),
        (None, ReducerMode::Write) => "write".into(),
    }
}

/// The graph of `set`.
fn graph(set: &ModuleSet<'_>, subs: &SubscriptionGraph) -> Graph {
    let mut nodes = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    for m in set.iter() {
        nodes.push(node(
            format!("m:{}", m.name),
            &m.name,
            "module",
            &m.name,
            format!("version {}", m.version),
            "#ddd",
        ));
        known.insert(m.name.clone());
        for t in &m.tables {
            let p = match t.persistence {
                Persistence::Logged => "logged",
                Persistence::Ephemeral => "ephemeral",
            };
            nodes.push(node(
                table_id(&m.name, &t.name),
                &m.name,
                "table",
                &format!("{}.{}", m.name, t.name),
                p.to_owned(),
                "#ffd",
            ));
        }
        for r in &m.reducers {
            let fill = if matches!(r.trigger, Some(Trigger::Table { .. })) {
                "#cfc"
            } else {
                "#eef"
            };
            nodes.push(node(
                reducer_id(&m.name, &r.name),
                &m.name,
                "reducer",
                &format!("{}.{}", m.name, r.name),
                reducer_detail(r),
                fill,
            ));
        }
    }
    let mut edges = Vec::new();
    // A trigger's subscription: red when one of its writes closes a cycle.
    let on_cycle: Vec<bool> = {
        let cycles = subs.cycles();
        subs.edges
            .iter()
            .map(|e| cycles.iter().any(|c| c.edges.contains(e)))
            .collect()
    };
    let mut subscribed: Vec<(String, String)> = Vec::new();
    for (e, cyc) in subs.edges.iter().zip(&on_cycle) {
        let trigger = reducer_id(&e.module, &e.reducer);
        let source = table_id(&e.from.module, &e.from.table);
        let any_cycle = subs
            .edges
            .iter()
            .zip(&on_cycle)
            .any(|(o, c)| *c && o.module == e.module && o.reducer == e.reducer);
        if !subscribed.contains(&(source.clone(), trigger.clone())) {
            subscribed.push((source.clone(), trigger.clone()));
            let mut s = Edge::new(source, trigger.clone(), "subscribes");
            s.highlight = any_cycle;
            s.data = vec![
                ("event", e.event.to_owned()),
                ("cycle", any_cycle.to_string()),
            ];
            edges.push(s);
        }
        let mut w = Edge::new(trigger, table_id(&e.to.module, &e.to.table), "writes");
        w.highlight = *cyc;
        w.dashed = !e.declared;
        w.data = vec![
            (
                "writes",
                if e.declared { "declared" } else { "any" }.to_owned(),
            ),
            ("cycle", cyc.to_string()),
        ];
        edges.push(w);
    }
    for m in set.iter() {
        for d in &m.dependencies {
            if known.insert(d.clone()) {
                nodes.push(node(
                    format!("m:{d}"),
                    d,
                    "module",
                    d,
                    "not installed".into(),
                    "#eee",
                ));
            }
            let mut e = Edge::new(format!("m:{}", m.name), format!("m:{d}"), "reads");
            e.data = vec![("cycle", "false".into())];
            edges.push(e);
        }
    }
    Graph {
        title: "interstice graph-subs",
        keys: vec![
            ("type", "type", "string", "node"),
            ("module", "module", "string", "node"),
            ("name", "name", "string", "node"),
            ("detail", "detail", "string", "node"),
            ("event", "event", "string", "edge"),
            ("writes", "writes", "string", "edge"),
            ("cycle", "cycle", "boolean", "edge"),
        ],
        nodes,
        edges,
        placement: Placement::Lanes,
    }
}

/// `-d DIR` or `MODULE.wasm` paths, and OUT last.
pub fn split_out(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, PathBuf), CliError> {
    match paths.split_last() {
        Some((out, wasm)) => Ok((wasm.to_vec(), out.clone())),
        None => Err(CliError::Usage(
            "graph-subs needs OUT (.html, .graphml, .svg or .dot)".into(),
        )),
    }
}

/// Whether `p` names a module binary.
fn is_wasm(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "wasm")
}
