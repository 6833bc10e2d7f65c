//! Integration tests (mep).
