//! Malformed input: clear errors, never a panic (library and CLI).
