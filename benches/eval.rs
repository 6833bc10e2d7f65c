//! Criterion benches (eval). PLACEHOLDER.
fn main() {}
