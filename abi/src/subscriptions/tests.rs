//! Unit tests of `subscriptions`: the cycle check's verdicts and paths.

use super::*;
use crate::codec::field;
use crate::schema::{ReducerMode, RowEvent, TableSchema};
use crate::ABI_VERSION;

fn table(name: &str) -> TableSchema {
    TableSchema {
        name: name.into(),
        version: 1,
        columns: vec![field("id", Type::U64)],
        primary_key: 0,
        auto_inc: true,
        persistence: Persistence::Logged,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    }
}

/// A trigger `name` on `on` (`module.table`), writing `writes`.
fn trigger(name: &str, on: &str, writes: Option<&[&str]>, recursive: bool) -> ReducerSchema {
    let (module, table) = on.split_once('.').expect("module.table");
    ReducerSchema {
        name: name.into(),
        mode: ReducerMode::Write,
        params: vec![field("row", table_row())],
        returns: Type::Unit,
        error: None,
        trigger: Some(Trigger::Table {
            module: module.into(),
            table: table.into(),
            event: RowEvent::Insert,
        }),
        writes: writes.map(|w| w.iter().map(|s| s.to_string()).collect()),
        recursive,
    }
}

fn table_row() -> Type {
    table("x").row_type()
}

fn module(name: &str, tables: &[&str], reducers: Vec<ReducerSchema>) -> ModuleSchema {
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: name.into(),
        version: "0.1.0".into(),
        dependencies: vec![],
        tables: tables.iter().map(|t| table(t)).collect(),
        reducers,
        types: vec![],
        bindings: vec![],
    }
}

fn check(modules: &[ModuleSchema], loaded: &str) -> CycleReport {
    let set = ModuleSet::new(modules.iter());
    SubscriptionGraph::of(&set).check(loaded)
}

#[test]
fn a_trigger_writing_its_own_table_is_a_certain_cycle() {
    let m = module("a", &["t"], vec![trigger("r", "a.t", Some(&["t"]), false)]);
    assert!(m.check().is_ok());
    let r = check(&[m], "a");
    let c = r.refused.expect("refused");
    assert_eq!(c.path(), "a.t → trigger a.r → a.t");
    assert_eq!(c.not_recursive(), ["a.r"]);
}

#[test]
fn recursive_accepts_it_as_bounded() {
    let m = module("a", &["t"], vec![trigger("r", "a.t", Some(&["t"]), true)]);
    let r = check(&[m], "a");
    assert!(r.refused.is_none());
    assert_eq!(r.bounded.len(), 1);
    assert!(r.possible.is_empty());
}

#[test]
fn undeclared_writes_make_a_possible_cycle() {
    let m = module("a", &["t", "u"], vec![trigger("r", "a.t", None, false)]);
    let r = check(&[m], "a");
    assert!(r.refused.is_none());
    let [c] = &r.possible[..] else {
        panic!("{r:?}")
    };
    assert_eq!(c.path(), "a.t → trigger a.r → a.t");
    assert!(!c.certain());
}

#[test]
fn declared_writes_elsewhere_make_no_cycle() {
    let m = module(
        "a",
        &["t", "u"],
        vec![trigger("r", "a.t", Some(&["u"]), false)],
    );
    let r = check(&[m], "a");
    assert!(r.refused.is_none() && r.bounded.is_empty() && r.possible.is_empty());
    let m = module("a", &["t"], vec![trigger("r", "a.t", Some(&[]), false)]);
    let r = check(&[m], "a");
    assert!(r.refused.is_none() && r.possible.is_empty());
}

#[test]
fn a_cycle_across_modules_names_its_path_and_needs_every_trigger_recursive() {
    let a = module("a", &["t"], vec![trigger("ra", "b.u", Some(&["t"]), true)]);
    let b = module("b", &["u"], vec![trigger("rb", "a.t", Some(&["u"]), false)]);
    let r = check(&[a.clone(), b.clone()], "b");
    let c = r.refused.expect("refused");
    assert_eq!(c.path(), "a.t → trigger b.rb → b.u → trigger a.ra → a.t");
    assert_eq!(c.not_recursive(), ["b.rb"]);
    let mut b2 = b.clone();
    b2.reducers[0].recursive = true;
    let r = check(&[a.clone(), b2], "b");
    assert!(r.refused.is_none());
    assert_eq!(r.bounded.len(), 1, "{r:?}");
    // Through an undeclared edge it is only possible.
    let mut b3 = b;
    b3.reducers[0].writes = None;
    let r = check(&[a, b3], "b");
    assert!(r.refused.is_none() && r.bounded.is_empty());
    assert_eq!(r.possible.len(), 1);
}

#[test]
fn ephemeral_tables_end_no_edge() {
    let mut m = module("a", &["t", "e"], vec![trigger("r", "a.t", None, false)]);
    m.tables[0].persistence = Persistence::Ephemeral;
    let g = SubscriptionGraph::of(&ModuleSet::new([&m]));
    assert!(g.edges.is_empty(), "an ephemeral source fires nothing");
    m.tables[0].persistence = Persistence::Logged;
    m.tables[1].persistence = Persistence::Ephemeral;
    let g = SubscriptionGraph::of(&ModuleSet::new([&m]));
    assert_eq!(g.edges.len(), 1, "{g:?}");
    assert_eq!(g.edges[0].to.table, "t");
}

#[test]
fn the_schema_refuses_unknown_or_misplaced_writes() {
    let mut m = module(
        "a",
        &["t"],
        vec![trigger("r", "a.t", Some(&["nope"]), false)],
    );
    let e = m.check().unwrap_err().to_string();
    assert!(
        e.contains("declares `writes = [nope]`, but the module has no table `nope`"),
        "{e}"
    );
    m.reducers[0].writes = Some(vec!["t".into(), "t".into()]);
    let e = m.check().unwrap_err().to_string();
    assert!(e.contains("lists table `t` twice"), "{e}");
    m.reducers[0].writes = Some(vec!["t".into()]);
    m.reducers[0].trigger = None;
    m.reducers[0].params.clear();
    let e = m.check().unwrap_err().to_string();
    assert!(e.contains("are for table triggers"), "{e}");
}

#[test]
fn dependency_cycles_are_found_through_installed_modules() {
    let mut a = module("a", &[], vec![]);
    a.dependencies = vec!["b".into()];
    let mut b = module("b", &[], vec![]);
    b.dependencies = vec!["a".into()];
    let set = ModuleSet::with([&a], &b);
    assert_eq!(dependency_cycle(&set, &b).expect("cycle"), ["b", "a", "b"]);
    b.dependencies.clear();
    assert!(dependency_cycle(&ModuleSet::with([&a], &b), &b).is_none());
}

#[test]
fn every_cycle_is_listed_once() {
    let a = module("a", &["t"], vec![trigger("ra", "b.u", Some(&["t"]), true)]);
    let b = module(
        "b",
        &["u", "v"],
        vec![
            trigger("rb", "a.t", Some(&["u"]), true),
            trigger("rv", "b.v", None, false),
        ],
    );
    let g = SubscriptionGraph::of(&ModuleSet::new([&a, &b]));
    let cycles = g.cycles();
    let paths: Vec<String> = cycles.iter().map(Cycle::path).collect();
    assert_eq!(
        paths,
        [
            "b.u → trigger a.ra → a.t → trigger b.rb → b.u",
            "b.v → trigger b.rv → b.v",
        ],
        "{cycles:?}"
    );
    assert!(cycles[0].certain() && !cycles[1].certain());
}
