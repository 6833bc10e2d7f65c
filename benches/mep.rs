//! Criterion benches (mep). PLACEHOLDER.
fn main() {}
