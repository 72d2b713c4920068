//! The Rust bindings of a module schema (`docs/SDK.md`, "Bindings"): its
//! custom types, a module per table (the row type and the trigger events),
//! one typed function per callable reducer, the name constants, and the
//! binding record `interstice_module!` puts in the user's schema.
//!
//! The schema is hostile input: every name that becomes a Rust identifier
//! is checked (keywords are written raw, `r#type`), and anything the Rust
//! SDK could not have produced — a name that is no identifier, two
//! different types of one name, a tuple of more than 8 items — is refused
//! with a message naming it, never written as code that does not compile.

use std::collections::HashMap;
use std::fmt::Write as _;

use interstice_abi::{Field, ModuleSchema, ReducerMode, RowEvent, Type};

/// Keywords a raw identifier (`r#…`) can spell.
pub(crate) const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Names no identifier can take, raw or not.
const UNUSABLE: &[&str] = &["crate", "self", "Self", "super", "_"];

/// The most items a generated tuple, and the most parameters a generated
/// call, may have (the SDK's `IntersticeType` and `Args` tuples).
const MAX_TUPLE: usize = 8;

/// `name` as a Rust identifier, for `what` (in the refusal).
fn ident(name: &str, what: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok || UNUSABLE.contains(&name) {
        return Err(format!(
            "{what} `{}` cannot be a Rust identifier",
            name.escape_debug()
        ));
    }
    Ok(if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    })
}

/// A snake-case name of the schema (`[a-z][a-z0-9_]*`), which the name
/// constants upper-case.
fn snake(name: &str, what: &str) -> Result<String, String> {
    if !interstice_abi::schema::valid_ident(name) {
        return Err(format!(
            "{what} `{}` is not [a-z][a-z0-9_]*",
            name.escape_debug()
        ));
    }
    ident(name, what)
}

/// Whether `fields` are a tuple's: `0`, `1`, … in order (and at least one).
fn tuple_fields(fields: &[Field]) -> bool {
    !fields.is_empty()
        && fields
            .iter()
            .enumerate()
            .all(|(i, f)| f.name == i.to_string())
}

/// The custom types of a schema by name, in first-use order.
struct Customs {
    order: Vec<Type>,
    by_name: HashMap<String, Type>,
}

impl Customs {
    fn walk(&mut self, ty: &Type) -> Result<(), String> {
        let name = match ty {
            Type::Struct(s) => Some(&s.name),
            Type::Enum(e) => Some(&e.name),
            _ => None,
        };
        if let Some(name) = name {
            match self.by_name.get(name) {
                Some(seen) if seen == ty => return Ok(()),
                Some(_) => {
                    return Err(format!(
                        "two different types are named `{name}`: bindings name each custom type \
                         once"
                    ))
                }
                None => {
                    ident(name, "type name")?;
                    if ["MODULE_NAME", "VERSION", "SCHEMA_HASH"].contains(&name.as_str()) {
                        return Err(format!(
                            "type name `{name}` is taken by a generated constant"
                        ));
                    }
                    self.by_name.insert(name.clone(), ty.clone());
                    self.order.push(ty.clone());
                }
            }
        }
        match ty {
            Type::Option(t) | Type::Vec(t) => self.walk(t),
            Type::Tuple(ts) => {
                if ts.is_empty() || ts.len() > MAX_TUPLE {
                    return Err(format!(
                        "a tuple of {} items: bindings support 1 to {MAX_TUPLE}",
                        ts.len()
                    ));
                }
                ts.iter().try_for_each(|t| self.walk(t))
            }
            Type::Struct(s) => s.fields.iter().try_for_each(|f| self.walk(&f.ty)),
            Type::Enum(e) => e
                .variants
                .iter()
                .flat_map(|v| &v.fields)
                .try_for_each(|f| self.walk(&f.ty)),
            _ => Ok(()),
        }
    }
}

