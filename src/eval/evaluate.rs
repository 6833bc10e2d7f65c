//! Per-image, per-category matching (`COCOeval._prepare`, `computeIoU`, `evaluateImg`).
//!
//! One call of [`evaluate_image`] does all categories of one image: it groups ground truths and
//! detections by category (file order kept, as `imgToAnns`), applies `loadRes` semantics to the
//! detections (area and box from the box or from the mask), sorts detections by score with a
//! stable sort (numpy `mergesort`), keeps the best `maxDets[-1]`, computes the `IoU` matrix once
//! and runs the greedy matching for every area range.
use std::collections::HashMap;
use std::path::Path;

use super::dataset::{CocoDataset, DetEntry, ResultMode};
use super::params::IouType;
use super::shapes::{ShapeContext, Shapes, iou_matrix};
use crate::Result;

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

/// What `evaluate_image` needs besides the data.
#[derive(Debug)]
pub struct Context<'a> {
    /// Category id -> index in sorted `catIds`.
    pub cat_index: &'a HashMap<i64, u32>,
    /// `useCats`.
    pub use_cats: bool,
    /// Mask or box `IoU`.
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
    /// Boundary `IoU` dilation ratio.
    pub boundary_dilation_ratio: f64,
    /// Results file name for error messages.
    pub results_path: &'a Path,
}

struct Gt {
    id: i64,
    area: f64,
    crowd: bool,
}

/// One category group of an image: its key (category index, 0 with `useCats` off), its ground
/// truths (annotation indexes, file order) and its detections (indexes into `dets`).
struct Group {
    k: u32,
    gts: Vec<u32>,
    dts: Vec<u32>,
}

/// Evaluates every category of one image. `position` is the image's index in `gt.images`
/// (`None` for an image id only named in `imgIds`), `dets` its detections in insertion order.
///
/// # Errors
/// [`Error::Coco`](crate::Error::Coco) when a mask cannot be decoded or lacks what the `IoU` type
/// needs.
pub fn evaluate_image(
    gt: &CocoDataset,
    position: Option<usize>,
    dets: &[DetEntry],
    ctx: &Context<'_>,
) -> Result<Vec<CatEval>> {
    let Some(position) = position else {
        return Ok(Vec::new());
    };
    group_by_category(gt, position, dets, ctx)
        .into_iter()
        .map(|g| evaluate_group(gt, position, dets, g, ctx))
        .collect()
}

/// `COCOeval._prepare` for one image: ground truths and detections grouped by category, file
/// order within a category; with `useCats` off the single group is ordered by category then file
/// order (`[g for c in catIds for g in _gts[c]]`). Groups come in ascending key order.
fn group_by_category(gt: &CocoDataset, position: usize, dets: &[DetEntry], ctx: &Context<'_>) -> Vec<Group> {
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

    let key = |k: u32| key_of(k, ctx.use_cats);
    let mut out = Vec::new();
    let (mut gi, mut di) = (0usize, 0usize);
    loop {
        let k = match (gts.get(gi).map(|g| key(g.0)), dts.get(di).map(|d| key(d.0))) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        let g_end = gi + gts[gi..].iter().take_while(|g| key(g.0) == k).count();
        let d_end = di + dts[di..].iter().take_while(|d| key(d.0) == k).count();
        out.push(Group {
            k,
            gts: gts[gi..g_end].iter().map(|&(_, a)| a).collect(),
            dts: dts[di..d_end].iter().map(|&(_, i)| i).collect(),
        });
        gi = g_end;
        di = d_end;
    }
    out
}

/// `computeIoU` and `evaluateImg` for one category group: detections highest score first
/// (stable), at most `maxDets[-1]`, their `loadRes` shapes, the `IoU` matrix, then the matching of
/// every area range.
fn evaluate_group(
    gt: &CocoDataset,
    position: usize,
    dets: &[DetEntry],
    group: Group,
    ctx: &Context<'_>,
) -> Result<CatEval> {
    let Group {
        k,
        gts,
        dts: mut group_d,
    } = group;
    group_d.sort_by(|&a, &b| {
        dets[b as usize]
            .det
            .score
            .partial_cmp(&dets[a as usize].det.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    group_d.truncate(ctx.max_det);

    let g_list: Vec<Gt> = gts
        .iter()
        .map(|&ai| {
            let a = &gt.annotations[ai as usize];
            Gt {
                id: a.id,
                area: a.area.unwrap_or(0.0),
                crowd: a.iscrowd.unwrap_or(false),
            }
        })
        .collect();
    let crowd: Vec<bool> = g_list.iter().map(|g| g.crowd).collect();

    let img = &gt.images[position];
    let shape_ctx = ShapeContext::for_image(img, ctx.iou_type, ctx.mode, ctx.results_path);
    let (d_shapes, d_area) = Shapes::of_dets(group_d.iter().map(|&i| &dets[i as usize]), &shape_ctx)?;
    let ious = if g_list.is_empty() || d_shapes.is_empty() {
        Vec::new()
    } else {
        let g_shapes = Shapes::of_gts(gt, gts.iter().copied(), &shape_ctx)?;
        iou_matrix(
            &d_shapes,
            &g_shapes,
            &crowd,
            ctx.iou_type,
            (img.height, img.width, ctx.boundary_dilation_ratio),
        )
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
    Ok(CatEval {
        k,
        scores,
        flags,
        num_pos,
    })
}

fn key_of(k: u32, use_cats: bool) -> u32 {
    if use_cats { k } else { 0 }
}

/// `evaluateImg` for one area range: greedy matching per `IoU` threshold, ground truths ignored
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
