//! Per-image, per-category matching (`COCOeval._prepare`, `computeIoU`, `evaluateImg`).
//!
//! One call of [`evaluate_image`] does all categories of one image: it groups ground truths and
//! detections by category (file order kept, as `imgToAnns`), applies `loadRes` semantics to the
//! detections (area and box from the box or from the mask), sorts detections by score with a
//! stable sort (numpy `mergesort`), keeps the best `maxDets[-1]`, computes the IoU matrix once
//! and runs the greedy matching for every area range.
use std::collections::HashMap;
use std::path::Path;

use super::boundary::dilation_radius;
use super::dataset::{CocoDataset, Detection, Segmentation};
use super::iou::{MaskGeom, boundary_iou_matrix, box_iou_matrix, mask_iou_matrix};
use super::params::IouType;
use crate::rle::{Bbox, Rle};
use crate::{Error, Result};

/// How result areas and boxes are derived, decided by the first result like `COCO.loadRes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultMode {
    /// The first result had a non-empty `bbox`: every area is `w * h`, a missing segmentation is
    /// the box as a polygon.
    Bbox,
    /// The first result had only a `segmentation`: area is the mask area, a missing box is the
    /// mask's box.
    Segm,
}

/// Flag bit: the detection is matched to a ground truth (pycocotools `dtm != 0`).
pub const MATCHED: u8 = 1;
/// Flag bit: the detection is ignored (`dtIgnore`).
pub const IGNORED: u8 = 2;

/// Matching results of one image and one category over all area ranges
/// (pycocotools' `evalImgs` entries of that image and category, one per area range).
#[derive(Debug, Clone)]
pub struct CatEval {
    /// Category index (position in the sorted `catIds`; 0 when `useCats` is off).
    pub k: u32,
    /// Detection scores, highest first, at most `maxDets[-1]` (`dtScores`).
    pub scores: Vec<f64>,
    /// `D x A x T` flags ([`MATCHED`], [`IGNORED`]), `flags[(d * A + a) * T + t]`: everything
    /// about one detection is contiguous, which is what accumulate reads in score order.
    pub flags: Vec<u8>,
    /// Per area range: ground truths not ignored (`gtIgnore == 0`).
    pub num_pos: Vec<u32>,
}

/// A detection with the id `loadRes` gives it (1-based, in insertion order).
#[derive(Debug, Clone)]
pub struct DetEntry {
    /// Result id (`ann['id'] = index + 1`).
    pub id: u64,
    /// The detection.
    pub det: Detection,
}

/// What `evaluate_image` needs besides the data.
#[derive(Debug)]
pub struct Context<'a> {
    /// Category id -> index in sorted `catIds`.
    pub cat_index: &'a HashMap<i64, u32>,
    /// `useCats`.
    pub use_cats: bool,
    /// Mask or box IoU.
    pub iou_type: IouType,
    /// `iouThrs`.
    pub iou_thrs: &'a [f64],
    /// `areaRng`.
    pub area_rng: &'a [[f64; 2]],
    /// `maxDets[-1]`.
    pub max_det: usize,
    /// `loadRes` mode of the results.
    pub mode: ResultMode,
    /// Count matches to ground-truth id 0.
    pub fix_zero_ids: bool,
    /// Boundary IoU dilation ratio.
    pub boundary_dilation_ratio: f64,
    /// Results file name for error messages.
    pub results_path: &'a Path,
}

struct Gt {
    id: i64,
    area: f64,
    crowd: bool,
    ann: u32,
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Coco {
        path: path.to_path_buf(),
        reason,
    }
}