/// The Rust spelling of `ty`, custom types prefixed by `at` (`""` at the
/// top of the bindings, `"super::"` inside a table's module).
fn rust_type(ty: &Type, at: &str) -> String {
    match ty {
        Type::Unit => "()".into(),
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::U128 => "u128".into(),
        Type::I8 => "i8".into(),
        Type::I16 => "i16".into(),
        Type::I32 => "i32".into(),
        Type::I64 => "i64".into(),
        Type::I128 => "i128".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::String => "::std::string::String".into(),
        Type::Bytes => "::interstice_sdk::Bytes".into(),
        Type::Option(t) => format!("::core::option::Option<{}>", rust_type(t, at)),
        Type::Vec(t) => format!("::std::vec::Vec<{}>", rust_type(t, at)),
        Type::Tuple(ts) => {
            let items: Vec<String> = ts.iter().map(|t| rust_type(t, at)).collect();
            format!("({},)", items.join(", "))
        }
        Type::Struct(s) => format!("{at}{}", raw(&s.name)),
        Type::Enum(e) => format!("{at}{}", raw(&e.name)),
        // Never in a decoded schema: `ModuleSchema::decode` resolves them.
        Type::Named(n) => format!("{at}{}", raw(n)),
    }
}

/// A checked name, raw if it is a keyword.
fn raw(name: &str) -> String {
    ident(name, "name").unwrap_or_else(|_| name.to_owned())
}

/// The fields of a struct or variant, as declared after its name: ``,
/// `(pub A, pub B)` or ` { pub a: A }`; `public` adds `pub`.
fn fields_decl(fields: &[Field], at: &str, public: bool, owner: &str) -> Result<String, String> {
    let vis = if public { "pub " } else { "" };
    if fields.is_empty() {
        return Ok(String::new());
    }
    if tuple_fields(fields) {
        let items: Vec<String> = fields
            .iter()
            .map(|f| format!("{vis}{}", rust_type(&f.ty, at)))
            .collect();
        return Ok(format!("({})", items.join(", ")));
    }
    let mut out = String::from(" {\n");
    for (i, f) in fields.iter().enumerate() {
        let name = ident(&f.name, &format!("field of `{owner}`"))?;
        if fields[..i].iter().any(|o| o.name == f.name) {
            return Err(format!("`{owner}` has two fields named `{}`", f.name));
        }
        let _ = writeln!(out, "        {vis}{name}: {},", rust_type(&f.ty, at));
    }
    out.push_str("    }");
    Ok(out)
}

const DERIVE: &str = "#[derive(Clone, Debug, PartialEq, ::interstice_sdk::IntersticeType)]";

