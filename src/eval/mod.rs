//! COCO (pycocotools-identical) and VOC instance-segmentation evaluation.
//!
//! The modules mirror `cocoeval.py`'s phases: [`dataset`] (`COCO`, `loadRes`), [`params`]
//! (`Params`), [`iou`] (`computeIoU`), [`evaluate`](mod@evaluate) (`evaluateImg`), [`accumulate`],
//! [`summarize`]; [`voc`] is chainercv's `eval_instance_segmentation_voc`.
//!
//! [`Evaluator`] is fed image by image, so inference can evaluate while it runs:
//!
//! ```no_run
//! use baiseg_rt::eval::{CocoDataset, Evaluator, Params, load_results};
//! let gt = CocoDataset::from_path("gt.json")?;
//! let mut ev = Evaluator::new(gt, Params::default())?;
//! for (image_id, det) in load_results("dt.json")? {
//!     ev.add_image_results(image_id, &[det])?;
//! }
//! let report = ev.finish()?;
//! print!("{}", report.summary);
//! # Ok::<(), baiseg_rt::Error>(())
//! ```
//!
//! Deviations from pycocotools, all on inputs where pycocotools crashes or silently misbehaves:
//! results naming unknown images or categories, polygons with fewer than 3 points and RLEs whose
//! size differs from their image are errors; a missing `iscrowd` means 0; an empty results list
//! evaluates to zero recall instead of an `IndexError`.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

pub mod accumulate;
pub mod boundary;
pub mod canvas;
pub mod confusion;
pub mod dataset;
pub mod evaluate;
pub mod geometry;
pub mod iou;
pub mod params;
pub mod plot;
pub mod report;
pub mod shapes;
pub mod summarize;
pub mod tide;
pub mod voc;

#[cfg(test)]
mod phase_tests;

pub use accumulate::Accumulated;
pub use confusion::{ConfusionMatrix, ConfusionParams};
pub use dataset::ResultMode;
pub use dataset::{
    Annotation, Category, CocoDataset, Detection, ImageInfo, Results, Segmentation, load_results,
};
pub use params::{IouType, Params, Protocol};
pub use summarize::{CategoryAp, STAT_NAMES};
pub use tide::{TideParams, TideReport};
pub use voc::VocReport;

use dataset::DetEntry;
use evaluate::{CatEval, Context};

use crate::error::{CocoError, ResultProblem};
use crate::{Error, Result};

/// Streaming evaluator: ground truth up front, detections image by image, numbers at the end.
#[derive(Debug)]
pub struct Evaluator {
    gt: CocoDataset,
    params: Params,
    img_ids: Vec<i64>,
    cat_ids: Vec<i64>,
    cat_index: HashMap<i64, u32>,
    /// Detections per ground-truth image position.
    dets: Vec<Vec<DetEntry>>,
    mode: Option<ResultMode>,
    next_id: u64,
    results_path: PathBuf,
}

/// Everything an evaluation produced.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// `segm`, `bbox` or `boundary`.
    pub iou_type: IouType,
    /// The protocol.
    pub protocol: Protocol,
    /// COCO: the 12 `COCOeval.stats`; VOC: mAP at each threshold.
    pub stats: Vec<f64>,
    /// Names of `stats`.
    pub stat_names: Vec<String>,
    /// COCO protocols: mAP (area all, largest maxDets) at each `IoU` threshold.
    pub map_per_iou: Vec<f64>,
    /// Per-category results.
    pub per_category: Vec<CategoryAp>,
    /// The printed summary (12 pycocotools lines, or the VOC lines).
    pub summary: String,
    /// The parameters, with image and category ids resolved.
    pub params: Params,
    /// Number of detections evaluated.
    pub num_detections: u64,
    /// COCO protocols: the accumulated tensors (for plots); not serialised.
    #[serde(skip)]
    pub accumulated: Option<Accumulated>,
    /// VOC protocol: precision/recall curves per threshold and category; not serialised.
    #[serde(skip)]
    pub voc: Option<VocReport>,
}

