//! Unit tests of `cache`.

use super::*;
use wasmtime::{Config, Module};

/// The smallest module: the wasm magic and version.
const EMPTY_WASM: &[u8] = b"\0asm\x01\0\0\0";

#[test]
fn documented_header_example() {
    // docs/LOG_FORMAT.md §9.1, with the fingerprint 32 × 0x11.
    let wasm_hash = *blake3::hash(EMPTY_WASM).as_bytes();
    let file = encode(&wasm_hash, &[0x11; 32], b"body");
    let hex: String = file.iter().map(|b| format!("{b:02x}")).collect();
    let want = concat!(
        "494e54524357534d",
        "01000000",
        "00000000",
        "0d66d411a21e80d93afa1487b002a1867432c04ba1d08dc790d259639f6a69c4",
        "1111111111111111111111111111111111111111111111111111111111111111",
        "0400000000000000",
        "0be9c598ae63835518e7fb422dc3027f452d75f3dbdb94c90d843298b1180ad9",
        "626f6479",
    );
    assert_eq!(hex, want);
    assert_eq!(file.len(), HEADER_LEN + 4);
    assert_eq!(verify(&file, &wasm_hash, &[0x11; 32]), Ok(&b"body"[..]));
}

#[test]
fn every_flipped_bit_of_a_real_cache_file_is_rejected() {
    let engine = Engine::default();
    let body = Module::new(&engine, EMPTY_WASM)
        .unwrap()
        .serialize()
        .unwrap();
    let wasm_hash = *blake3::hash(EMPTY_WASM).as_bytes();
    let fp = engine_fingerprint(&engine);
    let file = encode(&wasm_hash, &fp, &body);
    let ok = verify(&file, &wasm_hash, &fp).unwrap();
    // SAFETY: the bytes were produced by `serialize` of this engine.
    unsafe { Module::deserialize(&engine, ok) }.unwrap();
    let mut copy = file.clone();
    for bit in 0..file.len() * 8 {
        copy[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify(&copy, &wasm_hash, &fp).is_err(),
            "bit {bit} (byte {}) was not detected",
            bit / 8
        );
        copy[bit / 8] ^= 1 << (bit % 8);
    }
    // Truncated or extended: rejected too.
    for len in [0, 8, HEADER_LEN - 1, HEADER_LEN, file.len() - 1] {
        assert!(verify(&file[..len], &wasm_hash, &fp).is_err(), "{len}");
    }
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(
        verify(&longer, &wasm_hash, &fp),
        Err(Reject::Length { .. })
    ));
}

#[test]
fn another_module_or_engine_is_rejected() {
    let wasm_hash = *blake3::hash(EMPTY_WASM).as_bytes();
    let file = encode(&wasm_hash, &[1; 32], b"code");
    assert_eq!(verify(&file, &[2; 32], &[1; 32]), Err(Reject::OtherModule));
    assert_eq!(
        verify(&file, &wasm_hash, &[3; 32]),
        Err(Reject::OtherEngine)
    );
    // The fingerprint is stable for one configuration and changes with it.
    let fuel = || {
        let mut c = Config::new();
        c.consume_fuel(true);
        Engine::new(&c).unwrap()
    };
    assert_eq!(engine_fingerprint(&fuel()), engine_fingerprint(&fuel()));
    assert_ne!(
        engine_fingerprint(&fuel()),
        engine_fingerprint(&Engine::default())
    );
}

#[test]
fn write_replaces_a_symlink_and_read_refuses_one() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let path = tmp.path().join("ab.cwasm");
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    assert!(read(&path).is_err());
    // A symlinked temporary is replaced, not written through.
    std::os::unix::fs::symlink(&victim, tmp.path().join(".ab.cwasm.tmp")).unwrap();
    write(&path, b"new").unwrap();
    assert_eq!(read(&path).unwrap().unwrap(), b"new");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(read(&tmp.path().join("none.cwasm")).unwrap(), None);
}
