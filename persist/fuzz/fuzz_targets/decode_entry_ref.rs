//! Arbitrary bytes through the borrowed entry decoder (what replay uses):
//! it must never panic, it must agree with the owned decoder on every input
//! (the same entry, or the same error, and the same end position), and what
//! it accepts must re-encode to exactly the bytes it consumed.
#![no_main]

use interstice_abi::cbor::{Reader, Writer};
use interstice_persist::{decode_entry, decode_entry_ref, encode_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mut rr, mut ro) = (Reader::new(data), Reader::new(data));
    match (decode_entry_ref(&mut rr), decode_entry(&mut ro)) {
        (Ok(view), Ok(owned)) => {
            assert_eq!(rr.position(), ro.position(), "decoders stop at different bytes");
            assert_eq!(view.ts(), owned.ts());
            let entry = view.into_owned();
            assert_eq!(entry, owned, "decoders disagree");
            let mut w = Writer::new();
            encode_entry(&entry, &mut w);
            assert_eq!(w.as_slice(), &data[..rr.position()], "re-encodes differently");
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "different errors"),
        (a, b) => panic!("decoders disagree: borrowed {a:?}, owned {b:?}"),
    }
});
