//! Segment files in a real directory ([`crate::FileStorage`]).

use crate::storage::*;
use std::fs;
use std::io;

#[test]
fn create_append_read_truncate_remove() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::new(dir.path());
    let mut f = s.create("a.log").unwrap();
    f.append(b"hello ").unwrap();
    f.append(b"world").unwrap();
    f.sync().unwrap();
    assert_eq!(f.len(), 11);
    drop(f);
    assert_eq!(s.read("a.log").unwrap(), b"hello world");

    let err = s.create("a.log").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);

    let mut f = s.open_append("a.log").unwrap();
    assert_eq!(f.len(), 11);
    f.append(b"!").unwrap();
    drop(f);
    assert_eq!(s.read("a.log").unwrap(), b"hello world!");

    s.truncate("a.log", 5).unwrap();
    assert_eq!(s.read("a.log").unwrap(), b"hello");

    s.rename("a.log", "b.log").unwrap();
    s.sync_dir().unwrap();
    assert_eq!(s.list().unwrap(), vec!["b.log".to_string()]);
    s.remove("b.log").unwrap();
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn names_cannot_escape_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let s = FileStorage::new(dir.path());
    for bad in ["../x.log", "a/b.log", "", "..", "."] {
        let err = s.read(bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
    }
}

#[test]
fn symlinks_are_refused_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let logs = dir.path().join("log");
    fs::create_dir(&logs).unwrap();
    std::os::unix::fs::symlink(&victim, logs.join("a.log")).unwrap();
    let s = FileStorage::new(&logs);
    for err in [
        s.list().unwrap_err(),
        s.read("a.log").unwrap_err(),
        s.open_append("a.log").unwrap_err(),
        s.truncate("a.log", 0).unwrap_err(),
        s.create("a.log").unwrap_err(),
    ] {
        assert!(
            err.to_string().contains("symbolic link") || err.kind() == io::ErrorKind::AlreadyExists,
            "{err}"
        );
    }
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn list_skips_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("x.log"), b"").unwrap();
    let s = FileStorage::new(dir.path());
    assert_eq!(s.list().unwrap(), vec!["x.log".to_string()]);
}
