//! Tests: `interstice schema --format typescript|json-schema|yaml|human`
//! (issue 11 item 5), for hello, bank, caller, t_values, t_indexes and
//! t_inventory; the TypeScript also for the examples inventory_v1/_v2 and
//! warehouse/shop, and the bindings pair t_bind_inventory/t_bind_market.
//!
//! - The TypeScript of every module compiles with `tsc --noEmit --strict`.
//! - Values the runtime produced (reducer results and `Err` values through
//!   `Runtime::call_json`, the argument arrays it accepted, rows printed by
//!   `interstice tables --format json`) are assigned to variables of the
//!   generated types in a `.ts` file that tsc must accept; a file of wrong
//!   values must fail, with an error on each wrong line.
//! - The same values validate against the generated JSON Schema (Python's
//!   `jsonschema`, draft 2020-12), and the wrong ones do not.
//!
//! tsc is `target/node-tools/node_modules/.bin/tsc` or `tsc` on `PATH`;
//! Python's `jsonschema` is taken from `target/py-tools` or the system.
//! When missing, the test installs them there itself (pinned versions, npm
//! and pip), so `cargo test --workspace` does its own set-up; an install
//! that fails fails the test with the installer's output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::support::{
    expect_ok, install_once, interstice, open_with, reducer_error, tempdir, tsc, wasm_path,
    workspace_root,
};

const MODULES: [&str; 6] = [
    "hello",
    "bank",
    "caller",
    "t_values",
    "t_indexes",
    "t_inventory",
];

/// python3 with `jsonschema` importable (installed into `target/py-tools`
/// with pip, pinned, the first time), and the PYTHONPATH that makes it so.
fn python() -> Option<String> {
    let tools = workspace_root().join("target/py-tools");
    let path = tools.to_string_lossy().into_owned();
    let importable = || {
        Command::new("python3")
            .args(["-c", "import jsonschema"])
            .env("PYTHONPATH", &path)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !importable() {
        install_once(
            "Python's jsonschema",
            "python3",
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                "target/py-tools",
                "jsonschema==4.26.0",
            ],
        );
    }
    assert!(
        importable(),
        "python3 cannot import jsonschema from target/py-tools after installing it"
    );
    Some(path)
}

fn export(module: &str, format: &str) -> String {
    let wasm = wasm_path(module);
    expect_ok(
        &interstice([
            "schema",
            wasm.to_str().expect("utf-8 path"),
            "--format",
            format,
        ]),
        &format!("schema {module} --format {format}"),
    )
}

fn pascal(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| p[..1].to_ascii_uppercase() + &p[1..])
        .collect()
}

/// One JSON value and the type it must have: a TypeScript type name in the
/// module's `.ts` file and the JSON pointer of its JSON Schema.
struct Sample {
    module: &'static str,
    ts: String,
    pointer: String,
    value: Json,
}

fn result(module: &'static str, reducer: &str, value: Json) -> Sample {
    Sample {
        module,
        ts: format!("{}Result", pascal(reducer)),
        pointer: format!("/properties/reducers/properties/{reducer}/properties/result"),
        value,
    }
}

fn error(module: &'static str, reducer: &str, value: Json) -> Sample {
    Sample {
        module,
        ts: format!("{}Error", pascal(reducer)),
        pointer: format!("/properties/reducers/properties/{reducer}/properties/error"),
        value,
    }
}

fn args(module: &'static str, reducer: &str, value: Json) -> Sample {
    Sample {
        module,
        ts: format!("{}Args", pascal(reducer)),
        pointer: format!("/properties/reducers/properties/{reducer}/properties/args"),
        value,
    }
}

fn row(module: &'static str, table: &str, value: Json) -> Sample {
    Sample {
        module,
        ts: format!("{}Row", pascal(table)),
        pointer: format!("/properties/tables/properties/{table}"),
        value,
    }
}

/// Calls `module.reducer(args)` through `Runtime::call_json` and records
/// the arguments and the result (or the `Err` value) as samples.
async fn call(
    rt: &interstice_actors::Runtime,
    out: &mut Vec<Sample>,
    module: &'static str,
    reducer: &str,
    arguments: Json,
) -> Json {
    let list = arguments
        .as_array()
        .expect("arguments are an array")
        .clone();
    out.push(args(module, reducer, arguments));
    match rt.call_json(module, reducer, &list).await {
        Ok(o) => {
            let v = o.to_json();
            out.push(result(module, reducer, v.clone()));
            v
        }
        Err(e @ interstice_actors::RuntimeError::Reducer { .. }) => {
            let value = reducer_error(Err(e))
                .value
                .unwrap_or_else(|| panic!("{module}.{reducer} failed without an Err value"));
            out.push(error(module, reducer, value.clone()));
            json!({ "err": value })
        }
        Err(e) => panic!("{module}.{reducer}: {e}"),
    }
}