impl Evaluator {
    /// Starts an evaluation of `gt` with `params` (ids resolved like `COCOeval.evaluate`:
    /// sorted, unique, defaulting to every image and category of `gt`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for inconsistent parameters.
    pub fn new(gt: CocoDataset, mut params: Params) -> Result<Self> {
        params.validate()?;
        let mut img_ids = params.img_ids.clone().unwrap_or_else(|| gt.sorted_image_ids());
        img_ids.sort_unstable();
        img_ids.dedup();
        let mut cat_ids = params.cat_ids.clone().unwrap_or_else(|| gt.sorted_category_ids());
        cat_ids.sort_unstable();
        cat_ids.dedup();
        let cat_index = cat_ids
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        params.img_ids = Some(img_ids.clone());
        params.cat_ids = Some(cat_ids.clone());
        let dets = vec![Vec::new(); gt.images.len()];
        Ok(Self {
            gt,
            params,
            img_ids,
            cat_ids,
            cat_index,
            dets,
            mode: None,
            next_id: 0,
            results_path: PathBuf::from("<results>"),
        })
    }

    /// Names the results source in error messages.
    #[must_use]
    pub fn with_results_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.results_path = path.into();
        self
    }

    /// The ground truth.
    #[must_use]
    pub fn ground_truth(&self) -> &CocoDataset {
        &self.gt
    }

    /// Adds the detections of one image (may be called again for the same image).
    ///
    /// # Errors
    /// [`Error::Coco`] for an unknown image or category id, a non-finite score, a detection
    /// lacking what the first one had (`loadRes` decides by the first result), a polygon with
    /// fewer than 3 points, or an RLE whose size differs from the image's.
    pub fn add_image_results(&mut self, image_id: i64, dets: &[Detection]) -> Result<()> {
        for d in dets {
            self.push(image_id, d.clone())?;
        }
        Ok(())
    }

    /// Adds a whole results file, in file order.
    ///
    /// # Errors
    /// As [`Evaluator::add_image_results`].
    pub fn add_results(&mut self, results: Results) -> Result<()> {
        for (image_id, d) in results {
            self.push(image_id, d)?;
        }
        Ok(())
    }

    fn push(&mut self, image_id: i64, det: Detection) -> Result<()> {
        let id = self.next_id + 1;
        let bad = |problem: ResultProblem| {
            let image_id = (!matches!(problem, ResultProblem::UnknownImage(_))).then_some(image_id);
            Error::coco(
                &self.results_path,
                CocoError::Result {
                    id,
                    image_id,
                    problem,
                },
            )
        };
        let Some(pos) = self.gt.image_position(image_id) else {
            return Err(bad(ResultProblem::UnknownImage(image_id)));
        };
        if self.gt.category_position(det.category_id).is_none() {
            return Err(bad(ResultProblem::UnknownCategory(det.category_id)));
        }
        if !det.score.is_finite() {
            return Err(bad(ResultProblem::NonFiniteScore));
        }
        let mode = if let Some(m) = self.mode {
            m
        } else {
            let m = if det.bbox.is_some() {
                ResultMode::Bbox
            } else if det.segmentation.is_some() {
                ResultMode::Segm
            } else {
                return Err(bad(ResultProblem::NoShape));
            };
            self.mode = Some(m);
            m
        };
        match mode {
            ResultMode::Bbox if det.bbox.is_none() => {
                return Err(bad(ResultProblem::MissingBbox));
            }
            ResultMode::Segm if det.segmentation.is_none() => {
                return Err(bad(ResultProblem::MissingSegmentation));
            }
            _ => {}
        }
        if let Some(seg) = &det.segmentation {
            let img = &self.gt.images[pos];
            seg.validate(img.height, img.width).map_err(|source| {
                Error::coco(
                    &self.results_path,
                    CocoError::ResultSegmentation { id, image_id, source },
                )
            })?;
        }
        self.next_id = id;
        self.dets[pos].push(DetEntry { id, det });
        Ok(())
    }

    /// The error analyses (see `docs/evaluation.md`): a TIDE breakdown and/or a confusion
    /// matrix over the evaluated images and categories. Call before [`Evaluator::finish`].
    ///
    /// # Errors
    /// [`Error::Coco`] when a mask cannot be decoded or lacks what the `IoU` type needs.
    pub fn analyse(
        &self,
        tide: Option<&TideParams>,
        confusion: Option<&ConfusionParams>,
    ) -> Result<(Option<TideReport>, Option<ConfusionMatrix>)> {
        let ctx = geometry::GeomContext {
            cat_index: &self.cat_index,
            iou_type: self.params.iou_type,
            mode: self.mode.unwrap_or(ResultMode::Segm),
            boundary_dilation_ratio: self.params.boundary_dilation_ratio,
            results_path: &self.results_path,
        };
        let positions: Vec<usize> = self
            .img_ids
            .iter()
            .filter_map(|&id| self.gt.image_position(id))
            .collect();
        let geoms = |keep: &(dyn Fn(&DetEntry) -> bool + Sync),
                     max_dets: usize|
         -> Result<Vec<geometry::ImageGeom>> {
            positions
                .par_iter()
                .map(|&p| geometry::image_geom(&self.gt, p, &self.dets[p], keep, max_dets, &ctx))
                .collect()
        };
        let names: Vec<String> = self
            .cat_ids
            .iter()
            .map(|&c| self.gt.category_name(c).to_owned())
            .collect();
        let t = match tide {
            Some(tp) => Some(tide::tide(
                &geoms(&|_| true, tp.max_dets)?,
                self.cat_ids.len(),
                tp,
            )),
            None => None,
        };
        let c = match confusion {
            Some(cp) => {
                let thr = cp.score_thresh;
                let g = geoms(&move |d: &DetEntry| d.det.score >= thr, usize::MAX)?;
                Some(confusion::confusion(&g, &self.cat_ids, &names, cp))
            }
            None => None,
        };
        Ok((t, c))
    }

    /// Runs evaluate, accumulate and summarize (or the VOC protocol).
    ///
    /// # Errors
    /// [`Error::Coco`] when a mask cannot be decoded or lacks what the `IoU` type needs.
    pub fn finish(self) -> Result<EvalReport> {
        match self.params.protocol {
            Protocol::VocChainercv => voc::run(
                &self.gt,
                &self.params,
                &self.img_ids,
                &self.cat_ids,
                &self.dets,
                self.mode,
                &self.results_path,
                self.next_id,
            ),
            Protocol::Coco | Protocol::CocoThresholds => self.finish_coco(),
        }
    }

    fn finish_coco(self) -> Result<EvalReport> {
        let p = &self.params;
        let max_dets = p.sorted_max_dets();
        let ctx = Context {
            cat_index: &self.cat_index,
            use_cats: p.use_cats,
            iou_type: p.iou_type,
            iou_thrs: &p.iou_thrs,
            area_rng: &p.area_rng,
            max_det: max_dets.last().copied().unwrap_or(0),
            mode: self.mode.unwrap_or(ResultMode::Segm),
            fix_zero_ids: p.fix_zero_ids,
            boundary_dilation_ratio: p.boundary_dilation_ratio,
            results_path: &self.results_path,
        };
        let per_image: Vec<Vec<CatEval>> = self
            .img_ids
            .par_iter()
            .map(|&id| {
                let pos = self.gt.image_position(id);
                let dets = pos.map_or(&[][..], |p| self.dets[p].as_slice());
                evaluate::evaluate_image(&self.gt, pos, dets, &ctx)
            })
            .collect::<Result<_>>()?;
        let kn = if p.use_cats { self.cat_ids.len() } else { 1 };
        let mut per_cat: Vec<Vec<&CatEval>> = vec![Vec::new(); kn];
        for img in &per_image {
            for ce in img {
                if let Some(v) = per_cat.get_mut(ce.k as usize) {
                    v.push(ce);
                }
            }
        }
        let acc = accumulate::accumulate(
            &per_cat,
            p.iou_thrs.len(),
            &p.rec_thrs,
            p.area_rng.len(),
            &max_dets,
        );
        let (stats, mut summary) = summarize::summarize(&acc, p);
        let (ids, names): (Vec<i64>, Vec<String>) = if p.use_cats {
            self.cat_ids
                .iter()
                .map(|&c| (c, self.gt.category_name(c).to_owned()))
                .unzip()
        } else {
            (vec![-1], vec!["(all categories)".to_owned()])
        };
        let num_gt = self.count_gt(kn);
        let mut per_category = summarize::per_category(&acc, &ids, &names, &num_gt);
        if p.use_cats {
            count_detections(&mut per_category, &self.gt, &self.img_ids, &self.dets);
        } else if let Some(c) = per_category.first_mut() {
            c.num_dt = self
                .img_ids
                .iter()
                .filter_map(|&id| self.gt.image_position(id))
                .map(|p| self.dets[p].len() as u64)
                .sum();
        }
        let map_per_iou = map_per_iou(&acc, max_dets.len());
        if p.protocol == Protocol::CocoThresholds {
            summary.push_str(&threshold_lines(&p.iou_thrs, &map_per_iou));
        }
        Ok(EvalReport {
            iou_type: p.iou_type,
            protocol: p.protocol,
            stats,
            stat_names: STAT_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            map_per_iou,
            per_category,
            summary,
            params: self.params.clone(),
            num_detections: self.next_id,
            accumulated: Some(acc),
            voc: None,
        })
    }

    fn count_gt(&self, kn: usize) -> Vec<u64> {
        let mut n = vec![0u64; kn];
        for &id in &self.img_ids {
            let Some(pos) = self.gt.image_position(id) else {
                continue;
            };
            for &ai in self.gt.annotations_of(pos) {
                let a = &self.gt.annotations[ai as usize];
                if a.iscrowd.unwrap_or(false) {
                    continue;
                }
                if let Some(&k) = self.cat_index.get(&a.category_id) {
                    let k = if self.params.use_cats { k as usize } else { 0 };
                    n[k] += 1;
                }
            }
        }
        n
    }
}

