//! Decodes image bytes into 8-bit RGB, applying the EXIF orientation.
//!
//! JPEG, PNG, TIFF, WebP and BMP are supported (format sniffed from the bytes). Grayscale is
//! replicated to three channels, 16-bit samples are scaled to 8 bits (`v / 257`, rounded),
//! alpha is dropped (not composited).
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Decodes `bytes` (read from `path`, used only in error messages) into an RGB image.
///
/// # Errors
/// [`Error::Decode`] naming `path` when the bytes are empty, not an image, truncated, or the
/// image has a zero dimension.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::decode(path, "empty file"));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::decode(path, e))?;
    if reader.format().is_none() {
        return Err(Error::decode(
            path,
            "not a recognised image format (JPEG, PNG, TIFF, WebP, BMP)",
        ));
    }
    let mut decoder = reader.into_decoder().map_err(|e| Error::decode(path, e))?;
    let orientation = decoder.orientation().map_err(|e| Error::decode(path, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| Error::decode(path, e))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::decode(path, "image has a zero dimension"));
    }
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).unwrap();
        buf.into_inner()
    }

    #[test]
    fn decodes_gray16_and_rgba() {
        let gray = DynamicImage::ImageLuma16(image::ImageBuffer::from_pixel(3, 2, image::Luma([65535u16])));
        let rgb = decode_image(&encode(&gray, image::ImageFormat::Png), Path::new("g.png")).unwrap();
        assert_eq!(rgb.dimensions(), (3, 2));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        let rgba =
            DynamicImage::ImageRgba8(image::ImageBuffer::from_pixel(2, 2, image::Rgba([10, 20, 30, 0])));
        let rgb = decode_image(&encode(&rgba, image::ImageFormat::Png), Path::new("a.png")).unwrap();
        assert_eq!(rgb.get_pixel(1, 1).0, [10, 20, 30]);
    }

    #[test]
    fn applies_exif_orientation() {
        use image::ImageEncoder;
        // A 4x2 image with a red left column; EXIF orientation 6 = rotate 90 degrees clockwise.
        let mut img = RgbImage::from_pixel(4, 2, image::Rgb([0, 0, 255]));
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(0, 1, image::Rgb([255, 0, 0]));
        let exif: Vec<u8> = [
            &b"MM\x00\x2a\x00\x00\x00\x08"[..],
            &[0, 1],                                     // one IFD entry
            &[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0], // Orientation (SHORT) = 6
            &[0, 0, 0, 0],                               // no next IFD
        ]
        .concat();
        let mut bytes = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 100);
        enc.set_exif_metadata(exif).unwrap();
        enc.write_image(img.as_raw(), 4, 2, image::ExtendedColorType::Rgb8)
            .unwrap();
        let decoded = decode_image(&bytes, Path::new("rot.jpg")).unwrap();
        assert_eq!(decoded.dimensions(), (2, 4), "rotated to portrait");
        // The red left column is now the top row.
        assert!(decoded.get_pixel(1, 0).0[0] > 200 && decoded.get_pixel(1, 0).0[2] < 60);
        assert!(decoded.get_pixel(1, 3).0[2] > 200);
    }

    #[test]
    fn errors_name_the_file() {
        let err = decode_image(b"", Path::new("empty.jpg")).unwrap_err().to_string();
        assert!(err.contains("empty.jpg") && err.contains("empty file"), "{err}");
        let err = decode_image(b"hello world", Path::new("text.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("text.png"), "{err}");
        let png = encode(&DynamicImage::new_rgb8(8, 8), image::ImageFormat::Png);
        let err = decode_image(&png[..png.len() / 2], Path::new("cut.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.png"), "{err}");
    }
}
