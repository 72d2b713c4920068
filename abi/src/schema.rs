//! The module schema: what a module declares, read from its
//! `__interstice_schema` export without running any reducer.

use serde::{Deserialize, Serialize};

use crate::types::{Field, Type};
use crate::{AbiError, ABI_VERSION};

/// Everything a module declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSchema {
    /// ABI version the module was built against; must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// Module name: unique in a runtime; `[a-z0-9_]`, starting with a letter.
    pub name: String,
    /// Free-form version string (semver by convention).
    pub version: String,
    /// Modules this one calls synchronously (read calls). Must be acyclic.
    pub dependencies: Vec<String>,
    /// Tables, in declaration order; a table's index is its id in host calls.
    pub tables: Vec<TableSchema>,
    /// Reducers, in declaration order; a reducer's index is its id in
    /// `__interstice_call`.
    pub reducers: Vec<ReducerSchema>,
    /// The named custom types (`docs/ABI.md` §5.1): each struct or enum
    /// the SDK found once, under its Rust name, in first-use order. In the
    /// encoding, the columns, parameters and results (and these
    /// definitions) refer to them as [`Type::Named`]; in memory, after
    /// [`ModuleSchema::decode`], every type is inline and this list only
    /// says which types the encoding names. Empty for a schema built by an
    /// SDK before named types, and then omitted from the encoding, so such
    /// a schema encodes (and hashes) exactly as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<Type>,
    /// The dependencies this module was built with generated bindings for
    /// (`interstice generate rust`, `docs/ABI.md` §5.3): each dependency's
    /// version and schema hash as the bindings saw it, with the reducer
    /// signatures and table layouts they were typed against. The runtime
    /// checks them against the loaded dependency
    /// ([`crate::bindings`]). Empty for a module without bindings, and
    /// then omitted from the encoding, so such a schema encodes (and
    /// hashes) exactly as before bindings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
}

/// A dependency as a module's generated bindings saw it: what the
/// module's typed calls and triggers were compiled against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The dependency's module name (one of [`ModuleSchema::dependencies`]).
    pub module: String,
    /// Its version string when the bindings were generated.
    pub version: String,
    /// Its schema hash ([`ModuleSchema::hash`]) when the bindings were
    /// generated.
    pub hash: [u8; 32],
    /// Its callable reducers (neither triggers nor migrations), in its
    /// declaration order, as the bindings type them.
    pub reducers: Vec<BoundReducer>,
    /// Its tables' layouts, as the bindings' row types describe them.
    pub tables: Vec<BoundTable>,
}

/// A reducer's signature as bindings type it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundReducer {
    /// Name.
    pub name: String,
    /// Write (an async call) or read (a read call).
    pub mode: ReducerMode,
    /// Parameters.
    pub params: Vec<Field>,
    /// The `Ok` type.
    pub returns: Type,
    /// The `Err` type, if it returns a `Result`.
    pub error: Option<Type>,
}

/// A table's layout as bindings type its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundTable {
    /// Name.
    pub name: String,
    /// Columns, in order.
    pub columns: Vec<Field>,
}

impl Binding {
    /// The binding of `schema` as `interstice generate rust` writes it:
    /// every callable reducer and every table, with `schema`'s hash.
    pub fn of(schema: &ModuleSchema) -> Binding {
        Binding {
            module: schema.name.clone(),
            version: schema.version.clone(),
            hash: schema.hash(),
            reducers: schema
                .reducers
                .iter()
                .filter(|r| r.trigger.is_none())
                .map(|r| BoundReducer {
                    name: r.name.clone(),
                    mode: r.mode,
                    params: r.params.clone(),
                    returns: r.returns.clone(),
                    error: r.error.clone(),
                })
                .collect(),
            tables: schema
                .tables
                .iter()
                .map(|t| BoundTable {
                    name: t.name.clone(),
                    columns: t.columns.clone(),
                })
                .collect(),
        }
    }
}

/// Whether a table's mutations go to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Persistence {
    /// Logged and replayed (the default).
    Logged,
    /// Kept in memory only; empty after a restart.
    Ephemeral,
}

/// How the host stores a table's rows (`#[table(storage = "…")]`). It
/// changes nothing a module, the log or a snapshot sees: only the memory
/// layout, and so the cost of each operation (`docs/SDK.md` §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Storage {
    /// Row by row, each row's encoding in one allocation (the default).
    #[default]
    Rows,
    /// Column by column: numeric columns as plain vectors, which
    /// aggregates and filters read without decoding rows.
    Columnar,
}

