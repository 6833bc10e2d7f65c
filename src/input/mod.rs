//! Stage 0: what goes into the model.
//!
//! [`source`] enumerates the inputs (files, directories, zip archives), [`decode`] turns bytes into
//! RGB images (EXIF orientation applied), [`preprocess`] normalises and pads them into batches.
pub mod decode;
pub mod preprocess;
pub mod source;

pub use decode::decode_image;
pub use preprocess::{Batch, Letterbox, Normalization};
pub use source::{InputItem, Origin, enumerate_inputs};
