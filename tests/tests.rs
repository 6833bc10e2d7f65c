//! Integration tests: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    reason = "test code: a panic is the test failing, with its message"
)]
mod util;

mod cli;
mod eval;
mod fuzz;
mod infer;
mod mep;
mod polygons;
mod reliability;
mod tile;