/// Values produced by the runtime for every exported module.
async fn runtime_samples() -> Vec<Sample> {
    let dir = tempdir();
    let mut s = Vec::new();
    {
        let rt = open_with(dir.path(), &MODULES).await;
        call(&rt, &mut s, "hello", "hello", json!(["ada"])).await;
        call(&rt, &mut s, "hello", "greeting_count", json!([])).await;

        let id = call(&rt, &mut s, "bank", "open_account", json!(["ann", 100])).await;
        call(
            &rt,
            &mut s,
            "bank",
            "open_account",
            json!(["bob", "9007199254740993"]),
        )
        .await;
        call(&rt, &mut s, "bank", "open_account", json!(["", 1])).await;
        call(&rt, &mut s, "bank", "deposit", json!([id, 5])).await;
        call(&rt, &mut s, "bank", "transfer", json!([id, 999, 1])).await;
        call(&rt, &mut s, "bank", "balance", json!([id])).await;
        call(&rt, &mut s, "bank", "total", json!([])).await;

        // `caller` subscribes to every insert into `hello.greetings`, so it
        // sees ada's greeting (a trigger) and cy's (queued by `greet`, then a
        // trigger): two in all, each arriving after the commit that caused it.
        call(&rt, &mut s, "caller", "greet", json!(["cy"])).await;
        let mut seen = json!(0);
        for _ in 0..100 {
            seen = call(&rt, &mut s, "caller", "seen_count", json!([])).await;
            if seen == json!(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen, json!(2), "caller saw both greetings");
        call(&rt, &mut s, "caller", "hello_count", json!([])).await;

        let m = "t_values";
        for (r, v) in [
            ("echo_u8", json!(255)),
            ("echo_u16", json!(65535)),
            ("echo_u32", json!(4294967295u32)),
            ("echo_u64", json!(5)),
            ("echo_u64", json!("18446744073709551615")),
            (
                "echo_u128",
                json!("340282366920938463463374607431768211455"),
            ),
            ("echo_i8", json!(-128)),
            ("echo_i16", json!(-32768)),
            ("echo_i32", json!(-2147483648i64)),
            ("echo_i64", json!("-9223372036854775808")),
            ("echo_i64", json!(-9007199254740991i64)),
            (
                "echo_i128",
                json!("-170141183460469231731687303715884105728"),
            ),
            ("echo_f32", json!(0.1)),
            ("echo_f32", json!("-inf")),
            ("echo_f64", json!("NaN")),
            ("echo_f64", json!("inf")),
            ("echo_f64", json!(-1.5e300)),
            ("echo_write_i128", json!("1267650600228229401496703205376")),
        ] {
            call(&rt, &mut s, m, r, json!([v])).await;
        }
        let one_row = json!({
            "id": 0, "a_u8": 1, "a_u16": 2, "a_u32": 3, "a_u64": "18446744073709551615",
            "a_u128": "340282366920938463463374607431768211455", "a_i8": -1, "a_i16": -2,
            "a_i32": -3, "a_i64": "-9007199254740992", "a_i128": "-1", "a_f32": "NaN",
            "a_f64": 2.5,
        });
        call(&rt, &mut s, m, "store_rows", json!([[one_row]])).await;
        call(&rt, &mut s, m, "load_rows", json!([])).await;
        call(&rt, &mut s, m, "store_shifts", json!([[0, 60, 127]])).await;
        call(&rt, &mut s, m, "store_shifts", json!([[200]])).await;
        call(&rt, &mut s, m, "wide_keys", json!([])).await;
        call(&rt, &mut s, m, "wide_get", json!(["-1152921504606846976"])).await;
        call(&rt, &mut s, m, "wide_get", json!([12345])).await;
        call(
            &rt,
            &mut s,
            m,
            "pair",
            json!([7, "-170141183460469231731687303715884105728"]),
        )
        .await;
        call(&rt, &mut s, m, "pair_write", json!([8, 9])).await;

        let m = "t_indexes";
        let item = json!(["ann", 1, "sku-1", "red", -5, 10, 0.25]);
        call(&rt, &mut s, m, "add", item).await;
        let item = json!(["bob", 2, "sku-2", "blue", 7, null, "inf"]);
        call(&rt, &mut s, m, "add", item).await;

        let m = "t_inventory";
        call(&rt, &mut s, m, "add_item", json!([1, "ann"])).await;
        call(&rt, &mut s, m, "add_item", json!([1, "ann"])).await;
        call(&rt, &mut s, m, "get_item", json!([1])).await;
        call(&rt, &mut s, m, "get_item", json!([2])).await;
        call(&rt, &mut s, m, "add_item", json!([2, "bob"])).await;
        call(&rt, &mut s, m, "remove_item", json!([2])).await;
        call(&rt, &mut s, m, "burn", json!([100])).await;
        rt.shutdown().await.expect("shutdown");
    }
    let errors = s.iter().filter(|x| x.ts.ends_with("Error")).count();
    assert!(
        errors >= 4,
        "some calls failed with an Err value ({errors})"
    );
    let strings = s
        .iter()
        .filter(|x| {
            x.ts.ends_with("Result") && x.value.to_string().contains("\"18446744073709551615\"")
        })
        .count();
    assert!(strings >= 1, "a u64 beyond 2^53 came back as a string");

    // Rows, as `interstice tables --format json` prints them.
    let d = dir.path().to_str().expect("utf-8 path");
    // `-d DIR MODULE` reads the installed schema: the same declarations.
    for m in ["hello", "t_values"] {
        let installed = expect_ok(
            &interstice(["schema", "-d", d, m, "--format", "typescript"]),
            "schema -d",
        );
        assert_eq!(
            installed,
            export(m, "typescript"),
            "{m}: -d and .wasm agree"
        );
    }
    for (m, t) in [
        ("hello", "greetings"),
        ("bank", "accounts"),
        ("caller", "seen"),
        ("t_values", "rows"),
        ("t_values", "wide"),
        ("t_indexes", "items"),
        ("t_inventory", "items"),
    ] {
        let module: &'static str = MODULES.iter().find(|x| **x == m).expect("a module");
        let text = expect_ok(
            &interstice(["tables", "-d", d, m, t, "--format", "json"]),
            &format!("tables {m} {t}"),
        );
        let rows: Vec<Json> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{m}.{t} row {l}: {e}")))
            .collect();
        let mine: Vec<String> = s
            .iter()
            .filter(|x| x.module == m)
            .map(|x| format!("{} {}", x.ts, x.value))
            .collect();
        assert!(!rows.is_empty(), "{m}.{t} has rows: {text} {mine:?}");
        for r in rows {
            assert!(r.is_object(), "{m}.{t}: a row is an object: {r}");
            s.push(row(module, t, r));
        }
    }
    s
}

/// Values that are wrong for their type, each with the reason.
fn wrong_samples() -> Vec<Sample> {
    vec![
        row(
            "hello",
            "greetings",
            json!({"id": 1, "name": 7, "greeted_at": 2}),
        ),
        result("t_values", "echo_u64", json!("12x")),
        result("t_values", "echo_f64", json!("nan-ish")),
        row("bank", "accounts", json!({"id": 1})),
        result("t_values", "pair", json!([1, 2, 3])),
    ]
}

/// Writes every module's `.ts` into `dir`.
/// Further example modules whose TypeScript must compile too (they are not
/// loaded side by side: `inventory_v1` and `_v2` are one module).
const TS_ONLY: [&str; 6] = [
    "inventory_v1",
    "inventory_v2",
    "warehouse",
    "shop",
    "t_bind_inventory",
    "t_bind_market",
];

fn write_ts(dir: &Path) -> Vec<PathBuf> {
    MODULES
        .iter()
        .chain(TS_ONLY.iter())
        .map(|m| {
            let path = dir.join(format!("{m}.ts"));
            std::fs::write(&path, export(m, "typescript")).expect("writing .ts");
            path
        })
        .collect()
}

fn run_tsc(dir: &Path, files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(tsc())
        .args([
            "--noEmit", "--strict", "--target", "es2020", "--module", "commonjs",
        ])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("running tsc");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A `.ts` file assigning each sample to a variable of its type.
fn checks_ts(samples: &[Sample]) -> String {
    let mut s = String::new();
    for m in MODULES {
        s.push_str(&format!("import type * as {m} from \"./{m}\";\n"));
    }
    for (i, x) in samples.iter().enumerate() {
        s.push_str(&format!(
            "export const v{i}: {}.{} = {};\n",
            x.module, x.ts, x.value
        ));
    }
    s
}

#[test]
fn typescript_of_every_module_compiles_strictly() {
    let dir = tempdir();
    let files = write_ts(dir.path());
    let (ok, text) = run_tsc(dir.path(), &files);
    assert!(
        ok,
        "tsc --strict failed on the generated TypeScript:\n{text}"
    );
    for m in MODULES.iter().chain(TS_ONLY.iter()) {
        let ts = std::fs::read_to_string(dir.path().join(format!("{m}.ts"))).expect("read");
        let doc: Json = serde_json::from_str(&export(m, "json")).expect("schema json");
        let hash = doc["schema_hash"].as_str().expect("a hash");
        assert!(
            ts.contains(&format!(
                "module `{}` version {}",
                doc["name"].as_str().expect("a name"),
                doc["version"].as_str().expect("a version")
            )) && ts.contains(hash),
            "{m}: the header names the module, version and schema hash:\n{ts}"
        );
    }
    let human = export("bank", "human");
    assert!(
        human.contains(
            "table accounts v1 (id: u64 [primary key, auto_inc], owner: String, balance: u64)"
        ) && human.contains("write reducer deposit(id: u64, amount: u64) -> Result<u64, String>"),
        "human format:\n{human}"
    );
    let yaml = export("hello", "yaml");
    assert!(
        yaml.starts_with("\"name\": \"hello\"\n\"schema\":\n  \"abi_version\": 1\n"),
        "yaml format:\n{yaml}"
    );
    let values = std::fs::read_to_string(dir.path().join("t_values.ts")).expect("read");
    for decl in [
        "export interface Row {\n  id: (number | `${bigint}`);\n  a_u8: number;",
        "export type PairResult = [number, (number | `${bigint}`)];",
        "export type EchoF32Args = [v: (number | \"NaN\" | \"inf\" | \"-inf\")];",
        "export type WideGetResult = (Wide | null);",
        "export type StoreRowsError = string;",
        "  wide: WideRow;",
    ] {
        assert!(values.contains(decl), "t_values.ts has `{decl}`:\n{values}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_values_conform_to_the_typescript_and_the_json_schema() {
    let samples = runtime_samples().await;
    let dir = tempdir();
    let mut files = write_ts(dir.path());

    // TypeScript: every runtime value has its generated type…
    let checks = dir.path().join("checks.ts");
    std::fs::write(&checks, checks_ts(&samples)).expect("write");
    files.push(checks);
    let (ok, text) = run_tsc(dir.path(), &files);
    assert!(ok, "runtime values do not type-check:\n{text}");

    // …and each wrong value is an error on its own line.
    let wrong = wrong_samples();
    let path = dir.path().join("wrong.ts");
    std::fs::write(&path, checks_ts(&wrong)).expect("write");
    let mut wrong_files = write_ts(dir.path());
    wrong_files.push(path);
    let (ok, text) = run_tsc(dir.path(), &wrong_files);
    assert!(!ok, "tsc accepted wrong values");
    for i in 0..wrong.len() {
        let line = MODULES.len() + 1 + i;
        assert!(
            text.contains(&format!("wrong.ts({line},")),
            "tsc reports wrong value {i} (line {line}):\n{text}"
        );
    }

    // JSON Schema: the same values validate, the wrong ones do not.
    let schemas: serde_json::Map<String, Json> = MODULES
        .iter()
        .map(|m| {
            let doc: Json = serde_json::from_str(&export(m, "json-schema")).expect("json-schema");
            assert_eq!(
                doc["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            (m.to_string(), doc)
        })
        .collect();
    let cases: Vec<Json> = samples
        .iter()
        .map(|x| json!([x.module, x.pointer, x.value, true]))
        .chain(
            wrong
                .iter()
                .map(|x| json!([x.module, x.pointer, x.value, false])),
        )
        .collect();
    let input = dir.path().join("cases.json");
    std::fs::write(
        &input,
        json!({ "schemas": schemas, "cases": cases }).to_string(),
    )
    .expect("write");
    let pythonpath = python().unwrap_or_default();
    let out = Command::new("python3")
        .args(["-c", VALIDATE_PY])
        .arg(&input)
        .env("PYTHONPATH", pythonpath)
        .output()
        .expect("running python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "JSON Schema validation:\n{text}");
    assert!(
        text.contains(&format!("checked {} values", cases.len())),
        "every case was checked:\n{text}"
    );
}

/// Validates each case `[module, pointer, value, valid]` against the
/// subschema at `pointer` of the module's schema (with its `$defs`), after
/// checking each schema is itself a valid draft 2020-12 schema.
const VALIDATE_PY: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
doc = json.load(open(sys.argv[1]))
for name, root in doc["schemas"].items():
    Draft202012Validator.check_schema(root)
bad = 0
for i, (module, pointer, value, valid) in enumerate(doc["cases"]):
    root = doc["schemas"][module]
    sub = root
    for part in pointer.strip("/").split("/"):
        sub = sub[part]
    if isinstance(sub, bool):
        wrapper = {"allOf": [sub], "$defs": root["$defs"]}
    else:
        wrapper = dict(sub)
        wrapper["$defs"] = root["$defs"]
    errors = list(Draft202012Validator(wrapper).iter_errors(value))
    if (not errors) != valid:
        bad += 1
        print(f"case {i}: {module} {pointer}: {json.dumps(value)} expected "
              f"{'valid' if valid else 'invalid'}: {[e.message for e in errors]}")
print(f"checked {len(doc['cases'])} values, {bad} wrong")
sys.exit(1 if bad else 0)
"#;
