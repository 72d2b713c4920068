//! `interstice validate MODULE.wasm [-d DIR] [--memory-bytes N] [--format
//! text|json]`: what a load would refuse, found without running a reducer
//! and without changing anything (`docs/TOOLS.md`).
//!
//! Checks, each reported:
//!
//! - `module`: the runtime's own compile checks (`inspect_module`): the
//!   wasm is valid, exports what the ABI requires, imports only what the
//!   host provides with the right types, was built for this ABI version,
//!   and its schema is valid. The runtime stops at the first of these
//!   problems, so at most one is listed; the checks below need the schema
//!   and are skipped after one.
//! - `limits`: the exported memory's declared initial size against the
//!   memory cap (`--memory-bytes`, default the runtime's).
//! - with `-d DIR` (read like the other inspection tools: no lock):
//!   `upgrade`, when a module of that name is installed — every difference
//!   the upgrade plan classifies as needs migration or breaking
//!   (`inspect/plan.rs`, the runtime's rules and the rows as they are);
//!   `subscriptions` — each table trigger's source module is installed (or
//!   is this module), has the table, and the table is logged;
//!   `dependencies` — the declared dependencies close no cycle with the
//!   installed modules' (a dependency that is not installed yet is a note,
//!   not a problem: load accepts it); `cycles` — no certain subscription
//!   cycle that not every trigger on it accepts with `recursive` (bounded
//!   and possible cycles are noted). These are the runtime's own checks
//!   (`interstice_abi::subscriptions`, which `runtime/load.rs` calls too),
//!   and an upgrade's subscribers are checked the same way.

use std::path::Path;

use interstice_abi::subscriptions::{self, ModuleSet, SubscriptionGraph};
use interstice_abi::{ModuleSchema, Trigger};
use serde_json::json;

use crate::args::ReportFormat;
use crate::error::{read_file, CliError};
use crate::inspect::plan::{Class, Plan};
use crate::inspect::state::replay;
use crate::output;

/// One check's result.
struct Finding {
    check: &'static str,
    /// `ok`, `problem` or `skipped`.
    status: &'static str,
    message: String,
}

/// The findings so far.
#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, check: &'static str, status: &'static str, message: String) {
        self.0.push(Finding {
            check,
            status,
            message,
        });
    }

    fn ok(&mut self, check: &'static str, message: String) {
        self.push(check, "ok", message);
    }

    fn problem(&mut self, check: &'static str, message: String) {
        self.push(check, "problem", message);
    }

    fn problems(&self) -> usize {
        self.0.iter().filter(|f| f.status == "problem").count()
    }
}

/// What to validate.
pub struct ValidateArgs<'a> {
    /// The module binary.
    pub wasm: &'a Path,
    /// A data directory to check the load against.
    pub dir: Option<&'a Path>,
    /// The memory cap per instance (default: the runtime's).
    pub memory_bytes: Option<usize>,
    /// Report format.
    pub format: ReportFormat,
}

/// Runs the command: exit 0 if no problem, 1 if any (every one listed).
pub fn run(a: &ValidateArgs<'_>) -> Result<(), CliError> {
    let bytes = read_file(a.wasm)?;
    let mut f = Findings::default();
    let schema = match interstice_actors::inspect_module(&bytes) {
        Ok(info) => {
            f.ok(
                "module",
                format!(
                    "valid: {} {} (ABI {}), {} table(s), {} reducer(s)",
                    info.name,
                    info.version,
                    info.schema.abi_version,
                    info.schema.tables.len(),
                    info.schema.reducers.len()
                ),
            );
            Some((*info.schema).clone())
        }
        Err(e) => {
            // One line: wasmtime's messages can span several.
            let message = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            f.problem("module", format!("{message} ({})", e.kind()));
            None
        }
    };
    if let Some(schema) = &schema {
        check_memory(&bytes, a.memory_bytes, &mut f);
        if let Some(dir) = a.dir {
            check_against(dir, schema, &mut f)?;
        }
    } else {
        f.push(
            "rest",
            "skipped",
            "the checks that need the module's schema (limits, and with -d the upgrade, \
             subscriptions and dependencies)"
                .into(),
        );
    }
    let problems = f.problems();
    match a.format {
        ReportFormat::Json => output::result(json!({
            "wasm": a.wasm.display().to_string(),
            "module": schema.as_ref().map(|s| s.name.clone()),
            "problems": problems,
            "checks": f.0.iter().map(|x| json!({
                "check": x.check,
                "status": x.status,
                "message": x.message,
            })).collect::<Vec<_>>(),
        })),
        ReportFormat::Text => {
            for x in &f.0 {
                output::result(format!("{:<8} {}: {}", x.status, x.check, x.message));
            }
        }
    }
    if problems > 0 {
        return Err(CliError::CheckFailed(format!(
            "{} has {problems} problem(s)",
            a.wasm.display()
        )));
    }
    Ok(())
}

/// The exported memory's declared initial size against the cap.
fn check_memory(bytes: &[u8], cap: Option<usize>, f: &mut Findings) {
    let cap = cap.unwrap_or_else(|| interstice_actors::Limits::default().memory_bytes) as u64;
    let engine = wasmtime::Engine::default();
    let module = match wasmtime::Module::new(&engine, bytes) {
        Ok(m) => m,
        Err(e) => {
            f.problem("limits", format!("cannot read the module's memory: {e:#}"));
            return;
        }
    };
    let Some(wasmtime::ExternType::Memory(mem)) =
        module.get_export(interstice_abi::host::EXPORT_MEMORY)
    else {
        f.problem("limits", "no exported memory".into());
        return;
    };
    const PAGE: u64 = 64 * 1024;
    let initial = mem.minimum().saturating_mul(PAGE);
    let max = mem.maximum().map_or_else(
        || "no declared maximum".to_owned(),
        |m| format!("declared maximum {} bytes", m.saturating_mul(PAGE)),
    );
    if initial > cap {
        f.problem(
            "limits",
            format!(
                "the memory starts at {initial} bytes ({} pages), more than the {cap}-byte cap \
                 per instance: every instantiation would fail",
                mem.minimum()
            ),
        );
    } else {
        f.ok(
            "limits",
            format!("memory starts at {initial} bytes of the {cap}-byte cap ({max})"),
        );
    }
}

