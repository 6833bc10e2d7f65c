//! Integration tests: one binary, one module per area.
mod util;

mod cli;
mod eval;
mod infer;
mod mep;
mod polygons;
mod tile;
