//! `IoU` matrices between the detections and ground truths of one image and category
//! (`COCOeval.computeIoU` / `maskUtils.iou`), on RLEs without decoding to pixel masks.
use super::boundary::boundary;
use crate::rle::{Bbox, Rle, bbox_iou, rle_iou_with_boxes};

/// A mask prepared for repeated `IoU`: its RLE and its box (the `rleIou` pre-filter).
#[derive(Debug, Clone)]
pub struct MaskGeom {
    /// The mask.
    pub rle: Rle,
    /// `rleToBbox` of the mask.
    pub bbox: Bbox,
}

impl MaskGeom {
    /// Prepares a mask.
    #[must_use]
    pub fn new(rle: Rle) -> Self {
        let bbox = rle.to_bbox();
        Self { rle, bbox }
    }
}

/// Row-major `dts.len() x gts.len()` mask `IoUs` (`ious[d * G + g]`), crowd rules per ground truth.
#[must_use]
pub fn mask_iou_matrix(dts: &[MaskGeom], gts: &[MaskGeom], crowd: &[bool]) -> Vec<f64> {
    let mut out = Vec::with_capacity(dts.len() * gts.len());
    for d in dts {
        for (g, &c) in gts.iter().zip(crowd) {
            out.push(rle_iou_with_boxes(&d.rle, &d.bbox, &g.rle, &g.bbox, c));
        }
    }
    out
}

/// Row-major `dts.len() x gts.len()` box `IoUs` (`bbIou`), crowd rules per ground truth.
#[must_use]
pub fn box_iou_matrix(dts: &[Bbox], gts: &[Bbox], crowd: &[bool]) -> Vec<f64> {
    let mut out = Vec::with_capacity(dts.len() * gts.len());
    for d in dts {
        for (g, &c) in gts.iter().zip(crowd) {
            out.push(bbox_iou(d, g, c));
        }
    }
    out
}

/// Boundary `IoU` matrix (`iouType="boundary"`): the mask `IoUs` `mask_ious` (from
/// [`mask_iou_matrix`]) lowered to the `IoU` of the boundaries for non-crowd ground truths; crowd
/// columns keep the mask `IoU`. `d` is the erosion radius ([`super::boundary::dilation_radius`]).
#[must_use]
pub fn boundary_iou_matrix(
    dts: &[MaskGeom],
    gts: &[MaskGeom],
    crowd: &[bool],
    d: u32,
    mut mask_ious: Vec<f64>,
) -> Vec<f64> {
    if !crowd.iter().any(|&c| !c) || dts.is_empty() {
        return mask_ious;
    }
    let boundary_of = |m: &MaskGeom| MaskGeom::new(boundary(&m.rle, d));
    let db: Vec<MaskGeom> = dts.iter().map(boundary_of).collect();
    let gb: Vec<Option<MaskGeom>> = gts
        .iter()
        .zip(crowd)
        .map(|(g, &c)| (!c).then(|| boundary_of(g)))
        .collect();
    let g_n = gts.len();
    for (di, d) in db.iter().enumerate() {
        for (gi, g) in gb.iter().enumerate() {
            if let Some(g) = g {
                let b = rle_iou_with_boxes(&d.rle, &d.bbox, &g.rle, &g.bbox, false);
                let cell = &mut mask_ious[di * g_n + gi];
                if b < *cell {
                    *cell = b;
                }
            }
        }
    }
    mask_ious
}