/// Evaluates a results list against a dataset in one call.
///
/// # Errors
/// As [`Evaluator::add_results`] and [`Evaluator::finish`].
pub fn evaluate(
    gt: CocoDataset,
    results: Results,
    params: Params,
    results_path: &Path,
) -> Result<EvalReport> {
    let mut ev = Evaluator::new(gt, params)?.with_results_path(results_path);
    ev.add_results(results)?;
    ev.finish()
}

/// Loads both files and evaluates.
///
/// # Errors
/// I/O, JSON and COCO errors naming the file at fault.
pub fn evaluate_files(gt_path: &Path, results_path: &Path, params: Params) -> Result<EvalReport> {
    let boxes_only = params.iou_type == IouType::Bbox;
    let (gt, results) = rayon::join(
        || {
            if boxes_only {
                CocoDataset::from_path_boxes_only(gt_path)
            } else {
                CocoDataset::from_path(gt_path)
            }
        },
        || load_results(results_path),
    );
    evaluate(gt?, results?, params, results_path)
}

/// mAP per `IoU` threshold: the mean of the valid precision cells over recall thresholds and
/// categories, area `all`, the largest maxDets.
fn map_per_iou(acc: &Accumulated, n_max_dets: usize) -> Vec<f64> {
    let m_last = n_max_dets.saturating_sub(1);
    let [tn, rn, kn2, _, _] = acc.shape;
    (0..tn)
        .map(|t| {
            let mut v = Vec::with_capacity(rn * kn2);
            for r in 0..rn {
                for k in 0..kn2 {
                    v.push(acc.precision[acc.pidx(t, r, k, 0, m_last)]);
                }
            }
            summarize::mean_valid(&v)
        })
        .collect()
}

