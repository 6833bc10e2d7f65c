//! PLACEHOLDER (issue 3).

mod font;
pub mod overlay;
