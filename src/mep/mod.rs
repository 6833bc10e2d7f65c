//! The Mask Extraction Pipeline (MEP) of the `BAISeg` paper, exactly as `docs/mep.md` fixes it:
//! edge NMS thinning -> dilation -> exact Euclidean distance transform -> seed threshold ->
//! 8-connected labelling -> OpenCV-semantics marker watershed -> closing + semantic filtering.
//!
//! One module per stage, each a pure function over `ndarray` buffers with a `_into`/`_mut` variant
//! that reuses caller buffers:
//!
//! | stage | module | docs/mep.md |
//! |---|---|---|
//! | thinning (triangle smoothing + edge NMS) | [`nms`] | #thinning |
//! | 3x3 dilation, iterated | [`dilate`] | #seeds |
//! | exact Euclidean distance + seed threshold | [`distance`] | #seeds |
//! | 8-connected labelling (raster order) | [`label`] | #seeds |
//! | `cv2.watershed` | [`watershed`] | #watershed |
//! | closing, semantic filter, class, score | [`refine`] | #refinement |
//!
//! [`Mep`] wires them together with per-image buffers that are reused across images; stages run
//! row- or instance-parallel on the current rayon pool. Working memory beyond the inputs is
//! 16 bytes per pixel (f64 smoothed boundary, two binary maps, i32 markers, u16 classes) plus the
//! watershed queues (at most 4 bytes per pixel, usually far less).
//!
//! ```
//! use ndarray::{Array2, Array3};
//! use baiseg_rt::mep::{extract, MepInput, MepParams, Semantic};
//! // Two squares separated by a vertical boundary line.
//! let (h, w) = (24, 40);
//! let image = Array3::<u8>::zeros((h, w, 3));
//! let boundary = Array2::from_shape_fn((h, w), |(_, x)| if x == 20 { 1.0f32 } else { 0.0 });
//! let labels = Array2::<u16>::from_elem((h, w), 1);
//! let input = MepInput { image: image.view(), boundary: boundary.view(), semantic: Semantic::Labels(labels.view()) };
//! let instances = extract(&input, &MepParams::default()).unwrap();
//! assert_eq!(instances.len(), 2);
//! assert!(instances.iter().all(|i| i.category == 1 && i.score == 1.0));
//! ```
use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2, ArrayView3};

use crate::error::{Error, Result};
use crate::instances::Instance;

pub mod dilate;
pub mod distance;
pub mod improved;
pub mod io;
pub mod label;
pub mod nms;
pub mod refine;
pub mod watershed;

/// Every parameter of the MEP, with the defaults of docs/mep.md#parameters. Serialised (the
/// `mep --timing-json` record) as the seven parameters by name and the mode as `"mep"`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// Size of the elliptical closing kernel (5 = `OpenCV`'s 5x5 `MORPH_ELLIPSE`).
    pub closing_kernel: usize,
    /// Instances with fewer pixels are dropped.
    pub min_area: u64,
    /// Which MEP runs: the paper's (default, exact) or the project's improved one.
    #[serde(rename = "mep")]
    pub mode: MepMode,
    /// Parameters of the improved MEP (unused in paper mode; not serialised: the records list
    /// the paper's seven and the mode, as they always have).
    #[serde(skip)]
    pub improved: improved::ImprovedParams,
}

/// Which Mask Extraction Pipeline runs (`--mep paper|improved`); serialised as its
/// [`Display`](std::fmt::Display) name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MepMode {
    /// docs/mep.md, exactly.
    #[default]
    Paper,
    /// The project's own MEP for real boundary maps ([`improved`], `docs/mep-improved.md`).
    Improved,
}

impl std::str::FromStr for MepMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paper" => Ok(Self::Paper),
            "improved" => Ok(Self::Improved),
            other => Err(format!("unknown MEP `{other}` (expected paper or improved)")),
        }
    }
}

impl std::fmt::Display for MepMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Paper => "paper",
            Self::Improved => "improved",
        })
    }
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
            mode: MepMode::Paper,
            improved: improved::ImprovedParams::default(),
        }
    }
}

