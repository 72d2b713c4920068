//! Opening files without following symlinks ([`crate::safe_fs`]).

use crate::safe_fs::*;
use std::fs;
use std::os::unix::fs::symlink;

#[test]
fn symlinks_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    fs::write(&victim, b"precious").unwrap();
    let link = tmp.path().join("link");
    symlink(&victim, &link).unwrap();

    let err = read(&link).unwrap_err();
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
    assert!(err.to_string().contains("link"), "{err}");
    let err = open(&link, options().write(true).truncate(true)).unwrap_err();
    assert!(err.to_string().contains("is a symbolic link"), "{err}");

    // A temporary that is a symlink is replaced, not written through.
    let f = create_temp(&link).unwrap();
    drop(f);
    assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read(&victim).unwrap(), b"precious");

    // Renaming into place replaces a symlink at the destination.
    let dest = tmp.path().join("dest");
    symlink(&victim, &dest).unwrap();
    write_atomically(tmp.path(), "dest.tmp", "dest", b"new").unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"new");
    assert!(!fs::symlink_metadata(&dest).unwrap().is_symlink());
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert!(!tmp.path().join("dest.tmp").exists());
}
