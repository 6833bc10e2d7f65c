//! Decodes image bytes into 8-bit RGB, applying the EXIF orientation.
//!
//! JPEG, PNG, TIFF, WebP and BMP are supported (format sniffed from the bytes). Grayscale is
//! replicated to three channels, 16-bit samples are scaled to 8 bits (`v / 257`, rounded),
//! alpha is dropped (not composited).
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::source::MAX_INPUT_BYTES;
use super::{InputItem, Origin};
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
    decode_reader(Cursor::new(bytes), path, opts, || Ok(jpeg_is_complete(bytes)))
}

/// Decodes one input into an RGB image: a plain file is decoded from a buffered reader over the
/// file (its bytes are never all in memory, except that the JPEG decoder reads the whole file
/// first), a zip member from its bytes ([`InputItem::read_bytes`]). Limits and checks as
/// [`decode_image_with`], plus the input-size limit of [`InputItem::read_bytes`]
/// (`docs/tiling.md#decoding`).
///
/// # Errors
/// As [`decode_image_with`], plus [`Error::Io`] when the file cannot be read.
pub fn decode_item_with(item: &InputItem, opts: &DecodeOptions) -> Result<RgbImage> {
    let Origin::File(path) = &item.origin else {
        return item
            .read_bytes()
            .and_then(|b| decode_image_with(&b, &item.display_path(), opts));
    };
    decode_file_with(path, opts)
}

/// [`decode_item_with`] for a file path.
///
/// # Errors
/// As [`decode_item_with`].
pub fn decode_file_with(path: &Path, opts: &DecodeOptions) -> Result<RgbImage> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::decode(path, "not a regular file"));
    }
    if meta.len() == 0 {
        return Err(Error::decode(path, "empty file"));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Error::decode(
            path,
            format!(
                "file is {} bytes, more than the {MAX_INPUT_BYTES}-byte limit for one input",
                meta.len()
            ),
        ));
    }
    // The length was checked above; the decoders read what the image needs.
    let reader = BufReader::new(file);
    let complete = || -> Result<bool> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        jpeg_is_complete_reader(BufReader::new(file.take(MAX_INPUT_BYTES))).map_err(|e| Error::io(path, e))
    };
    decode_reader(reader, path, opts, complete)
}

/// [`jpeg_is_complete`] over a stream, reading it once in constant memory.
///
/// # Errors
/// The reader's I/O errors.
pub fn jpeg_is_complete_reader<R: Read>(mut r: R) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    let (mut prev, mut any_sos, mut eoi_after) = (None::<u8>, false, false);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            if prev == Some(0xFF) {
                if b == 0xDA {
                    any_sos = true;
                    eoi_after = false;
                } else if b == 0xD9 && any_sos {
                    eoi_after = true;
                }
            }
            prev = Some(b);
        }
    }
    Ok(any_sos && eoi_after)
}

/// The common decoder: format sniffing, the truncated-JPEG policy (`jpeg_complete` is asked only
/// for JPEGs), the pixel budget from the header, the decoder's memory limit, EXIF orientation, and
/// the conversion to RGB in the decoded buffer itself ([`read_rgb`]).
fn decode_reader<R: BufRead + Seek>(
    reader: R,
    path: &Path,
    opts: &DecodeOptions,
    jpeg_complete: impl FnOnce() -> Result<bool>,
) -> Result<RgbImage> {
    let reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| Error::decode(path, e))?;
    let Some(format) = reader.format() else {
        return Err(Error::decode(
            path,
            "not a recognised image format (JPEG, PNG, TIFF, WebP, BMP)",
        ));
    };
    if format == image::ImageFormat::Jpeg && !jpeg_complete()? {
        if opts.allow_truncated {
            tracing::warn!(
                setting = "truncated JPEGs",
                "{}: truncated JPEG (no end-of-image marker): decoded anyway (truncated JPEGs allowed), the missing part is grey",
                path.display()
            );
        } else {
            return Err(Error::decode(
                path,
                "truncated JPEG (no end-of-image marker after the last scan); allowing truncated JPEGs accepts it",
            )
            .for_setting("truncated JPEGs"));
        }
    }
    let mut decoder = reader.into_decoder().map_err(|e| Error::decode(path, e))?;
    let (w, h) = decoder.dimensions();
    super::check_pixel_budget(path, u64::from(w), u64::from(h), opts.max_pixels)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    // The decoder's own allocations (the output buffer is ours, `read_rgb`), with headroom:
    // progressive JPEGs keep all coefficients.
    limits.max_alloc = Some(u64::from(w) * u64::from(h) * 12 + (16 << 20));
    decoder.set_limits(limits).map_err(|e| Error::decode(path, e))?;
    let orientation = decoder.orientation().map_err(|e| Error::decode(path, e))?;
    // A decoder bug on a hostile file must skip that file, not end the run.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_rgb(decoder)))
        .map_err(|_| Error::decode(path, "the image decoder failed on this file (internal panic)"))?;
    let rgb = decoded.map_err(|e| Error::decode(path, e))?;
    let mut img = DynamicImage::ImageRgb8(rgb);
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::decode(path, "image has a zero dimension"));
    }
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Bytes per pixel of a decoder's native colour type, for the types converted in place.
fn native_bytes_per_pixel(ct: ColorType) -> Option<usize> {
    Some(match ct {
        ColorType::L8 => 1,
        ColorType::La8 | ColorType::L16 => 2,
        ColorType::Rgb8 => 3,
        ColorType::Rgba8 | ColorType::La16 => 4,
        ColorType::Rgb16 => 6,
        ColorType::Rgba16 => 8,
        ColorType::Rgb32F => 12,
        ColorType::Rgba32F => 16,
        _ => return None,
    })
}