impl Storage {
    /// True for the default, [`Storage::Rows`] (left out of the encoding).
    pub fn is_rows(&self) -> bool {
        *self == Storage::Rows
    }
}

/// Kind of a secondary index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    /// Ordered index.
    BTree,
    /// Hash index.
    Hash,
    /// Ordered index with a uniqueness constraint.
    Unique,
}

/// A secondary index over one or more columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSchema {
    /// Index name.
    pub name: String,
    /// Column indexes, in key order.
    pub columns: Vec<u32>,
    /// Kind.
    pub kind: IndexKind,
}

/// A table owned by the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    /// Table name, unique in the module.
    pub name: String,
    /// Table version (`#[table(version = N)]`, 1 unless declared; bumped
    /// with a migration). A schema without it reads as version 1.
    #[serde(default = "version_one")]
    pub version: u32,
    /// Columns; a row is encoded as an array of these, in order.
    pub columns: Vec<Field>,
    /// Index of the primary-key column.
    pub primary_key: u32,
    /// Whether the host assigns the key on insert (key given as 0).
    pub auto_inc: bool,
    /// Logged or ephemeral.
    pub persistence: Persistence,
    /// Secondary indexes.
    pub indexes: Vec<IndexSchema>,
    /// Declared column defaults (`#[default(…)]`), in column order: what an
    /// automatic migration gives old rows for a column appended at the end.
    /// Omitted from the encoding when empty, so a schema without defaults
    /// encodes (and hashes) exactly as before defaults existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<ColumnDefault>,
    /// How the host stores the rows. Omitted from the encoding when it is
    /// [`Storage::Rows`], so a schema that does not ask for columnar
    /// storage encodes (and hashes) exactly as before storage existed.
    #[serde(default, skip_serializing_if = "Storage::is_rows")]
    pub storage: Storage,
}

/// A column's declared default value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDefault {
    /// Column index.
    pub column: u32,
    /// The canonical CBOR of the value (of the column's type).
    pub value: Vec<u8>,
}

/// Whether a reducer may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReducerMode {
    /// A transaction: gets a timestamp, may write, is logged.
    Write,
    /// A query: may only read, is never logged, returns a value.
    Read,
}

impl ReducerMode {
    /// `write` or `read`, as the schema exports and the JSON mapping
    /// (`docs/ABI.md` §7.1) spell it.
    pub fn name(self) -> &'static str {
        match self {
            ReducerMode::Write => "write",
            ReducerMode::Read => "read",
        }
    }
}

/// A row event a subscription listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowEvent {
    /// A row was inserted; the reducer takes `(row)`.
    Insert,
    /// A row was updated; the reducer takes `(old, new)`.
    Update,
    /// A row was deleted; the reducer takes `(row)`.
    Delete,
}

impl RowEvent {
    /// `insert`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            RowEvent::Insert => "insert",
            RowEvent::Update => "update",
            RowEvent::Delete => "delete",
        }
    }
}

/// What makes the runtime call a reducer by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// Once, when the module is installed.
    Init,
    /// After every commit that changes `module.table` this way.
    Table {
        /// Source module.
        module: String,
        /// Source table.
        table: String,
        /// Event.
        event: RowEvent,
    },
    /// Never by itself: run once at the upgrade that takes table `table`
    /// from `from_version` to `to_version`, as the table's code migration
    /// (`#[migration]`). Its one parameter is the table id under which the
    /// host exposes the old rows, read-only, for the migration's duration.
    Migration {
        /// The table migrated (a table of this module).
        table: String,
        /// The logged version it migrates from.
        from_version: u32,
        /// The version it migrates to: the table's version in this schema.
        to_version: u32,
        /// The old layout the migration reads rows in (checked against the
        /// logged layout of `from_version` at the upgrade).
        columns: Vec<Field>,
    },
}

impl Trigger {
    /// Parses the `on = "…"` syntax: `init` or `module.table.insert|update|delete`.
    pub fn parse(s: &str) -> Result<Trigger, AbiError> {
        Self::parse_str(s).map_err(AbiError::Trigger)
    }

    fn parse_str(s: &str) -> Result<Trigger, String> {
        if s == "init" {
            return Ok(Trigger::Init);
        }
        let parts: Vec<&str> = s.split('.').collect();
        let [module, table, event] = parts.as_slice() else {
            return Err(format!(
                "`{s}` is not a trigger: expected `init` or `module.table.insert|update|delete`"
            ));
        };
        let event = match *event {
            "insert" => RowEvent::Insert,
            "update" => RowEvent::Update,
            "delete" => RowEvent::Delete,
            other => return Err(format!("unknown row event `{other}` in `{s}`")),
        };
        if !valid_ident(module) || !valid_ident(table) {
            return Err(format!(
                "`{s}`: module and table names must be [a-z][a-z0-9_]*"
            ));
        }
        Ok(Trigger::Table {
            module: (*module).to_owned(),
            table: (*table).to_owned(),
            event,
        })
    }
}

