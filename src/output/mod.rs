//! Stage 5a: output sinks. Every file is written to a temporary name in its final directory and
//! renamed into place ([`atomic`]), so an interrupted run never leaves a partial output.
pub mod atomic;
pub mod coco_json;
mod font;
pub mod layout;
pub mod merge;
pub mod overlay;
pub mod png;
pub mod polygons;

pub use atomic::{write_atomic, write_bytes_atomic};
pub use coco_json::{CategoryMap, ImageRecords, ResultRecord};
pub use layout::OutputLayout;
