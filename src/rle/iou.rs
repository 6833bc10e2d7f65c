//! Box and mask `IoU` exactly like maskApi.c's `bbIou` and `rleIou` (crowd rule included).
use super::{Bbox, Rle};

/// Box `IoU` exactly like `bbIou`: for a crowd ground truth the union is the detection's area.
#[must_use]
pub fn bbox_iou(dt: &Bbox, gt: &Bbox, crowd: bool) -> f64 {
    let w = (dt[2] + dt[0]).min(gt[2] + gt[0]) - dt[0].max(gt[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (dt[3] + dt[1]).min(gt[3] + gt[1]) - dt[1].max(gt[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let da = dt[2] * dt[3];
    let u = if crowd { da } else { da + gt[2] * gt[3] - i };
    i / u
}

/// Mask `IoU` exactly like one cell of `rleIou`, given both masks' boxes from [`Rle::to_bbox`]
/// (the box test comes first, as in maskApi.c): `-1` for masks of different sizes whose boxes
/// overlap, and for a crowd ground truth the union is the detection's area.
#[must_use]
pub fn rle_iou_with_boxes(dt: &Rle, dt_box: &Bbox, gt: &Rle, gt_box: &Bbox, crowd: bool) -> f64 {
    if bbox_iou(dt_box, gt_box, crowd) <= 0.0 {
        return 0.0;
    }
    if dt.height != gt.height || dt.width != gt.width {
        return -1.0;
    }
    let (da, ga) = (&dt.counts, &gt.counts);
    let (ka, kb) = (da.len(), ga.len());
    let mut ca = da.first().copied().unwrap_or(0);
    let mut cb = ga.first().copied().unwrap_or(0);
    let (mut va, mut vb) = (false, false);
    let (mut a, mut b) = (1usize, 1usize);
    let (mut i, mut u) = (0u32, 0u32);
    let mut ct = 1u32;
    while ct > 0 {
        let c = ca.min(cb);
        if va || vb {
            u = u.wrapping_add(c);
            if va && vb {
                i = i.wrapping_add(c);
            }
        }
        ct = 0;
        ca -= c;
        if ca == 0 && a < ka {
            ca = da[a];
            a += 1;
            va = !va;
        }
        ct = ct.wrapping_add(ca);
        cb -= c;
        if cb == 0 && b < kb {
            cb = ga[b];
            b += 1;
            vb = !vb;
        }
        ct = ct.wrapping_add(cb);
    }
    if i == 0 {
        u = 1;
    } else if crowd {
        u = dt.area_u32();
    }
    f64::from(i) / f64::from(u)
}

/// Mask `IoU` like `maskUtils.iou` for one pair (boxes computed on the fly).
#[must_use]
pub fn rle_iou(dt: &Rle, gt: &Rle, crowd: bool) -> f64 {
    rle_iou_with_boxes(dt, &dt.to_bbox(), gt, &gt.to_bbox(), crowd)
}