/// Largest accepted values of the size-like MEP parameters: the work grows with them, and values
/// far beyond these only burn time (docs/reliability.md#sizes).
pub const MAX_NMS_RADIUS: usize = 64;
/// See [`MAX_NMS_RADIUS`].
pub const MAX_DILATE_ITERATIONS: usize = 256;
/// See [`MAX_NMS_RADIUS`].
pub const MAX_CLOSING_KERNEL: usize = 255;

impl MepParams {
    /// Checks every parameter: finite numbers, size-like parameters within their maxima.
    ///
    /// # Errors
    /// [`Error::Setting`] naming the parameter in words (`"MEP nms radius"`; front ends add their
    /// flag, docs/engine.md#errors) and the accepted range.
    pub fn check(&self) -> Result<()> {
        let bad = |setting: &'static str, why: String| Err(Error::setting(setting, why));
        if self.nms_radius > MAX_NMS_RADIUS {
            return bad(
                "MEP nms radius",
                format!("{} is out of range 0..={MAX_NMS_RADIUS}", self.nms_radius),
            );
        }
        if !self.nms_margin.is_finite() {
            return bad(
                "MEP nms margin",
                format!("must be a finite number, got {}", self.nms_margin),
            );
        }
        if !self.edge_threshold.is_finite() {
            return bad(
                "MEP edge threshold",
                format!("must be a finite number, got {}", self.edge_threshold),
            );
        }
        if self.dilate_iterations > MAX_DILATE_ITERATIONS {
            return bad(
                "MEP dilate iterations",
                format!(
                    "{} is out of range 0..={MAX_DILATE_ITERATIONS}",
                    self.dilate_iterations
                ),
            );
        }
        if !self.seed_distance.is_finite() {
            return bad(
                "MEP seed distance",
                format!("must be a finite number, got {}", self.seed_distance),
            );
        }
        if self.closing_kernel > MAX_CLOSING_KERNEL {
            return bad(
                "MEP closing kernel",
                format!("{} is out of range 0..={MAX_CLOSING_KERNEL}", self.closing_kernel),
            );
        }
        Ok(())
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

/// Names of the MEP stages, in order, as used by the timing spans (`mep::<name>`) and
/// [`StageTimes`].
pub const STAGES: [&str; 7] = [
    "validate",
    "nms",
    "dilate",
    "distance",
    "label",
    "watershed",
    "refine",
];

/// Wall-clock time of each stage of one [`Mep::run`] (indexed like [`STAGES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes(pub [Duration; 7]);

impl StageTimes {
    /// Sum over stages.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.0.iter().sum()
    }

    /// `(stage name, duration)` pairs in pipeline order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, Duration)> + '_ {
        STAGES.iter().copied().zip(self.0.iter().copied())
    }
}

/// Intermediate maps of one run, kept for tests and debugging ([`Mep::run_with_stages`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StageMaps {
    /// Thinned boundary (0/1).
    pub thin: Array2<u8>,
    /// Dilated thinned boundary (0/1).
    pub dilated: Array2<u8>,
    /// Seeds (0/1).
    pub seeds: Array2<u8>,
    /// Markers handed to the watershed (`1..=n`, 0 elsewhere).
    pub markers: Array2<i32>,
    /// Raw watershed output (`-1` on lines and on the frame).
    pub watershed: Array2<i32>,
}

/// A reusable MEP runner: holds per-image scratch buffers so that a stream of images allocates
/// once. Not `Sync`; use one per thread.
#[derive(Debug, Default)]
pub struct Mep {
    params: MepParams,
    smooth: Array2<f64>,
    bin_a: Array2<u8>,
    bin_b: Array2<u8>,
    markers: Array2<i32>,
    classes: Array2<u16>,
    parent: Vec<u32>,
    queues: watershed::WatershedScratch,
    times: StageTimes,
    improved: improved::Workspace,
}

/// Times a stage: a process-wide [`crate::timing`] span plus the runner's own record.
macro_rules! stage {
    ($self:ident, $idx:expr, $name:literal, $body:expr) => {{
        let _span = crate::timing::span(concat!("mep::", $name));
        let start = Instant::now();
        let out = $body;
        $self.times.0[$idx] = start.elapsed();
        out
    }};
}

