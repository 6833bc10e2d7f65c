//! Stage 2: the network's outputs as typed per-image maps at image resolution.
//!
//! A model may emit maps at a stride `s` (lower resolution) and always sees padded inputs; this
//! module resizes each output to the padded input size with bilinear interpolation exactly as
//! `cv2.resize(..., INTER_LINEAR)` places pixel centres (at half-integers), and crops the padding
//! away, computing only the pixels that survive the crop.
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, s};

use crate::error::{Error, Result};
use crate::input::Letterbox;
use crate::mep::{MepInput, Semantic};
use crate::model::RawOutputs;

/// Semantic information for one image.
#[derive(Debug, Clone)]
pub enum SemanticMap {
    /// Class probabilities `[K+1, H, W]` from the model.
    Probabilities(Array3<f32>),
    /// Class ids `[H, W]` given from outside (`--semantic-dir`).
    Labels(Array2<u16>),
}

/// The maps of one image at its original resolution.
#[derive(Debug, Clone)]
pub struct Maps {
    /// Boundary probability `[H, W]`.
    pub boundary: Array2<f32>,
    /// Semantic probabilities or labels.
    pub semantic: SemanticMap,
}

impl Maps {
    /// Borrows these maps, with `image` (`[H, W, 3]`), as MEP input.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the image and maps differ in size.
    pub fn mep_input<'a>(&'a self, image: ArrayView3<'a, u8>) -> Result<MepInput<'a>> {
        let (h, w) = self.boundary.dim();
        if image.shape()[..2] != [h, w] {
            return Err(Error::invalid(
                "maps",
                format!(
                    "image is {}x{} but the boundary map is {h}x{w}",
                    image.shape()[0],
                    image.shape()[1]
                ),
            ));
        }
        let semantic = match &self.semantic {
            SemanticMap::Probabilities(p) => Semantic::Probabilities(p.view()),
            SemanticMap::Labels(l) => Semantic::Labels(l.view()),
        };
        Ok(MepInput {
            image,
            boundary: self.boundary.view(),
            semantic,
        })
    }

    /// The per-pixel class map: the labels as given, or the argmax of the probabilities with the
    /// one class-map policy ([`crate::class_map::argmax`], docs/model-contract.md#class-map).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the probabilities hold NaN.
    pub fn class_map(&self) -> Result<Array2<u16>> {
        match &self.semantic {
            SemanticMap::Labels(l) => Ok(l.clone()),
            SemanticMap::Probabilities(p) => crate::class_map::argmax(p.view()),
        }
    }
}

/// Linear interpolation taps for one axis, cv2 `INTER_LINEAR` convention.
fn taps(src: usize, dst: usize, keep: usize) -> Vec<(usize, usize, f32)> {
    taps_range(src, dst, 0..keep)
}

/// [`taps`] for the destination pixels `range` only.
fn taps_range(src: usize, dst: usize, range: std::ops::Range<usize>) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    range
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut i = f.floor();
            let mut frac = f - i;
            if i < 0.0 {
                i = 0.0;
                frac = 0.0;
            }
            let mut i0 = i as usize;
            if i0 >= src - 1 {
                i0 = src - 1;
                frac = 0.0;
            }
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, frac as f32)
        })
        .collect()
}

/// Resizes a `[h, w]` map to `[dst_h, dst_w]` (cv2 `INTER_LINEAR`), keeping only the top-left
/// `[keep_h, keep_w]` of the result.
#[must_use]
pub fn resize_crop(
    src: ArrayView2<'_, f32>,
    dst_h: usize,
    dst_w: usize,
    keep_h: usize,
    keep_w: usize,
) -> Array2<f32> {
    let (sh, sw) = src.dim();
    if sh == dst_h && sw == dst_w {
        return src.slice(s![..keep_h, ..keep_w]).to_owned();
    }
    interpolate(src, &taps(sh, dst_h, keep_h), &taps(sw, dst_w, keep_w))
}

/// Resizes a map to `[dst_h, dst_w]` (cv2 `INTER_LINEAR`) and returns only the window
/// `rows x cols` of the result (tiled inference keeps each tile's centre, `src/tile.rs`).
#[must_use]
pub fn resize_window(
    src: ArrayView2<'_, f32>,
    dst_h: usize,
    dst_w: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) -> Array2<f32> {
    let (sh, sw) = src.dim();
    if sh == dst_h && sw == dst_w {
        return src.slice(s![rows, cols]).to_owned();
    }
    interpolate(src, &taps_range(sh, dst_h, rows), &taps_range(sw, dst_w, cols))
}

