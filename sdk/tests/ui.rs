//! Compile tests: `tests/ui/*.rs` must fail to compile with the message in
//! the matching `.stderr`; `tests/ui/pass/*.rs` must compile and run.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p
//! interstice-sdk --test ui`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
