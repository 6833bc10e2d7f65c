//! Stage 0: what goes into the model.
//!
//! [`source`] enumerates the inputs (files, directories, zip archives), [`decode`] turns bytes into
//! RGB images (EXIF orientation applied), [`preprocess`] normalises and pads them into batches.
pub mod budget;
pub mod decode;
pub mod preprocess;
pub mod source;

pub use budget::{check_pixel_budget, default_max_pixels, max_tiled_pixels};
pub use decode::{DecodeOptions, decode_image, decode_image_with};
pub use preprocess::{Batch, Letterbox, Normalization};
pub use source::{Enumerated, InputItem, Origin, enumerate_inputs};
