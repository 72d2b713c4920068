//! The data directory: its lock, layout, `SECRET`, refused symlinks and
//! leftover temporaries ([`crate::datadir`]).

use crate::datadir::*;
use crate::PersistError;
use std::fs;

#[test]
fn create_lays_out_the_directory_and_secret_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data");
    let secret = {
        let d = DataDir::open(&path, true).unwrap();
        assert_eq!(d.path(), path);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        assert!(path.join("log").is_dir());
        assert!(path.join("modules").is_dir());
        assert_eq!(fs::read(path.join("SECRET")).unwrap(), d.secret());
        let lock = fs::read_to_string(path.join("LOCK")).unwrap();
        assert!(
            lock.contains(&format!("pid={}", std::process::id())),
            "{lock}"
        );
        assert!(lock.contains("started_unix="), "{lock}");
        d.secret()
    };
    assert_ne!(secret, [0; 32]);
    // Reopening (without create) keeps the same secret.
    let d = DataDir::open(&path, false).unwrap();
    assert_eq!(d.secret(), secret);
}

#[test]
fn second_open_is_locked_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let first = DataDir::open(tmp.path(), true).unwrap();
    let err = DataDir::open(tmp.path(), true).unwrap_err();
    match &err {
        PersistError::Locked { path, holder } => {
            assert_eq!(path, tmp.path());
            assert!(
                holder.contains(&format!("pid={}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("is locked by another process"), "{msg}");
    assert!(msg.contains("pid="), "{msg}");
    // Dropping the first releases the lock.
    drop(first);
    DataDir::open(tmp.path(), false).unwrap();
}

#[test]
fn opening_without_create_requires_an_initialised_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = DataDir::open(&missing, false).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!missing.exists());

    let err = DataDir::open(tmp.path(), false).unwrap_err();
    assert!(err.to_string().contains("no SECRET file"), "{err}");

    let file = tmp.path().join("plain");
    fs::write(&file, b"x").unwrap();
    let err = DataDir::open(&file, true).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn damaged_secret_or_missing_log_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(DataDir::open(tmp.path(), true).unwrap());
    fs::write(tmp.path().join("SECRET"), b"short").unwrap();
    let err = DataDir::open(tmp.path(), false).unwrap_err();
    assert!(err.to_string().contains("holds 5 bytes"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    drop(DataDir::open(tmp.path(), true).unwrap());
    fs::remove_dir(tmp.path().join("log")).unwrap();
    let err = DataDir::open(tmp.path(), true).unwrap_err();
    assert!(
        err.to_string().contains("log/ directory is missing"),
        "{err}"
    );
}

#[test]
fn modules_are_stored_by_hash_and_verified_on_load() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::open(tmp.path(), true).unwrap();
    let wasm = b"\0asm\x01\0\0\0 pretend module".to_vec();
    let hash = d.store_module(&wasm).unwrap();
    assert_eq!(&hash, blake3::hash(&wasm).as_bytes());
    let file = tmp
        .path()
        .join("modules")
        .join(format!("{}.wasm", blake3::hash(&wasm).to_hex()));
    assert_eq!(fs::read(&file).unwrap(), wasm);
    assert_eq!(d.load_module(&hash).unwrap(), wasm);
    // Idempotent; no temp files left behind.
    assert_eq!(d.store_module(&wasm).unwrap(), hash);
    assert_eq!(fs::read_dir(tmp.path().join("modules")).unwrap().count(), 1);

    let err = d.load_module(&[9; 32]).unwrap_err();
    assert!(matches!(err, PersistError::ModuleNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&"09".repeat(32)), "{err}");

    fs::write(&file, b"tampered").unwrap();
    let err = d.load_module(&hash).unwrap_err();
    assert!(matches!(err, PersistError::ModuleCorrupt { .. }), "{err}");
}

#[test]
fn log_storage_is_the_log_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = DataDir::open(tmp.path(), true).unwrap();
    let s = d.log_storage();
    let mut f = s.create("x.log").unwrap();
    f.append(b"abc").unwrap();
    assert_eq!(fs::read(tmp.path().join("log/x.log")).unwrap(), b"abc");
}

#[test]
fn the_lock_survives_removing_or_replacing_the_lock_file() {
    let tmp = tempfile::tempdir().unwrap();
    let first = DataDir::open(tmp.path(), true).unwrap();
    fs::remove_file(tmp.path().join(LOCK_FILE)).unwrap();
    let err = DataDir::open(tmp.path(), true).unwrap_err();
    assert!(matches!(err, PersistError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("LOCK file was removed"), "{err}");
    // The refused opener created nothing.
    assert!(!tmp.path().join(LOCK_FILE).exists());
    // A fresh LOCK file (unlocked) does not let a second opener in either.
    fs::write(tmp.path().join(LOCK_FILE), b"pid=1\n").unwrap();
    let err = DataDir::open(tmp.path(), true).unwrap_err();
    assert!(matches!(err, PersistError::Locked { .. }), "{err}");
    drop(first);
    let d = DataDir::open(tmp.path(), false).unwrap();
    let lock = fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap();
    assert!(
        lock.contains(&format!("pid={}", std::process::id())),
        "{lock}"
    );
    drop(d);
}

#[test]
fn symlinks_inside_are_refused_and_never_followed() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let cases: [(&str, &str); 7] = [
        ("LOCK", "LOCK"),
        ("SECRET", "SECRET"),
        ("cache tmp", "cache/0123.tmp"),
        ("segment", "log/00000000000000000001.log"),
        ("module", "modules/ab.wasm"),
        ("snapshot", "snapshots/00000000000000000001.snap"),
        ("other", "notes"),
    ];
    for (what, rel) in cases {
        let tmp = tempfile::tempdir().unwrap();
        drop(DataDir::open(tmp.path(), true).unwrap());
        for d in ["cache", "snapshots"] {
            fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let link = tmp.path().join(rel);
        let _ = fs::remove_file(&link);
        symlink(&victim, &link).unwrap();
        let err = DataDir::open(tmp.path(), true).unwrap_err();
        match &err {
            PersistError::Symlink { path } => assert_eq!(path, &link, "{what}"),
            other => panic!("{what}: expected Symlink, got {other:?}"),
        }
        assert!(
            err.to_string().contains("is a symbolic link"),
            "{what}: {err}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious", "{what}");
    }
    // An owned directory that is a symlink is refused too.
    let tmp = tempfile::tempdir().unwrap();
    drop(DataDir::open(tmp.path(), true).unwrap());
    symlink(outside.path(), tmp.path().join("cache")).unwrap();
    let err = DataDir::open(tmp.path(), true).unwrap_err();
    assert!(matches!(err, PersistError::Symlink { .. }), "{err}");
}

#[test]
fn the_data_directory_path_itself_may_be_a_symlink() {
    let real = tempfile::tempdir().unwrap();
    let holder = tempfile::tempdir().unwrap();
    let link = holder.path().join("data");
    std::os::unix::fs::symlink(real.path(), &link).unwrap();
    let d = DataDir::open(&link, true).unwrap();
    assert!(real.path().join("SECRET").is_file());
    // The lock is the real directory's: another path to it is refused.
    let err = DataDir::open(real.path(), false).unwrap_err();
    assert!(matches!(err, PersistError::Locked { .. }), "{err}");
    drop(d);
}

#[test]
fn leftover_temporaries_are_removed_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    drop(DataDir::open(tmp.path(), true).unwrap());
    let p = tmp.path();
    for d in ["cache", "snapshots"] {
        fs::create_dir_all(p.join(d)).unwrap();
    }
    let leftovers = [
        p.join("snapshots/.00000000000000000007.snap.tmp"),
        p.join("cache/.00ff.cwasm.tmp"),
        p.join("cache/00ff.tmp"),
        p.join("modules/.00ff.wasm.tmp"),
        p.join("SECRET.tmp"),
    ];
    for l in &leftovers {
        fs::write(l, vec![7u8; 4096]).unwrap();
    }
    // Not temporaries: kept.
    let kept = [
        p.join("snapshots/00000000000000000007.snap"),
        p.join("log/00000000000000000001.log.broken.tmp"),
        p.join("cache/00ff.cwasm"),
    ];
    for k in &kept {
        fs::write(k, b"x").unwrap();
    }
    let d = DataDir::open(p, false).unwrap();
    let mut removed = d.removed_temporaries().to_vec();
    removed.sort();
    let mut want = leftovers.to_vec();
    want.sort();
    assert_eq!(removed, want);
    for l in &leftovers {
        assert!(!l.exists(), "{}", l.display());
    }
    for k in &kept {
        assert!(k.exists(), "{}", k.display());
    }
    drop(d);
    assert!(DataDir::open(p, false)
        .unwrap()
        .removed_temporaries()
        .is_empty());
}
