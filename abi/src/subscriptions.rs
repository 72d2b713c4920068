//! The checks a load makes across modules, as pure functions of their
//! schemas, so the runtime (`actors/src/runtime/load.rs`) and
//! `interstice validate` run the very same code: the read-call dependency
//! cycle, each table trigger's source, an upgrade's subscribers, and the
//! subscription graph with its cycles (`docs/SDK.md`, "Triggers").
//!
//! **The subscription graph.** Its nodes are tables (`module.table`). A
//! table trigger `N.r` on `M.t` makes an edge from `M.t` to every table
//! `N.r` may write: the tables its `writes = […]` declares (a *declared*
//! edge), or, without a declaration, every logged table of `N` (an
//! *undeclared* edge). Ephemeral tables fire no trigger, so they are no
//! edge's end. A cycle of declared edges only is **certain**: it loads only
//! if every trigger on it says `recursive` (bounded recursion, cut at run
//! time by `Limits::max_trigger_depth`); a cycle through an undeclared edge
//! is **possible**, allowed with a warning. Async calls (`ctx.call`) are
//! not in the schema, so a chain through one is bounded by the depth limit
//! only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use crate::schema::{ModuleSchema, Persistence, ReducerSchema, Trigger};
use crate::types::{Field, Type};

/// The modules a check sees: the installed ones, with the module being
/// loaded in place of an installed module of its name.
#[derive(Debug, Clone, Default)]
pub struct ModuleSet<'a> {
    by_name: BTreeMap<&'a str, &'a ModuleSchema>,
}

impl<'a> ModuleSet<'a> {
    /// The set of `modules` (a later module replaces an earlier one of the
    /// same name).
    pub fn new(modules: impl IntoIterator<Item = &'a ModuleSchema>) -> Self {
        let mut by_name = BTreeMap::new();
        for m in modules {
            by_name.insert(m.name.as_str(), m);
        }
        Self { by_name }
    }

    /// `installed` with `new` loaded (added, or replacing its old version).
    pub fn with(
        installed: impl IntoIterator<Item = &'a ModuleSchema>,
        new: &'a ModuleSchema,
    ) -> Self {
        Self::new(installed.into_iter().chain(std::iter::once(new)))
    }

    /// The module called `name`.
    pub fn get(&self, name: &str) -> Option<&'a ModuleSchema> {
        self.by_name.get(name).copied()
    }

    /// Every module, by name.
    pub fn iter(&self) -> impl Iterator<Item = &'a ModuleSchema> + '_ {
        self.by_name.values().copied()
    }
}

/// The read-call dependencies of `new` that close a cycle through the
/// modules of `set`: the path from `new` back to it (`a -> b -> a`).
pub fn dependency_cycle(set: &ModuleSet<'_>, new: &ModuleSchema) -> Option<Vec<String>> {
    fn walk(
        set: &ModuleSet<'_>,
        new: &ModuleSchema,
        at: &str,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let deps: &[String] = if at == new.name {
            &new.dependencies
        } else {
            set.get(at).map_or(&[], |s| s.dependencies.as_slice())
        };
        for d in deps {
            if *d == new.name {
                let mut cycle = path.clone();
                cycle.push(d.clone());
                return Some(cycle);
            }
            if path.contains(d) {
                continue;
            }
            path.push(d.clone());
            if let Some(c) = walk(set, new, d, path) {
                return Some(c);
            }
            path.pop();
        }
        None
    }
    walk(set, new, &new.name, &mut vec![new.name.clone()])
}

/// A table trigger of the loaded module that cannot subscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionProblem {
    /// `reducer `r` on m.t.insert`.
    pub on: String,
    /// Why not.
    pub reason: String,
}

impl fmt::Display for SubscriptionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.on, self.reason)
    }
}

