//! Unit tests of `divergence`.

use super::*;

fn err(kind: ErrorKind, message: &str) -> Outcome {
    Outcome::Err {
        kind,
        message: message.into(),
        value: None,
    }
}

#[test]
fn an_unrecorded_failed_read_call_matches_its_logged_error() {
    let logged = err(
        ErrorKind::Host,
        "read call to hello.count failed: wasm trap: unreachable",
    );
    let actual = err(
        ErrorKind::Host,
        &format!("read call to hello.count: {UNRECORDED_READ}"),
    );
    assert!(same_outcome(&logged, &actual));
    let other = err(
        ErrorKind::Host,
        &format!("read call to bank.total: {UNRECORDED_READ}"),
    );
    assert!(!same_outcome(&logged, &other));
    assert!(!same_outcome(&err(ErrorKind::Trap, "x"), &actual));
}

#[test]
fn differences_read_as_expected_versus_actual() {
    let d = Difference {
        what: "outcome".into(),
        expected: Observed::Ok(json!(1)),
        actual: Observed::Err {
            kind: ErrorKind::Budget,
            message: "fuel".into(),
        },
    };
    assert_eq!(d.to_string(), "outcome: expected Ok 1 got Err Budget: fuel");
    assert_eq!(d.to_json()["actual"]["err"]["kind"], "Budget");
}
