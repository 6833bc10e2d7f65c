//! The geometry every protocol compares: a ground truth's mask or box, a detection's mask, box
//! and area under `COCO.loadRes` rules (docs/evaluation.md#loadres), and the `IoU` matrix between
//! two sets of them (mask, box or boundary `IoU`). COCO ([`super::evaluate`](mod@super::evaluate)), VOC
//! ([`super::voc`]) and the error analyses ([`super::geometry`]) all decode and compare here.
use std::path::Path;

use super::boundary::dilation_radius;
use super::dataset::{CocoDataset, DetEntry, ImageInfo, ResultMode};
use super::iou::{MaskGeom, boundary_iou_matrix, box_iou_matrix, mask_iou_matrix};
use super::params::IouType;
use crate::error::{CocoError, ShapeProblem};
use crate::rle::{Bbox, Rle};
use crate::{Error, Result};

/// The mask of annotation `ann` (index into `gt.annotations`) on an `h x w` image
/// (pycocotools `annToRLE`).
///
/// # Errors
/// [`Error::Coco`] naming the annotation when it has no segmentation or its RLE is corrupt.
pub fn gt_mask(gt: &CocoDataset, ann: u32, h: u32, w: u32) -> Result<Rle> {
    let a = &gt.annotations[ann as usize];
    let Some(seg) = &a.segmentation else {
        return Err(Error::coco(&gt.path, CocoError::MissingSegmentation(a.id)));
    };
    seg.to_rle(h, w).map_err(|source| {
        Error::coco(
            &gt.path,
            CocoError::Mask {
                annotation: a.id,
                source,
            },
        )
    })
}

/// The box of annotation `ann` (index into `gt.annotations`).
///
/// # Errors
/// [`Error::Coco`] naming the annotation when it has no 4-number box.
pub fn gt_box(gt: &CocoDataset, ann: u32) -> Result<Bbox> {
    let a = &gt.annotations[ann as usize];
    a.bbox
        .as_deref()
        .and_then(|b| <[f64; 4]>::try_from(b).ok())
        .ok_or_else(|| Error::coco(&gt.path, CocoError::MissingBbox(a.id)))
}

/// The detection's mask and area under `loadRes` rules.
pub(crate) fn det_mask(e: &DetEntry, h: u32, w: u32, mode: ResultMode, path: &Path) -> Result<(Rle, f64)> {
    match mode {
        ResultMode::Bbox => {
            let bb = e
                .det
                .bbox
                .ok_or_else(|| shape_error(e, path, ShapeProblem::MissingBbox))?;
            let rle = match &e.det.segmentation {
                Some(seg) => seg
                    .to_rle(h, w)
                    .map_err(|r| shape_error(e, path, ShapeProblem::Mask(r)))?,
                None => Rle::from_bbox(&bb, h, w),
            };
            Ok((rle, bb[2] * bb[3]))
        }
        ResultMode::Segm => segm_mask(e, h, w, path),
    }
}

/// The detection's box and area under `loadRes` rules.
pub(crate) fn det_box(e: &DetEntry, h: u32, w: u32, mode: ResultMode, path: &Path) -> Result<(Bbox, f64)> {
    match mode {
        ResultMode::Bbox => {
            let bb = e
                .det
                .bbox
                .ok_or_else(|| shape_error(e, path, ShapeProblem::MissingBbox))?;
            Ok((bb, bb[2] * bb[3]))
        }
        ResultMode::Segm => {
            let (rle, area) = segm_mask(e, h, w, path)?;
            let bb = e.det.bbox.unwrap_or_else(|| rle.to_bbox());
            Ok((bb, area))
        }
    }
}

/// A segmentation result's mask and its pixel area (`loadRes` with segmentations).
fn segm_mask(e: &DetEntry, h: u32, w: u32, path: &Path) -> Result<(Rle, f64)> {
    let seg = e
        .det
        .segmentation
        .as_ref()
        .ok_or_else(|| shape_error(e, path, ShapeProblem::MissingSegmentation))?;
    let rle = seg
        .to_rle(h, w)
        .map_err(|r| shape_error(e, path, ShapeProblem::Mask(r)))?;
    let area = f64::from(rle.area_u32());
    Ok((rle, area))
}

/// The error for a result whose shape is unusable, naming the result file, id and category.
fn shape_error(e: &DetEntry, path: &Path, problem: ShapeProblem) -> Error {
    Error::coco(
        path,
        CocoError::ResultShape {
            id: e.id,
            category_id: e.det.category_id,
            problem,
        },
    )
}

/// The shapes of one side (detections or ground truths) of an image, as the `IoU` type needs them.
#[derive(Debug, Clone)]
pub enum Shapes {
    /// Masks, for mask and boundary `IoU`.
    Masks(Vec<MaskGeom>),
    /// Boxes, for box `IoU`.
    Boxes(Vec<Bbox>),
}

