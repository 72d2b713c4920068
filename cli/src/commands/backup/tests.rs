//! Unit tests of the backup's checks that need no runtime: `DEST`, the
//! space check, the errors for a full disk.

use std::os::unix::fs::symlink;

use super::copy::{check_space, io_error};
use super::Destination;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn refusal(dir: &std::path::Path, dest: &std::path::Path) -> String {
    match Destination::check(dir, dest) {
        Ok(d) => panic!(
            "{} accepted (temporary {})",
            dest.display(),
            d.tmp.display()
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_dest_that_exists_and_is_not_empty_is_refused() {
    let t = tempdir();
    let data = t.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep"), b"mine").unwrap();
    let e = refusal(&data, &dest);
    assert!(e.contains("exists and is not empty"), "{e}");
    assert_eq!(std::fs::read(dest.join("keep")).unwrap(), b"mine");
    std::fs::write(t.path().join("file"), b"x").unwrap();
    let e = refusal(&data, &t.path().join("file"));
    assert!(e.contains("exists and is not a directory"), "{e}");
    // Nothing was left beside them.
    let names: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_dest_that_is_a_symlink_is_refused_even_to_an_empty_directory() {
    let t = tempdir();
    let data = t.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (link, target) in [
        ("to-empty", empty.clone()),
        ("dangling", t.path().join("nowhere")),
    ] {
        let l = t.path().join(link);
        symlink(&target, &l).unwrap();
        let e = refusal(&data, &l);
        assert!(e.contains("is a symbolic link"), "{link}: {e}");
    }
    assert!(!t.path().join("nowhere").exists());
}

#[test]
fn a_dest_inside_the_data_directory_or_without_a_parent_is_refused() {
    let t = tempdir();
    let data = t.path().join("data");
    std::fs::create_dir_all(data.join("log")).unwrap();
    let e = refusal(&data, &data.join("backup"));
    assert!(e.contains("is inside the data directory"), "{e}");
    let e = refusal(&data, &data.join("log").join("backup"));
    assert!(e.contains("is inside the data directory"), "{e}");
    let e = refusal(&data, &t.path().join("no").join("such").join("dest"));
    assert!(e.contains("its parent directory"), "{e}");
    let e = refusal(&data, &t.path().join(".."));
    assert!(e.contains("give the path of a new directory"), "{e}");
}

#[test]
fn an_absent_or_empty_dest_is_taken_and_its_temporary_is_beside_it() {
    let t = tempdir();
    let data = t.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let dest = t.path().join("dest");
    let d = Destination::check(&data, &dest).expect("an absent DEST");
    assert!(!d.replaces_empty_dir);
    assert_eq!(d.tmp.parent(), Some(t.path()));
    assert!(d.tmp.is_dir());
    // A second backup to the same place from this process finds it.
    let e = refusal(&data, &dest);
    assert!(
        e.contains("already exists (left by an interrupted backup?)"),
        "{e}"
    );
    // Another attempt (a stale cut) starts from an empty temporary.
    std::fs::create_dir(d.tmp.join("log")).unwrap();
    d.reset().expect("reset");
    assert!(d.tmp.is_dir() && std::fs::read_dir(&d.tmp).unwrap().next().is_none());
    d.discard();
    assert!(!d.tmp.exists());
    std::fs::create_dir(&dest).unwrap();
    let d = Destination::check(&data, &dest).expect("an empty DEST");
    assert!(d.replaces_empty_dir);
    d.discard();
}

#[test]
fn a_full_disk_is_named_as_such() {
    let p = std::path::Path::new("/tmp/backup-dest");
    let e = check_space(p, 10_000, 9_999).unwrap_err().to_string();
    assert!(
        e.contains("no space left on the device of /tmp/backup-dest")
            && e.contains("needs 10000 bytes and 9999 are free"),
        "{e}"
    );
    assert!(check_space(p, 10_000, 10_000).is_ok());
    let e = io_error(
        p,
        "writing it",
        std::io::Error::from_raw_os_error(libc::ENOSPC),
    )
    .to_string();
    assert!(
        e.contains("no space left on the device of /tmp/backup-dest (writing it")
            && e.contains("temporary directory removed"),
        "{e}"
    );
    let e = io_error(
        p,
        "writing it",
        std::io::Error::from_raw_os_error(libc::EIO),
    )
    .to_string();
    assert!(e.starts_with("/tmp/backup-dest: writing it: "), "{e}");
}

#[test]
fn a_file_of_the_cut_that_is_gone_asks_for_a_new_cut() {
    use super::copy::{copy, CopyError, Cut};
    let t = tempdir();
    let data = t.path().join("data");
    for sub in ["log", "modules", "snapshots"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    std::fs::write(data.join("SECRET"), [7u8; 32]).unwrap();
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // The snapshot the server named was removed by retention before the
    // copy opened it: a stale cut, not a failure.
    let cut = Cut::Server {
        snapshot_ts: Some(5),
        durable_ts: 5,
    };
    match copy(&data, &out, &cut) {
        Err(CopyError::Vanished(p)) => {
            assert!(
                p.ends_with("snapshots/00000000000000000005.snap"),
                "{}",
                p.display()
            )
        }
        other => panic!("expected Vanished, got {other:?}"),
    }
    // Nothing was written before every source was open.
    assert!(std::fs::read_dir(&out).unwrap().next().is_none());
}