/// A reducer the module exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReducerSchema {
    /// Name, unique in the module.
    pub name: String,
    /// Write or read.
    pub mode: ReducerMode,
    /// Parameters (the context is not one).
    pub params: Vec<Field>,
    /// Type of the `Ok` value (`Unit` for reducers returning `()`).
    pub returns: Type,
    /// Type of the `Err` value, if the reducer returns a `Result`.
    pub error: Option<Type>,
    /// Trigger, for subscription and init reducers.
    pub trigger: Option<Trigger>,
    /// The tables of this module a table trigger may write
    /// (`#[reducer(on = "…", writes = [t1, t2])]`): `None` when it
    /// declares nothing, which means every table of the module;
    /// `Some(vec![])` when it writes none. The host refuses any other
    /// write (the transaction fails), and the load-time cycle check
    /// (`crate::subscriptions`) trusts it. Omitted from the encoding when
    /// `None`, so a schema without it encodes (and hashes) exactly as
    /// before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<Vec<String>>,
    /// The trigger accepts bounded recursion (`#[reducer(on = "…",
    /// writes = […], recursive)]`): a subscription cycle whose triggers
    /// all declare their writes loads only if every one of them says
    /// `recursive`, and is then cut by `Limits::max_trigger_depth` at run
    /// time. Omitted from the encoding when `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recursive: bool,
}

impl ModuleSchema {
    /// Decodes a schema from the bytes of the `__interstice_schema` export
    /// and checks it: ABI version, names, keys, types, triggers.
    pub fn decode(bytes: &[u8]) -> Result<ModuleSchema, AbiError> {
        let schema: ModuleSchema = ciborium::from_reader(bytes)
            .map_err(|e| AbiError::Schema(format!("schema is not valid CBOR: {e}")))?;
        let mut schema = schema;
        if schema.abi_version != ABI_VERSION {
            return Err(AbiError::AbiMismatch {
                module: schema.abi_version,
                host: ABI_VERSION,
            });
        }
        crate::named::resolve(&mut schema).map_err(|e| match e {
            AbiError::Schema(m) => AbiError::Schema(format!("module `{}`: {m}", schema.name)),
            other => other,
        })?;
        schema.check()?;
        Ok(schema)
    }