/// Evaluates every category of one image. `position` is the image's index in `gt.images`
/// (`None` for an image id only named in `imgIds`), `dets` its detections in insertion order.
///
/// # Errors
/// [`Error::Coco`] when a mask cannot be decoded or lacks what the IoU type needs.
#[allow(
    clippy::too_many_lines,
    reason = "one pass of cocoeval's per-image phase, kept in its order"
)]
pub fn evaluate_image(
    gt: &CocoDataset,
    position: Option<usize>,
    dets: &[DetEntry],
    ctx: &Context<'_>,
) -> Result<Vec<CatEval>> {
    let Some(position) = position else {
        return Ok(Vec::new());
    };
    let img = &gt.images[position];
    let (h, w) = (img.height, img.width);
    // Ground truths grouped by category, file order within a category; with useCats off the
    // single group is ordered by category then file order (`[g for c in catIds for g in _gts[c]]`).
    let mut gts: Vec<(u32, u32)> = Vec::new();
    for &ai in gt.annotations_of(position) {
        let a = &gt.annotations[ai as usize];
        if let Some(&k) = ctx.cat_index.get(&a.category_id) {
            gts.push((k, ai));
        }
    }
    gts.sort_by_key(|&(k, _)| k);
    let mut dts: Vec<(u32, u32)> = Vec::new();
    for (i, d) in dets.iter().enumerate() {
        if let Some(&k) = ctx.cat_index.get(&d.det.category_id) {
            dts.push((k, u32::try_from(i).unwrap_or(u32::MAX)));
        }
    }
    dts.sort_by_key(|&(k, _)| k);

    let mut out = Vec::new();
    let (mut gi, mut di) = (0usize, 0usize);
    while gi < gts.len() || di < dts.len() {
        // Next group key.
        let kg = gts.get(gi).map(|&(k, _)| key_of(k, ctx.use_cats));
        let kd = dts.get(di).map(|&(k, _)| key_of(k, ctx.use_cats));
        let k = match (kg, kd) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let g_end = gi
            + gts[gi..]
                .iter()
                .take_while(|&&(kk, _)| key_of(kk, ctx.use_cats) == k)
                .count();
        let d_end = di
            + dts[di..]
                .iter()
                .take_while(|&&(kk, _)| key_of(kk, ctx.use_cats) == k)
                .count();
        let group_g = &gts[gi..g_end];
        let mut group_d: Vec<u32> = dts[di..d_end].iter().map(|&(_, i)| i).collect();
        gi = g_end;
        di = d_end;

        // Detections: highest score first, stable, at most maxDets[-1].
        group_d.sort_by(|&a, &b| {
            dets[b as usize]
                .det
                .score
                .partial_cmp(&dets[a as usize].det.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        group_d.truncate(ctx.max_det);

        let g_list: Vec<Gt> = group_g
            .iter()
            .map(|&(_, ai)| {
                let a = &gt.annotations[ai as usize];
                Gt {
                    id: a.id,
                    area: a.area.unwrap_or(0.0),
                    crowd: a.iscrowd.unwrap_or(false),
                    ann: ai,
                }
            })
            .collect();
        let crowd: Vec<bool> = g_list.iter().map(|g| g.crowd).collect();

        // loadRes: areas, boxes, masks of the kept detections.
        let mut d_area = Vec::with_capacity(group_d.len());
        let ious = match ctx.iou_type {
            IouType::Segm | IouType::Boundary => {
                let mut dg = Vec::with_capacity(group_d.len());
                for &i in &group_d {
                    let e = &dets[i as usize];
                    let (rle, area) = det_mask(e, h, w, ctx.mode, ctx.results_path)?;
                    d_area.push(area);
                    dg.push(MaskGeom::new(rle));
                }
                if g_list.is_empty() || dg.is_empty() {
                    Vec::new()
                } else {
                    let mut gg = Vec::with_capacity(g_list.len());
                    for g in &g_list {
                        let a = &gt.annotations[g.ann as usize];
                        let Some(seg) = &a.segmentation else {
                            return Err(bad(
                                &gt.path,
                                format!("annotation id {} has no segmentation", a.id),
                            ));
                        };
                        let rle = seg
                            .to_rle(h, w)
                            .map_err(|r| bad(&gt.path, format!("annotation id {}: {r}", a.id)))?;
                        gg.push(MaskGeom::new(rle));
                    }
                    let ious = mask_iou_matrix(&dg, &gg, &crowd);
                    if ctx.iou_type == IouType::Boundary {
                        let d = dilation_radius(h, w, ctx.boundary_dilation_ratio);
                        boundary_iou_matrix(&dg, &gg, &crowd, d, ious)
                    } else {
                        ious
                    }
                }
            }
            IouType::Bbox => {
                let mut db = Vec::with_capacity(group_d.len());
                for &i in &group_d {
                    let e = &dets[i as usize];
                    let (bb, area) = det_box(e, h, w, ctx.mode, ctx.results_path)?;
                    d_area.push(area);
                    db.push(bb);
                }
                if g_list.is_empty() || db.is_empty() {
                    Vec::new()
                } else {
                    let mut gb = Vec::with_capacity(g_list.len());
                    for g in &g_list {
                        let a = &gt.annotations[g.ann as usize];
                        let bb = a
                            .bbox
                            .as_deref()
                            .and_then(|b| <[f64; 4]>::try_from(b).ok())
                            .ok_or_else(|| bad(&gt.path, format!("annotation id {} has no bbox", a.id)))?;
                        gb.push(bb);
                    }
                    box_iou_matrix(&db, &gb, &crowd)
                }
            }
        };
        let scores: Vec<f64> = group_d.iter().map(|&i| dets[i as usize].det.score).collect();
        let a_n = ctx.area_rng.len();
        let mut flags = vec![0u8; scores.len() * a_n * ctx.iou_thrs.len()];
        let num_pos = ctx
            .area_rng
            .iter()
            .enumerate()
            .map(|(a, rng)| match_area(&g_list, &d_area, &ious, *rng, ctx, &mut flags, a, a_n))
            .collect();
        out.push(CatEval {
            k,
            scores,
            flags,
            num_pos,
        });
    }
    Ok(out)
}

fn key_of(k: u32, use_cats: bool) -> u32 {
    if use_cats { k } else { 0 }
}

/// The detection's mask and area under `loadRes` rules.
pub(crate) fn det_mask(e: &DetEntry, h: u32, w: u32, mode: ResultMode, path: &Path) -> Result<(Rle, f64)> {
    let err = |r: String| {
        bad(
            path,
            format!("result id {} (category {}): {r}", e.id, e.det.category_id),
        )
    };
    match mode {
        ResultMode::Bbox => {
            let bb = e
                .det
                .bbox
                .ok_or_else(|| err("has no bbox (the first result has one)".into()))?;
            let rle = match &e.det.segmentation {
                Some(seg) => seg.to_rle(h, w).map_err(err)?,
                None => Rle::from_bbox(&bb, h, w),
            };
            Ok((rle, bb[2] * bb[3]))
        }
        ResultMode::Segm => {
            let seg = e
                .det
                .segmentation
                .as_ref()
                .ok_or_else(|| err("has no segmentation".into()))?;
            let rle = seg.to_rle(h, w).map_err(err)?;
            let area = f64::from(rle.area_u32());
            Ok((rle, area))
        }
    }
}

/// The detection's box and area under `loadRes` rules.
pub(crate) fn det_box(e: &DetEntry, h: u32, w: u32, mode: ResultMode, path: &Path) -> Result<(Bbox, f64)> {
    let err = |r: String| {
        bad(
            path,
            format!("result id {} (category {}): {r}", e.id, e.det.category_id),
        )
    };
    match mode {
        ResultMode::Bbox => {
            let bb = e
                .det
                .bbox
                .ok_or_else(|| err("has no bbox (the first result has one)".into()))?;
            Ok((bb, bb[2] * bb[3]))
        }
        ResultMode::Segm => {
            let seg: &Segmentation = e
                .det
                .segmentation
                .as_ref()
                .ok_or_else(|| err("has no segmentation".into()))?;
            let rle = seg.to_rle(h, w).map_err(err)?;
            let area = f64::from(rle.area_u32());
            let bb = e.det.bbox.unwrap_or_else(|| rle.to_bbox());
            Ok((bb, area))
        }
    }
}

/// `evaluateImg` for one area range: greedy matching per IoU threshold, ground truths ignored
/// last, crowds matchable many times, then unmatched detections outside the range ignored.
/// Writes flags `(d * a_n + a) * T + t` and returns the number of ground truths not ignored.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per area range over shared buffers"
)]
fn match_area(
    gts: &[Gt],
    d_area: &[f64],
    ious: &[f64],
    rng: [f64; 2],
    ctx: &Context<'_>,
    flags: &mut [u8],
    a: usize,
    a_n: usize,
) -> u32 {
    let g_n = gts.len();
    let d_n = d_area.len();
    let t_n = ctx.iou_thrs.len();
    let out_of = |a: f64| a < rng[0] || a > rng[1];
    let g_ign: Vec<bool> = gts.iter().map(|g| g.crowd || out_of(g.area)).collect();
    // Stable argsort of _ignore: kept first, ignored last.
    let mut order: Vec<usize> = (0..g_n).filter(|&g| !g_ign[g]).collect();
    let num_pos = order.len();
    order.extend((0..g_n).filter(|&g| g_ign[g]));
    let s_ign: Vec<bool> = order.iter().map(|&g| g_ign[g]).collect();
    let s_crowd: Vec<bool> = order.iter().map(|&g| gts[g].crowd).collect();
    let at = |d: usize, t: usize| (d * a_n + a) * t_n + t;
    if !ious.is_empty() {
        let mut gtm = vec![false; g_n];
        for (t, &thr) in ctx.iou_thrs.iter().enumerate() {
            gtm.fill(false);
            for d in 0..d_n {
                let mut iou = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                let row = &ious[d * g_n..(d + 1) * g_n];
                for gi in 0..g_n {
                    if gtm[gi] && !s_crowd[gi] {
                        continue;
                    }
                    if let Some(mm) = m
                        && !s_ign[mm]
                        && s_ign[gi]
                    {
                        break;
                    }
                    let v = row[order[gi]];
                    if v < iou {
                        continue;
                    }
                    iou = v;
                    m = Some(gi);
                }
                if let Some(mm) = m {
                    let mut f = 0u8;
                    if s_ign[mm] {
                        f |= IGNORED;
                    }
                    // dtm holds the matched gt id; pycocotools reads id 0 as "unmatched".
                    if ctx.fix_zero_ids || gts[order[mm]].id != 0 {
                        f |= MATCHED;
                    }
                    flags[at(d, t)] = f;
                    gtm[mm] = true; // gtm holds the detection id, always >= 1
                }
            }
        }
    }
    for (d, &area) in d_area.iter().enumerate() {
        if out_of(area) {
            for t in 0..t_n {
                let f = &mut flags[at(d, t)];
                if *f & MATCHED == 0 {
                    *f |= IGNORED;
                }
            }
        }
    }
    u32::try_from(num_pos).unwrap_or(u32::MAX)
}
