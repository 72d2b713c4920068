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

/// `Ok("seven")`, as a reducer returning `Result<String, _>` encodes it.
fn ok_text() -> Vec<u8> {
    let mut w = Writer::new();
    host::write_result_head(&mut w, host::ResultTag::Ok);
    w.str("seven");
    w.into_vec()
}

/// The line of the read below, which a mistyped result's panic must report.
const MISTYPED_LINE: u32 = line!() + 3;

fn mistyped(bytes: &[u8]) -> Result<u64, String> {
    decode_read_result("inventory", "get_item", bytes)
}

#[test]
fn a_mistyped_read_result_names_both_types_and_the_callers_line() {
    let bytes = ok_text();
    let me = std::thread::current().id();
    let location = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = location.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Other tests may panic on other threads meanwhile.
        if std::thread::current().id() == me {
            if let Some(l) = info.location() {
                *seen.lock().unwrap() = Some((l.file().to_owned(), l.line()));
            }
        }
    }));
    let caught = std::panic::catch_unwind(|| mistyped(&bytes));
    std::panic::set_hook(previous);
    let message = *caught
        .expect_err("a text is not a u64")
        .downcast::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("read_call inventory.get_item: asked for Result<u64, String>")
            && message.contains("the reducer returned Ok(text)"),
        "{message}"
    );
    // Where the guest's panic hook says it happened: the caller's line,
    // not the SDK's.
    let (file, at) = location.lock().unwrap().clone().expect("the hook ran");
    assert!(
        file.ends_with("context/tests.rs"),
        "panic located in {file}"
    );
    assert_eq!(at, MISTYPED_LINE, "panic located at line {at}");
}

#[test]
fn result_shapes_are_described() {
    let mut w = Writer::new();
    host::write_result_head(&mut w, host::ResultTag::Err);
    w.array(2);
    w.u64(3);
    w.str("x");
    assert_eq!(
        describe_result(&w.into_vec()),
        "Err(an array of 2: [an unsigned integer, text])"
    );
    assert_eq!(describe_result(&[0x01]), "bytes that are not a result");
    assert_eq!(describe_result(&ok_text()), "Ok(text)");
}
