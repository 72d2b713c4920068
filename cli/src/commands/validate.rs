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
//!   not a problem: load accepts it).

use std::path::Path;

use interstice_abi::{ModuleSchema, Persistence, Trigger};
use serde_json::json;

use crate::args::ReportFormat;
use crate::error::{read_file, CliError};
use crate::inspect::decode::Schemas;
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
    check_subscriptions(schema, &state.schemas, f);
    check_dependencies(schema, &state.schemas, dir, f);
    Ok(())
}

fn check_subscriptions(schema: &ModuleSchema, installed: &Schemas, f: &mut Findings) {
    let mut count = 0;
    for r in &schema.reducers {
        let Some(Trigger::Table {
            module,
            table,
            event,
        }) = &r.trigger
        else {
            continue;
        };
        count += 1;
        let on = format!(
            "reducer `{}` on {module}.{table}.{}",
            r.name,
            event.as_str()
        );
        let source = if *module == schema.name {
            Some(schema)
        } else {
            installed.get(module)
        };
        let Some(source) = source else {
            f.problem(
                "subscriptions",
                format!("{on}: module `{module}` is not installed; load it first"),
            );
            continue;
        };
        match source.table(table) {
            None => f.problem(
                "subscriptions",
                format!("{on}: module `{module}` has no table `{table}`"),
            ),
            Some((_, t)) if t.persistence != Persistence::Logged => f.problem(
                "subscriptions",
                format!("{on}: ephemeral tables do not fire triggers"),
            ),
            Some(_) => {}
        }
    }
    if count > 0 && !f.0.iter().any(|x| x.check == "subscriptions") {
        f.ok(
            "subscriptions",
            format!("{count} table trigger(s), each on a logged table of an installed module"),
        );
    }
}

fn check_dependencies(schema: &ModuleSchema, installed: &Schemas, dir: &Path, f: &mut Findings) {
    // A cycle through the declared dependencies, as load refuses it.
    fn walk<'a>(
        new: &'a ModuleSchema,
        installed: &'a Schemas,
        at: &str,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let deps: &[String] = if at == new.name {
            &new.dependencies
        } else {
            installed.get(at).map_or(&[], |s| s.dependencies.as_slice())
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
            if let Some(c) = walk(new, installed, d, path) {
                return Some(c);
            }
            path.pop();
        }
        None
    }
    if schema.dependencies.is_empty() {
        return;
    }
    let mut path = vec![schema.name.clone()];
    if let Some(cycle) = walk(schema, installed, &schema.name, &mut path) {
        f.problem(
            "dependencies",
            format!("dependency cycle: {}", cycle.join(" -> ")),
        );
        return;
    }
    let missing: Vec<&str> = schema
        .dependencies
        .iter()
        .filter(|d| installed.get(d).is_none())
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