impl Mep {
    /// A runner with the given parameters.
    #[must_use]
    pub fn new(params: MepParams) -> Self {
        Self {
            params,
            ..Self::default()
        }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &MepParams {
        &self.params
    }

    /// Stage times of the last [`Mep::run`].
    #[must_use]
    pub fn last_times(&self) -> StageTimes {
        self.times
    }

    /// Runs the whole MEP on one image.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] when the inputs' shapes disagree, the boundary or the
    /// probabilities hold NaN, or the image is not 3-channel.
    pub fn run(&mut self, input: &MepInput<'_>) -> Result<Vec<Instance>> {
        self.run_inner(input, None)
    }

    /// [`Mep::run`], also returning copies of the intermediate maps.
    ///
    /// # Errors
    /// As [`Mep::run`].
    pub fn run_with_stages(&mut self, input: &MepInput<'_>) -> Result<(Vec<Instance>, StageMaps)> {
        let mut maps = None;
        let inst = self.run_inner(input, Some(&mut maps))?;
        let maps = maps.ok_or_else(|| Error::invalid("mep", "internal: stage maps not recorded"))?;
        Ok((inst, maps))
    }

    fn resize(&mut self, h: usize, w: usize) {
        if self.smooth.dim() != (h, w) {
            self.smooth = Array2::zeros((h, w));
            self.bin_a = Array2::zeros((h, w));
            self.bin_b = Array2::zeros((h, w));
            self.markers = Array2::zeros((h, w));
            self.classes = Array2::zeros((h, w));
        }
    }

    #[allow(
        clippy::too_many_lines,
        reason = "the paper's six stages in order, each timed by `stage!` over buffers the runner owns; split, each helper would take most of `self` apart"
    )]
    fn run_inner(
        &mut self,
        input: &MepInput<'_>,
        maps: Option<&mut Option<StageMaps>>,
    ) -> Result<Vec<Instance>> {
        self.times = StageTimes::default();
        let (h, w) = input.boundary.dim();
        let p = self.params.clone();
        stage!(self, 0, "validate", validate(input, &p))?;
        if p.mode == MepMode::Improved {
            let want = maps.is_some();
            let (instances, stage_maps) =
                improved::run(input, &p, &mut self.improved, &mut self.times, want)?;
            if let Some(slot) = maps {
                *slot = stage_maps;
            }
            return Ok(instances);
        }
        self.resize(h, w);
        let nms_params = nms::NmsParams {
            radius: p.nms_radius,
            margin: p.nms_margin,
            threshold: p.edge_threshold,
        };
        stage!(
            self,
            1,
            "nms",
            nms::thin_nms_into(
                input.boundary,
                &nms_params,
                self.smooth.view_mut(),
                self.bin_a.view_mut()
            )
        );
        let thin = maps.is_some().then(|| self.bin_a.clone());
        // bin_a: thin -> dilated (bin_b is scratch).
        stage!(
            self,
            2,
            "dilate",
            dilate::dilate_square_mut(self.bin_a.view_mut(), p.dilate_iterations, self.bin_b.view_mut())
        );
        // bin_b: seeds; markers doubles as the EDT's column buffer.
        stage!(
            self,
            3,
            "distance",
            distance::seeds_into(
                self.bin_a.view(),
                p.seed_distance,
                self.markers.view_mut(),
                self.bin_b.view_mut()
            )
        );
        let n = stage!(
            self,
            4,
            "label",
            label::label_8_into(self.bin_b.view(), self.markers.view_mut(), &mut self.parent)
        );
        let markers = maps.is_some().then(|| self.markers.clone());
        // The watershed is sequential; on more than one thread the class map (which only needs
        // the inputs) runs beside it and its time is counted in the watershed stage
        // (docs/mep-performance.md#threads).
        let overlap = rayon::current_num_threads() > 1;
        let (markers_buf, queues, classes) = (&mut self.markers, &mut self.queues, &mut self.classes);
        let class_map = stage!(self, 5, "watershed", {
            if overlap {
                rayon::join(
                    || watershed::watershed_mut(input.image, markers_buf.view_mut(), queues),
                    || refine::class_map_into(&input.semantic, classes.view_mut()),
                )
                .1
            } else {
                watershed::watershed_mut(input.image, markers_buf.view_mut(), queues);
                Ok(())
            }
        });
        let refine_params = refine::RefineParams {
            closing_kernel: p.closing_kernel,
            min_area: p.min_area,
        };
        let instances = stage!(self, 6, "refine", {
            if overlap {
                class_map?;
            } else {
                refine::class_map_into(&input.semantic, self.classes.view_mut())?;
            }
            refine::refine(
                self.markers.view(),
                n,
                &input.semantic,
                self.classes.view(),
                &refine_params,
            )
        });
        if let Some(slot) = maps {
            *slot = Some(StageMaps {
                thin: thin.unwrap_or_default(),
                dilated: self.bin_a.clone(),
                seeds: self.bin_b.clone(),
                markers: markers.unwrap_or_default(),
                watershed: self.markers.clone(),
            });
        }
        Ok(instances)
    }
}

