//! The upgrade plan between two versions of a module's schema, as
//! `schema-diff` and `load --dry-run` print it: every difference, each
//! classified *compatible*, *needs migration* or *breaking* with the rule
//! that decided it.
//!
//! The table rules are the runtime's own: `SchemaDiff` (what an upgrade
//! may change in a table's shape) and, when the old side's rows are known
//! (a module in a data directory), its row counts and
//! `Tables::unique_violation` — exactly what `load` checks. The verdict a
//! load would reach is reported next to the classification
//! ([`Plan::load_refusal`]).
//!
//! - compatible: a table added; a table removed that holds no rows; index,
//!   reducer and dependency changes (the runtime allows them freely, a
//!   unique index only if the kept rows satisfy it);
//! - needs migration: a table whose shape changed (column count, a column
//!   type, the primary key, `auto_inc`, persistence — rows are stored
//!   positionally); a table removed whose rows are unknown (the old side
//!   is a `.wasm`);
//! - breaking: a table removed that still holds rows (they would be lost);
//!   a new unique index its kept rows violate; a different module name (a
//!   load installs a second module instead of upgrading).

use interstice_abi::schema_diff::{type_change, widening, SchemaDiff, TableChange};
use interstice_abi::{ModuleSchema, ReducerSchema, TableSchema, Trigger, Type};
use interstice_tables::Tables;
use serde_json::{json, Value as Json};

/// How serious a difference is (ordered: the worst decides the verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// The new code can take over the data as it is.
    Compatible,
    /// The data must be converted (or emptied) first.
    NeedsMigration,
    /// Data would be lost or the upgrade cannot happen.
    Breaking,
}

impl Class {
    /// The name used in text and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Class::Compatible => "compatible",
            Class::NeedsMigration => "needs migration",
            Class::Breaking => "breaking",
        }
    }

    /// The exit code of a plan whose worst difference is this: 0, 1, 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Compatible => 0,
            Class::NeedsMigration => 1,
            Class::Breaking => 2,
        }
    }
}

/// One difference between the two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Its class.
    pub class: Class,
    /// What differs: `table accounts`, `reducer audit_count`, `module`.
    pub subject: String,
    /// How it changed.
    pub change: String,
    /// The rule that classified it.
    pub rule: String,
}

/// The plan for replacing `old` with `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The old module's name and version.
    pub old: (String, String),
    /// The new module's name and version.
    pub new: (String, String),
    /// Every difference, tables first (old order, then added), then
    /// indexes, reducers and dependencies.
    pub differences: Vec<Difference>,
    /// What `load` would refuse the upgrade with, `(table, reason)`: with
    /// the old side's rows known, exactly what `load` checks; without them,
    /// the refusals that do not depend on rows (a changed table shape).
    /// `None`: it would be accepted (or, rows unknown, no shape rule
    /// refuses it).
    pub load_refusal: Option<(String, String)>,
    /// Whether the old side's rows were known.
    pub rows_known: bool,
}

const SHAPE_RULE: &str = "rows are stored positionally, so without a migration a table's \
                          columns (types, order, count), primary key, auto_inc and \
                          persistence must stay as they are; a new layout needs a version \
                          bump and a #[migration], or columns appended with #[default]";

