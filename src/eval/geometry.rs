//! All-category IoU matrices of one image, for the error analyses ([`super::tide`],
//! [`super::confusion`]), which compare detections with ground truths of every class.
//!
//! Ground truths and detections of categories outside the evaluated ones are left out;
//! detections are ordered by score, highest first (stable, as `COCOeval`), then truncated.
use std::collections::HashMap;
use std::path::Path;

use super::boundary::dilation_radius;
use super::dataset::CocoDataset;
use super::evaluate::{DetEntry, ResultMode, det_box, det_mask};
use super::iou::{MaskGeom, boundary_iou_matrix, box_iou_matrix, mask_iou_matrix};
use super::params::IouType;
use crate::{Error, Result};

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
    /// `det x gt` IoUs (non-crowd ground truths), row-major.
    pub iou: Vec<f64>,
    /// `det x crowd` IoUs with the crowd rule (intersection over detection area), row-major.
    pub crowd_iou: Vec<f64>,
}

impl ImageGeom {
    /// IoU of detection `d` and non-crowd ground truth `g`.
    #[must_use]
    pub fn iou(&self, d: usize, g: usize) -> f64 {
        self.iou[d * self.gt_cls.len() + g]
    }

    /// Crowd IoU of detection `d` and crowd region `c`.
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
    /// Mask, box or boundary IoU.
    pub iou_type: IouType,
    /// `loadRes` mode of the results.
    pub mode: ResultMode,
    /// Boundary IoU dilation ratio.
    pub boundary_dilation_ratio: f64,
    /// Results file for error messages.
    pub results_path: &'a Path,
}

enum Shape {
    Mask(MaskGeom),
    Box([f64; 4]),
}

/// Computes the geometry of the image at `position` with the detections that pass `keep`
/// (at most `max_dets` of them, best scores first).
///
/// # Errors
/// [`Error::Coco`] when a mask cannot be decoded or lacks what the IoU type needs.
pub fn image_geom(
    gt: &CocoDataset,
    position: usize,
    dets: &[DetEntry],
    keep: impl Fn(&DetEntry) -> bool,
    max_dets: usize,
    ctx: &GeomContext<'_>,
) -> Result<ImageGeom> {
    let img = &gt.images[position];
    let (h, w) = (img.height, img.width);
    let gerr = |id: i64, r: String| Error::Coco {
        path: gt.path.clone(),
        reason: format!("annotation id {id}: {r}"),
    };
    let mut g = ImageGeom::default();
    let mut gts = Vec::new();
    let mut crowds = Vec::new();
    for &ai in gt.annotations_of(position) {
        let a = &gt.annotations[ai as usize];
        let Some(&k) = ctx.cat_index.get(&a.category_id) else {
            continue;
        };
        let shape = match ctx.iou_type {
            IouType::Bbox => Shape::Box(
                a.bbox
                    .as_deref()
                    .and_then(|b| <[f64; 4]>::try_from(b).ok())
                    .ok_or_else(|| gerr(a.id, "has no bbox".into()))?,
            ),
            IouType::Segm | IouType::Boundary => {
                let seg = a
                    .segmentation
                    .as_ref()
                    .ok_or_else(|| gerr(a.id, "has no segmentation".into()))?;
                Shape::Mask(MaskGeom::new(seg.to_rle(h, w).map_err(|r| gerr(a.id, r))?))
            }
        };
        if a.iscrowd.unwrap_or(false) {
            g.crowd_cls.push(k);
            crowds.push(shape);
        } else {
            g.gt_cls.push(k);
            gts.push(shape);
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
    let mut ds = Vec::with_capacity(order.len());
    for &i in &order {
        let e = &dets[i];
        g.det_cls.push(ctx.cat_index[&e.det.category_id]);
        g.det_score.push(e.det.score);
        ds.push(match ctx.iou_type {
            IouType::Bbox => Shape::Box(det_box(e, h, w, ctx.mode, ctx.results_path)?.0),
            IouType::Segm | IouType::Boundary => {
                Shape::Mask(MaskGeom::new(det_mask(e, h, w, ctx.mode, ctx.results_path)?.0))
            }
        });
    }
    let matrix = |gs: &[Shape], crowd: bool| -> Vec<f64> {
        if gs.is_empty() || ds.is_empty() {
            return Vec::new();
        }
        let flags = vec![crowd; gs.len()];
        match ctx.iou_type {
            IouType::Bbox => {
                let db: Vec<[f64; 4]> = ds
                    .iter()
                    .filter_map(|s| if let Shape::Box(b) = s { Some(*b) } else { None })
                    .collect();
                let gb: Vec<[f64; 4]> = gs
                    .iter()
                    .filter_map(|s| if let Shape::Box(b) = s { Some(*b) } else { None })
                    .collect();
                box_iou_matrix(&db, &gb, &flags)
            }
            IouType::Segm | IouType::Boundary => {
                let dm: Vec<MaskGeom> = ds
                    .iter()
                    .filter_map(|s| {
                        if let Shape::Mask(m) = s {
                            Some(m.clone())
                        } else {
                            None
                        }
                    })
                    .collect();
                let gm: Vec<MaskGeom> = gs
                    .iter()
                    .filter_map(|s| {
                        if let Shape::Mask(m) = s {
                            Some(m.clone())
                        } else {
                            None
                        }
                    })
                    .collect();
                let ious = mask_iou_matrix(&dm, &gm, &flags);
                if ctx.iou_type == IouType::Boundary {
                    boundary_iou_matrix(
                        &dm,
                        &gm,
                        &flags,
                        dilation_radius(h, w, ctx.boundary_dilation_ratio),
                        ious,
                    )
                } else {
                    ious
                }
            }
        }
    };
    g.iou = matrix(&gts, false);
    g.crowd_iou = matrix(&crowds, true);
    Ok(g)
}
