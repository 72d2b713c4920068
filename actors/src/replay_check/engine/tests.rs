//! Which divergences an engine change explains ([`super::attribute`]).

use interstice_persist::{EngineInfo, ErrorKind, Outcome};

use super::{attribute, EngineCause};

fn engine() -> EngineInfo {
    EngineInfo {
        runtime: "0.1.0".into(),
        wasmtime: "48.0.8".into(),
        target: "x86_64-linux".into(),
        fuel_schedule: 1,
        max_wasm_stack: 1 << 20,
        code: [1; 32],
    }
}

fn err(kind: ErrorKind, message: &str) -> Outcome {
    Outcome::Err {
        kind,
        message: message.into(),
        value: None,
    }
}

#[test]
fn fuel_exhaustion_under_another_wasmtime_is_the_engines() {
    let current = engine();
    let old = EngineInfo {
        wasmtime: "47.0.0".into(),
        code: [2; 32],
        ..engine()
    };
    let budget = err(ErrorKind::Budget, "fuel exhausted");
    let ok = Outcome::Ok(vec![0xf6]);
    let (cause, changes) = attribute(Some(&old), &current, &budget, &ok).expect("attributed");
    assert_eq!(cause, EngineCause::Fuel);
    // Only the fields that decide fuel are named, not the code identity.
    let fields: Vec<_> = changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, ["wasmtime"]);
    // Either way round.
    assert!(attribute(Some(&old), &current, &ok, &budget).is_some());
}

#[test]
fn the_same_engine_explains_nothing() {
    let e = engine();
    let budget = err(ErrorKind::Budget, "fuel exhausted");
    assert_eq!(attribute(Some(&e), &e, &budget, &Outcome::Ok(vec![])), None);
}

#[test]
fn an_engine_change_that_does_not_decide_the_exhaustion_explains_nothing() {
    // Another runtime version and compiled code with the same wasmtime and
    // fuel schedule: fuel costs are the same.
    let old = EngineInfo {
        runtime: "0.0.9".into(),
        code: [3; 32],
        ..engine()
    };
    let budget = err(ErrorKind::Budget, "fuel exhausted");
    let ok = Outcome::Ok(vec![]);
    assert_eq!(attribute(Some(&old), &engine(), &budget, &ok), None);
    // But the code identity does decide stack depth.
    let stack = err(ErrorKind::Trap, "stack overflow");
    let (cause, changes) = attribute(Some(&old), &engine(), &stack, &ok).expect("stack");
    assert_eq!(cause, EngineCause::Stack);
    assert_eq!(
        changes.iter().map(|c| c.field).collect::<Vec<_>>(),
        ["code"]
    );
}

#[test]
fn divergences_without_an_exhaustion_are_the_modules() {
    let old = EngineInfo {
        wasmtime: "47.0.0".into(),
        ..engine()
    };
    let a = Outcome::Ok(vec![1]);
    let b = Outcome::Ok(vec![2]);
    assert_eq!(attribute(Some(&old), &engine(), &a, &b), None);
    let trap = err(ErrorKind::Trap, "wasm trap: unreachable");
    assert_eq!(attribute(Some(&old), &engine(), &trap, &a), None);
    // An unrecorded engine explains exhaustion only.
    assert_eq!(attribute(None, &engine(), &a, &b), None);
    let budget = err(ErrorKind::Budget, "fuel exhausted");
    let (cause, changes) = attribute(None, &engine(), &a, &budget).expect("unrecorded");
    assert_eq!((cause, changes.len()), (EngineCause::Fuel, 0));
}
