//! Unit tests of `context`.

use super::*;
use interstice_abi::cbor::Reader;

#[test]
fn call_encoding() {
    let b = encode_call("bank", "deposit", &(1u64, 50u64));
    let mut r = Reader::new(&b);
    r.array_of(3).unwrap();
    assert_eq!(r.str().unwrap(), "bank");
    assert_eq!(r.str().unwrap(), "deposit");
    r.array_of(2).unwrap();
    assert_eq!(r.u64().unwrap(), 1);
    assert_eq!(r.u64().unwrap(), 50);
    r.finish().unwrap();

    let b = encode_call("hello", "greeting_count", &());
    assert_eq!(&b[b.len() - 1..], &[0x80]);
}

#[test]
#[should_panic(expected = "only available inside the Interstice runtime")]
fn host_calls_panic_outside_the_runtime() {
    WriteContext::new().timestamp();
}
