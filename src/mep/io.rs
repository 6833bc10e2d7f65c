//! File I/O for the MEP's inputs and outputs, shared by `baiseg-rt mep` and `infer`
//! (`--semantic-dir`): images and label maps as PNG (the `image` crate), boundary and probability
//! maps as `.npy` (`ndarray-npy`) or PNG. Every error names the file; nothing panics on bad input.
//! Writes are atomic: the bytes go to `<name>.tmp`, which is then renamed.
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Dimension};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};

use crate::error::{Error, Result};

fn npy_error(path: &Path, e: ReadNpyError, expect_dtype: &str, expect_shape: &str) -> Error {
    match e {
        ReadNpyError::Io(io) => Error::io(path, io),
        ReadNpyError::WrongDescriptor(d) => Error::invalid(
            path.display(),
            format!("wrong dtype {d}, expected {expect_dtype}"),
        ),
        ReadNpyError::WrongNdim(_, n) => Error::invalid(
            path.display(),
            format!("{n}-dimensional array, expected {expect_shape}"),
        ),
        other => Error::decode(path, other),
    }
}

fn read_npy<T: ReadableElement, D: Dimension>(
    path: &Path,
    dtype: &str,
    shape: &str,
) -> Result<ndarray::Array<T, D>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ndarray::Array::<T, D>::read_npy(std::io::BufReader::new(file))
        .map_err(|e| npy_error(path, e, dtype, shape))
}

fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

fn decode(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    image::load_from_memory(&bytes).map_err(|e| Error::decode(path, e))
}

fn check_finite<'a>(path: &Path, mut values: impl Iterator<Item = &'a f32>) -> Result<()> {
    if values.any(|v| v.is_nan()) {
        return Err(Error::invalid(path.display(), "contains NaN"));
    }
    Ok(())
}

/// Reads an RGB image as `[H, W, 3]` u8. 16-bit RGB is reduced to 8 bits; any other channel
/// count (grey, grey+alpha, RGBA) is an error.
///
/// # Errors
/// [`Error::Io`], [`Error::Decode`], or [`Error::Invalid`] for a non-3-channel image.
pub fn read_rgb(path: &Path) -> Result<Array3<u8>> {
    let img = decode(path)?;
    let channels = img.color().channel_count();
    if channels != 3 {
        return Err(Error::invalid(
            path.display(),
            format!(
                "image has {channels} channel(s) ({:?}), expected 3 (RGB)",
                img.color()
            ),
        ));
    }
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    Array3::from_shape_vec((h as usize, w as usize, 3), rgb.into_raw()).map_err(|e| Error::decode(path, e))
}

/// Reads a boundary map `[H, W]` in [0, 1]: `.npy` float32, or a grey PNG (8-bit `/255`, 16-bit
/// `/65535`). NaN is an error.
///
/// # Errors
/// [`Error::Io`], [`Error::Decode`], [`Error::Invalid`] (wrong dtype or rank, NaN, colour PNG).
pub fn read_boundary(path: &Path) -> Result<Array2<f32>> {
    let map = if is_npy(path) {
        read_npy::<f32, ndarray::Ix2>(path, "float32 ('<f4')", "[H, W]")?
    } else {
        match decode(path)? {
            DynamicImage::ImageLuma8(g) => {
                let (w, h) = g.dimensions();
                Array2::from_shape_vec(
                    (h as usize, w as usize),
                    g.into_raw().into_iter().map(|v| f32::from(v) / 255.0).collect(),
                )
                .map_err(|e| Error::decode(path, e))?
            }
            DynamicImage::ImageLuma16(g) => {
                let (w, h) = g.dimensions();
                Array2::from_shape_vec(
                    (h as usize, w as usize),
                    g.into_raw().into_iter().map(|v| f32::from(v) / 65535.0).collect(),
                )
                .map_err(|e| Error::decode(path, e))?
            }
            other => {
                return Err(Error::invalid(
                    path.display(),
                    format!(
                        "boundary PNG must be 8- or 16-bit grey, found {:?}",
                        other.color()
                    ),
                ));
            }
        }
    };
    check_finite(path, map.iter())?;
    Ok(map)
}

/// Reads class probabilities `[K+1, H, W]` float32 from `.npy`. NaN is an error.
///
/// # Errors
/// [`Error::Io`], [`Error::Decode`], [`Error::Invalid`] (wrong dtype or rank, NaN).
pub fn read_probabilities(path: &Path) -> Result<Array3<f32>> {
    let p = read_npy::<f32, ndarray::Ix3>(path, "float32 ('<f4')", "[K+1, H, W]")?;
    check_finite(path, p.iter())?;
    if p.dim().0 == 0 {
        return Err(Error::invalid(
            path.display(),
            "no channel, expected [K+1, H, W] with K+1 >= 1",
        ));
    }
    Ok(p)
}

/// Reads a class-id map `[H, W]`: an 8- or 16-bit grey PNG, or `.npy` uint8/uint16.
///
/// # Errors
/// [`Error::Io`], [`Error::Decode`], [`Error::Invalid`] (colour PNG, wrong dtype or rank).
pub fn read_labels(path: &Path) -> Result<Array2<u16>> {
    if is_npy(path) {
        return match read_npy::<u16, ndarray::Ix2>(path, "uint16", "[H, W]") {
            Ok(a) => Ok(a),
            Err(Error::Invalid { .. }) => {
                read_npy::<u8, ndarray::Ix2>(path, "uint8 or uint16", "[H, W]").map(|a| a.mapv(u16::from))
            }
            Err(e) => Err(e),
        };
    }
    match decode(path)? {
        DynamicImage::ImageLuma8(g) => {
            let (w, h) = g.dimensions();
            Array2::from_shape_vec(
                (h as usize, w as usize),
                g.into_raw().into_iter().map(u16::from).collect(),
            )
            .map_err(|e| Error::decode(path, e))
        }
        DynamicImage::ImageLuma16(g) => {
            let (w, h) = g.dimensions();
            Array2::from_shape_vec((h as usize, w as usize), g.into_raw()).map_err(|e| Error::decode(path, e))
        }
        other => Err(Error::invalid(
            path.display(),
            format!("label PNG must be 8- or 16-bit grey, found {:?}", other.color()),
        )),
    }
}