fn interpolate(
    src: ArrayView2<'_, f32>,
    ty: &[(usize, usize, f32)],
    tx: &[(usize, usize, f32)],
) -> Array2<f32> {
    let (keep_h, keep_w) = (ty.len(), tx.len());
    let mut out = Array2::<f32>::zeros((keep_h, keep_w));
    let mut row0 = vec![0f32; keep_w];
    let mut row1 = vec![0f32; keep_w];
    for (y, &(y0, y1, fy)) in ty.iter().enumerate() {
        for (x, &(x0, x1, fx)) in tx.iter().enumerate() {
            row0[x] = src[[y0, x0]] * (1.0 - fx) + src[[y0, x1]] * fx;
            row1[x] = src[[y1, x0]] * (1.0 - fx) + src[[y1, x1]] * fx;
        }
        for (x, o) in out.row_mut(y).iter_mut().enumerate() {
            *o = row0[x] * (1.0 - fy) + row1[x] * fy;
        }
    }
    out
}

/// Extracts image `index` of a batch's outputs at its original size.
///
/// # Errors
/// [`Error::Invalid`] when `index` is outside the batch or an output is empty.
pub fn from_outputs(raw: &RawOutputs, index: usize, letterbox: &Letterbox) -> Result<Maps> {
    let _span = crate::timing::span("maps::unpad");
    if index >= raw.boundary.shape()[0] {
        return Err(Error::invalid(
            "batch",
            format!("image {index} is outside a batch of {}", raw.boundary.shape()[0]),
        ));
    }
    let lb = letterbox;
    let b = raw.boundary.index_axis(Axis(0), index);
    let b = b.index_axis(Axis(0), 0);
    if b.is_empty() {
        return Err(Error::invalid("boundary", "empty output map"));
    }
    let boundary = resize_crop(b, lb.padded_height, lb.padded_width, lb.height, lb.width);
    let semantic = match &raw.semantic {
        Some(p) => {
            let p = p.index_axis(Axis(0), index);
            let k = p.shape()[0];
            let mut out = Array3::<f32>::zeros((k, lb.height, lb.width));
            for c in 0..k {
                let plane = resize_crop(
                    p.index_axis(Axis(0), c),
                    lb.padded_height,
                    lb.padded_width,
                    lb.height,
                    lb.width,
                );
                out.index_axis_mut(Axis(0), c).assign(&plane);
            }
            SemanticMap::Probabilities(out)
        }
        None => {
            return Err(Error::setting(
                "semantic labels",
                "single-branch model (no `semantic` output): give the semantic labels as label maps",
            ));
        }
    };
    Ok(Maps { boundary, semantic })
}

/// Like [`from_outputs`] but with the semantic map supplied from outside.
///
/// # Errors
/// [`Error::Invalid`] when `labels` does not match the image size.
pub fn from_outputs_with_labels(
    raw: &RawOutputs,
    index: usize,
    letterbox: &Letterbox,
    labels: Array2<u16>,
) -> Result<Maps> {
    let lb = letterbox;
    if labels.dim() != (lb.height, lb.width) {
        return Err(Error::invalid(
            "semantic labels",
            format!(
                "label map is {}x{} but the image is {}x{}",
                labels.nrows(),
                labels.ncols(),
                lb.height,
                lb.width
            ),
        ));
    }
    let b = raw.boundary.index_axis(Axis(0), index);
    let boundary = resize_crop(
        b.index_axis(Axis(0), 0),
        lb.padded_height,
        lb.padded_width,
        lb.height,
        lb.width,
    );
    Ok(Maps {
        boundary,
        semantic: SemanticMap::Labels(labels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn resize_matches_cv2_inter_linear() {
        // cv2.resize(np.array([[0,1],[2,3]], np.float32), (4,4), interpolation=cv2.INTER_LINEAR)
        let src = array![[0.0f32, 1.0], [2.0, 3.0]];
        let out = resize_crop(src.view(), 4, 4, 4, 4);
        let expected = array![
            [0.0f32, 0.25, 0.75, 1.0],
            [0.5, 0.75, 1.25, 1.5],
            [1.5, 1.75, 2.25, 2.5],
            [2.0, 2.25, 2.75, 3.0]
        ];
        for (a, b) in out.iter().zip(expected.iter()) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
        let cropped = resize_crop(src.view(), 4, 4, 3, 2);
        assert_eq!(cropped.dim(), (3, 2));
        assert!((cropped[[2, 1]] - 1.75).abs() < 1e-6);
    }

    #[test]
    fn identity_size_is_a_crop() {
        let src = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        assert_eq!(resize_crop(src.view(), 2, 3, 1, 2), array![[1.0f32, 2.0]]);
    }

    #[test]
    fn class_map_ties_go_to_smaller_id() {
        let p = array![[[0.5f32, 0.2]], [[0.5, 0.3]], [[0.0, 0.5]]];
        let maps = Maps {
            boundary: Array2::zeros((1, 2)),
            semantic: SemanticMap::Probabilities(p),
        };
        assert_eq!(maps.class_map().expect("no NaN"), array![[0u16, 2]]);
    }
}