/// The bindings of `schema`.
pub(crate) fn render(schema: &ModuleSchema) -> Result<String, String> {
    let module = &schema.name;
    let mut customs = Customs {
        order: Vec::new(),
        by_name: HashMap::new(),
    };
    for t in &schema.tables {
        t.columns.iter().try_for_each(|c| customs.walk(&c.ty))?;
    }
    let callable: Vec<_> = schema
        .reducers
        .iter()
        .filter(|r| r.trigger.is_none())
        .collect();
    for r in &callable {
        r.params.iter().try_for_each(|p| customs.walk(&p.ty))?;
        customs.walk(&r.returns)?;
        if let Some(e) = &r.error {
            customs.walk(e)?;
        }
    }
    let hash = schema.hash();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let mut o = String::new();
    let _ =
        write!(
        o,
        "//! Bindings for module `{module}` {version}, generated by `interstice generate rust`\n\
         //! from its schema (hash {hex}).\n\
         //! Do not edit: regenerate instead. List this module in `interstice_module!`'s\n\
         //! `dependencies: [...]` (by its path, not a string) to record the binding, which\n\
         //! the runtime checks against the loaded `{module}` (docs/SDK.md, \"Bindings\").\n\
         \n\
         #![allow(dead_code, non_camel_case_types, clippy::all)]\n\
         \n\
         /// The module's name.\n\
         pub const MODULE_NAME: &str = {module:?};\n\
         /// The module's version the bindings were generated from.\n\
         pub const VERSION: &str = {version:?};\n\
         /// The module's schema hash the bindings were generated from.\n\
         pub const SCHEMA_HASH: [u8; 32] = [{bytes}];\n",
        version = schema.version,
        bytes = hash.iter().map(|b| format!("0x{b:02x}")).collect::<Vec<_>>().join(", "),
    );

    o.push_str("\n/// The names of the module's callable reducers.\npub mod reducers {\n");
    for r in &callable {
        let name = snake(&r.name, "reducer name")?;
        let _ = writeln!(
            o,
            "    /// `{}`.\n    pub const {}: &str = {:?};",
            r.name,
            name.trim_start_matches("r#").to_uppercase(),
            r.name
        );
    }
    o.push_str("}\n\n/// The names of the module's tables.\npub mod tables {\n");
    for t in &schema.tables {
        let name = snake(&t.name, "table name")?;
        if ["reducers", "tables"].contains(&t.name.as_str()) {
            return Err(format!(
                "table name `{}` is taken by a generated module of names",
                t.name
            ));
        }
        let _ = writeln!(
            o,
            "    /// `{}`.\n    pub const {}: &str = {:?};",
            t.name,
            name.trim_start_matches("r#").to_uppercase(),
            t.name
        );
    }
    o.push_str("}\n");

    for ty in &customs.order {
        o.push('\n');
        match ty {
            Type::Struct(s) => {
                let body = fields_decl(&s.fields, "", true, &s.name)?;
                let end = if s.fields.is_empty() || tuple_fields(&s.fields) {
                    ";"
                } else {
                    ""
                };
                let _ = writeln!(
                    o,
                    "/// `{}`, a struct of `{module}`.\n{DERIVE}\npub struct {}{}{}",
                    s.name,
                    raw(&s.name),
                    body.replace("\n        ", "\n    ")
                        .replace("\n    }", "\n}"),
                    end
                );
            }
            Type::Enum(e) => {
                let _ = writeln!(
                    o,
                    "/// `{}`, an enum of `{module}`.\n{DERIVE}\npub enum {} {{",
                    e.name,
                    raw(&e.name)
                );
                for (i, v) in e.variants.iter().enumerate() {
                    let name = ident(&v.name, &format!("variant of `{}`", e.name))?;
                    if e.variants[..i].iter().any(|o| o.name == v.name) {
                        return Err(format!("`{}` has two variants named `{}`", e.name, v.name));
                    }
                    let owner = format!("{}::{}", e.name, v.name);
                    let body = fields_decl(&v.fields, "", false, &owner)?;
                    let _ = writeln!(o, "    {name}{body},");
                }
                o.push_str("}\n");
            }
            _ => {}
        }
    }

    for t in &schema.tables {
        let name = snake(&t.name, "table name")?;
        let row = fields_decl(&t.columns, "super::", true, &format!("{}'s row", t.name))?;
        let end = if t.columns.is_empty() || tuple_fields(&t.columns) {
            ";"
        } else {
            ""
        };
        let _ = write!(
            o,
            "\n/// Table `{table}`: its row type (read-only: the payload of triggers on it) and\n\
             /// its events, for `#[reducer(on = <these bindings>::{table}::insert)]`.\n\
             pub mod {name} {{\n\
             \x20   /// The table's name.\n\
             \x20   pub const NAME: &str = {table:?};\n\
             \n\
             \x20   /// A row of `{module}.{table}`.\n\
             \x20   {DERIVE}\n\
             \x20   pub struct Row{row}{end}\n",
            table = t.name,
        );
        for (event, what, doc) in [
            (
                RowEvent::Insert,
                "Insert",
                "inserted: the trigger takes `(ctx, row: Row)`",
            ),
            (
                RowEvent::Update,
                "Update",
                "updated: the trigger takes `(ctx, old: Row, new: Row)`",
            ),
            (
                RowEvent::Delete,
                "Delete",
                "deleted: the trigger takes `(ctx, row: Row)`",
            ),
        ] {
            let ev = event.as_str();
            let _ = write!(
                o,
                "\n\x20   /// A row of `{module}.{table}` {doc}.\n\
                 \x20   pub enum {ev} {{}}\n\
                 \x20   impl ::interstice_sdk::bindings::TableEvent for {ev} {{\n\
                 \x20       const MODULE: &'static str = super::MODULE_NAME;\n\
                 \x20       const TABLE: &'static str = NAME;\n\
                 \x20       const EVENT: ::interstice_sdk::abi::RowEvent = \
                 ::interstice_sdk::abi::RowEvent::{what};\n\
                 \x20       type Row = Row;\n\
                 \x20   }}\n\
                 \x20   impl ::interstice_sdk::bindings::RowOf<{ev}> for Row {{}}\n",
                table = t.name,
            );
        }
        o.push_str("}\n");
    }

    // `<reducer>_with_reply` functions, written after every reducer's own.
    let mut with_reply = String::new();
    for r in &callable {
        let fname = snake(&r.name, "reducer name")?;
        let konst = fname.trim_start_matches("r#").to_uppercase();
        if r.params.len() > MAX_TUPLE {
            return Err(format!(
                "reducer `{}` takes {} parameters: bindings support at most {MAX_TUPLE}",
                r.name,
                r.params.len()
            ));
        }
        let mut params = String::new();
        let mut args = Vec::new();
        for (i, p) in r.params.iter().enumerate() {
            let n = ident(&p.name, &format!("parameter of reducer `{}`", r.name))?;
            if r.params[..i].iter().any(|o| o.name == p.name) || p.name == "__ctx" {
                return Err(format!(
                    "reducer `{}` has two parameters named `{}`",
                    r.name, p.name
                ));
            }
            let _ = write!(params, ", {n}: {}", rust_type(&p.ty, ""));
            args.push(n);
        }
        let tuple = if args.is_empty() {
            "()".to_owned()
        } else {
            format!("({},)", args.join(", "))
        };
        let call = format!("self::MODULE_NAME, self::reducers::{konst}, {tuple}");
        match r.mode {
            ReducerMode::Write => {
                let _ = write!(
                    o,
                    "\n/// Queues an async call of write reducer `{module}.{name}`: delivered after\n\
                     /// this transaction commits, exactly once (never if it rolls back).\n\
                     pub fn {fname}(__ctx: &::interstice_sdk::WriteContext{params}) {{\n\
                     \x20   __ctx.call({call});\n\
                     }}\n",
                    name = r.name,
                );
                let reply_fn = format!("{}_with_reply", fname.trim_start_matches("r#"));
                if callable
                    .iter()
                    .any(|o| o.name.trim_start_matches("r#") == reply_fn)
                {
                    return Err(format!(
                        "reducers `{}` and `{reply_fn}` would both generate a function \
                         `{reply_fn}`",
                        r.name
                    ));
                }
                let ok = rust_type(&r.returns, "");
                let err = r
                    .error
                    .as_ref()
                    .map_or_else(|| "()".to_owned(), |e| rust_type(e, ""));
                let _ = write!(
                    with_reply,
                    "\n/// Queues an async call of write reducer `{module}.{name}` like [`{fname}`],\n\
                     /// whose outcome comes back to `reply` (`reply_to!(on_done)`), a write\n\
                     /// reducer of this module taking\n\
                     /// `Result<{ok}, ::interstice_sdk::CallError<{err}>>`: exactly once, in\n\
                     /// timestamp order, as a transaction of its own (docs/SDK.md, \"Replies\").\n\
                     pub fn {reply_fn}(\n\
                     \x20   __ctx: &::interstice_sdk::WriteContext{params},\n\
                     \x20   reply: ::interstice_sdk::ReplyTo<\n\
                     \x20       impl ::interstice_sdk::ReplyReducer<{ok}, {err}>,\n\
                     \x20   >,\n\
                     ) {{\n\
                     \x20   __ctx.call_with_reply::<{ok}, {err}>({call}, reply);\n\
                     }}\n",
                    name = r.name,
                );
            }
            ReducerMode::Read => {
                let ok = rust_type(&r.returns, "");
                let (ret, body) = match &r.error {
                    Some(e) => (
                        format!("::core::result::Result<{ok}, {}>", rust_type(e, "")),
                        format!("::interstice_sdk::bindings::ReadCaller::read_call(__ctx, {call})"),
                    ),
                    None => (
                        ok.clone(),
                        format!(
                            "::interstice_sdk::bindings::infallible(\n\
                             \x20       self::MODULE_NAME,\n\
                             \x20       self::reducers::{konst},\n\
                             \x20       ::interstice_sdk::bindings::ReadCaller::read_call(__ctx, \
                             {call}),\n\
                             \x20   )"
                        ),
                    ),
                };
                let _ = write!(
                    o,
                    "\n/// Read-calls reducer `{module}.{name}` (a read of its committed state).\n\
                     ///\n\
                     /// # Panics\n\
                     /// If the result does not decode as the bindings' type (the loaded module\n\
                     /// changed under them), naming both types and the caller's line.\n\
                     #[track_caller]\n\
                     pub fn {fname}(\n\
                     \x20   __ctx: &impl ::interstice_sdk::bindings::ReadCaller{params},\n\
                     ) -> {ret} {{\n\
                     \x20   {body}\n\
                     }}\n",
                    name = r.name,
                );
            }
        }
    }

    o.push_str(&with_reply);

    // The binding record, typed by the generated types themselves.
    o.push_str(
        "\n/// The binding `interstice_module!` records in the module's schema.\n\
         #[doc(hidden)]\n\
         pub fn __interstice_binding() -> ::interstice_sdk::abi::Binding {\n\
         \x20   use ::interstice_sdk::bindings as b;\n\
         \x20   use ::interstice_sdk::IntersticeType as T;\n\
         \x20   b::binding(\n\
         \x20       MODULE_NAME,\n\
         \x20       VERSION,\n\
         \x20       SCHEMA_HASH,\n\
         \x20       ::std::vec![\n",
    );
    for r in &callable {
        let konst = snake(&r.name, "reducer name")?
            .trim_start_matches("r#")
            .to_uppercase();
        let params: Vec<String> = r
            .params
            .iter()
            .map(|p| {
                format!(
                    "::interstice_sdk::abi::codec::field({:?}, <{} as T>::ty())",
                    p.name,
                    rust_type(&p.ty, "")
                )
            })
            .collect();
        let mode = match r.mode {
            ReducerMode::Write => "Write",
            ReducerMode::Read => "Read",
        };
        let error = match &r.error {
            Some(e) => format!(
                "::core::option::Option::Some(<{} as T>::ty())",
                rust_type(e, "")
            ),
            None => "::core::option::Option::None".to_owned(),
        };
        let _ = writeln!(
            o,
            "            b::reducer(\n\
             \x20               reducers::{konst},\n\
             \x20               ::interstice_sdk::abi::ReducerMode::{mode},\n\
             \x20               ::std::vec![{}],\n\
             \x20               <{} as T>::ty(),\n\
             \x20               {error},\n\
             \x20           ),",
            params.join(", "),
            rust_type(&r.returns, ""),
        );
    }
    o.push_str("        ],\n        ::std::vec![\n");
    for t in &schema.tables {
        let name = snake(&t.name, "table name")?;
        let _ = writeln!(o, "            b::table::<{name}::Row>({name}::NAME),");
    }
    o.push_str("        ],\n    )\n}\n");
    Ok(o)
}
