//! File I/O for the MEP's inputs and outputs, shared by `baiseg-rt mep` and `infer`
//! (`--semantic-dir`): images and label maps as PNG (the `image` crate), boundary and probability
//! maps as `.npy` (memory-mapped and viewed in place where the layout allows, else `ndarray-npy`:
//! [`NpyArray`]) or PNG. Every error names the file; nothing panics on bad input.
//! Outputs are written with the atomic writers of [`crate::output`].
use std::path::{Path, PathBuf};

use image::DynamicImage;
use ndarray::{Array2, Array3, Dimension, Ix2, Ix3};
use ndarray_npy::{ReadableElement, ViewElement};

use super::{MepInput, Semantic};
use crate::error::{Error, Result};
use crate::maps::SemanticMap;

mod npy;
pub use npy::NpyArray;

/// Reads the header of a `.npy` file and checks, before anything is allocated, that the data it
/// declares (shape x item size) is actually in the file and within the pixel budget: a 100-byte
/// file claiming a 10^12-element array is refused (docs/reliability.md#sizes).
///
/// # Errors
/// [`Error::Decode`] naming `path` for a malformed header or a size the file does not hold.
pub fn check_npy_header(path: &Path, bytes: &[u8], file_len: u64) -> Result<()> {
    let bad = |why: &str| Error::decode(path, format!("not a valid .npy file: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("short header"));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n).unwrap_or(usize::MAX), 12)
        }
        v => return Err(bad(&format!("unknown format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .ok_or_else(|| bad("header length"))?;
    let header = bytes
        .get(start..end)
        .ok_or_else(|| bad("header longer than the file"))?;
    let header = String::from_utf8_lossy(header);
    let descr = header
        .split("'descr'")
        .nth(1)
        .and_then(|r| r.split('\'').nth(1))
        .ok_or_else(|| bad("no descr"))?;
    let item: u64 = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("unsupported descr"))?;
    let shape = header
        .split("'shape'")
        .nth(1)
        .and_then(|r| r.split_once('('))
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(inner, _)| inner)
        .ok_or_else(|| bad("no shape"))?;
    let mut elements: u64 = 1;
    for dim in shape.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let d: u64 = dim.parse().map_err(|_| bad("shape is not a tuple of integers"))?;
        elements = elements.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
    }
    let data = elements.checked_mul(item).ok_or_else(|| bad("size overflows"))?;
    let available = file_len.saturating_sub(end as u64);
    if data > available {
        return Err(Error::decode(
            path,
            format!(
                "header declares {elements} elements ({data} bytes) but the file holds {available} bytes of data"
            ),
        ));
    }
    let budget = crate::input::default_max_pixels().saturating_mul(64);
    if elements > budget {
        return Err(Error::decode(
            path,
            format!("array of {elements} elements is larger than the limit of {budget}"),
        ));
    }
    Ok(())
}

fn read_npy<T: ReadableElement + ViewElement + Clone, D: Dimension>(
    path: &Path,
    dtype: &str,
    shape: &str,
) -> Result<ndarray::Array<T, D>> {
    NpyArray::read(path, dtype, shape).map(NpyArray::into_owned)
}

fn is_npy(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

fn decode(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_bytes(path, &bytes)
}

/// The pixel budget against an image's size from its header (docs/reliability.md#sizes).
fn check_budget(path: &Path, w: u32, h: u32) -> Result<()> {
    crate::input::check_pixel_budget(
        path,
        u64::from(w),
        u64::from(h),
        crate::input::default_max_pixels(),
    )
}

/// Decodes with the `image` crate, parsing the file once: the size from the header is checked
/// first, then the same decoder decodes, with the allocation limit `image::load_from_memory`
/// applies.
fn decode_bytes(path: &Path, bytes: &[u8]) -> Result<DynamicImage> {
    use image::ImageDecoder as _;
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::decode(path, e))?;
    let mut decoder = reader.into_decoder().map_err(|e| Error::decode(path, e))?;
    let (w, h) = decoder.dimensions();
    check_budget(path, w, h)?;
    let mut limits = image::Limits::default();
    limits
        .reserve(decoder.total_bytes())
        .map_err(|e| Error::decode(path, e))?;
    decoder.set_limits(limits).map_err(|e| Error::decode(path, e))?;
    DynamicImage::from_decoder(decoder).map_err(|e| Error::decode(path, e))
}

/// The one rule for external class-id maps (`infer --semantic-dir`, `mep --labels`): 0 is
/// background, 255 is ignore, `1..=K` are classes; with a known class count `K`, any other value is
/// treated as background, with a warning naming the file and the values
/// (docs/reliability.md#label-values). Returns the values that were cleared.
pub fn apply_label_rule(labels: &mut Array2<u16>, classes: Option<usize>, path: &Path) -> Vec<u16> {
    let Some(k) = classes else { return Vec::new() };
    let mut bad = std::collections::BTreeSet::new();
    for v in labels.iter_mut() {
        if *v != 255 && usize::from(*v) > k {
            bad.insert(*v);
            *v = 0;
        }
    }
    let bad: Vec<u16> = bad.into_iter().collect();
    if !bad.is_empty() {
        tracing::warn!(
            "{}: label values {:?} are above the model's {k} classes: treated as background",
            path.display(),
            bad
        );
    }
    bad
}

fn check_finite<'a>(path: &Path, mut values: impl Iterator<Item = &'a f32>) -> Result<()> {
    if values.any(|v| !v.is_finite()) {
        return Err(Error::invalid(path.display(), "contains NaN or infinite values"));
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
    load_boundary(path).map(NpyArray::into_owned)
}

/// [`read_boundary`] without a copy of a `.npy` file that can be viewed in place.
///
/// # Errors
/// As [`read_boundary`].
pub fn load_boundary(path: &Path) -> Result<NpyArray<f32, Ix2>> {
    if is_npy(path) {
        let map = NpyArray::<f32, Ix2>::read(path, "float32 ('<f4')", "[H, W]")?;
        check_finite(path, map.view().iter())?;
        return Ok(map);
    }
    let map = match decode(path)? {
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
    };
    check_finite(path, map.iter())?;
    Ok(map.into())
}

/// Reads class probabilities `[K+1, H, W]` float32 from `.npy`. NaN is an error.
///
/// # Errors
/// [`Error::Io`], [`Error::Decode`], [`Error::Invalid`] (wrong dtype or rank, NaN).
pub fn read_probabilities(path: &Path) -> Result<Array3<f32>> {
    load_probabilities(path).map(NpyArray::into_owned)
}

/// [`read_probabilities`] without a copy of a file that can be viewed in place.
///
/// # Errors
/// As [`read_probabilities`].
pub fn load_probabilities(path: &Path) -> Result<NpyArray<f32, Ix3>> {
    let p = NpyArray::<f32, Ix3>::read(path, "float32 ('<f4')", "[K+1, H, W]")?;
    check_finite(path, p.view().iter())?;
    if p.view().dim().0 == 0 {
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
        return match read_npy::<u16, Ix2>(path, "uint16", "[H, W]") {
            Ok(a) => Ok(a),
            Err(Error::Invalid { .. }) => {
                read_npy::<u8, Ix2>(path, "uint8 or uint16", "[H, W]").map(|a| a.mapv(u16::from))
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

/// The semantic file of a case folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SemanticFile {
    /// `semantic.npy`: f32 probabilities `[K+1, H, W]`.
    Probabilities(PathBuf),
    /// `labels.png`: class ids (255 = ignore).
    Labels(PathBuf),
}

/// The input files of one MEP case folder (docs/mep.md#case-folders): `image.png`,
/// `boundary.npy` (or `boundary.png`), and `semantic.npy` (or `labels.png`); the first name
/// found wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFiles {
    /// The RGB image.
    pub image: PathBuf,
    /// The boundary map.
    pub boundary: PathBuf,
    /// The semantic input.
    pub semantic: SemanticFile,
}

fn find_one(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

impl CaseFiles {
    /// Finds the inputs in the case folder `dir`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the folder when an input is missing.
    pub fn find(dir: &Path) -> Result<Self> {
        let image = find_one(dir, &["image.png"]);
        let boundary = find_one(dir, &["boundary.npy", "boundary.png"]);
        let semantic = find_one(dir, &["semantic.npy"])
            .map(SemanticFile::Probabilities)
            .or_else(|| find_one(dir, &["labels.png"]).map(SemanticFile::Labels));
        match (image, boundary, semantic) {
            (Some(image), Some(boundary), Some(semantic)) => Ok(Self {
                image,
                boundary,
                semantic,
            }),
            _ => Err(Error::invalid(
                dir.display(),
                "needs image.png, boundary.npy|png and semantic.npy|labels.png",
            )),
        }
    }

    /// Reads the files and checks that every map has the image's size.
    ///
    /// # Errors
    /// The readers' errors, or [`Error::Invalid`] naming the map whose size differs.
    pub fn load(&self) -> Result<CaseMaps> {
        let image = read_rgb(&self.image)?;
        let boundary = read_boundary(&self.boundary)?;
        let (h, w, _) = image.dim();
        let size_err = |file: &Path, (fh, fw): (usize, usize)| {
            Error::invalid(
                file.display(),
                format!(
                    "size {fh}x{fw} (HxW) differs from the image's {h}x{w} ({})",
                    self.image.display()
                ),
            )
        };
        if boundary.dim() != (h, w) {
            return Err(size_err(&self.boundary, boundary.dim()));
        }
        let semantic = match &self.semantic {
            SemanticFile::Probabilities(p) => {
                let a = read_probabilities(p)?;
                let (_, sh, sw) = a.dim();
                if (sh, sw) != (h, w) {
                    return Err(size_err(p, (sh, sw)));
                }
                SemanticMap::Probabilities(a)
            }
            SemanticFile::Labels(p) => {
                let a = read_labels(p)?;
                if a.dim() != (h, w) {
                    return Err(size_err(p, a.dim()));
                }
                SemanticMap::Labels(a)
            }
        };
        Ok(CaseMaps {
            image,
            boundary,
            semantic,
        })
    }
}

/// The loaded inputs of one case, all of the image's size.
#[derive(Debug, Clone)]
pub struct CaseMaps {
    /// RGB image `[H, W, 3]`.
    pub image: Array3<u8>,
    /// Boundary probabilities `[H, W]`.
    pub boundary: Array2<f32>,
    /// Probabilities or labels.
    pub semantic: SemanticMap,
}

impl CaseMaps {
    /// The MEP input over these maps.
    #[must_use]
    pub fn input(&self) -> MepInput<'_> {
        let semantic = match &self.semantic {
            SemanticMap::Probabilities(p) => Semantic::Probabilities(p.view()),
            SemanticMap::Labels(l) => Semantic::Labels(l.view()),
        };
        MepInput {
            image: self.image.view(),
            boundary: self.boundary.view(),
            semantic,
        }
    }
}

/// Loads the case folder `dir` ([`CaseFiles::find`] then [`CaseFiles::load`]).
///
/// # Errors
/// See [`CaseFiles::find`] and [`CaseFiles::load`].
pub fn load_case(dir: &Path) -> Result<CaseMaps> {
    CaseFiles::find(dir)?.load()
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

    #[test]
    fn npy_header_claiming_more_than_the_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = dir.path().join("huge.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<118}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        std::fs::write(&b, &bytes).expect("write");
        let e = read_boundary(&b).expect_err("huge").to_string();
        assert!(e.contains("huge.npy") && e.contains("declares"), "{e}");
        // A real file passes the check.
        ndarray_npy::write_npy(&b, &ndarray::array![[0.5f32, 1.0]]).expect("npy");
        assert_eq!(read_boundary(&b).expect("ok").dim(), (1, 2));
    }

    /// A version-1 `.npy` file with `header` (padded to 64 bytes) and `data`.
    fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&u16::try_from(padded.len()).expect("short").to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        assert_eq!(bytes.len() % 64, 0);
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn npy_is_viewed_in_place_or_converted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p.npy");
        let a = ndarray::Array3::from_shape_fn((2, 3, 4), |(c, y, x)| (c * 100 + y * 10 + x) as f32 / 7.0);
        ndarray_npy::write_npy(&p, &a).expect("npy");
        let mapped = load_probabilities(&p).expect("read");
        assert!(mapped.is_mapped());
        assert_eq!(mapped.view(), a.view());
        assert_eq!(read_probabilities(&p).expect("read"), a);
        // Fortran order: viewed in place with Fortran strides, the same values.
        let mut f = ndarray::Array3::zeros(ndarray::ShapeBuilder::f(a.raw_dim()));
        f.assign(&a);
        assert!(!f.is_standard_layout());
        ndarray_npy::write_npy(&p, &f).expect("npy");
        let mapped = load_probabilities(&p).expect("read");
        assert!(mapped.is_mapped());
        assert_eq!(mapped.view(), a.view());
        assert_eq!(read_probabilities(&p).expect("read"), a);
        // Big-endian: converted, the same values.
        let data: Vec<u8> = a.iter().flat_map(|v| v.to_be_bytes()).collect();
        std::fs::write(
            &p,
            npy_bytes(
                "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                &data,
            ),
        )
        .expect("write");
        let converted = load_probabilities(&p).expect("read");
        assert!(!converted.is_mapped());
        assert_eq!(converted.view(), a.view());
        // The boundary map likewise.
        let b = a.index_axis(ndarray::Axis(0), 1).to_owned();
        ndarray_npy::write_npy(&p, &b).expect("npy");
        let mapped = load_boundary(&p).expect("read");
        assert!(mapped.is_mapped());
        assert_eq!(mapped.view(), b.view());
        assert_eq!(read_boundary(&p).expect("read"), b);
    }

    #[test]
    fn npy_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("bad.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let data = [0u8; 24];
        // Truncated: the header declares more than the file holds.
        std::fs::write(&p, npy_bytes(header, &data[..20])).expect("write");
        let e = read_boundary(&p).expect_err("truncated").to_string();
        assert!(
            e.contains("bad.npy") && e.contains("declares 6 elements (24 bytes)"),
            "{e}"
        );
        // Trailing bytes after the data are refused, as ndarray-npy always did.
        let mut long = npy_bytes(header, &data);
        long.extend_from_slice(&[0; 4]);
        std::fs::write(&p, long).expect("write");
        let e = read_boundary(&p).expect_err("extra").to_string();
        assert!(e.contains("bad.npy") && e.contains("extra bytes"), "{e}");
        // Wrong dtype, wrong rank.
        std::fs::write(
            &p,
            npy_bytes(
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
        )
        .expect("write");
        let e = read_boundary(&p).expect_err("dtype").to_string();
        assert!(
            e.contains("bad.npy") && e.contains("wrong dtype '<i4', expected float32"),
            "{e}"
        );
        std::fs::write(&p, npy_bytes(header, &data)).expect("write");
        let e = read_probabilities(&p).expect_err("rank").to_string();
        assert!(e.contains("2-dimensional array, expected [K+1, H, W]"), "{e}");
        // NaN in a mapped file.
        let mut nan = data;
        nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&p, npy_bytes(header, &nan)).expect("write");
        assert!(read_boundary(&p).expect_err("nan").to_string().contains("NaN"));
        // Empty file, no magic.
        std::fs::write(&p, b"").expect("write");
        let e = read_boundary(&p).expect_err("empty").to_string();
        assert!(e.contains("bad.npy") && e.contains("NUMPY magic"), "{e}");
        // No channel.
        std::fs::write(
            &p,
            npy_bytes(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2, 3), }",
                &[],
            ),
        )
        .expect("write");
        assert!(
            read_probabilities(&p)
                .expect_err("k")
                .to_string()
                .contains("no channel")
        );
    }

    #[test]
    fn npy_labels_u8_and_u16() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.npy");
        let l8 = ndarray::array![[0u8, 1, 255], [2, 3, 4]];
        ndarray_npy::write_npy(&p, &l8).expect("npy");
        assert_eq!(read_labels(&p).expect("u8"), l8.mapv(u16::from));
        let l16 = ndarray::array![[0u16, 300, 255], [2, 65535, 4]];
        ndarray_npy::write_npy(&p, &l16).expect("npy");
        assert_eq!(read_labels(&p).expect("u16"), l16);
        let data: Vec<u8> = l16.iter().flat_map(|v| v.to_be_bytes()).collect();
        std::fs::write(
            &p,
            npy_bytes(
                "{'descr': '>u2', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
        )
        .expect("write");
        assert_eq!(read_labels(&p).expect("u16 big-endian"), l16);
        ndarray_npy::write_npy(&p, &ndarray::array![[0.5f32]]).expect("npy");
        let e = read_labels(&p).expect_err("f32").to_string();
        assert!(
            e.contains("l.npy") && e.contains("wrong dtype '<f4', expected uint8 or uint16"),
            "{e}"
        );
    }

    #[test]
    fn labels_above_k_are_background_with_one_rule() {
        let mut l = ndarray::array![[0u16, 1, 2, 3, 255, 9]];
        let cleared = apply_label_rule(&mut l, Some(2), Path::new("l.png"));
        assert_eq!(cleared, [3, 9]);
        assert_eq!(l, ndarray::array![[0u16, 1, 2, 0, 255, 0]]);
        let mut same = ndarray::array![[7u16]];
        assert!(apply_label_rule(&mut same, None, Path::new("l.png")).is_empty());
    }
}
