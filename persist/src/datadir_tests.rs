use super::*;

#[test]
fn create_lays_out_the_directory_and_secret_persists() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data");
    let secret = {
        let d = DataDir::open(&path, true).unwrap();
        assert_eq!(d.path(), path);
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
