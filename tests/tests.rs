//! Integration tests: one binary, one module per area.
mod util;

mod cli;
mod eval;
mod fuzz;
mod infer;
mod mep;
mod polygons;
mod reliability;
mod tile;