/// The checks against the modules installed in `dir`.
fn check_against(dir: &Path, schema: &ModuleSchema, f: &mut Findings) -> Result<(), CliError> {
    let only = schema.name.clone();
    let (mut state, _) = replay(dir, None, move |m| m == only, "validate: replaying the log")?;
    match (
        state.schemas.get(&schema.name).cloned(),
        state.take_tables(&schema.name),
    ) {
        (Some(current), Some(tables)) => {
            let plan = Plan::between(&current, schema, Some(&tables.tables));
            let mut any = false;
            for d in plan
                .differences
                .iter()
                .filter(|d| d.class != Class::Compatible)
            {
                any = true;
                f.problem(
                    "upgrade",
                    format!(
                        "{} ({}): {}: {} (rule: {})",
                        schema.name,
                        d.class.name(),
                        d.subject,
                        d.change,
                        d.rule
                    ),
                );
            }
            if !any {
                f.ok(
                    "upgrade",
                    format!(
                        "{} {} -> {}: compatible ({} difference(s); schema-diff shows them)",
                        schema.name,
                        current.version,
                        schema.version,
                        plan.differences.len()
                    ),
                );
            }
        }
        _ => f.ok(
            "upgrade",
            format!("not installed in {}: a load installs it", dir.display()),
        ),
    }
    let set = ModuleSet::with(state.loaded_schemas(), schema);
    if state.schemas.get(&schema.name).is_some() {
        if let Some((table, change)) = subscriptions::subscriber_problem(&set, schema) {
            f.problem(
                "upgrade",
                format!("{}: table `{table}`: {change}", schema.name),
            );
        }
    }
    check_subscriptions(&set, schema, f);
    check_dependencies(&set, schema, dir, f);
    check_bindings(&set, schema, f);
    check_cycles(&set, schema, f);
    Ok(())
}

/// Generated bindings against the installed modules, both ways, as
/// `runtime/load.rs` checks them: the same function, the runtime's message.
fn check_bindings(set: &ModuleSet<'_>, schema: &ModuleSchema, f: &mut Findings) {
    let users = set
        .iter()
        .any(|m| m.bindings.iter().any(|b| b.module == schema.name));
    if schema.bindings.is_empty() && !users {
        return;
    }
    match interstice_abi::bindings::binding_problem(set, schema) {
        Some(p) => {
            let e = interstice_actors::RuntimeError::IncompatibleDependency(Box::new(p));
            f.problem("bindings", format!("{e} ({})", e.kind()));
        }
        None => f.ok(
            "bindings",
            "the generated bindings fit the installed modules, both ways".into(),
        ),
    }
}

fn check_subscriptions(set: &ModuleSet<'_>, schema: &ModuleSchema, f: &mut Findings) {
    let count = schema
        .reducers
        .iter()
        .filter(|r| matches!(r.trigger, Some(Trigger::Table { .. })))
        .count();
    let problems = subscriptions::subscription_problems(set, schema);
    for p in &problems {
        f.problem("subscriptions", p.to_string());
    }
    if count > 0 && problems.is_empty() {
        f.ok(
            "subscriptions",
            format!("{count} table trigger(s), each on a logged table of an installed module"),
        );
    }
}

/// The subscription cycles a load refuses (and the ones it accepts), as
/// `runtime/load.rs` finds them: the same function.
fn check_cycles(set: &ModuleSet<'_>, schema: &ModuleSchema, f: &mut Findings) {
    let report = SubscriptionGraph::of(set).check(&schema.name);
    if let Some(c) = &report.refused {
        // The runtime's own message.
        let e = interstice_actors::RuntimeError::SubscriptionCycle {
            module: schema.name.clone(),
            path: c.path(),
            missing: c.not_recursive().join(", "),
        };
        f.problem("cycles", format!("{e} ({})", e.kind()));
        return;
    }
    let mut notes: Vec<String> = Vec::new();
    for c in &report.bounded {
        notes.push(format!("bounded recursion (`recursive`): {}", c.path()));
    }
    for c in &report.possible {
        notes.push(format!(
            "possible cycle through undeclared writes (load warns): {}",
            c.path()
        ));
    }
    if notes.is_empty() {
        f.ok("cycles", "no subscription cycle through this module".into());
    } else {
        f.ok("cycles", notes.join("; "));
    }
}

fn check_dependencies(set: &ModuleSet<'_>, schema: &ModuleSchema, dir: &Path, f: &mut Findings) {
    if schema.dependencies.is_empty() {
        return;
    }
    if let Some(cycle) = subscriptions::dependency_cycle(set, schema) {
        f.problem(
            "dependencies",
            format!("dependency cycle: {}", cycle.join(" -> ")),
        );
        return;
    }
    let missing: Vec<&str> = schema
        .dependencies
        .iter()
        .filter(|d| set.get(d).is_none())
        .map(String::as_str)
        .collect();
    f.ok(
        "dependencies",
        if missing.is_empty() {
            format!(
                "{} (all installed, no cycle)",
                schema.dependencies.join(", ")
            )
        } else {
            format!(
                "no cycle; not installed in {} yet: {} (read calls to them fail until they are \
                 loaded)",
                dir.display(),
                missing.join(", ")
            )
        },
    );
}
