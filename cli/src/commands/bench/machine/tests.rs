//! Unit tests of `machine`.

use super::*;

#[test]
fn proc_fields() {
    let text = "MemTotal:       24575888 kB\nMemFree:  1 kB\n";
    assert_eq!(proc_kib(text, "MemTotal"), Some(24_575_888));
    assert_eq!(proc_kib(text, "MemFree"), Some(1));
    assert_eq!(proc_kib(text, "Mem"), None);
}

#[test]
fn detects_something() {
    let m = Machine::detect();
    assert!(m.cores >= 1);
    assert!(!m.commit.is_empty());
    assert!(rss_bytes().is_some_and(|r| r > 0));
}
