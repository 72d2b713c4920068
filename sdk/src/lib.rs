//! The Interstice guest SDK for writing modules in Rust.
