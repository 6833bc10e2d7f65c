//! File I/O for the MEP's inputs and outputs, shared by `baiseg-rt mep` and `infer`
//! (`--semantic-dir`): images and label maps as PNG (the `image` crate), boundary and probability
//! maps as `.npy` (`ndarray-npy`) or PNG. Every error names the file; nothing panics on bad input.
//! Outputs are written with the atomic writers of [`crate::output`].
use std::path::Path;

use image::DynamicImage;
use ndarray::{Array2, Array3, Dimension};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.png");
        let map = ndarray::array![[0u16, 300], [65535, 7]];
        crate::output::png::write_label_png(&p, map.view()).expect("write");
        assert_eq!(read_labels(&p).expect("read"), map);
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
