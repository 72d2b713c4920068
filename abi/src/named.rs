//! Named custom types in a schema (`docs/ABI.md` §5.1).
//!
//! A schema built by the SDK lists each custom type (a struct or an enum)
//! once, in [`ModuleSchema::types`], and its columns, parameters and
//! results refer to it as [`Type::Named`]. A schema built by an earlier
//! SDK has every custom type inline and no `types`; the decoder accepts
//! both, and mixed forms.
//!
//! In memory a decoded schema is always inline: `resolve` replaces every
//! reference by its definition, so everything that reads a schema (values,
//! tables, the upgrade comparison) sees structures only. `to_wire` turns
//! the inline form back into the named one for the canonical encoding.
//!
//! The resolver treats the schema as hostile: an unknown name, a name
//! defined twice, a definition that is not a struct or an enum, a type
//! that contains itself, nesting deeper than [`MAX_TYPE_DEPTH`] and an
//! expansion larger than [`MAX_EXPANDED_TYPE_NODES`] are each refused with
//! their own error, before any unbounded recursion or allocation.

use std::collections::HashMap;

use crate::schema::{ModuleSchema, Trigger};
use crate::types::Type;
use crate::AbiError;

/// The deepest a resolved type may nest (a primitive alone is depth 1).
/// No schema in the inline form can be deeper: the CBOR decoder of schemas
/// stops at 256 levels of nesting, and each type level takes one or more.
pub const MAX_TYPE_DEPTH: usize = 256;

/// The most type nodes (each primitive, `Option`, `Vec`, tuple, struct or
/// enum counts one) that resolving references may add to a schema: a
/// bound on what a small schema that refers to a large type many times,
/// or to types that each refer to the next twice, can expand to.
pub const MAX_EXPANDED_TYPE_NODES: usize = 100_000;

/// The name of a struct or enum type.
pub(crate) fn custom_name(ty: &Type) -> Option<&str> {
    match ty {
        Type::Struct(s) => Some(&s.name),
        Type::Enum(e) => Some(&e.name),
        _ => None,
    }
}

/// The types directly inside `ty`.
pub(crate) fn children(ty: &Type) -> Vec<&Type> {
    match ty {
        Type::Option(t) | Type::Vec(t) => vec![t],
        Type::Tuple(ts) => ts.iter().collect(),
        Type::Struct(s) => s.fields.iter().map(|f| &f.ty).collect(),
        Type::Enum(e) => e
            .variants
            .iter()
            .flat_map(|v| v.fields.iter().map(|f| &f.ty))
            .collect(),
        _ => Vec::new(),
    }
}

