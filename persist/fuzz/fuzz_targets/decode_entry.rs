//! Arbitrary bytes through the strict entry decoder: it must never panic,
//! and whatever it accepts must re-encode to exactly the bytes it consumed
//! (the encoding is canonical).
#![no_main]

use interstice_abi::cbor::{Reader, Writer};
use interstice_persist::{decode_entry, encode_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    if let Ok(entry) = decode_entry(&mut r) {
        let consumed = &data[..r.position()];
        let mut w = Writer::new();
        encode_entry(&entry, &mut w);
        assert_eq!(
            w.as_slice(),
            consumed,
            "decoded entry re-encodes differently"
        );
    }
});
