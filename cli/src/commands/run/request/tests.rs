//! Unit tests of `request`.

use super::*;

fn error_of(line: &str) -> (Json, String, String) {
    let reply = parse(line).expect_err("a bad request");
    (
        reply["id"].clone(),
        reply["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
fn parses_every_op() {
    let r = parse(r#"{"id":7,"op":"call","module":"bank","reducer":"deposit","args":[1,2]}"#)
        .expect("valid");
    assert_eq!(r.id, json!(7));
    assert!(
        matches!(&r.op, Op::Call { module, reducer, args, read: false }
            if module == "bank" && reducer == "deposit" && args == &vec![json!(1), json!(2)]),
        "{r:?}"
    );
    let r = parse(r#"{"op":"read","module":"bank","reducer":"total"}"#).expect("valid");
    assert_eq!(r.id, Json::Null);
    assert!(matches!(&r.op, Op::Call { args, read: true, .. } if args.is_empty()));
    let r = parse(r#"{"id":"s","op":"subscribe","module":"m","table":"t"}"#).expect("valid");
    assert!(matches!(&r.op, Op::Subscribe { module, table } if module == "m" && table == "t"));
    assert!(matches!(
        parse(r#"{"op":"hash"}"#).map(|r| r.op),
        Ok(Op::Hash)
    ));
    assert!(matches!(
        parse(r#"{"op":"metrics","x":1}"#).map(|r| r.op),
        Ok(Op::Metrics)
    ));
}

#[test]
fn refuses_malformed_requests_with_bad_request() {
    let cases = [
        ("nope", Json::Null, "not JSON"),
        ("[1,2]", Json::Null, "must be a JSON object, got an array"),
        (r#"{"id":1}"#, json!(1), "missing `op`"),
        (r#"{"id":1,"op":5}"#, json!(1), "`op` must be a string"),
        (r#"{"id":1,"op":"drop"}"#, json!(1), "unknown op `drop`"),
        (
            r#"{"id":2,"op":"call","reducer":"r"}"#,
            json!(2),
            "missing `module`",
        ),
        (
            r#"{"id":2,"op":"call","module":"m","reducer":3}"#,
            json!(2),
            "`reducer` must be a string, got a number",
        ),
        (
            r#"{"id":2,"op":"call","module":"m","reducer":"r","args":{}}"#,
            json!(2),
            "`args` must be an array",
        ),
        (
            r#"{"id":3,"op":"subscribe","module":"m"}"#,
            json!(3),
            "missing `table`",
        ),
    ];
    for (line, id, what) in cases {
        let (got_id, kind, message) = error_of(line);
        assert_eq!(got_id, id, "{line}");
        assert_eq!(kind, "BadRequest", "{line}");
        assert!(message.contains(what), "{line}: {message}");
    }
}