/// The `coco-thresholds` summary lines, one per `IoU` threshold.
fn threshold_lines(thrs: &[f64], maps: &[f64]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (t, v) in thrs.iter().zip(maps) {
        let _ = writeln!(
            out,
            " mAP@{:<4} (COCOeval matching, 101-point AP) = {}",
            summarize::py_fixed(*t, 2),
            summarize::py_fixed(*v, 3)
        );
    }
    out
}

/// Fills `num_dt` of each category (by id) from the detections of the evaluated images.
pub(crate) fn count_detections(
    per_category: &mut [CategoryAp],
    gt: &CocoDataset,
    img_ids: &[i64],
    dets: &[Vec<DetEntry>],
) {
    let index: HashMap<i64, usize> = per_category
        .iter()
        .enumerate()
        .map(|(i, c)| (c.category_id, i))
        .collect();
    for &id in img_ids {
        let Some(pos) = gt.image_position(id) else {
            continue;
        };
        for d in &dets[pos] {
            if let Some(&i) = index.get(&d.det.category_id) {
                per_category[i].num_dt += 1;
            }
        }
    }
}

/// Row order of the per-category table (`--sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableSort {
    /// By category id (the ground truth's order).
    #[default]
    Id,
    /// By AP, best first; categories without AP last.
    Ap,
    /// By name.
    Name,
    /// By number of ground truths, most first.
    Gt,
}

