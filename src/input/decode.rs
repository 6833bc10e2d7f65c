//! Decodes image bytes into 8-bit RGB, applying the EXIF orientation.
//!
//! JPEG, PNG, TIFF, WebP and BMP are supported (format sniffed from the bytes). Grayscale is
//! replicated to three channels, 16-bit samples are scaled to 8 bits (`v / 257`, rounded),
//! alpha is dropped (not composited).
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Limits and policies of [`decode_image_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Pixel budget, checked from the header before decoding ([`super::check_pixel_budget`]).
    pub max_pixels: u64,
    /// Accept a JPEG whose data ends before its end-of-image marker (decoded with grey fill, with
    /// a warning) instead of refusing it.
    pub allow_truncated: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_pixels: super::default_max_pixels(),
            allow_truncated: false,
        }
    }
}

/// Decodes `bytes` (read from `path`, used only in error messages) into an RGB image, with the
/// default [`DecodeOptions`].
///
/// # Errors
/// As [`decode_image_with`].
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    decode_image_with(bytes, path, &DecodeOptions::default())
}

/// `true` when a JPEG stream has an end-of-image marker (`FF D9`) after its last start-of-scan
/// (`FF DA`): a file cut inside its entropy-coded data has none. (`FF` bytes inside entropy-coded
/// data are stuffed as `FF 00`, and restart markers are `FF D0`..`FF D7`, so neither pattern
/// occurs there; an EXIF thumbnail's markers come before the main image's scans.)
#[must_use]
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(last_sos) = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[last_sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes `bytes` (read from `path`, used only in error messages) into an RGB image. The image
/// size is read from the header and checked against the pixel budget before anything is decoded,
/// and the decoder gets a matching memory limit.
///
/// # Errors
/// [`Error::Decode`] naming `path` when the bytes are empty, not an image, truncated, over the
/// pixel budget, or the image has a zero dimension.
pub fn decode_image_with(bytes: &[u8], path: &Path, opts: &DecodeOptions) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::decode(path, "empty file"));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::decode(path, e))?;
    let Some(format) = reader.format() else {
        return Err(Error::decode(
            path,
            "not a recognised image format (JPEG, PNG, TIFF, WebP, BMP)",
        ));
    };
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        if opts.allow_truncated {
            tracing::warn!(
                "{}: truncated JPEG (no end-of-image marker): decoded anyway (--allow-truncated), the missing part is grey",
                path.display()
            );
        } else {
            return Err(Error::decode(
                path,
                "truncated JPEG (no end-of-image marker after the last scan); --allow-truncated accepts it",
            ));
        }
    }
    let mut decoder = reader.into_decoder().map_err(|e| Error::decode(path, e))?;
    let (w, h) = decoder.dimensions();
    super::check_pixel_budget(path, u64::from(w), u64::from(h), opts.max_pixels)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    // Decoded buffer (up to 16-bit RGBA = 8 bytes/pixel) plus the RGB copy, with headroom.
    limits.max_alloc = Some(u64::from(w) * u64::from(h) * 12 + (16 << 20));
    decoder.set_limits(limits).map_err(|e| Error::decode(path, e))?;
    let orientation = decoder.orientation().map_err(|e| Error::decode(path, e))?;
    // A decoder bug on a hostile file must skip that file, not end the run.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        DynamicImage::from_decoder(decoder)
    }))
    .map_err(|_| Error::decode(path, "the image decoder failed on this file (internal panic)"))?;
    let mut img = decoded.map_err(|e| Error::decode(path, e))?;
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

    /// A PNG whose IHDR claims `w` x `h` (valid CRCs), with one tiny IDAT: what a hostile or
    /// corrupt 70-byte file looks like.
    pub(crate) fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        fn crc32(data: &[u8]) -> u32 {
            let mut c = 0xFFFF_FFFFu32;
            for &b in data {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 == 1 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            !c
        }
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(
            &mut png,
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        );
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn huge_header_is_refused_before_allocating() {
        let png = png_claiming(100_000, 100_000);
        assert!(png.len() < 100);
        let err = decode_image(&png, Path::new("bomb.png")).unwrap_err().to_string();
        assert!(
            err.contains("bomb.png") && err.contains("100000x100000") && err.contains("--max-pixels"),
            "{err}"
        );
        // A budget that allows it still does not allocate 30 GB blindly: the decoder's own limit
        // and the missing data end it with an error.
        let opts = DecodeOptions {
            max_pixels: 64,
            allow_truncated: false,
        };
        let small = encode(&DynamicImage::new_rgb8(9, 9), image::ImageFormat::Png);
        let err = decode_image_with(&small, Path::new("s.png"), &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("9x9 = 81 pixels"), "{err}");
    }

    #[test]
    fn truncated_jpeg_is_refused_unless_allowed() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 7])
        }));
        let jpeg = encode(&img, image::ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&jpeg));
        assert!(decode_image(&jpeg, Path::new("ok.jpg")).is_ok());
        for cut in [jpeg.len() / 10, jpeg.len() / 2, jpeg.len() * 99 / 100] {
            let part = &jpeg[..cut];
            let err = decode_image(part, Path::new("cut.jpg")).unwrap_err().to_string();
            assert!(
                err.contains("cut.jpg") && err.contains("truncated"),
                "{cut}: {err}"
            );
        }
        let opts = DecodeOptions {
            allow_truncated: true,
            ..DecodeOptions::default()
        };
        let part = &jpeg[..jpeg.len() * 9 / 10];
        let rgb = decode_image_with(part, Path::new("cut.jpg"), &opts).unwrap();
        assert_eq!(rgb.dimensions(), (64, 48));
    }
}
