//! PNG/JPEG encoders for per-image maps: u16 instance labels, u8 class ids, u8 boundary.
use std::path::Path;

use image::{ImageEncoder, RgbImage};
use ndarray::{Array2, ArrayView2};

use super::atomic::write_atomic;
use crate::error::Result;

/// Encodes `bytes` (native-endian samples) as a PNG, atomically.
fn write_png(path: &Path, bytes: &[u8], w: usize, h: usize, color: image::ExtendedColorType) -> Result<()> {
    let (w, h) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    write_atomic(path, |out| {
        image::codecs::png::PngEncoder::new(out)
            .write_image(bytes, w, h, color)
            .map_err(std::io::Error::other)
    })
}

fn to_vec_row_major<T: Copy>(a: ArrayView2<'_, T>) -> Vec<T> {
    a.iter().copied().collect()
}

/// Writes a 16-bit grayscale PNG of instance ids (0 = background).
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_label_png(path: &Path, labels: ArrayView2<'_, u16>) -> Result<()> {
    let (h, w) = labels.dim();
    let data = to_vec_row_major(labels);
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_ne_bytes()).collect();
    write_png(path, &bytes, w, h, image::ExtendedColorType::L16)
}

/// Writes an 8-bit grayscale PNG.
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_gray_png(path: &Path, map: ArrayView2<'_, u8>) -> Result<()> {
    let (h, w) = map.dim();
    let data = to_vec_row_major(map);
    write_png(path, &data, w, h, image::ExtendedColorType::L8)
}

/// Writes class ids as an 8-bit PNG (ids above 255 are clamped).
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_class_png(path: &Path, classes: ArrayView2<'_, u16>) -> Result<()> {
    write_gray_png(path, classes.mapv(|c| u8::try_from(c).unwrap_or(u8::MAX)).view())
}

/// Writes a boundary map as an 8-bit PNG (`round(B * 255)`, clamped to [0, 255]).
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_boundary_png(path: &Path, boundary: ArrayView2<'_, f32>) -> Result<()> {
    let q: Array2<u8> = boundary.mapv(|b| (b * 255.0).round().clamp(0.0, 255.0) as u8);
    write_gray_png(path, q.view())
}

/// Writes an RGB image as JPEG (quality 90).
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_jpeg(path: &Path, img: &RgbImage) -> Result<()> {
    write_atomic(path, |out| {
        image::codecs::jpeg::JpegEncoder::new_with_quality(out, 90)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)
    })
}

/// Writes an RGB image as PNG.
///
/// # Errors
/// [`crate::Error::Io`] naming `path`.
pub fn write_rgb_png(path: &Path, img: &RgbImage) -> Result<()> {
    write_png(
        path,
        img.as_raw(),
        img.width() as usize,
        img.height() as usize,
        image::ExtendedColorType::Rgb8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn label_png_round_trips_16_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.png");
        let labels = array![[0u16, 1, 300], [65535, 2, 0]];
        write_label_png(&path, labels.view()).unwrap();
        assert_eq!(crate::mep::io::read_labels(&path).unwrap(), labels);
    }
}
