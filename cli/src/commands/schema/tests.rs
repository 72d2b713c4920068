//! Unit tests of the schema exporters' helpers.

use serde_json::json;

use super::names::pascal;
use super::yaml;

#[test]
fn yaml_quotes_every_key_and_string_and_writes_empty_collections_inline() {
    let doc = json!({"a": [], "b": {}, "c": [1, {"d": "x\"y: z"}], "e": null, "f": [[true]]});
    assert_eq!(
        yaml::render(&doc),
        "\"a\": []\n\"b\": {}\n\"c\":\n  - 1\n  -\n    \"d\": \"x\\\"y: z\"\n\"e\": null\n\"f\":\n  -\n    - true\n"
    );
    assert_eq!(yaml::render(&json!("s")), "\"s\"\n");
}

#[test]
fn pascal_case_of_reducer_and_table_names() {
    assert_eq!(pascal("greeting_count"), "GreetingCount");
    assert_eq!(pascal("echo_u8"), "EchoU8");
    assert_eq!(pascal("a__b_"), "AB");
}
