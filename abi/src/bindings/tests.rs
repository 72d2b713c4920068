//! Unit tests of `bindings`: which dependency changes fit a module's
//! bindings, and what the refusal says.

use super::*;
use crate::codec::field;
use crate::schema::{Persistence, ReducerMode, ReducerSchema, RowEvent, TableSchema};
use crate::types::{EnumType, StructType, Variant};
use crate::ABI_VERSION;

fn rarity(variants: &[&str]) -> Type {
    Type::Enum(EnumType {
        name: "Rarity".into(),
        variants: variants
            .iter()
            .map(|v| Variant {
                name: (*v).into(),
                fields: vec![],
            })
            .collect(),
    })
}

fn reducer(name: &str, mode: ReducerMode, params: Vec<Field>, returns: Type) -> ReducerSchema {
    ReducerSchema {
        name: name.into(),
        mode,
        params,
        returns,
        error: Some(Type::String),
        trigger: None,
        writes: None,
        recursive: false,
    }
}

/// `inv` with table `items (id, rarity)`, write reducer `add(id, rarity:
/// param)` and read reducer `get(id) -> result`.
fn inventory(version: &str, param: Type, result: Type, column: Type) -> ModuleSchema {
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "inv".into(),
        version: version.into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: "items".into(),
            version: 1,
            columns: vec![field("id", Type::U64), field("rarity", column)],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: vec![
            reducer(
                "add",
                ReducerMode::Write,
                vec![field("id", Type::U64), field("rarity", param)],
                Type::Unit,
            ),
            reducer(
                "get",
                ReducerMode::Read,
                vec![field("id", Type::U64)],
                result,
            ),
        ],
        types: vec![],
        bindings: vec![],
    }
}

fn v1() -> ModuleSchema {
    let r = rarity(&["Common", "Rare"]);
    inventory("0.1.0", r.clone(), r.clone(), r)
}

/// `market`, bound to `dep`, with a trigger on `inv.items` if `trigger`.
fn market(dep: &ModuleSchema, trigger: bool) -> ModuleSchema {
    let mut reducers = Vec::new();
    if trigger {
        reducers.push(ReducerSchema {
            name: "on_item".into(),
            mode: ReducerMode::Write,
            params: vec![field("row", dep.tables[0].row_type())],
            returns: Type::Unit,
            error: None,
            trigger: Some(Trigger::Table {
                module: "inv".into(),
                table: "items".into(),
                event: RowEvent::Insert,
            }),
            writes: None,
            recursive: false,
        });
    }
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "market".into(),
        version: "0.1.0".into(),
        dependencies: vec!["inv".into()],
        tables: vec![],
        reducers,
        types: vec![],
        bindings: vec![Binding::of(dep)],
    }
}

fn problem(user: &ModuleSchema, dep: &ModuleSchema) -> Option<BindingProblem> {
    check(user, &user.bindings[0], dep)
}

#[test]
fn the_same_schema_fits() {
    let m = market(&v1(), true);
    assert!(m.check().is_ok());
    assert_eq!(problem(&m, &v1()), None);
}

#[test]
fn a_variant_appended_to_a_parameter_type_fits() {
    let m = market(&v1(), true);
    let r = rarity(&["Common", "Rare"]);
    let new = inventory("0.2.0", rarity(&["Common", "Rare", "Epic"]), r.clone(), r);
    assert_ne!(new.hash(), v1().hash());
    assert_eq!(problem(&m, &new), None);
}

#[test]
fn a_variant_appended_to_a_result_type_is_refused_naming_both_versions() {
    let m = market(&v1(), false);
    let r = rarity(&["Common", "Rare"]);
    let new = inventory("0.2.0", r.clone(), rarity(&["Common", "Rare", "Epic"]), r);
    let p = problem(&m, &new).expect("refused");
    assert_eq!(
        p.difference,
        "reducer `get` result: `Rarity`: variants 2 → 3 (`Epic` added at the end), which the \
         bindings cannot read"
    );
    let text = p.to_string();
    assert!(text.contains("`inv` 0.1.0 (schema "), "{text}");
    assert!(text.contains("but `inv` 0.2.0 (schema "), "{text}");
}

#[test]
fn a_removed_variant_in_a_parameter_is_refused() {
    let m = market(&v1(), false);
    let r = rarity(&["Common", "Rare"]);
    let new = inventory("0.2.0", rarity(&["Common"]), r.clone(), r);
    assert_eq!(
        problem(&m, &new).expect("refused").difference,
        "reducer `add` parameter 1 (`rarity`): `Rarity`: variants 2 → 1 (`Rare` removed)"
    );
}

#[test]
fn a_changed_column_matters_only_to_a_module_that_triggers_on_the_table() {
    let r = rarity(&["Common", "Rare"]);
    let new = inventory("0.2.0", r.clone(), r, rarity(&["Common", "Rare", "Epic"]));
    assert_eq!(problem(&market(&v1(), false), &new), None);
    assert_eq!(
        problem(&market(&v1(), true), &new)
            .expect("refused")
            .difference,
        "table `items`: column 1 (`rarity`): `Rarity`: variants 2 → 3 (`Epic` added at the \
         end), which the bindings cannot read"
    );
}

