//! Tests: recovery.
