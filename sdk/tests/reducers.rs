//! `#[reducer]` and `interstice_module!`: the generated schema and the
//! argument/result protocol of `__interstice_call`, exercised on the host
//! with reducers that make no host calls.

// Test fixtures, not an API: their public items need no docs.
#![allow(missing_docs)]

use interstice_sdk::__private::Reducer;
use interstice_sdk::abi::{ReducerMode, RowEvent, Trigger};
use interstice_sdk::prelude::*;
use interstice_sdk::{Reader, Type, Writer};

interstice_module! {
    name: "calc",
    version: "2.0.0",
    dependencies: ["clock", "audit"],
    tables: [Memo],
    reducers: [add, checked_half, nothing, lookup, on_memo, on_memo_update, setup],
}

#[table(name = "memos")]
pub struct Memo {
    #[primary_key]
    pub key: String,
    pub value: i64,
}

#[derive(IntersticeType, Debug, PartialEq)]
pub enum CalcError {
    Odd(u32),
    Negative,
}

#[reducer]
fn add(_ctx: &mut WriteContext, a: u32, b: u32) -> u64 {
    a as u64 + b as u64
}

#[reducer]
fn checked_half(_ctx: &mut WriteContext, n: u32) -> Result<u32, CalcError> {
    if n % 2 == 1 {
        Err(CalcError::Odd(n))
    } else {
        Ok(n / 2)
    }
}

#[reducer]
fn nothing(_ctx: &mut WriteContext) {}

#[reducer(mode = "read")]
fn lookup(_ctx: &ReadContext, _key: String, (a, b): (u8, u8)) -> Option<i64> {
    Some(a as i64 - b as i64)
}

#[reducer(on = "clock.ticks.insert")]
fn on_memo(_ctx: &mut WriteContext, _row: Memo) {}

#[reducer(on = "clock.ticks.update")]
fn on_memo_update(_ctx: &mut WriteContext, old: Memo, new: Memo) -> Result<(), String> {
    let _ = (old, new);
    Ok(())
}

#[reducer(on = "init")]
fn setup(_ctx: &mut WriteContext) {}

fn run<R: Reducer>(args: &[u8]) -> Vec<u8> {
    let mut out = Writer::new();
    R::invoke(args, &mut out);
    out.into_vec()
}

fn args(f: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    f(&mut w);
    w.into_vec()
}

#[test]
fn schema_is_complete_and_valid() {
    let s = __interstice_module_schema();
    s.check().unwrap();
    assert_eq!(s.abi_version, interstice_sdk::abi::ABI_VERSION);
    assert_eq!((s.name.as_str(), s.version.as_str()), ("calc", "2.0.0"));
    assert_eq!(s.dependencies, vec!["clock", "audit"]);
    let names: Vec<_> = s.reducers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "add",
            "checked_half",
            "nothing",
            "lookup",
            "on_memo",
            "on_memo_update",
            "setup"
        ]
    );
    let add = &s.reducers[0];
    assert_eq!(add.mode, ReducerMode::Write);
    assert_eq!(add.params[1].name, "b");
    assert_eq!(add.returns, Type::U64);
    assert_eq!(add.error, None);
    let half = &s.reducers[1];
    assert_eq!(half.returns, Type::U32);
    assert_eq!(half.error, Some(<CalcError as IntersticeType>::ty()));
    assert_eq!(s.reducers[2].returns, Type::Unit);
    let lookup = &s.reducers[3];
    assert_eq!(lookup.mode, ReducerMode::Read);
    assert_eq!(lookup.params[0].name, "key", "a leading `_` is dropped");
    assert_eq!(
        lookup.params[1].name, "arg1",
        "patterns get positional names"
    );
    assert_eq!(lookup.params[1].ty, Type::Tuple(vec![Type::U8, Type::U8]));
    assert_eq!(
        s.reducers[4].trigger,
        Some(Trigger::Table {
            module: "clock".into(),
            table: "ticks".into(),
            event: RowEvent::Insert
        })
    );
    assert_eq!(s.reducers[5].params.len(), 2);
    assert_eq!(s.reducers[6].trigger, Some(Trigger::Init));
    // The canonical bytes decode back to the same schema.
    let bytes = s.canonical_bytes();
    assert_eq!(
        interstice_sdk::abi::ModuleSchema::decode(&bytes).unwrap(),
        s
    );
}

#[test]
fn name_constants() {
    assert_eq!(MODULE_NAME, "calc");
    assert_eq!(reducers::ADD, "add");
    assert_eq!(reducers::CHECKED_HALF, "checked_half");
    assert_eq!(reducers::ON_MEMO_UPDATE, "on_memo_update");
    assert_eq!(<Memo as interstice_sdk::Table>::NAME, "memos");
    assert_eq!(<Memo as interstice_sdk::TableId>::ID, 0);
}

#[test]
fn results_are_tagged_arrays() {
    let out = run::<__interstice_reducer_add>(&args(|w| {
        w.array(2);
        w.u64(2);
        w.u64(40);
    }));
    assert_eq!(out, vec![0x82, 0x00, 0x18, 42]);

    let out = run::<__interstice_reducer_checked_half>(&args(|w| {
        w.array(1);
        w.u64(10);
    }));
    assert_eq!(out, vec![0x82, 0x00, 0x05]);

    let out = run::<__interstice_reducer_checked_half>(&args(|w| {
        w.array(1);
        w.u64(7);
    }));
    let mut r = Reader::new(&out);
    r.array_of(2).unwrap();
    assert_eq!(r.u64().unwrap(), 1);
    assert_eq!(CalcError::decode(&mut r).unwrap(), CalcError::Odd(7));
    r.finish().unwrap();

    let out = run::<__interstice_reducer_nothing>(&args(|w| w.array(0)));
    assert_eq!(out, vec![0x82, 0x00, 0xf6]);

    let out = run::<__interstice_reducer_lookup>(&args(|w| {
        w.array(2);
        w.str("k");
        w.array(2);
        w.u64(1);
        w.u64(3);
    }));
    assert_eq!(out, vec![0x82, 0x00, 0x21]);
}

#[test]
fn bad_arguments_panic_with_the_reducer_name() {
    let wrong_count = args(|w| {
        w.array(1);
        w.u64(1);
    });
    let err =
        std::panic::catch_unwind(|| run::<__interstice_reducer_add>(&wrong_count)).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("reducer `add` takes 2 argument(s)"), "{msg}");

    let wrong_type = args(|w| {
        w.array(2);
        w.str("x");
        w.u64(1);
    });
    let err =
        std::panic::catch_unwind(|| run::<__interstice_reducer_add>(&wrong_type)).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("argument `a` is not a u32"), "{msg}");

    let out_of_range = args(|w| {
        w.array(1);
        w.u64(1 << 40);
    });
    assert!(
        std::panic::catch_unwind(|| run::<__interstice_reducer_checked_half>(&out_of_range))
            .is_err()
    );
}