    /// The canonical encoding: the schema serialized again by the host,
    /// with the custom types of [`ModuleSchema::types`] referred to by name
    /// (a schema without `types` is all inline, as before named types).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let written = if self.types.is_empty() {
            ciborium::into_writer(self, &mut out)
        } else {
            ciborium::into_writer(&crate::named::to_wire(self), &mut out)
        };
        written.expect("writing to a Vec cannot fail");
        out
    }

    /// This schema with every custom type named in [`ModuleSchema::types`]
    /// (what the SDK exports): each struct or enum once, in first-use
    /// order, except a name two different types share, which stays inline.
    pub fn with_named_types(mut self) -> ModuleSchema {
        self.types = crate::named::collect(&self);
        self
    }

    /// blake3 of [`ModuleSchema::canonical_bytes`].
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(&self.canonical_bytes()).as_bytes()
    }

    /// Looks a table up by name.
    pub fn table(&self, name: &str) -> Option<(u32, &TableSchema)> {
        self.tables
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == name)
            .map(|(i, t)| (i as u32, t))
    }

    /// Looks a reducer up by name.
    pub fn reducer(&self, name: &str) -> Option<(u32, &ReducerSchema)> {
        self.reducers
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == name)
            .map(|(i, r)| (i as u32, r))
    }

    /// Checks everything that can be checked without other modules.
    pub fn check(&self) -> Result<(), AbiError> {
        let bad = |m: String| Err(AbiError::Schema(format!("module `{}`: {m}", self.name)));
        if !valid_ident(&self.name) {
            return bad("module name must be [a-z][a-z0-9_]*".into());
        }
        for t in &self.types {
            if crate::named::custom_name(t).is_none() {
                return bad(format!(
                    "named type {} is not a struct or an enum",
                    t.display_name()
                ));
            }
            t.check_well_formed()?;
        }
        for (i, t) in self.tables.iter().enumerate() {
            if !valid_ident(&t.name) {
                return bad(format!("table name `{}` must be [a-z][a-z0-9_]*", t.name));
            }
            if self.tables[..i].iter().any(|o| o.name == t.name) {
                return bad(format!("table `{}` declared twice", t.name));
            }
            let Some(pk) = t.columns.get(t.primary_key as usize) else {
                return bad(format!("table `{}` has no primary-key column", t.name));
            };
            if !pk.ty.is_key_type() {
                return bad(format!(
                    "table `{}`: {} cannot be a primary key",
                    t.name,
                    pk.ty.display_name()
                ));
            }
            if t.auto_inc && !pk.ty.is_auto_inc_type() {
                return bad(format!(
                    "table `{}`: auto_inc needs an unsigned integer key, found {}",
                    t.name,
                    pk.ty.display_name()
                ));
            }
            for c in &t.columns {
                c.ty.check_well_formed()?;
            }
            for ix in &t.indexes {
                if ix.columns.is_empty()
                    || ix.columns.iter().any(|c| *c as usize >= t.columns.len())
                {
                    return bad(format!(
                        "table `{}`: index `{}` has bad columns",
                        t.name, ix.name
                    ));
                }
                for (j, c) in ix.columns.iter().enumerate() {
                    let col = &t.columns[*c as usize];
                    if !col.ty.is_key_type() {
                        return bad(format!(
                            "table `{}`: index `{}` on column `{}`: {} cannot be indexed \
                             (index columns are bool, integers, String or Bytes)",
                            t.name,
                            ix.name,
                            col.name,
                            col.ty.display_name()
                        ));
                    }
                    if ix.columns[..j].contains(c) {
                        return bad(format!(
                            "table `{}`: index `{}` lists column `{}` twice",
                            t.name, ix.name, col.name
                        ));
                    }
                }
                if t.indexes.iter().filter(|o| o.name == ix.name).count() > 1 {
                    return bad(format!(
                        "table `{}`: index `{}` declared twice",
                        t.name, ix.name
                    ));
                }
            }
            for (j, d) in t.defaults.iter().enumerate() {
                let Some(col) = t.columns.get(d.column as usize) else {
                    return bad(format!(
                        "table `{}`: a default for column #{}, which does not exist",
                        t.name, d.column
                    ));
                };
                if t.defaults[..j].iter().any(|o| o.column == d.column) {
                    return bad(format!(
                        "table `{}`: column `{}` has two defaults",
                        t.name, col.name
                    ));
                }
                if d.column == t.primary_key {
                    return bad(format!(
                        "table `{}`: the primary key `{}` cannot have a default",
                        t.name, col.name
                    ));
                }
                if let Err(e) = col.ty.validate_exact(&d.value) {
                    return bad(format!(
                        "table `{}`: the default of column `{}` is not a {}: {e}",
                        t.name,
                        col.name,
                        col.ty.display_name()
                    ));
                }
            }
        }
        for (i, r) in self.reducers.iter().enumerate() {
            if r.name.is_empty() || r.name.starts_with("__") {
                return bad(format!("reducer name `{}` is reserved or empty", r.name));
            }
            if self.reducers[..i].iter().any(|o| o.name == r.name) {
                return bad(format!("reducer `{}` declared twice", r.name));
            }
            for p in &r.params {
                p.ty.check_well_formed()?;
            }
            r.returns.check_well_formed()?;
            if let Some(e) = &r.error {
                e.check_well_formed()?;
            }
            match (&r.trigger, r.mode) {
                (Some(_), ReducerMode::Read) => {
                    return bad(format!(
                        "reducer `{}`: triggers must be write reducers",
                        r.name
                    ))
                }
                (Some(Trigger::Init), _) if !r.params.is_empty() => {
                    return bad(format!("init reducer `{}` must take no arguments", r.name))
                }
                (
                    Some(Trigger::Migration {
                        table,
                        from_version,
                        to_version,
                        columns,
                    }),
                    _,
                ) => {
                    if r.params.len() != 1 || r.params[0].ty != Type::U32 {
                        return bad(format!(
                            "migration `{}` must take exactly one parameter, the old table (u32)",
                            r.name
                        ));
                    }
                    if from_version >= to_version {
                        return bad(format!(
                            "migration `{}`: from_version {from_version} must be lower than \
                             to_version {to_version}",
                            r.name
                        ));
                    }
                    let Some((_, t)) = self.table(table) else {
                        return bad(format!(
                            "migration `{}` migrates table `{table}`, which the module does not \
                             declare",
                            r.name
                        ));
                    };
                    if t.version != *to_version {
                        return bad(format!(
                            "migration `{}`: to_version {to_version} does not match table \
                             `{table}`'s version {}",
                            r.name, t.version
                        ));
                    }
                    for c in columns {
                        c.ty.check_well_formed()?;
                    }
                    let twice = self.reducers[..i].iter().any(|o| {
                        matches!(&o.trigger, Some(Trigger::Migration { table: t2, from_version: f2, .. })
                            if t2 == table && f2 == from_version)
                    });
                    if twice {
                        return bad(format!(
                            "two migrations of table `{table}` from version {from_version}"
                        ));
                    }
                }
                (Some(Trigger::Table { event, .. }), _) => {
                    let want = if *event == RowEvent::Update { 2 } else { 1 };
                    if r.params.len() != want {
                        return bad(format!(
                            "trigger reducer `{}` on {} must take {want} row argument(s)",
                            r.name,
                            event.as_str()
                        ));
                    }
                }
                _ => {}
            }
            let table_trigger = matches!(r.trigger, Some(Trigger::Table { .. }));
            if (r.writes.is_some() || r.recursive) && !table_trigger {
                return bad(format!(
                    "reducer `{}`: `writes` and `recursive` are for table triggers \
                     (`on = \"module.table.event\"`) only",
                    r.name
                ));
            }
            for (j, w) in r.writes.iter().flatten().enumerate() {
                if self.table(w).is_none() {
                    return bad(format!(
                        "reducer `{}` declares `writes = [{w}]`, but the module has no table \
                         `{w}` (a trigger writes only its own module's tables)",
                        r.name
                    ));
                }
                if r.writes.iter().flatten().take(j).any(|o| o == w) {
                    return bad(format!(
                        "reducer `{}` lists table `{w}` twice in `writes`",
                        r.name
                    ));
                }
            }
        }
        for (i, d) in self.dependencies.iter().enumerate() {
            if d == &self.name {
                return bad("a module cannot depend on itself".into());
            }
            if self.dependencies[..i].contains(d) {
                return bad(format!("dependency `{d}` listed twice"));
            }
        }
        self.check_bindings()
    }

    /// The bindings (`docs/ABI.md` §5.3): each of a declared dependency,
    /// at most one per dependency, with well-formed types and unique
    /// reducer and table names.
    fn check_bindings(&self) -> Result<(), AbiError> {
        let bad = |m: String| Err(AbiError::Schema(format!("module `{}`: {m}", self.name)));
        for (i, b) in self.bindings.iter().enumerate() {
            if !self.dependencies.contains(&b.module) {
                return bad(format!(
                    "bindings for `{}`, which is not a declared dependency",
                    b.module
                ));
            }
            if self.bindings[..i].iter().any(|o| o.module == b.module) {
                return bad(format!("two bindings for `{}`", b.module));
            }
            for (j, r) in b.reducers.iter().enumerate() {
                if b.reducers[..j].iter().any(|o| o.name == r.name) {
                    return bad(format!(
                        "bindings for `{}` list reducer `{}` twice",
                        b.module, r.name
                    ));
                }
                for p in &r.params {
                    p.ty.check_well_formed()?;
                }
                r.returns.check_well_formed()?;
                if let Some(e) = &r.error {
                    e.check_well_formed()?;
                }
            }
            for (j, t) in b.tables.iter().enumerate() {
                if b.tables[..j].iter().any(|o| o.name == t.name) {
                    return bad(format!(
                        "bindings for `{}` list table `{}` twice",
                        b.module, t.name
                    ));
                }
                for c in &t.columns {
                    c.ty.check_well_formed()?;
                }
            }
        }
        Ok(())
    }
}

impl ReducerSchema {
    /// Whether this is a migration (`Trigger::Migration`): the runtime runs
    /// it only at an upgrade, never on a call or a delivery.
    pub fn is_migration(&self) -> bool {
        matches!(self.trigger, Some(Trigger::Migration { .. }))
    }
}

impl TableSchema {
    /// The declared default of column `column`, if any.
    pub fn default_of(&self, column: u32) -> Option<&[u8]> {
        self.defaults
            .iter()
            .find(|d| d.column == column)
            .map(|d| d.value.as_slice())
    }

    /// The row type: a struct of the columns.
    pub fn row_type(&self) -> Type {
        Type::Struct(crate::types::StructType {
            name: self.name.clone(),
            fields: self.columns.clone(),
        })
    }

    /// The primary-key column type.
    pub fn key_type(&self) -> &Type {
        &self.columns[self.primary_key as usize].ty
    }
}

fn version_one() -> u32 {
    1
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `[a-z][a-z0-9_]*`.
pub fn valid_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests;
