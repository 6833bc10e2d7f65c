//! Integration tests (eval).
