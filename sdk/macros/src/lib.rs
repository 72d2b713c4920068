//! Procedural macros of the Interstice SDK.