fn children_mut(ty: &mut Type) -> Vec<&mut Type> {
    match ty {
        Type::Option(t) | Type::Vec(t) => vec![t],
        Type::Tuple(ts) => ts.iter_mut().collect(),
        Type::Struct(s) => s.fields.iter_mut().map(|f| &mut f.ty).collect(),
        Type::Enum(e) => e
            .variants
            .iter_mut()
            .flat_map(|v| v.fields.iter_mut().map(|f| &mut f.ty))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every type of the schema outside `types`: columns, parameters,
/// results, errors and migrations' old columns, in that order per table
/// and reducer; then the bindings' parameters, results, errors and
/// columns.
pub(crate) fn roots(s: &ModuleSchema) -> Vec<&Type> {
    let mut out: Vec<&Type> = Vec::new();
    for t in &s.tables {
        out.extend(t.columns.iter().map(|c| &c.ty));
    }
    for r in &s.reducers {
        out.extend(r.params.iter().map(|p| &p.ty));
        out.push(&r.returns);
        out.extend(r.error.as_ref());
        if let Some(Trigger::Migration { columns, .. }) = &r.trigger {
            out.extend(columns.iter().map(|c| &c.ty));
        }
    }
    for b in &s.bindings {
        for r in &b.reducers {
            out.extend(r.params.iter().map(|p| &p.ty));
            out.push(&r.returns);
            out.extend(r.error.as_ref());
        }
        for t in &b.tables {
            out.extend(t.columns.iter().map(|c| &c.ty));
        }
    }
    out
}

fn roots_mut(s: &mut ModuleSchema) -> Vec<&mut Type> {
    let mut out: Vec<&mut Type> = Vec::new();
    for t in &mut s.tables {
        out.extend(t.columns.iter_mut().map(|c| &mut c.ty));
    }
    for r in &mut s.reducers {
        out.extend(r.params.iter_mut().map(|p| &mut p.ty));
        out.push(&mut r.returns);
        out.extend(r.error.as_mut());
        if let Some(Trigger::Migration { columns, .. }) = &mut r.trigger {
            out.extend(columns.iter_mut().map(|c| &mut c.ty));
        }
    }
    for b in &mut s.bindings {
        for r in &mut b.reducers {
            out.extend(r.params.iter_mut().map(|p| &mut p.ty));
            out.push(&mut r.returns);
            out.extend(r.error.as_mut());
        }
        for t in &mut b.tables {
            out.extend(t.columns.iter_mut().map(|c| &mut c.ty));
        }
    }
    out
}

fn bad(msg: String) -> AbiError {
    AbiError::Schema(msg)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    InProgress,
    Done,
}

/// A definition once resolved: its inline form, height and node count.
struct Resolved {
    ty: Type,
    height: usize,
    nodes: usize,
}

struct Resolver<'a> {
    raw: &'a [Type],
    by_name: HashMap<&'a str, usize>,
    state: Vec<State>,
    resolved: Vec<Option<Resolved>>,
    /// The definitions being resolved, outermost first (for the message
    /// naming a cycle).
    stack: Vec<usize>,
    expanded: usize,
}

impl<'a> Resolver<'a> {
    fn new(raw: &'a [Type]) -> Result<Self, AbiError> {
        let mut by_name = HashMap::new();
        for (i, def) in raw.iter().enumerate() {
            let Some(name) = custom_name(def) else {
                return Err(bad(format!(
                    "`types` entry {i} is {}: only structs and enums are named types",
                    def.display_name()
                )));
            };
            if by_name.insert(name, i).is_some() {
                return Err(bad(format!("type `{name}` is defined twice in `types`")));
            }
        }
        Ok(Resolver {
            raw,
            by_name,
            state: vec![State::Unvisited; raw.len()],
            resolved: raw.iter().map(|_| None).collect(),
            stack: Vec::new(),
            expanded: 0,
        })
    }

    /// Resolves `ty`, which sits at nesting depth `depth`, in place;
    /// returns its height and node count.
    fn resolve(&mut self, ty: &mut Type, depth: usize) -> Result<(usize, usize), AbiError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(too_deep());
        }
        if let Type::Named(name) = ty {
            let i = *self.by_name.get(name.as_str()).ok_or_else(|| {
                bad(format!(
                    "reference to type `{name}`, which `types` does not define"
                ))
            })?;
            self.resolve_def(i, depth)?;
            let def = self.resolved[i].as_ref().expect("resolved above");
            if depth + def.height - 1 > MAX_TYPE_DEPTH {
                return Err(too_deep());
            }
            self.expanded = self.expanded.saturating_add(def.nodes);
            if self.expanded > MAX_EXPANDED_TYPE_NODES {
                return Err(bad(format!(
                    "named types expand to more than {MAX_EXPANDED_TYPE_NODES} type nodes"
                )));
            }
            *ty = def.ty.clone();
            return Ok((def.height, def.nodes));
        }
        let (mut height, mut nodes) = (0, 1);
        for c in children_mut(ty) {
            let (h, n) = self.resolve(c, depth + 1)?;
            height = height.max(h);
            nodes += n;
        }
        Ok((height + 1, nodes))
    }

    /// Resolves definition `i`, first referred to at depth `depth`.
    fn resolve_def(&mut self, i: usize, depth: usize) -> Result<(), AbiError> {
        match self.state[i] {
            State::Done => return Ok(()),
            State::InProgress => {
                let from = self.stack.iter().position(|&j| j == i).unwrap_or(0);
                let mut path: Vec<&str> = self.stack[from..]
                    .iter()
                    .map(|&j| custom_name(&self.raw[j]).unwrap_or_default())
                    .collect();
                let name = custom_name(&self.raw[i]).unwrap_or_default();
                path.push(name);
                return Err(bad(format!(
                    "type `{name}` is recursive ({}): a type cannot contain itself",
                    path.join(" → ")
                )));
            }
            State::Unvisited => {}
        }
        self.state[i] = State::InProgress;
        self.stack.push(i);
        let mut ty = self.raw[i].clone();
        let (height, nodes) = self.resolve(&mut ty, depth)?;
        self.stack.pop();
        self.state[i] = State::Done;
        self.resolved[i] = Some(Resolved { ty, height, nodes });
        Ok(())
    }
}

