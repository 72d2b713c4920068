//! Unit tests of `generate`: the Rust bindings of hostile schemas.
