//! IoU matrices between the detections and ground truths of one image and category
//! (`COCOeval.computeIoU` / `maskUtils.iou`), on RLEs without decoding to pixel masks.
use crate::rle::{Bbox, Rle, bbox_iou, rle_iou_with_boxes};

/// A mask prepared for repeated IoU: its RLE and its box (the `rleIou` pre-filter).
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

/// Row-major `dts.len() x gts.len()` mask IoUs (`ious[d * G + g]`), crowd rules per ground truth.
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

/// Row-major `dts.len() x gts.len()` box IoUs (`bbIou`), crowd rules per ground truth.
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
