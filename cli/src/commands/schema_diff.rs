//! `interstice schema-diff OLD NEW [--format text|json]`: every difference
//! between two versions of a module's schema, each classified
//! *compatible*, *needs migration* or *breaking* with the rule that decided
//! it (`inspect/plan.rs`); exit code 0, 1 or 2 for the worst one, 3 for an
//! input that cannot be read (`docs/TOOLS.md`).
//!
//! Each side is a module reference:
//!
//! - a path to a `.wasm` file (anything that names an existing file, or
//!   ends in `.wasm`): its schema, read by compiling and validating it
//!   without running it; its rows are unknown;
//! - `DIR:MODULE` (split at the last `:`): the module as installed in the
//!   data directory `DIR` — the schema of its latest install in the log and
//!   its tables, rebuilt from the log without the lock. With the old side
//!   in a data directory, the plan applies the row-dependent rules exactly
//!   as a `load` would (a removed table must be empty, a new unique index
//!   must hold) and says whether `load` would accept the upgrade.

use std::path::{Path, PathBuf};

use interstice_abi::ModuleSchema;
use interstice_tables::Tables;

use crate::args::ReportFormat;
use crate::error::{read_file, CliError};
use crate::inspect::plan::{Class, Plan};
use crate::inspect::state::replay;
use crate::output;

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// A `.wasm` file.
    Wasm(PathBuf),
    /// A module installed in a data directory.
    Installed {
        /// The data directory.
        dir: PathBuf,
        /// The module name.
        module: String,
    },
}

impl ModuleRef {
    /// Parses `PATH.wasm` or `DIR:MODULE`.
    pub fn parse(s: &str) -> Result<ModuleRef, CliError> {
        let p = Path::new(s);
        if p.is_file() || s.ends_with(".wasm") {
            return Ok(ModuleRef::Wasm(p.to_path_buf()));
        }
        match s.rsplit_once(':') {
            Some((dir, module)) if !dir.is_empty() && !module.is_empty() => {
                Ok(ModuleRef::Installed {
                    dir: PathBuf::from(dir),
                    module: module.to_owned(),
                })
            }
            _ => Err(CliError::Input(format!(
                "`{s}` is neither a .wasm file nor DIR:MODULE (a module installed in a data \
                 directory)"
            ))),
        }
    }

    /// The schema, and the tables when the module is in a data directory.
    pub fn load(&self) -> Result<(ModuleSchema, Option<Tables>), CliError> {
        match self {
            ModuleRef::Wasm(path) => {
                let bytes = read_file(path).map_err(|e| CliError::Input(e.to_string()))?;
                let info = interstice_actors::inspect_module(&bytes).map_err(|e| {
                    CliError::Input(format!("{}: not a valid module: {e}", path.display()))
                })?;
                Ok(((*info.schema).clone(), None))
            }
            ModuleRef::Installed { dir, module } => {
                let (schema, tables) = installed(dir, module)
                    .map_err(|e| CliError::Input(format!("{}: {e}", dir.display())))?;
                Ok((schema, Some(tables)))
            }
        }
    }
}

/// The schema and rebuilt tables of `module` as installed in `dir`.
pub fn installed(dir: &Path, module: &str) -> Result<(ModuleSchema, Tables), CliError> {
    let only = module.to_owned();
    let (mut state, _) = replay(dir, None, move |m| m == only, "replaying the log")?;
    let (Some(schema), Some(tables)) = (
        state.schemas.get(module).cloned(),
        state.take_tables(module),
    ) else {
        return Err(CliError::Input(format!(
            "no module `{module}` is installed (installed: {})",
            state.order.join(", ")
        )));
    };
    Ok((schema, tables.tables))
}

/// Prints a plan in `format`.
pub fn print_plan(plan: &Plan, format: ReportFormat) {
    match format {
        ReportFormat::Json => output::result(plan.to_json()),
        ReportFormat::Text => {
            for line in plan.to_lines() {
                output::result(line);
            }
        }
    }
}

/// The result of plans whose worst verdict is `worst`.
pub fn verdict(worst: Class) -> Result<(), CliError> {
    match worst {
        Class::Compatible => Ok(()),
        c => Err(CliError::Verdict {
            code: c.exit_code(),
            message: match c {
                Class::NeedsMigration => "the upgrade needs a migration (exit 1)".into(),
                _ => "the upgrade is breaking (exit 2)".into(),
            },
        }),
    }
}

/// Runs the command.
pub fn run(old: &str, new: &str, format: ReportFormat) -> Result<(), CliError> {
    let (old_ref, new_ref) = (ModuleRef::parse(old)?, ModuleRef::parse(new)?);
    let (old_schema, rows) = old_ref.load()?;
    let (new_schema, _) = new_ref.load()?;
    let plan = Plan::between(&old_schema, &new_schema, rows.as_ref());
    print_plan(&plan, format);
    verdict(plan.verdict())
}
