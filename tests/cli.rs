//! Integration tests (cli).
