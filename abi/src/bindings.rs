//! Whether a loaded dependency still fits the generated bindings a module
//! was built with (`docs/ABI.md` §5.3, `docs/SDK.md` "Bindings").
//!
//! A module built with bindings records, per dependency, the version and
//! schema hash the bindings were generated from and the signatures they
//! typed ([`Binding`]). The same hash is compatible at once. Otherwise the
//! dependency fits when every value crossing the boundary still reads on
//! the other side, by the structural rule of upgrades
//! ([`type_change`]: equal, or an enum that gained variants at the end):
//!
//! - every bound reducer still exists, in the same mode, with the same
//!   number of parameters, and each bound parameter type reads as the
//!   dependency's (the caller writes it), so a parameter's enum may gain
//!   variants;
//! - the dependency's result and error types read as the bound ones (the
//!   caller decodes them), so they may not gain variants, and a reducer
//!   that could not fail may not start failing;
//! - the tables the module has triggers on keep their column count, and
//!   each column of the dependency reads as the bound one (the trigger
//!   decodes the rows).
//!
//! Reducers and tables the bindings do not know, and tables the module
//! does not trigger on, may change freely.

use std::fmt;

use crate::schema::{Binding, ModuleSchema, Trigger};
use crate::schema_diff::{type_change, widening};
use crate::subscriptions::ModuleSet;
use crate::types::{Field, Type};

/// A loaded dependency that does not fit a module's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingProblem {
    /// The module with the bindings.
    pub module: String,
    /// The dependency.
    pub dependency: String,
    /// The dependency's version the bindings were generated from.
    pub bound_version: String,
    /// Its schema hash then.
    pub bound_hash: [u8; 32],
    /// The dependency's version loaded (or being loaded).
    pub loaded_version: String,
    /// Its schema hash.
    pub loaded_hash: [u8; 32],
    /// The first difference that breaks the bindings.
    pub difference: String,
}

impl fmt::Display for BindingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "module `{}` was built with bindings for `{}` {} (schema {}), but `{}` {} (schema {}) \
             does not fit them: {}; regenerate the bindings (`interstice generate rust`) and \
             rebuild `{}`",
            self.module,
            self.dependency,
            self.bound_version,
            short(&self.bound_hash),
            self.dependency,
            self.loaded_version,
            short(&self.loaded_hash),
            self.difference,
            self.module,
        )
    }
}

/// The first 8 bytes of a hash, in hex.
fn short(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `new` against `set` both ways: `new`'s bindings against the
/// loaded dependencies they name, and the bindings of every other loaded
/// module against `new` when they name it (an upgrade of a dependency).
/// A dependency that is not loaded is not checked (it is when it loads).
pub fn binding_problem(set: &ModuleSet<'_>, new: &ModuleSchema) -> Option<BindingProblem> {
    for b in &new.bindings {
        if let Some(dep) = set.get(&b.module).filter(|d| d.name != new.name) {
            if let Some(p) = check(new, b, dep) {
                return Some(p);
            }
        }
    }
    for user in set.iter().filter(|m| m.name != new.name) {
        if let Some(b) = user.bindings.iter().find(|b| b.module == new.name) {
            if let Some(p) = check(user, b, new) {
                return Some(p);
            }
        }
    }
    None
}

/// `user`'s binding `b` against `dep`.
pub fn check(user: &ModuleSchema, b: &Binding, dep: &ModuleSchema) -> Option<BindingProblem> {
    let loaded_hash = dep.hash();
    if loaded_hash == b.hash {
        return None;
    }
    let triggered = |table: &str| {
        user.reducers.iter().any(|r| {
            matches!(&r.trigger, Some(Trigger::Table { module, table: t, .. })
                if *module == dep.name && t == table)
        })
    };
    let difference = difference(b, dep, triggered)?;
    Some(BindingProblem {
        module: user.name.clone(),
        dependency: dep.name.clone(),
        bound_version: b.version.clone(),
        bound_hash: b.hash,
        loaded_version: dep.version.clone(),
        loaded_hash,
        difference,
    })
}

/// The first way `dep` breaks binding `b`, whose module triggers on the
/// tables `triggered` says; `None` when it fits.
pub fn difference(
    b: &Binding,
    dep: &ModuleSchema,
    triggered: impl Fn(&str) -> bool,
) -> Option<String> {
    for r in &b.reducers {
        let Some((_, now)) = dep.reducer(&r.name).filter(|(_, n)| n.trigger.is_none()) else {
            return Some(format!("reducer `{}` was removed", r.name));
        };
        if now.mode != r.mode {
            return Some(format!(
                "reducer `{}` is now a {} reducer (the bindings call it as a {} reducer)",
                r.name,
                now.mode.name(),
                r.mode.name()
            ));
        }
        if now.params.len() != r.params.len() {
            return Some(format!(
                "reducer `{}` takes {} arguments now, the bindings pass {}",
                r.name,
                now.params.len(),
                r.params.len()
            ));
        }
        for (i, (p, q)) in r.params.iter().zip(&now.params).enumerate() {
            if let Some(why) = type_change(&p.ty, &q.ty) {
                return Some(format!(
                    "reducer `{}` parameter {i} (`{}`): {}",
                    r.name,
                    p.name,
                    describe(&p.ty, &q.ty, &why)
                ));
            }
        }
        if let Some(why) = read_change(&r.returns, &now.returns) {
            return Some(format!("reducer `{}` result: {why}", r.name));
        }
        match (&r.error, &now.error) {
            (None, Some(e)) => {
                return Some(format!(
                    "reducer `{}` can fail now (with {}), the bindings expect no error",
                    r.name,
                    e.display_name()
                ))
            }
            (Some(old), Some(new)) => {
                if let Some(why) = read_change(old, new) {
                    return Some(format!("reducer `{}` error: {why}", r.name));
                }
            }
            _ => {}
        }
    }
    for t in b.tables.iter().filter(|t| triggered(&t.name)) {
        let Some((_, now)) = dep.table(&t.name) else {
            return Some(format!("table `{}` was removed", t.name));
        };
        if let Some(why) = columns_change(&t.columns, &now.columns) {
            return Some(format!("table `{}`: {why}", t.name));
        }
    }
    None
}

/// Why a value of the dependency's type `new` might not read as the
/// bound type `bound` (the caller decodes it).
fn read_change(bound: &Type, new: &Type) -> Option<String> {
    let why = type_change(new, bound)?;
    Some(match widening(bound, new) {
        Some(w) => format!("{w}, which the bindings cannot read"),
        None => describe(bound, new, &why),
    })
}

/// `why` (of [`type_change`]), prefixed by both types when their names
/// differ.
fn describe(bound: &Type, new: &Type, why: &str) -> String {
    let (a, b) = (bound.display_name(), new.display_name());
    if a != b {
        format!("{a} in the bindings, {b} now")
    } else {
        why.to_owned()
    }
}

/// Why rows of columns `new` might not read as the bound `bound`.
fn columns_change(bound: &[Field], new: &[Field]) -> Option<String> {
    if bound.len() != new.len() {
        return Some(format!(
            "{} columns in the bindings, {} now",
            bound.len(),
            new.len()
        ));
    }
    bound.iter().zip(new).enumerate().find_map(|(i, (a, b))| {
        read_change(&a.ty, &b.ty).map(|why| format!("column {i} (`{}`): {why}", a.name))
    })
}

#[cfg(test)]
mod tests;