/// Checks shapes and values of the inputs (docs/mep.md: everything at image resolution).
fn validate(input: &MepInput<'_>, p: &MepParams) -> Result<()> {
    let (h, w) = input.boundary.dim();
    let (ih, iw, ic) = input.image.dim();
    if ic != 3 {
        return Err(Error::invalid(
            "image",
            format!("{ic} channels, expected 3 (RGB)"),
        ));
    }
    if (ih, iw) != (h, w) {
        return Err(Error::invalid(
            "boundary",
            format!("size {h}x{w} (HxW) differs from the image's {ih}x{iw}"),
        ));
    }
    match input.semantic {
        Semantic::Probabilities(pr) => {
            let (k, sh, sw) = pr.dim();
            if (sh, sw) != (h, w) {
                return Err(Error::invalid(
                    "semantic",
                    format!("size {sh}x{sw} (HxW) differs from the image's {h}x{w}"),
                ));
            }
            if k == 0 {
                return Err(Error::invalid("semantic", "no channel (expected [K+1, H, W])"));
            }
        }
        Semantic::Labels(l) => {
            if l.dim() != (h, w) {
                let (sh, sw) = l.dim();
                return Err(Error::invalid(
                    "labels",
                    format!("size {sh}x{sw} (HxW) differs from the image's {h}x{w}"),
                ));
            }
        }
    }
    if input.boundary.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("boundary", "contains NaN or infinite values"));
    }
    if p.nms_margin.is_nan() || p.edge_threshold.is_nan() || p.seed_distance.is_nan() {
        return Err(Error::invalid("MEP parameters", "NaN is not a valid value"));
    }
    p.check()
}