/// What decoding a set of shapes needs: the `IoU` type, the image size, and (for detections) the
/// `loadRes` mode and the results file named in errors.
#[derive(Debug, Clone, Copy)]
pub struct ShapeContext<'a> {
    /// Mask, box or boundary `IoU`.
    pub iou_type: IouType,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
    /// `loadRes` mode of the results.
    pub mode: ResultMode,
    /// Results file for error messages.
    pub results_path: &'a Path,
}

impl<'a> ShapeContext<'a> {
    /// The context for one image of the ground truth.
    #[must_use]
    pub fn for_image(img: &ImageInfo, iou_type: IouType, mode: ResultMode, results_path: &'a Path) -> Self {
        Self {
            iou_type,
            height: img.height,
            width: img.width,
            mode,
            results_path,
        }
    }
}

impl Shapes {
    /// No shapes, of the kind `iou_type` compares.
    #[must_use]
    pub fn new(iou_type: IouType) -> Self {
        match iou_type {
            IouType::Segm | IouType::Boundary => Self::Masks(Vec::new()),
            IouType::Bbox => Self::Boxes(Vec::new()),
        }
    }

    /// Number of shapes.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Masks(m) => m.len(),
            Self::Boxes(b) => b.len(),
        }
    }

    /// `true` when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the shape of ground-truth annotation `ann`.
    ///
    /// # Errors
    /// See [`gt_mask`] and [`gt_box`].
    pub fn push_gt(&mut self, gt: &CocoDataset, ann: u32, ctx: &ShapeContext<'_>) -> Result<()> {
        match self {
            Self::Masks(m) => m.push(MaskGeom::new(gt_mask(gt, ann, ctx.height, ctx.width)?)),
            Self::Boxes(b) => b.push(gt_box(gt, ann)?),
        }
        Ok(())
    }

    /// Appends the shape of detection `e` and returns its `loadRes` area.
    ///
    /// # Errors
    /// [`Error::Coco`] naming the result when it lacks what the `IoU` type and mode need.
    pub fn push_det(&mut self, e: &DetEntry, ctx: &ShapeContext<'_>) -> Result<f64> {
        let (h, w) = (ctx.height, ctx.width);
        Ok(match self {
            Self::Masks(m) => {
                let (rle, area) = det_mask(e, h, w, ctx.mode, ctx.results_path)?;
                m.push(MaskGeom::new(rle));
                area
            }
            Self::Boxes(b) => {
                let (bb, area) = det_box(e, h, w, ctx.mode, ctx.results_path)?;
                b.push(bb);
                area
            }
        })
    }

    /// The shapes of ground-truth annotations `anns`, in order.
    ///
    /// # Errors
    /// See [`Shapes::push_gt`].
    pub fn of_gts(
        gt: &CocoDataset,
        anns: impl IntoIterator<Item = u32>,
        ctx: &ShapeContext<'_>,
    ) -> Result<Self> {
        let mut s = Self::new(ctx.iou_type);
        for ann in anns {
            s.push_gt(gt, ann, ctx)?;
        }
        Ok(s)
    }

    /// The shapes of detections `dets`, in order, and their `loadRes` areas.
    ///
    /// # Errors
    /// See [`Shapes::push_det`].
    pub fn of_dets<'d>(
        dets: impl IntoIterator<Item = &'d DetEntry>,
        ctx: &ShapeContext<'_>,
    ) -> Result<(Self, Vec<f64>)> {
        let mut s = Self::new(ctx.iou_type);
        let areas = dets
            .into_iter()
            .map(|e| s.push_det(e, ctx))
            .collect::<Result<Vec<f64>>>()?;
        Ok((s, areas))
    }
}

/// Row-major `dts.len() x gts.len()` `IoUs` (`ious[d * G + g]`) with the crowd rule per ground
/// truth; boundary `IoU` when `iou_type` is [`IouType::Boundary`] (dilation ratio
/// `boundary_dilation_ratio` of the `h x w` image). Empty when either side is.
#[must_use]
pub fn iou_matrix(
    dts: &Shapes,
    gts: &Shapes,
    crowd: &[bool],
    iou_type: IouType,
    (h, w, boundary_dilation_ratio): (u32, u32, f64),
) -> Vec<f64> {
    if dts.is_empty() || gts.is_empty() {
        return Vec::new();
    }
    match (dts, gts) {
        (Shapes::Masks(dm), Shapes::Masks(gm)) => {
            let ious = mask_iou_matrix(dm, gm, crowd);
            if iou_type == IouType::Boundary {
                let d = dilation_radius(h, w, boundary_dilation_ratio);
                boundary_iou_matrix(dm, gm, crowd, d, ious)
            } else {
                ious
            }
        }
        (Shapes::Boxes(db), Shapes::Boxes(gb)) => box_iou_matrix(db, gb, crowd),
        // Both sides are built with the same IoU type; mixed kinds compare as nothing.
        _ => Vec::new(),
    }
}