/// Reads the image into one buffer of `max(native size, 3 w h)` bytes and converts it to RGB in
/// that buffer, a band of rows at a time (each band with the `image` crate's own conversion, so
/// the result is `DynamicImage::to_rgb8`'s), then shrinks it to `3 w h`: an 8-bit RGB, gray or
/// gray-alpha image never needs more than its RGB buffer, an RGBA or 16-bit one its native
/// buffer once (`docs/tiling.md#decoding`).
fn read_rgb(decoder: impl ImageDecoder) -> image::ImageResult<RgbImage> {
    let (w, h) = decoder.dimensions();
    let ct = decoder.color_type();
    let too_big = || {
        image::ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::InsufficientMemory,
        ))
    };
    let Some(bpp) = native_bytes_per_pixel(ct) else {
        // Colour types added to `image` later: its own conversion.
        return DynamicImage::from_decoder(decoder).map(|d| d.to_rgb8());
    };
    let (wu, hu) = (w as usize, h as usize);
    let native = wu
        .checked_mul(hu)
        .and_then(|p| p.checked_mul(bpp))
        .ok_or_else(too_big)?;
    if decoder.total_bytes() != native as u64 {
        return DynamicImage::from_decoder(decoder).map(|d| d.to_rgb8());
    }
    let rgb_len = wu * hu * 3;
    let len = native.max(rgb_len);
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(len).map_err(|_| too_big())?;
    buf.resize(len, 0);
    // Below 3 bytes per pixel the native data sits at the end, so that converting band by band
    // from the top never overwrites rows not yet read: the RGB output of rows 0..r ends at
    // 3wr <= (3wh - bpp wh) + bpp wr, where native row r starts.
    let off = len - native;
    decoder.read_image(&mut buf[off..])?;
    if ct != ColorType::Rgb8 {
        let row_bytes = wu * bpp;
        let band = ((256usize << 10) / (wu * bpp.max(3)).max(1)).max(1);
        let mut r0 = 0;
        while r0 < hu {
            let r1 = (r0 + band).min(hu);
            let src = buf[off + r0 * row_bytes..off + r1 * row_bytes].to_vec();
            let rgb = convert_rows(ct, w, (r1 - r0) as u32, src).ok_or_else(too_big)?;
            buf[r0 * wu * 3..r1 * wu * 3].copy_from_slice(rgb.as_raw());
            r0 = r1;
        }
        buf.truncate(rgb_len);
        buf.shrink_to_fit();
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(too_big)
}