impl Plan {
    /// The plan from `old` to `new`; `rows`: the old module's tables as the
    /// data directory holds them, if known.
    pub fn between(old: &ModuleSchema, new: &ModuleSchema, rows: Option<&Tables>) -> Plan {
        let mut d = Vec::new();
        let mut add = |class, subject: String, change: String, rule: &str| {
            d.push(Difference {
                class,
                subject,
                change,
                rule: rule.to_owned(),
            })
        };
        if old.name != new.name {
            add(
                Class::Breaking,
                "module".into(),
                format!("name changed from `{}` to `{}`", old.name, new.name),
                "a module is upgraded by name: loading this installs a second module",
            );
        }
        let diff = SchemaDiff::between(old, new);
        let unique = rows.and_then(|t| t.unique_violation(&new.tables));
        for (name, change) in &diff.tables {
            let subject = format!("table {name}");
            match change {
                TableChange::Unchanged => {
                    let (Some((_, ot)), Some((_, nt))) = (old.table(name), new.table(name)) else {
                        continue;
                    };
                    for (i, (oc, nc)) in ot.columns.iter().zip(&nt.columns).enumerate() {
                        if let Some(how) = widening(&oc.ty, &nc.ty) {
                            add(
                                Class::Compatible,
                                subject.clone(),
                                format!("column {i} (`{}`): {how}", oc.name),
                                "an enum may gain variants at the end: every stored value \
                                 still reads as the new type",
                            );
                        }
                    }
                }
                TableChange::Added => add(
                    Class::Compatible,
                    subject,
                    "added".into(),
                    "tables may be added (they start empty)",
                ),
                TableChange::Removed => match rows.map(|t| t.rows_of(name)) {
                    Some(0) => add(
                        Class::Compatible,
                        subject,
                        "removed (it holds no rows)".into(),
                        "a table may be removed when it holds no rows",
                    ),
                    Some(n) => add(
                        Class::Breaking,
                        subject,
                        format!("removed, but it still holds {n} rows"),
                        "a table may be removed only when it holds no rows: its rows \
                         would be lost",
                    ),
                    None => add(
                        Class::NeedsMigration,
                        subject,
                        "removed".into(),
                        "a table may be removed only when it holds no rows; the old side \
                         is a .wasm, so its rows are unknown: empty it first (compare \
                         with DIR:MODULE to check)",
                    ),
                },
                TableChange::Changed(why) => {
                    add(Class::NeedsMigration, subject, why.clone(), SHAPE_RULE)
                }
                TableChange::Extended { defaults } => add(
                    Class::Compatible,
                    subject,
                    format!(
                        "{} column(s) appended with declared defaults",
                        defaults.len()
                    ),
                    "columns appended at the end with #[default(…)] are an automatic \
                     migration: old rows get the defaults",
                ),
                TableChange::Migrated {
                    reducer,
                    from_version,
                    to_version,
                } => add(
                    Class::NeedsMigration,
                    subject,
                    format!(
                        "layout changed, version {from_version} -> {to_version}, rewritten by \
                         the declared migration `{reducer}`"
                    ),
                    "a layout change needs a version bump and a #[migration]; this module \
                     declares it, so load runs it once, atomically with the install",
                ),
            }
            if let (Some((_, o)), Some((_, n))) = (old.table(name), new.table(name)) {
                index_changes(o, n, unique.as_ref(), &mut add);
            }
        }
        reducer_changes(old, new, &mut add);
        if old.dependencies != new.dependencies {
            add(
                Class::Compatible,
                "dependencies".into(),
                format!(
                    "[{}] -> [{}]",
                    old.dependencies.join(", "),
                    new.dependencies.join(", ")
                ),
                "dependencies may change; load checks they are installed and form no cycle",
            );
        }
        // Without the rows, a shape change is still a certain refusal
        // (row counts only matter to removed tables).
        let load_refusal = match rows {
            Some(t) => diff
                .first_incompatibility(|name| t.rows_of(name))
                .or(unique),
            None => diff.first_incompatibility(|_| 0),
        };
        Plan {
            old: (old.name.clone(), old.version.clone()),
            new: (new.name.clone(), new.version.clone()),
            differences: d,
            load_refusal,
            rows_known: rows.is_some(),
        }
    }

    /// The worst class of any difference (compatible if there is none).
    pub fn verdict(&self) -> Class {
        self.differences
            .iter()
            .map(|d| d.class)
            .max()
            .unwrap_or(Class::Compatible)
    }

    /// The plan as JSON.
    pub fn to_json(&self) -> Json {
        let load = match (&self.load_refusal, self.rows_known) {
            (Some((table, why)), _) => json!({
                "accepted": false,
                "table": table,
                "reason": why,
                "rows_known": self.rows_known,
            }),
            (None, true) => json!({ "accepted": true, "rows_known": true }),
            (None, false) => json!({
                "accepted": self.verdict() == Class::Compatible,
                "rows_known": false,
            }),
        };
        json!({
            "module": self.new.0,
            "old": { "module": self.old.0, "version": self.old.1 },
            "new": { "module": self.new.0, "version": self.new.1 },
            "verdict": self.verdict().name(),
            "differences": self.differences.iter().map(|d| json!({
                "class": d.class.name(),
                "subject": d.subject,
                "change": d.change,
                "rule": d.rule,
            })).collect::<Vec<_>>(),
            "load": load,
        })
    }

