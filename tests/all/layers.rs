//! The runtime's layers import one another in one direction only
//! (`docs/ARCHITECTURE.md` "Layers"): the compiler enforces it for the
//! `interstice-tables` crate, whose dependencies are checked here, and this
//! test for the folders inside `interstice-actors`, whose `use` paths it
//! reads.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate is inside the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir` (recursively), or just `dir` if it is one.
fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The lines of the layer's code (its `foo.rs` and `foo/`) that mention
/// one of `forbidden`, comments left out.
fn offending(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let src = root().join("actors/src");
    let mut files = sources(&src.join(format!("{layer}.rs")));
    if src.join(layer).is_dir() {
        files.extend(sources(&src.join(layer)));
    }
    assert!(!files.is_empty(), "layer `{layer}` has no source");
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source is UTF-8");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in forbidden {
                if code.contains(bad) {
                    out.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    out
}

#[test]
fn the_wasm_layer_imports_neither_actix_nor_the_layers_above_it() {
    let found = offending(
        "wasm",
        &[
            "actix",
            "crate::actors",
            "crate::recovery",
            "crate::replay_check",
            "crate::runtime",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn recovery_and_replay_check_do_not_import_actix_or_the_actors() {
    for layer in ["recovery", "replay_check"] {
        let found = offending(
            layer,
            &["actix", "crate::actors", "crate::runtime", "Addr<"],
        );
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}

#[test]
fn the_tables_crate_depends_on_neither_wasm_nor_actix() {
    let manifest = root().join("actors/tables/Cargo.toml");
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    // Every crate the tables crate's build can reach, from the resolved
    // dependency graph (normal dependencies, transitively).
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve graph");
    let name_of = |id: &str| {
        meta["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["name"].as_str())
            .expect("package of id")
            .to_owned()
    };
    let root_id = nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .find(|id| name_of(id) == "interstice-tables")
        .expect("interstice-tables in the graph")
        .to_owned();
    let mut reached = std::collections::BTreeSet::new();
    let mut stack = vec![root_id];
    while let Some(id) = stack.pop() {
        let node = nodes.iter().find(|n| n["id"] == *id).expect("node");
        for dep in node["deps"].as_array().expect("deps") {
            let normal = dep["dep_kinds"]
                .as_array()
                .expect("dep kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().expect("pkg").to_owned();
            if normal && reached.insert(name_of(&dep_id)) {
                stack.push(dep_id);
            }
        }
    }
    assert!(
        reached.contains("interstice-abi"),
        "the graph was read: {reached:?}"
    );
    for forbidden in ["actix", "wasmtime", "tokio", "interstice-actors"] {
        assert!(
            !reached.contains(forbidden),
            "interstice-tables reaches `{forbidden}`: {reached:?}"
        );
    }
}