/// Every table trigger of `new` must name a logged table of a module of
/// `set` (or of `new` itself), and take that table's row type. Returns
/// every problem, in reducer order.
pub fn subscription_problems(set: &ModuleSet<'_>, new: &ModuleSchema) -> Vec<SubscriptionProblem> {
    let mut out = Vec::new();
    for r in &new.reducers {
        let Some(Trigger::Table {
            module,
            table,
            event,
        }) = &r.trigger
        else {
            continue;
        };
        let on = format!(
            "reducer `{}` on {module}.{table}.{}",
            r.name,
            event.as_str()
        );
        let mut bad = |reason: String| {
            out.push(SubscriptionProblem {
                on: on.clone(),
                reason,
            })
        };
        let source = if *module == new.name {
            Some(new)
        } else {
            set.get(module)
        };
        let Some(source) = source else {
            bad(format!("module `{module}` is not loaded; load it first"));
            continue;
        };
        let Some((_, t)) = source.table(table) else {
            bad(format!("module `{module}` has no table `{table}`"));
            continue;
        };
        if t.persistence != Persistence::Logged {
            bad("ephemeral tables do not fire triggers".into());
            continue;
        }
        let row = t.row_type();
        if let Some(p) = r.params.iter().find(|p| !same_shape(&p.ty, &row)) {
            bad(format!(
                "parameter `{}` is {}, but rows of {module}.{table} are ({})",
                p.name,
                p.ty.display_name(),
                t.columns
                    .iter()
                    .map(|c| c.ty.display_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    out
}

/// An upgrade to `new` must keep every table another module of `set`
/// subscribes to, in a layout its trigger parameters fit. Returns the
/// first problem as `(table, change)`.
pub fn subscriber_problem(set: &ModuleSet<'_>, new: &ModuleSchema) -> Option<(String, String)> {
    for other in set.iter().filter(|m| m.name != new.name) {
        for r in &other.reducers {
            let Some(Trigger::Table { module, table, .. }) = &r.trigger else {
                continue;
            };
            if *module != new.name {
                continue;
            }
            let Some((_, t)) = new.table(table) else {
                return Some((
                    table.clone(),
                    format!(
                        "table removed but module `{}` subscribes to it (reducer `{}`); \
                         upgrade `{}` first",
                        other.name, r.name, other.name
                    ),
                ));
            };
            // A migration may change the layout under a subscriber.
            let row = t.row_type();
            if let Some(p) = r.params.iter().find(|p| !same_shape(&p.ty, &row)) {
                return Some((
                    table.clone(),
                    format!(
                        "the new layout does not fit module `{}`, which subscribes to it \
                         (reducer `{}` takes `{}` as {})",
                        other.name,
                        r.name,
                        p.name,
                        p.ty.display_name(),
                    ),
                ));
            }
        }
    }
    None
}

/// Structural equality that ignores type and field names (encodings are
/// positional, so a subscriber may name its copy of a row type freely).
pub fn same_shape(a: &Type, b: &Type) -> bool {
    use Type as T;
    let fields_eq = |x: &[Field], y: &[Field]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(&p.ty, &q.ty))
    };
    match (a, b) {
        (T::Option(x), T::Option(y)) | (T::Vec(x), T::Vec(y)) => same_shape(x, y),
        (T::Tuple(x), T::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (T::Struct(x), T::Struct(y)) => fields_eq(&x.fields, &y.fields),
        (T::Struct(x), T::Tuple(y)) | (T::Tuple(y), T::Struct(x)) => {
            x.fields.len() == y.len() && x.fields.iter().zip(y).all(|(p, q)| same_shape(&p.ty, q))
        }
        (T::Enum(x), T::Enum(y)) => {
            x.variants.len() == y.variants.len()
                && x.variants
                    .iter()
                    .zip(&y.variants)
                    .all(|(p, q)| fields_eq(&p.fields, &q.fields))
        }
        _ => a == b,
    }
}

/// A table of a module.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableRef {
    /// The module.
    pub module: String,
    /// The table.
    pub table: String,
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.table)
    }
}

/// An edge of the subscription graph: a change of `from` runs trigger
/// `module.reducer`, which may write `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerEdge {
    /// The table the trigger subscribes to.
    pub from: TableRef,
    /// The trigger's module.
    pub module: String,
    /// The trigger.
    pub reducer: String,
    /// The row event it listens to (`insert`, `update`, `delete`).
    pub event: &'static str,
    /// A table it may write (a logged table of `module`).
    pub to: TableRef,
    /// Through the trigger's `writes` declaration (else: it declares
    /// nothing, so it may write every table of its module).
    pub declared: bool,
    /// The trigger says `recursive`.
    pub recursive: bool,
}

/// The subscription graph of a set of modules (table triggers whose source
/// table exists and is logged; others are [`subscription_problems`]).
#[derive(Debug, Clone, Default)]
pub struct SubscriptionGraph {
    /// In module, reducer, target order.
    pub edges: Vec<TriggerEdge>,
}

/// A cycle of the subscription graph, from a table back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The edges, in order: each one's `to` is the next one's `from`, and
    /// the last one's `to` is the first one's `from`.
    pub edges: Vec<TriggerEdge>,
}

impl Cycle {
    /// Every edge through a declaration: the cycle is certain.
    pub fn certain(&self) -> bool {
        self.edges.iter().all(|e| e.declared)
    }

    /// The triggers on it that do not say `recursive` (`module.reducer`,
    /// each once).
    pub fn not_recursive(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .edges
            .iter()
            .filter(|e| !e.recursive)
            .map(|e| format!("{}.{}", e.module, e.reducer))
            .collect();
        v.dedup();
        v
    }

    /// The path: `a.t → trigger a.r → a.u → … → a.t`.
    pub fn path(&self) -> String {
        let mut s = String::new();
        for e in &self.edges {
            s += &format!("{} → trigger {}.{} → ", e.from, e.module, e.reducer);
        }
        if let Some(last) = self.edges.last() {
            s += &last.to.to_string();
        }
        s
    }