    /// The plan as text lines.
    pub fn to_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} {} -> {} {}",
            self.old.0, self.old.1, self.new.0, self.new.1
        )];
        if self.differences.is_empty() {
            out.push("  no differences".into());
        }
        for d in &self.differences {
            out.push(format!(
                "  {:<15} {}: {}",
                d.class.name(),
                d.subject,
                d.change
            ));
            out.push(format!("  {:<15} rule: {}", "", d.rule));
        }
        out.push(format!(
            "verdict: {} (exit {})",
            self.verdict().name(),
            self.verdict().exit_code()
        ));
        match (&self.load_refusal, self.rows_known) {
            (Some((table, why)), _) => {
                out.push(format!("load would refuse it: table `{table}`: {why}"))
            }
            (None, true) => out.push("load would accept it".into()),
            (None, false) => {}
        }
        out
    }
}

type Add<'a> = dyn FnMut(Class, String, String, &str) + 'a;

fn index_changes(
    old: &TableSchema,
    new: &TableSchema,
    unique: Option<&(String, String)>,
    add: &mut Add<'_>,
) {
    const RULE: &str = "indexes may change freely: they are rebuilt from the rows";
    for ix in &new.indexes {
        let subject = format!("index {}.{}", new.name, ix.name);
        let before = old.indexes.iter().find(|o| o.name == ix.name);
        if before == Some(ix) {
            continue;
        }
        let change = if before.is_some() { "changed" } else { "added" };
        match unique {
            Some((t, why)) if *t == new.name => add(
                Class::Breaking,
                subject,
                format!("{change}: {why}"),
                "a unique index must hold on the rows the table keeps",
            ),
            _ => add(Class::Compatible, subject, change.into(), RULE),
        }
    }
    for ix in &old.indexes {
        if !new.indexes.iter().any(|n| n.name == ix.name) {
            add(
                Class::Compatible,
                format!("index {}.{}", old.name, ix.name),
                "removed".into(),
                RULE,
            );
        }
    }
}

fn signature(r: &ReducerSchema) -> String {
    let params: Vec<String> = r
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty.display_name()))
        .collect();
    format!(
        "{:?} ({}) -> {}{}",
        r.mode,
        params.join(", "),
        r.returns.display_name(),
        r.trigger.as_ref().map_or_else(String::new, |t| match t {
            Trigger::Init => " on init".to_owned(),
            Trigger::Table {
                module,
                table,
                event,
            } => format!(" on {module}.{table}.{}", event.as_str()),
            Trigger::Migration {
                table,
                from_version,
                to_version,
                ..
            } => format!(" migrating {table} from version {from_version} to {to_version}"),
        })
    )
}

/// A reducer's parameters, result and error, each with what it is.
fn typed_parts(r: &ReducerSchema) -> Vec<(String, &Type)> {
    let mut t: Vec<(String, &Type)> = r
        .params
        .iter()
        .map(|p| (format!("parameter `{}`", p.name), &p.ty))
        .collect();
    t.push(("the result".into(), &r.returns));
    t.extend(r.error.iter().map(|e| ("the error".to_owned(), e)));
    t
}

fn reducer_changes(old: &ModuleSchema, new: &ModuleSchema, add: &mut Add<'_>) {
    const RULE: &str = "reducers may change freely (no data depends on them); callers of a \
                        removed or changed reducer must follow";
    for r in &new.reducers {
        let subject = format!("reducer {}", r.name);
        match old.reducer(&r.name) {
            None => add(Class::Compatible, subject, "added".into(), RULE),
            Some((_, o)) if signature(o) != signature(r) => add(
                Class::Compatible,
                subject,
                format!("changed from {} to {}", signature(o), signature(r)),
                RULE,
            ),
            Some((_, o)) if o != r => {
                // The same signature in words: a custom type changed inside.
                let how = typed_parts(o).into_iter().zip(typed_parts(r)).find_map(
                    |((what, a), (_, b))| {
                        type_change(a, b)
                            .or_else(|| widening(a, b))
                            .map(|how| format!("{what}: {how}"))
                    },
                );
                if let Some(how) = how {
                    add(Class::Compatible, subject, how, RULE);
                }
            }
            Some(_) => {}
        }
    }
    for r in &old.reducers {
        if new.reducer(&r.name).is_none() {
            add(
                Class::Compatible,
                format!("reducer {}", r.name),
                "removed".into(),
                RULE,
            );
        }
    }
}