/// Runs the MEP once with fresh buffers (convenience for one-off calls).
///
/// # Errors
/// As [`Mep::run`].
pub fn extract(input: &MepInput<'_>, params: &MepParams) -> Result<Vec<Instance>> {
    Mep::new(params.clone()).run(input)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3};

    use super::*;

    fn run_labels(boundary: &Array2<f32>, classes: &Array2<u16>) -> Vec<Instance> {
        let (h, w) = boundary.dim();
        let image = Array3::<u8>::zeros((h, w, 3));
        let input = MepInput {
            image: image.view(),
            boundary: boundary.view(),
            semantic: Semantic::Labels(classes.view()),
        };
        extract(&input, &MepParams::default()).expect("valid input")
    }

    #[test]
    fn tiny_images_give_no_instances() {
        for (h, w) in [(1, 1), (1, 7), (7, 1), (2, 2), (2, 9), (9, 2)] {
            let b = Array2::<f32>::from_shape_fn((h, w), |(y, x)| ((y + x) % 3) as f32 / 2.0);
            assert!(
                run_labels(&b, &Array2::from_elem((h, w), 1)).is_empty(),
                "{h}x{w}"
            );
        }
        let empty = Array2::<f32>::zeros((0, 4));
        assert!(run_labels(&empty, &Array2::zeros((0, 4))).is_empty());
    }

    #[test]
    fn all_boundary_and_no_boundary() {
        let ones = Array2::<f32>::ones((16, 16));
        assert!(run_labels(&ones, &Array2::from_elem((16, 16), 1)).is_empty());
        // No boundary: one seed region; the closing restores the zeroed frame.
        let zeros = Array2::<f32>::zeros((12, 10));
        let inst = run_labels(&zeros, &Array2::from_elem((12, 10), 3));
        assert_eq!(inst.len(), 1);
        assert_eq!(
            (inst[0].category, inst[0].score, inst[0].mask.area()),
            (3, 1.0, 120)
        );
    }

    #[test]
    fn single_instance() {
        // A disc of class 2 whose rim is the boundary.
        let (h, w) = (40, 40);
        let d = |y: usize, x: usize| ((y as f64 - 20.0).powi(2) + (x as f64 - 20.0).powi(2)).sqrt();
        let b = Array2::from_shape_fn(
            (h, w),
            |(y, x)| if (d(y, x) - 12.0).abs() < 0.5 { 1.0f32 } else { 0.0 },
        );
        let c = Array2::from_shape_fn((h, w), |(y, x)| if d(y, x) < 12.0 { 2u16 } else { 0 });
        let inst = run_labels(&b, &c);
        // The disc, and the background region whose closing overlaps the class-2 rim.
        let disc: Vec<&Instance> = inst.iter().filter(|i| i.mask.contains(20, 20)).collect();
        assert_eq!(disc.len(), 1);
        assert_eq!(disc[0].category, 2);
        assert!(disc[0].mask.area() > 300);
    }

    #[test]
    fn ten_thousand_instances() {
        // A 100 x 100 grid of 13 x 13 cells separated by one-pixel boundary lines.
        let n = 100 * 14 + 1;
        let b = Array2::from_shape_fn((n, n), |(y, x)| f32::from(u8::from(y % 14 == 0 || x % 14 == 0)));
        let inst = run_labels(&b, &Array2::from_elem((n, n), 1));
        assert_eq!(inst.len(), 10_000);
        assert!(inst.iter().all(|i| i.category == 1 && i.score == 1.0));
        // Raster order of the seeds: the first instance is the top-left cell.
        assert!(inst[0].mask.contains(7, 7) && inst[1].mask.contains(7, 21));
    }

    #[test]
    #[allow(
        clippy::items_after_statements,
        reason = "a test-local helper next to its use"
    )]
    fn invalid_inputs_are_errors() {
        let image = Array3::<u8>::zeros((4, 5, 3));
        let b = Array2::<f32>::zeros((4, 5));
        let l = Array2::<u16>::zeros((4, 5));
        let bad_b = Array2::<f32>::zeros((5, 4));
        fn with<'a>(image: &'a Array3<u8>, b: &'a Array2<f32>, l: &'a Array2<u16>) -> MepInput<'a> {
            MepInput {
                image: image.view(),
                boundary: b.view(),
                semantic: Semantic::Labels(l.view()),
            }
        }
        assert!(extract(&with(&image, &bad_b, &l), &MepParams::default()).is_err());
        let mut nan = b.clone();
        nan[[1, 1]] = f32::NAN;
        let e = extract(&with(&image, &nan, &l), &MepParams::default()).expect_err("NaN");
        assert!(e.to_string().contains("NaN"));
        let grey = Array3::<u8>::zeros((4, 5, 1));
        let e = extract(
            &MepInput {
                image: grey.view(),
                boundary: b.view(),
                semantic: Semantic::Labels(l.view()),
            },
            &MepParams::default(),
        )
        .expect_err("1 channel");
        assert!(e.to_string().contains("channels"));
        let p = Array3::<f32>::zeros((0, 4, 5));
        assert!(
            extract(
                &MepInput {
                    image: image.view(),
                    boundary: b.view(),
                    semantic: Semantic::Probabilities(p.view())
                },
                &MepParams::default()
            )
            .is_err()
        );
        assert!(
            extract(&with(&image, &b, &l), &MepParams::default())
                .expect("valid")
                .is_empty()
        );
    }
}
