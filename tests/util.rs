//! Integration tests (util).
