//! Unit tests of `__private`.

use super::*;

#[test]
fn results_roundtrip() {
    let mut w = Writer::new();
    write_ok(&mut w, &field_ops::<u64>(), &7);
    assert_eq!(decode_result::<u64, String>(w.as_slice()).unwrap(), Ok(7));
    let mut w = Writer::new();
    write_err(&mut w, &field_ops::<String>(), &"no".to_string());
    assert_eq!(
        decode_result::<u64, String>(w.as_slice()).unwrap(),
        Err("no".to_string())
    );
    let mut w = Writer::new();
    write_unit(&mut w);
    assert_eq!(decode_result::<(), ()>(w.as_slice()).unwrap(), Ok(()));
    assert!(decode_result::<u64, ()>(w.as_slice()).is_err());
}

#[test]
fn panic_messages_are_cut_at_a_char_boundary() {
    let mut s = "é".repeat(10);
    truncate(&mut s, 5);
    assert_eq!(s, "éé");
    let mut s = "short".to_string();
    truncate(&mut s, 64);
    assert_eq!(s, "short");
}

#[test]
fn unique_names() {
    assert_unique_names(&["a", "b", "ab"]);
    assert!(std::panic::catch_unwind(|| assert_unique_names(&["a", "b", "a"])).is_err());
}
