//! Tests: ordering.
