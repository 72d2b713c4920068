//! Names for the exported types: every distinct custom type (struct or enum)
//! of a schema once, under its Rust name (`Name_2`, `Name_3`… when two
//! different types share one), plus names for generated types (table rows,
//! reducer arguments) that never clash with them or with each other.

use std::collections::{HashMap, HashSet};

use interstice_abi::{ModuleSchema, Type};

/// The custom types of a schema, in first-use order, and their names.
pub(crate) struct Names {
    /// Each distinct struct or enum type, with its exported name.
    pub(crate) types: Vec<(String, Type)>,
    by_type: HashMap<Type, String>,
    taken: HashSet<String>,
    reserved: &'static [&'static str],
}

impl Names {
    /// Collects every custom type used by `schema`'s columns and reducers.
    /// `reserved` are names the target language does not allow for a type.
    pub(crate) fn collect(schema: &ModuleSchema, reserved: &'static [&'static str]) -> Names {
        let mut names = Names {
            types: Vec::new(),
            by_type: HashMap::new(),
            taken: HashSet::new(),
            reserved,
        };
        for t in &schema.tables {
            for c in &t.columns {
                names.walk(&c.ty);
            }
        }
        for r in &schema.reducers {
            for p in &r.params {
                names.walk(&p.ty);
            }
            names.walk(&r.returns);
            if let Some(e) = &r.error {
                names.walk(e);
            }
        }
        names
    }

    fn walk(&mut self, ty: &Type) {
        match ty {
            Type::Option(t) | Type::Vec(t) => self.walk(t),
            Type::Tuple(ts) => ts.iter().for_each(|t| self.walk(t)),
            Type::Struct(s) if !self.by_type.contains_key(ty) => {
                self.register(ty, &s.name);
                s.fields.iter().for_each(|f| self.walk(&f.ty));
            }
            Type::Enum(e) if !self.by_type.contains_key(ty) => {
                self.register(ty, &e.name);
                e.variants
                    .iter()
                    .flat_map(|v| v.fields.iter())
                    .for_each(|f| self.walk(&f.ty));
            }
            _ => {}
        }
    }

    /// Gives the custom type `ty` a name based on its Rust name.
    fn register(&mut self, ty: &Type, rust_name: &str) {
        let name = self.fresh(rust_name);
        self.by_type.insert(ty.clone(), name.clone());
        self.types.push((name, ty.clone()));
    }

    /// The exported name of a struct or enum type found by [`Names::collect`].
    pub(crate) fn of(&self, ty: &Type) -> &str {
        self.by_type
            .get(ty)
            .map(String::as_str)
            .unwrap_or("UnknownType")
    }

    /// A name based on `wanted` (made an identifier) that nothing else has.
    pub(crate) fn fresh(&mut self, wanted: &str) -> String {
        let mut base: String = wanted
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            base.insert(0, '_');
        }
        if self.reserved.contains(&base.as_str()) {
            base.push('_');
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// `snake_case` as `PascalCase`: `greeting_count` → `GreetingCount`.
pub(crate) fn pascal(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Whether `fields` are positional (`0`, `1`, …; also true when empty): a
/// struct or variant with such fields is a JSON array (`docs/ABI.md` §7).
pub(crate) fn positional(fields: &[interstice_abi::Field]) -> bool {
    fields
        .iter()
        .enumerate()
        .all(|(i, f)| f.name == i.to_string())
}