    fn key(&self) -> Vec<(String, String, String)> {
        let mut k: Vec<_> = self
            .edges
            .iter()
            .map(|e| (e.from.to_string(), e.reducer.clone(), e.to.to_string()))
            .collect();
        k.sort();
        k
    }
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// What the cycle check found for a load.
#[derive(Debug, Clone, Default)]
pub struct CycleReport {
    /// A certain cycle with a trigger that does not say `recursive`: the
    /// load is refused.
    pub refused: Option<Cycle>,
    /// Certain cycles through the loaded module whose triggers all say
    /// `recursive`: loaded, bounded by the depth limit.
    pub bounded: Vec<Cycle>,
    /// Cycles through the loaded module and an undeclared edge: loaded,
    /// with a warning.
    pub possible: Vec<Cycle>,
}

impl SubscriptionGraph {
    /// The graph of every module of `set`.
    pub fn of(set: &ModuleSet<'_>) -> Self {
        let mut edges = Vec::new();
        for m in set.iter() {
            for r in &m.reducers {
                let Some(Trigger::Table {
                    module,
                    table,
                    event,
                }) = &r.trigger
                else {
                    continue;
                };
                let logged = |s: &ModuleSchema, t: &str| {
                    s.table(t)
                        .is_some_and(|(_, t)| t.persistence == Persistence::Logged)
                };
                if !set.get(module).is_some_and(|s| logged(s, table)) {
                    continue;
                }
                for to in writable(m, r).into_iter().filter(|t| logged(m, t)) {
                    edges.push(TriggerEdge {
                        from: TableRef {
                            module: module.clone(),
                            table: table.clone(),
                        },
                        module: m.name.clone(),
                        reducer: r.name.clone(),
                        event: event.as_str(),
                        to: TableRef {
                            module: m.name.clone(),
                            table: to.to_owned(),
                        },
                        declared: r.writes.is_some(),
                        recursive: r.recursive,
                    });
                }
            }
        }
        Self { edges }
    }

    /// The shortest cycle that starts with edge `first` and goes on along
    /// edges `allowed` accepts, if any.
    fn cycle_from(&self, first: usize, allowed: impl Fn(&TriggerEdge) -> bool) -> Option<Cycle> {
        let start = &self.edges[first];
        let mut out: HashMap<&TableRef, Vec<usize>> = HashMap::new();
        for (i, e) in self.edges.iter().enumerate() {
            if allowed(e) {
                out.entry(&e.from).or_default().push(i);
            }
        }
        // Breadth first from the edge's target back to its source.
        let mut came: HashMap<&TableRef, Option<usize>> = HashMap::from([(&start.to, None)]);
        let mut todo = VecDeque::from([&start.to]);
        while let Some(at) = todo.pop_front() {
            if *at == start.from {
                let mut path = vec![];
                let mut cur = at;
                while let Some(Some(i)) = came.get(cur) {
                    path.push(self.edges[*i].clone());
                    cur = &self.edges[*i].from;
                }
                path.push(start.clone());
                path.reverse();
                return Some(Cycle { edges: path });
            }
            for &i in out.get(at).into_iter().flatten() {
                let to = &self.edges[i].to;
                if !came.contains_key(to) {
                    came.insert(to, Some(i));
                    todo.push_back(to);
                }
            }
        }
        None
    }

    /// The cycles a load of module `loaded` must refuse or report.
    pub fn check(&self, loaded: &str) -> CycleReport {
        let mut report = CycleReport::default();
        for (i, e) in self.edges.iter().enumerate() {
            if e.declared && !e.recursive {
                if let Some(c) = self.cycle_from(i, |e| e.declared) {
                    report.refused = Some(c);
                    return report;
                }
            }
        }
        let mut seen = Vec::new();
        for (i, e) in self.edges.iter().enumerate() {
            if e.module != loaded {
                continue;
            }
            let found = if e.declared {
                self.cycle_from(i, |e| e.declared)
                    .or_else(|| self.cycle_from(i, |_| true))
            } else {
                self.cycle_from(i, |_| true)
            };
            let Some(c) = found else { continue };
            let key = c.key();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if c.certain() {
                report.bounded.push(c);
            } else {
                report.possible.push(c);
            }
        }
        report
    }

    /// Every cycle, one per set of edges: for each edge on a cycle, the
    /// shortest certain one through it if any, else the shortest.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut out: Vec<Cycle> = Vec::new();
        for i in 0..self.edges.len() {
            let found = self
                .edges
                .get(i)
                .filter(|e| e.declared)
                .and_then(|_| self.cycle_from(i, |e| e.declared))
                .or_else(|| self.cycle_from(i, |_| true));
            if let Some(c) = found {
                if !out.iter().any(|o| o.key() == c.key()) {
                    out.push(c);
                }
            }
        }
        out
    }
}

/// The tables trigger `r` of module `m` may write: its declaration, or
/// every table of `m`.
pub fn writable<'a>(m: &'a ModuleSchema, r: &'a ReducerSchema) -> Vec<&'a str> {
    match &r.writes {
        Some(w) => w.iter().map(String::as_str).collect(),
        None => m.tables.iter().map(|t| t.name.as_str()).collect(),
    }
}

#[cfg(test)]
mod tests;