fn too_deep() -> AbiError {
    bad(format!("types nest deeper than {MAX_TYPE_DEPTH} levels"))
}

/// Replaces every [`Type::Named`] of `schema` (in `types` too) by its
/// definition, checking the references as the module docs say.
pub(crate) fn resolve(schema: &mut ModuleSchema) -> Result<(), AbiError> {
    let raw = std::mem::take(&mut schema.types);
    let mut resolver = Resolver::new(&raw)?;
    for i in 0..raw.len() {
        resolver.resolve_def(i, 1)?;
    }
    for root in roots_mut(schema) {
        resolver.resolve(root, 1)?;
    }
    schema.types = resolver
        .resolved
        .into_iter()
        .map(|r| r.expect("every definition resolved").ty)
        .collect();
    Ok(())
}

/// The schema as it is encoded: every struct or enum equal to a definition
/// of `types` (outside that definition itself) becomes a reference.
pub(crate) fn to_wire(schema: &ModuleSchema) -> ModuleSchema {
    let mut wire = schema.clone();
    let defs: HashMap<&str, &Type> = schema
        .types
        .iter()
        .filter_map(|t| custom_name(t).map(|n| (n, t)))
        .collect();
    for root in roots_mut(&mut wire) {
        name_refs(root, &defs);
    }
    for def in &mut wire.types {
        for c in children_mut(def) {
            name_refs(c, &defs);
        }
    }
    wire
}

fn name_refs(ty: &mut Type, defs: &HashMap<&str, &Type>) {
    if let Some(name) = custom_name(ty) {
        if defs.get(name).is_some_and(|d| **d == *ty) {
            *ty = Type::Named(name.to_owned());
            return;
        }
    }
    for c in children_mut(ty) {
        name_refs(c, defs);
    }
}

/// Every custom type of `schema` whose name no other, different, type
/// shares, in first-use order (a pre-order walk of the columns, then the
/// reducers): what [`ModuleSchema::with_named_types`] lists.
pub(crate) fn collect(schema: &ModuleSchema) -> Vec<Type> {
    let mut found: Vec<(&Type, bool)> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut todo: Vec<&Type> = roots(schema);
    todo.reverse();
    while let Some(ty) = todo.pop() {
        if let Some(name) = custom_name(ty) {
            match by_name.get(name) {
                Some(&i) => {
                    if *found[i].0 != *ty {
                        found[i].1 = false;
                    } else {
                        // Seen, with everything inside it.
                        continue;
                    }
                }
                None => {
                    by_name.insert(name, found.len());
                    found.push((ty, true));
                }
            }
        }
        let mut inner = children(ty);
        inner.reverse();
        todo.extend(inner);
    }
    found
        .into_iter()
        .filter(|(_, unique)| *unique)
        .map(|(t, _)| t.clone())
        .collect()
}

#[cfg(test)]
mod tests;