/// Writes `bytes` to `path` atomically (`path` + `.tmp`, then rename).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn png_bytes<P: image::Pixel<Subpixel = S> + image::PixelWithColorType, S: image::Primitive>(
    path: &Path,
    img: &ImageBuffer<P, Vec<S>>,
) -> Result<Vec<u8>>
where
    [S]: image::EncodableLayout,
{
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Png)
        .map_err(|e| Error::invalid(path.display(), format!("cannot encode PNG: {e}")))?;
    Ok(buf.into_inner())
}

fn dims(path: &Path, h: usize, w: usize) -> Result<(u32, u32)> {
    match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::invalid(path.display(), "image too large for PNG")),
    }
}

/// Writes a 16-bit grey PNG (instance label map) atomically.
///
/// # Errors
/// [`Error::Io`] or [`Error::Invalid`] naming the file.
pub fn write_png_u16(path: &Path, map: ArrayView2<'_, u16>) -> Result<()> {
    let (h, w) = map.dim();
    let (wu, hu) = dims(path, h, w)?;
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_raw(wu, hu, map.iter().copied().collect())
        .ok_or_else(|| Error::invalid(path.display(), "buffer size"))?;
    write_atomic(path, &png_bytes(path, &img)?)
}

/// Writes an 8-bit grey PNG atomically.
///
/// # Errors
/// [`Error::Io`] or [`Error::Invalid`] naming the file.
pub fn write_png_u8(path: &Path, map: ArrayView2<'_, u8>) -> Result<()> {
    let (h, w) = map.dim();
    let (wu, hu) = dims(path, h, w)?;
    let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_raw(wu, hu, map.iter().copied().collect())
        .ok_or_else(|| Error::invalid(path.display(), "buffer size"))?;
    write_atomic(path, &png_bytes(path, &img)?)
}

/// Writes an RGB `[H, W, 3]` PNG atomically.
///
/// # Errors
/// [`Error::Io`] or [`Error::Invalid`] naming the file.
pub fn write_png_rgb(path: &Path, image: ArrayView3<'_, u8>) -> Result<()> {
    let (h, w, _) = image.dim();
    let (wu, hu) = dims(path, h, w)?;
    let img: ImageBuffer<Rgb<u8>, Vec<u8>> =
        ImageBuffer::from_raw(wu, hu, image.iter().copied().collect())
            .ok_or_else(|| Error::invalid(path.display(), "image must be [H, W, 3]"))?;
    write_atomic(path, &png_bytes(path, &img)?)
}

/// A fixed palette colour for instance `i` (golden-angle hues, fully saturated).
#[must_use]
pub fn palette(i: usize) -> [u8; 3] {
    let hue = (i as f64 * 137.507_764) % 360.0;
    let x = 1.0 - ((hue / 60.0) % 2.0 - 1.0).abs();
    let (r, g, b) = match (hue / 60.0) as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [(r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8]
}

/// The image with each labelled pixel (value `v > 0` of `labels`) blended 50/50 with colour
/// [`palette`]`(v - 1)`.
#[must_use]
pub fn overlay(image: ArrayView3<'_, u8>, labels: ArrayView2<'_, u16>) -> Array3<u8> {
    let mut out = image.to_owned();
    for ((y, x), &v) in labels.indexed_iter() {
        if v > 0 && y < out.dim().0 && x < out.dim().1 {
            let c = palette(usize::from(v) - 1);
            for (ch, &cv) in c.iter().enumerate() {
                let p = &mut out[[y, x, ch]];
                *p = ((u16::from(*p) + u16::from(cv)) / 2) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.png");
        let map = ndarray::array![[0u16, 300], [65535, 7]];
        write_png_u16(&p, map.view()).expect("write");
        assert_eq!(read_labels(&p).expect("read"), map);
        assert!(!dir.path().join("l.png.tmp").exists());
        // A grey PNG is not an RGB image.
        let e = read_rgb(&p).expect_err("grey").to_string();
        assert!(e.contains("l.png") && e.contains("channel"), "{e}");
        let b = dir.path().join("b.npy");
        ndarray_npy::write_npy(&b, &ndarray::array![[0.5f64, 1.0]]).expect("npy");
        let e = read_boundary(&b).expect_err("f64").to_string();
        assert!(e.contains("b.npy") && e.contains("dtype"), "{e}");
        ndarray_npy::write_npy(&b, &ndarray::array![[0.5f32, f32::NAN]]).expect("npy");
        assert!(read_boundary(&b).expect_err("nan").to_string().contains("NaN"));
        ndarray_npy::write_npy(&b, &ndarray::array![0.5f32, 1.0]).expect("npy");
        assert!(
            read_boundary(&b)
                .expect_err("1-d")
                .to_string()
                .contains("1-dimensional")
        );
        let missing = dir.path().join("none.png");
        assert!(
            read_rgb(&missing)
                .expect_err("missing")
                .to_string()
                .contains("none.png")
        );
    }
}
