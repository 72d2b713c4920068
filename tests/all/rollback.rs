//! Tests: rollback.