/// What the per-category table shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Also list categories with neither ground truth nor detections.
    pub all_categories: bool,
    /// Row order.
    pub sort: TableSort,
}

impl EvalReport {
    /// The per-category rows the table shows under `opts`, in order: categories with neither
    /// ground truth nor detections are left out unless `opts.all_categories`.
    #[must_use]
    pub fn table_rows(&self, opts: TableOptions) -> Vec<&CategoryAp> {
        let mut rows: Vec<&CategoryAp> = self
            .per_category
            .iter()
            .filter(|c| opts.all_categories || c.num_gt > 0 || c.num_dt > 0)
            .collect();
        let ap_key = |c: &CategoryAp| {
            if c.ap.is_nan() || c.ap < 0.0 {
                f64::NEG_INFINITY
            } else {
                c.ap
            }
        };
        match opts.sort {
            TableSort::Id => {}
            TableSort::Ap => rows.sort_by(|a, b| {
                ap_key(b)
                    .total_cmp(&ap_key(a))
                    .then(a.category_id.cmp(&b.category_id))
            }),
            TableSort::Name => {
                rows.sort_by(|a, b| a.name.cmp(&b.name).then(a.category_id.cmp(&b.category_id)));
            }
            TableSort::Gt => {
                rows.sort_by(|a, b| b.num_gt.cmp(&a.num_gt).then(a.category_id.cmp(&b.category_id)));
            }
        }
        rows
    }

    /// The per-category table as aligned text, default options (empty categories hidden, id
    /// order).
    #[must_use]
    pub fn category_table(&self) -> String {
        self.category_table_with(TableOptions::default())
    }

    /// The per-category table as aligned text: one row per category of
    /// [`EvalReport::table_rows`], then a line saying how many empty categories were hidden.
    #[must_use]
    pub fn category_table_with(&self, opts: TableOptions) -> String {
        use std::fmt::Write as _;
        let rows = self.table_rows(opts);
        let mut s = String::new();
        let width = rows.iter().map(|c| c.name.len()).max().unwrap_or(8).clamp(8, 32);
        let thr = &self.params.iou_thrs;
        let _ = write!(
            s,
            "{:>8}  {:<width$}  {:>6}  {:>6}",
            "cat_id", "name", "n_gt", "n_dt"
        );
        if self.protocol == Protocol::VocChainercv {
            for t in thr {
                let _ = write!(s, "  {:>7}", format!("AP@{}", summarize::py_fixed(*t * 100.0, 0)));
            }
        } else {
            let _ = write!(s, "  {:>7}  {:>7}", "AP", "AR");
            for t in thr {
                let _ = write!(s, "  {:>7}", format!("AP@{}", summarize::py_fixed(*t * 100.0, 0)));
            }
        }
        s.push('\n');
        let fmt = |v: f64| {
            if v < 0.0 || v.is_nan() {
                "-".to_owned()
            } else {
                summarize::py_fixed(v * 100.0, 2)
            }
        };
        for c in &rows {
            let name: String = c.name.chars().take(width).collect();
            let _ = write!(
                s,
                "{:>8}  {:<width$}  {:>6}  {:>6}",
                c.category_id, name, c.num_gt, c.num_dt
            );
            if self.protocol != Protocol::VocChainercv {
                let _ = write!(s, "  {:>7}  {:>7}", fmt(c.ap), fmt(c.ar));
            }
            for v in &c.ap_per_iou {
                let _ = write!(s, "  {:>7}", fmt(*v));
            }
            s.push('\n');
        }
        let hidden = self.per_category.len() - rows.len();
        if hidden > 0 {
            let _ = writeln!(
                s,
                "({hidden} categories with no ground truth and no detections hidden; --all-categories shows them)"
            );
        }
        s
    }
}