#[test]
fn removed_reducers_changed_modes_and_arity_are_refused() {
    let m = market(&v1(), false);
    let mut gone = v1();
    gone.reducers.remove(1);
    assert_eq!(
        problem(&m, &gone).expect("refused").difference,
        "reducer `get` was removed"
    );
    let mut mode = v1();
    mode.reducers[0].mode = ReducerMode::Read;
    assert_eq!(
        problem(&m, &mode).expect("refused").difference,
        "reducer `add` is now a read reducer (the bindings call it as a write reducer)"
    );
    let mut arity = v1();
    arity.reducers[1].params.push(field("x", Type::U8));
    assert_eq!(
        problem(&m, &arity).expect("refused").difference,
        "reducer `get` takes 2 arguments now, the bindings pass 1"
    );
    let mut param = v1();
    param.reducers[1].params[0].ty = Type::String;
    assert_eq!(
        problem(&m, &param).expect("refused").difference,
        "reducer `get` parameter 0 (`id`): u64 in the bindings, String now"
    );
}

#[test]
fn an_added_reducer_fits_and_a_new_error_does_not() {
    let m = market(&v1(), false);
    let mut added = v1();
    added
        .reducers
        .push(reducer("more", ReducerMode::Read, vec![], Type::U8));
    assert_eq!(problem(&m, &added), None);
    let mut m2 = m.clone();
    m2.bindings[0].reducers[0].error = None;
    m2.bindings[0].hash = [0; 32];
    assert_eq!(
        problem(&m2, &v1()).expect("refused").difference,
        "reducer `add` can fail now (with String), the bindings expect no error"
    );
}

#[test]
fn binding_problem_checks_both_directions() {
    let m = market(&v1(), false);
    let r = rarity(&["Common", "Rare"]);
    let bad = inventory("0.2.0", r.clone(), rarity(&["Common", "Rare", "Epic"]), r);
    // The user loads after the dependency.
    let loaded = [bad.clone()];
    let set = ModuleSet::with(loaded.iter(), &m);
    assert_eq!(binding_problem(&set, &m).expect("refused").module, "market");
    // The dependency is upgraded under the user.
    let loaded = [v1(), m.clone()];
    let set = ModuleSet::with(loaded.iter(), &bad);
    assert_eq!(
        binding_problem(&set, &bad).expect("refused").dependency,
        "inv"
    );
    // A dependency not loaded is not checked.
    let set = ModuleSet::with(std::iter::empty(), &m);
    assert_eq!(binding_problem(&set, &m), None);
}

#[test]
fn the_schema_check_refuses_bindings_of_undeclared_or_repeated_dependencies() {
    let mut m = market(&v1(), false);
    m.dependencies.clear();
    assert_eq!(
        m.check().unwrap_err().to_string(),
        "invalid schema: module `market`: bindings for `inv`, which is not a declared dependency"
    );
    let mut m = market(&v1(), false);
    m.bindings.push(m.bindings[0].clone());
    assert_eq!(
        m.check().unwrap_err().to_string(),
        "invalid schema: module `market`: two bindings for `inv`"
    );
}

#[test]
fn bindings_encode_with_named_types_and_decode_back() {
    let item = Type::Struct(StructType {
        name: "Spec".into(),
        fields: vec![field("rarity", rarity(&["Common", "Rare"]))],
    });
    let dep = inventory("0.1.0", item.clone(), item.clone(), Type::U8);
    let m = market(&dep, false).with_named_types();
    assert_eq!(m.types.len(), 2, "Spec and Rarity, named once");
    let back = ModuleSchema::decode(&m.canonical_bytes()).expect("decodes");
    assert_eq!(back, m);
}

/// The worked example of `docs/ABI.md` §5.3, byte for byte.
#[test]
fn worked_example_is_pinned() {
    let b = Binding {
        module: "inv".into(),
        version: "1".into(),
        hash: [7; 32],
        reducers: vec![crate::schema::BoundReducer {
            name: "get".into(),
            mode: ReducerMode::Read,
            params: vec![],
            returns: Type::U64,
            error: None,
        }],
        tables: vec![crate::schema::BoundTable {
            name: "t".into(),
            columns: vec![field("id", Type::U64)],
        }],
    };
    let mut out = Vec::new();
    ciborium::into_writer(&b, &mut out).expect("encode");
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    let want = concat!(
        "a5",
        "666d6f64756c65",
        "63696e76",
        "6776657273696f6e",
        "6131",
        "6468617368",
        "9820",
        "0707070707070707070707070707070707070707070707070707070707070707",
        "68726564756365727381",
        "a5",
        "646e616d65",
        "63676574",
        "646d6f6465",
        "6452656164",
        "66706172616d7380",
        "6772657475726e73",
        "63553634",
        "656572726f72",
        "f6",
        "667461626c657381",
        "a2",
        "646e616d65",
        "6174",
        "67636f6c756d6e7381",
        "a2646e616d65626964627479635536 34",
    )
    .replace(' ', "");
    assert_eq!(hex, want);
}