/// Converts `rows` rows of native samples (`bytes`, native-endian for 16-bit and float types) to
/// RGB with `DynamicImage::to_rgb8`.
fn convert_rows(ct: ColorType, w: u32, rows: u32, bytes: Vec<u8>) -> Option<RgbImage> {
    use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};
    fn u16s(b: &[u8]) -> Vec<u16> {
        b.chunks_exact(2)
            .map(|c| u16::from_ne_bytes([c[0], c[1]]))
            .collect()
    }
    fn f32s(b: &[u8]) -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
    let img = match ct {
        ColorType::L8 => DynamicImage::ImageLuma8(ImageBuffer::<Luma<u8>, _>::from_raw(w, rows, bytes)?),
        ColorType::La8 => DynamicImage::ImageLumaA8(ImageBuffer::<LumaA<u8>, _>::from_raw(w, rows, bytes)?),
        ColorType::Rgb8 => DynamicImage::ImageRgb8(ImageBuffer::<Rgb<u8>, _>::from_raw(w, rows, bytes)?),
        ColorType::Rgba8 => DynamicImage::ImageRgba8(ImageBuffer::<Rgba<u8>, _>::from_raw(w, rows, bytes)?),
        ColorType::L16 => {
            DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::from_raw(w, rows, u16s(&bytes))?)
        }
        ColorType::La16 => {
            DynamicImage::ImageLumaA16(ImageBuffer::<LumaA<u16>, _>::from_raw(w, rows, u16s(&bytes))?)
        }
        ColorType::Rgb16 => {
            DynamicImage::ImageRgb16(ImageBuffer::<Rgb<u16>, _>::from_raw(w, rows, u16s(&bytes))?)
        }
        ColorType::Rgba16 => {
            DynamicImage::ImageRgba16(ImageBuffer::<Rgba<u16>, _>::from_raw(w, rows, u16s(&bytes))?)
        }
        ColorType::Rgb32F => {
            DynamicImage::ImageRgb32F(ImageBuffer::<Rgb<f32>, _>::from_raw(w, rows, f32s(&bytes))?)
        }
        ColorType::Rgba32F => {
            DynamicImage::ImageRgba32F(ImageBuffer::<Rgba<f32>, _>::from_raw(w, rows, f32s(&bytes))?)
        }
        _ => return None,
    };
    Some(match img {
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
            err.contains("bomb.png") && err.contains("100000x100000") && err.contains("pixel budget"),
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

    /// Decoding from a file equals decoding its bytes, for every colour type the in-place
    /// conversion handles (and orientation, truncation and emptiness are handled the same way).
    #[test]
    fn file_decoding_equals_byte_decoding() {
        let dir = std::env::temp_dir().join(format!("baiseg-decode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = (37u32, 23u32);
        let rgb16 = image::ImageBuffer::from_fn(w, h, |x, y| {
            image::Rgb([(x * 1771) as u16, (y * 2843) as u16, ((x + y) * 999) as u16])
        });
        let base = DynamicImage::ImageRgb16(rgb16);
        let cases = [
            (DynamicImage::ImageRgb8(base.to_rgb8()), image::ImageFormat::Png),
            (DynamicImage::ImageLuma8(base.to_luma8()), image::ImageFormat::Png),
            (
                DynamicImage::ImageLumaA8(base.to_luma_alpha8()),
                image::ImageFormat::Png,
            ),
            (DynamicImage::ImageRgba8(base.to_rgba8()), image::ImageFormat::Png),
            (
                DynamicImage::ImageLuma16(base.to_luma16()),
                image::ImageFormat::Png,
            ),
            (
                DynamicImage::ImageLumaA16(base.to_luma_alpha16()),
                image::ImageFormat::Png,
            ),
            (base.clone(), image::ImageFormat::Png),
            (
                DynamicImage::ImageRgba16(base.to_rgba16()),
                image::ImageFormat::Png,
            ),
            (DynamicImage::ImageRgb8(base.to_rgb8()), image::ImageFormat::Jpeg),
            (DynamicImage::ImageRgb8(base.to_rgb8()), image::ImageFormat::Bmp),
            (
                DynamicImage::ImageRgba8(base.to_rgba8()),
                image::ImageFormat::Tiff,
            ),
            (base.clone(), image::ImageFormat::Tiff),
        ];
        for (i, (img, format)) in cases.iter().enumerate() {
            let bytes = encode(img, *format);
            let path = dir.join(format!("{i}.{}", format.extensions_str()[0]));
            std::fs::write(&path, &bytes).unwrap();
            let opts = DecodeOptions::default();
            let from_file = decode_file_with(&path, &opts).unwrap();
            let from_bytes = decode_image_with(&bytes, &path, &opts).unwrap();
            // The old path: the image crate's whole-buffer conversion.
            let reference = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert_eq!(from_file, reference, "{format:?} {:?}", img.color());
            assert_eq!(from_bytes, reference, "{format:?} {:?}", img.color());
        }
        let jpeg = encode(&cases[8].0, image::ImageFormat::Jpeg);
        let cut = dir.join("cut.jpg");
        std::fs::write(&cut, &jpeg[..jpeg.len() * 9 / 10]).unwrap();
        let err = decode_file_with(&cut, &DecodeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.jpg") && err.contains("truncated"), "{err}");
        let lenient = DecodeOptions {
            allow_truncated: true,
            ..DecodeOptions::default()
        };
        assert_eq!(decode_file_with(&cut, &lenient).unwrap().dimensions(), (w, h));
        assert!(jpeg_is_complete_reader(&jpeg[..]).unwrap());
        assert!(!jpeg_is_complete_reader(&jpeg[..jpeg.len() - 1]).unwrap());
        let empty = dir.join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let err = decode_file_with(&empty, &DecodeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty file"), "{err}");
        let bomb = dir.join("bomb.png");
        std::fs::write(&bomb, png_claiming(100_000, 100_000)).unwrap();
        let err = decode_file_with(&bomb, &DecodeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("100000x100000") && err.contains("pixel budget"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Peak heap use of the decoding thread while decoding a file: the RGB buffer plus a
    /// constant for 8-bit RGB, gray and gray-alpha PNGs, the native buffer for RGBA/16-bit
    /// (never both at full size), and the file's bytes on top for JPEG (its decoder reads the
    /// whole file first).
    #[test]
    fn decoding_a_file_allocates_little_more_than_the_rgb_buffer() {
        const SLACK: u64 = 3 << 20;
        let dir = std::env::temp_dir().join(format!("baiseg-decode-peak-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = (1500u32, 1000u32);
        let px = u64::from(w) * u64::from(h);
        let base = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
        }));
        let cases: [(DynamicImage, image::ImageFormat, u64); 6] = [
            (base.clone(), image::ImageFormat::Png, 3 * px),
            (
                DynamicImage::ImageLuma8(base.to_luma8()),
                image::ImageFormat::Png,
                3 * px,
            ),
            (
                DynamicImage::ImageLumaA8(base.to_luma_alpha8()),
                image::ImageFormat::Png,
                3 * px,
            ),
            (
                DynamicImage::ImageRgba8(base.to_rgba8()),
                image::ImageFormat::Png,
                4 * px,
            ),
            (
                DynamicImage::ImageRgb16(base.to_rgb16()),
                image::ImageFormat::Png,
                6 * px,
            ),
            (base.clone(), image::ImageFormat::Jpeg, 3 * px),
        ];
        for (i, (img, format, bound)) in cases.iter().enumerate() {
            let bytes = encode(img, *format);
            let path = dir.join(format!("{i}.{}", format.extensions_str()[0]));
            std::fs::write(&path, &bytes).unwrap();
            let file_bytes = if *format == image::ImageFormat::Jpeg {
                bytes.len() as u64
            } else {
                0
            };
            drop(bytes);
            let (peak, rgb) = counting::peak_of(|| decode_file_with(&path, &DecodeOptions::default()));
            let rgb = rgb.unwrap();
            assert_eq!(rgb.dimensions(), (w, h));
            let limit = bound + file_bytes + SLACK;
            assert!(
                peak <= limit,
                "{format:?} {:?}: peak {peak} bytes > {limit} ({:.2} B/px)",
                img.color(),
                peak as f64 / px as f64
            );
            // The whole-buffer conversion of the old path needed native + RGB at once.
            if img.color() != image::ColorType::Rgb8 {
                let native = px * u64::from(img.color().bytes_per_pixel());
                assert!(peak < native + 3 * px, "{:?}: {peak}", img.color());
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A counting global allocator for the peak-allocation test: it only counts on a thread that
/// asked for it, so the other tests running in parallel do not disturb the figure.
#[cfg(test)]
#[allow(unsafe_code)] // a GlobalAlloc wrapper is unsafe by definition; it forwards to System
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static TRACK: Cell<bool> = const { Cell::new(false) };
        static NOW: Cell<u64> = const { Cell::new(0) };
        static PEAK: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    fn add(n: u64) {
        if TRACK.with(Cell::get) {
            let now = NOW.with(|c| {
                let v = c.get() + n;
                c.set(v);
                v
            });
            PEAK.with(|p| p.set(p.get().max(now)));
        }
    }

    fn sub(n: u64) {
        if TRACK.with(Cell::get) {
            NOW.with(|c| c.set(c.get().saturating_sub(n)));
        }
    }

    // SAFETY: every method forwards to `System` with the caller's arguments, so the
    // `GlobalAlloc` contract is `System`'s; the bookkeeping only touches const-initialised
    // thread-locals (no allocation, no reentrancy).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as u64);
            // SAFETY: forwarded unchanged (the caller upholds `alloc`'s contract).
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as u64);
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            sub(layout.size() as u64);
            // SAFETY: forwarded unchanged (`ptr` came from `System` through this allocator).
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // A growing realloc may hold both blocks at once: count the new one first. A
            // shrinking one shrinks in place (glibc: split or `mremap`), so it only frees.
            if new_size <= layout.size() {
                sub((layout.size() - new_size) as u64);
            } else {
                add(new_size as u64);
                sub(layout.size() as u64);
            }
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Runs `f` on this thread and returns the peak of its live heap bytes above the start.
    pub(super) fn peak_of<T>(f: impl FnOnce() -> T) -> (u64, T) {
        NOW.with(|c| c.set(0));
        PEAK.with(|c| c.set(0));
        TRACK.with(|t| t.set(true));
        let out = f();
        TRACK.with(|t| t.set(false));
        (PEAK.with(Cell::get), out)
    }
}
