//! The Mask Extraction Pipeline (MEP) of the BAISeg paper, exactly as `SPEC.md` section 2 fixes it:
//! edge NMS thinning -> dilation -> exact Euclidean distance transform -> seed threshold ->
//! 8-connected labelling -> OpenCV-semantics marker watershed -> closing + semantic filtering.
//!
//! PLACEHOLDER: the stages are being implemented (issue 7). The public interface below is stable.
use ndarray::{ArrayView2, ArrayView3};

use crate::error::Result;
use crate::instances::Instance;

/// Every parameter of the MEP, with the SPEC's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MepParams {
    /// NMS sampling radius `r` (pixels along the normal).
    pub nms_radius: usize,
    /// NMS margin `m`: a pixel is suppressed when a neighbour exceeds `m * B(p)`.
    pub nms_margin: f64,
    /// Threshold `t_e` on the thinned boundary.
    pub edge_threshold: f32,
    /// Number of 3x3 dilations of the thinned boundary.
    pub dilate_iterations: usize,
    /// Seed distance threshold `t_d` in pixels (seeds are `dist > t_d`).
    pub seed_distance: f64,
    /// Size of the elliptical closing kernel (5 = OpenCV's 5x5 `MORPH_ELLIPSE`).
    pub closing_kernel: usize,
    /// Instances with fewer pixels are dropped.
    pub min_area: u64,
}

impl Default for MepParams {
    fn default() -> Self {
        Self {
            nms_radius: 1,
            nms_margin: 1.01,
            edge_threshold: 0.5,
            dilate_iterations: 2,
            seed_distance: 3.0,
            closing_kernel: 5,
            min_area: 0,
        }
    }
}

/// The semantic input of the MEP.
#[derive(Debug, Clone, Copy)]
pub enum Semantic<'a> {
    /// Class probabilities `[K+1, H, W]`, channel 0 = background.
    Probabilities(ArrayView3<'a, f32>),
    /// Class ids `[H, W]`: 0 = background, 255 = ignore (treated as background).
    Labels(ArrayView2<'a, u16>),
}

/// Everything the MEP needs for one image, all at image resolution.
#[derive(Debug, Clone, Copy)]
pub struct MepInput<'a> {
    /// RGB image, `[H, W, 3]`.
    pub image: ArrayView3<'a, u8>,
    /// Boundary probability `[H, W]` in [0, 1].
    pub boundary: ArrayView2<'a, f32>,
    /// Semantic probabilities or labels.
    pub semantic: Semantic<'a>,
}

/// A reusable MEP runner: holds per-image scratch buffers so that a stream of images allocates
/// once. Not `Sync`; use one per thread.
#[derive(Debug, Default)]
pub struct Mep {
    params: MepParams,
}

impl Mep {
    /// A runner with the given parameters.
    #[must_use]
    pub fn new(params: MepParams) -> Self {
        Self { params }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &MepParams {
        &self.params
    }

    /// Runs the whole MEP on one image.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] when the inputs' shapes disagree or the boundary holds NaN.
    pub fn run(&mut self, input: &MepInput<'_>) -> Result<Vec<Instance>> {
        let _ = input;
        Ok(Vec::new())
    }
}

/// Runs the MEP once with fresh buffers (convenience for one-off calls).
///
/// # Errors
/// As [`Mep::run`].
pub fn extract(input: &MepInput<'_>, params: &MepParams) -> Result<Vec<Instance>> {
    Mep::new(params.clone()).run(input)
}
