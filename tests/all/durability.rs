//! Tests: durability.
