//! Overlay pictures (temporary stand-in until the overlay module lands).
use image::RgbImage;

use crate::instances::Instance;

/// Options of [`render_overlay`].
#[derive(Debug, Clone, Default)]
pub struct OverlayOptions {}

/// Draws instances over the image.
#[must_use]
pub fn render_overlay(image: &RgbImage, _instances: &[Instance], _class_names: &[String], _opts: &OverlayOptions) -> RgbImage {
    image.clone()
}
