//! All-category `IoU` matrices of one image, for the error analyses ([`super::tide`],
//! [`super::confusion`]), which compare detections with ground truths of every class.
//!
//! Ground truths and detections of categories outside the evaluated ones are left out;
//! detections are ordered by score, highest first (stable, as `COCOeval`), then truncated.
use std::collections::HashMap;
use std::path::Path;

use super::dataset::{CocoDataset, DetEntry, ResultMode};
use super::params::IouType;
use super::shapes::{ShapeContext, Shapes, iou_matrix};
use crate::Result;

/// The geometry of one image.
#[derive(Debug, Clone, Default)]
pub struct ImageGeom {
    /// Category index of each non-crowd ground truth (file order).
    pub gt_cls: Vec<u32>,
    /// Category index of each crowd ground truth.
    pub crowd_cls: Vec<u32>,
    /// Category index of each kept detection (score order).
    pub det_cls: Vec<u32>,
    /// Score of each kept detection.
    pub det_score: Vec<f64>,
    /// `det x gt` `IoUs` (non-crowd ground truths), row-major.
    pub iou: Vec<f64>,
    /// `det x crowd` `IoUs` with the crowd rule (intersection over detection area), row-major.
    pub crowd_iou: Vec<f64>,
}

impl ImageGeom {
    /// `IoU` of detection `d` and non-crowd ground truth `g`.
    #[must_use]
    pub fn iou(&self, d: usize, g: usize) -> f64 {
        self.iou[d * self.gt_cls.len() + g]
    }

    /// Crowd `IoU` of detection `d` and crowd region `c`.
    #[must_use]
    pub fn crowd_iou(&self, d: usize, c: usize) -> f64 {
        self.crowd_iou[d * self.crowd_cls.len() + c]
    }
}

/// What [`image_geom`] needs.
#[derive(Debug, Clone, Copy)]
pub struct GeomContext<'a> {
    /// Category id -> index.
    pub cat_index: &'a HashMap<i64, u32>,
    /// Mask, box or boundary `IoU`.
    pub iou_type: IouType,
    /// `loadRes` mode of the results.
    pub mode: ResultMode,
    /// Boundary `IoU` dilation ratio.
    pub boundary_dilation_ratio: f64,
    /// Results file for error messages.
    pub results_path: &'a Path,
}

/// Computes the geometry of the image at `position` with the detections that pass `keep`
/// (at most `max_dets` of them, best scores first).
///
/// # Errors
/// [`Error::Coco`](crate::Error::Coco) when a mask cannot be decoded or lacks what the `IoU` type
/// needs.
pub fn image_geom(
    gt: &CocoDataset,
    position: usize,
    dets: &[DetEntry],
    keep: impl Fn(&DetEntry) -> bool,
    max_dets: usize,
    ctx: &GeomContext<'_>,
) -> Result<ImageGeom> {
    let img = &gt.images[position];
    let shape_ctx = ShapeContext::for_image(img, ctx.iou_type, ctx.mode, ctx.results_path);
    let mut g = ImageGeom::default();
    let mut gts = Shapes::new(ctx.iou_type);
    let mut crowds = Shapes::new(ctx.iou_type);
    for &ai in gt.annotations_of(position) {
        let a = &gt.annotations[ai as usize];
        let Some(&k) = ctx.cat_index.get(&a.category_id) else {
            continue;
        };
        if a.iscrowd.unwrap_or(false) {
            crowds.push_gt(gt, ai, &shape_ctx)?;
            g.crowd_cls.push(k);
        } else {
            gts.push_gt(gt, ai, &shape_ctx)?;
            g.gt_cls.push(k);
        }
    }
    let mut order: Vec<usize> = (0..dets.len())
        .filter(|&i| ctx.cat_index.contains_key(&dets[i].det.category_id) && keep(&dets[i]))
        .collect();
    order.sort_by(|&a, &b| {
        dets[b]
            .det
            .score
            .partial_cmp(&dets[a].det.score)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    order.truncate(max_dets);
    for &i in &order {
        let e = &dets[i];
        g.det_cls.push(ctx.cat_index[&e.det.category_id]);
        g.det_score.push(e.det.score);
    }
    let (ds, _) = Shapes::of_dets(order.iter().map(|&i| &dets[i]), &shape_ctx)?;
    let size = (img.height, img.width, ctx.boundary_dilation_ratio);
    g.iou = iou_matrix(&ds, &gts, &vec![false; gts.len()], ctx.iou_type, size);
    g.crowd_iou = iou_matrix(&ds, &crowds, &vec![true; crowds.len()], ctx.iou_type, size);
    Ok(g)
}
