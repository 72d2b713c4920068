//! Unit tests of `interstice dev`'s source watching: which paths of a
//! crate's build are watched, which changes count, and the debounce of a
//! burst of saves into one change, over real files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::watch::{ignored, WatchSet, Watcher};
use crate::guest_build::PackageSources;

fn package(dir: &Path, roots: &[&str]) -> PackageSources {
    PackageSources {
        dir: dir.to_path_buf(),
        roots: roots.iter().map(|r| dir.join(r)).collect(),
    }
}

#[test]
fn a_crate_watches_its_src_trees_and_manifest_never_its_target() {
    let root = PathBuf::from("/w/app");
    let sdk = PathBuf::from("/w/sdk");
    let set = WatchSet::of(&[
        package(&root, &["src/lib.rs", "build.rs", "src/bin/tool.rs"]),
        package(&sdk, &["src/lib.rs"]),
    ]);
    assert_eq!(set.trees, vec![root.join("src"), sdk.join("src")]);
    assert_eq!(
        set.files,
        vec![
            root.join("Cargo.toml"),
            root.join("build.rs"),
            sdk.join("Cargo.toml")
        ]
    );
    for yes in ["src/lib.rs", "src/deep/mod.rs", "Cargo.toml", "build.rs"] {
        assert!(set.matches(&root.join(yes)), "{yes} should count");
    }
    assert!(set.matches(&sdk.join("src/query.rs")));
    for no in [
        "target/release/app.wasm",
        "Cargo.lock",
        "README.md",
        "src/.lib.rs.swp",
        "src/lib.rs~",
        "src/4913",
    ] {
        assert!(!set.matches(&root.join(no)), "{no} should not count");
    }
    assert!(!set.matches(Path::new("/w/other/src/lib.rs")));
}

#[test]
fn editor_temporaries_are_ignored() {
    for name in [".lib.rs.swp", "lib.rs~", "x.swx", "4913", ".#lib.rs"] {
        assert!(ignored(Path::new(name)), "{name}");
    }
    for name in ["lib.rs", "Cargo.toml", "swp.rs"] {
        assert!(!ignored(Path::new(name)), "{name}");
    }
}

/// A burst of writes to a watched file is one change, reported once the
/// files stay quiet; a write to the crate's `target/` is none.
#[tokio::test]
async fn a_burst_of_saves_is_one_change_and_target_is_never_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical tempdir");
    std::fs::create_dir_all(root.join("src")).expect("src");
    std::fs::create_dir_all(root.join("target")).expect("target");
    std::fs::write(root.join("Cargo.toml"), "[package]\n").expect("manifest");
    std::fs::write(root.join("src/lib.rs"), "// v0\n").expect("lib.rs");
    let other = root.join("other");
    std::fs::create_dir_all(other.join("src")).expect("other/src");
    let sources = [package(&root, &["src/lib.rs"])];
    let other_sources = [package(&other, &["src/lib.rs"])];
    let mut w = Watcher::new([&sources[..], &other_sources[..]].into_iter()).expect("watcher");
    assert_eq!(w.describe(), "2 source directories and 2 files of 2 crates");

    // Not a source: nothing within a generous wait.
    std::fs::write(root.join("target/out.wasm"), "x").expect("target write");
    std::fs::write(root.join("src/.lib.rs.swp"), "x").expect("swap file");
    let quiet = Duration::from_millis(200);
    let none = tokio::time::timeout(Duration::from_millis(800), w.next_change(quiet)).await;
    assert!(
        none.is_err(),
        "a target/ or swap-file write was taken as a change: {none:?}"
    );

    // Five saves 20 ms apart, then one rename over the file (as editors
    // save), made while the watcher waits: one change once they stop (the
    // quiet time is 50 times the gap between saves), naming the file saved.
    let quiet = Duration::from_secs(1);
    let saves = {
        let root = root.clone();
        tokio::spawn(async move {
            for i in 0..5 {
                std::fs::write(root.join("src/lib.rs"), format!("// v{i}\n")).expect("save");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            std::fs::write(root.join("src/lib.rs.new"), "// renamed\n").expect("new file");
            std::fs::rename(root.join("src/lib.rs.new"), root.join("src/lib.rs")).expect("rename");
        })
    };
    let changed = tokio::time::timeout(Duration::from_secs(10), w.next_change(quiet))
        .await
        .expect("a change within 10 s")
        .expect("the watcher runs");
    saves.await.expect("the saves");
    assert_eq!(changed.keys().copied().collect::<Vec<_>>(), vec![0]);
    assert_eq!(
        changed[&0],
        root.join("src/lib.rs"),
        "the file saved, not the temporary"
    );
    // The burst was one change: nothing more is pending.
    let more = tokio::time::timeout(Duration::from_millis(2500), w.next_change(quiet)).await;
    assert!(more.is_err(), "the burst gave a second change: {more:?}");

    // The other crate's manifest: that crate only.
    std::fs::write(other.join("Cargo.toml"), "[package]\n").expect("other manifest");
    let changed = tokio::time::timeout(Duration::from_secs(10), w.next_change(quiet))
        .await
        .expect("a change within 10 s")
        .expect("the watcher runs");
    assert_eq!(changed.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert_eq!(changed[&1], other.join("Cargo.toml"));

    // After an update that drops the tree, its files no longer count.
    w.update(
        0,
        &[PackageSources {
            dir: root.clone(),
            roots: Vec::new(),
        }],
    );
    std::fs::write(root.join("src/lib.rs"), "// after\n").expect("save");
    let quiet = Duration::from_millis(200);
    let none = tokio::time::timeout(Duration::from_millis(1500), w.next_change(quiet)).await;
    assert!(none.is_err(), "an unwatched tree still counted: {none:?}");
}
