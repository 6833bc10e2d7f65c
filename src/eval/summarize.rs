//! The 12 COCO numbers (`COCOeval.summarize`), per-category AP and the printed summary.
//!
//! Means are taken like `np.mean(s[s > -1])`: the selected cells in C order, summed with numpy's
//! pairwise summation (8-way unrolled blocks of up to 128), divided by the count, so the stats
//! are bit-identical to pycocotools'.
use std::fmt::Write as _;

use serde::Serialize;

use super::accumulate::Accumulated;
use super::params::Params;

/// Names of the 12 stats, in `COCOeval.stats` order.
pub const STAT_NAMES: [&str; 12] = [
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
];

/// numpy's `pairwise_sum` for float64 (`add.reduce` on a contiguous array).
#[must_use]
pub fn numpy_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - (n % 8) {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        numpy_sum(&a[..n2]) + numpy_sum(&a[n2..])
    }
}

/// `np.mean(v)` of the values `> -1`, or -1 when there are none.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
pub fn mean_valid(v: &[f64]) -> f64 {
    let sel: Vec<f64> = v.iter().copied().filter(|&x| x > -1.0).collect();
    if sel.is_empty() {
        -1.0
    } else {
        (0.0 + numpy_sum(&sel)) / sel.len() as f64
    }
}

/// One `_summarize` call.
#[derive(Debug, Clone, Copy)]
struct Query {
    ap: bool,
    iou_thr: Option<f64>,
    area: &'static str,
    max_dets: usize,
}

fn summarize_one(acc: &Accumulated, p: &Params, max_dets: &[usize], q: Query) -> f64 {
    let [tn, rn, kn, _, _] = acc.shape;
    let ts: Vec<usize> = match q.iou_thr {
        None => (0..tn).collect(),
        Some(thr) => (0..tn).filter(|&t| p.iou_thrs[t] == thr).collect(),
    };
    let aind: Vec<usize> = p
        .area_rng_lbl
        .iter()
        .enumerate()
        .filter(|(_, l)| *l == q.area)
        .map(|(i, _)| i)
        .collect();
    let mind: Vec<usize> = max_dets
        .iter()
        .enumerate()
        .filter(|&(_, &m)| m == q.max_dets)
        .map(|(i, _)| i)
        .collect();
    // numpy advanced indexing `s[:, :, :, aind, mind]`: aind and mind are broadcast together.
    let pairs: Vec<(usize, usize)> = if aind.len() == mind.len() {
        aind.iter().copied().zip(mind.iter().copied()).collect()
    } else if aind.len() == 1 {
        mind.iter().map(|&m| (aind[0], m)).collect()
    } else if mind.len() == 1 {
        aind.iter().map(|&a| (a, mind[0])).collect()
    } else {
        Vec::new()
    };
    let mut sel = Vec::new();
    for &t in &ts {
        if q.ap {
            for r in 0..rn {
                for k in 0..kn {
                    for &(a, m) in &pairs {
                        sel.push(acc.precision[acc.pidx(t, r, k, a, m)]);
                    }
                }
            }
        } else {
            for k in 0..kn {
                for &(a, m) in &pairs {
                    sel.push(acc.recall[acc.ridx(t, k, a, m)]);
                }
            }
        }
    }
    mean_valid(&sel)
}

fn queries(max_dets: &[usize]) -> [Query; 12] {
    let md = |i: usize| max_dets.get(i).copied().unwrap_or(0);
    let q = |ap, iou_thr, area, max_dets| Query {
        ap,
        iou_thr,
        area,
        max_dets,
    };
    [
        q(true, None, "all", 100),
        q(true, Some(0.5), "all", md(2)),
        q(true, Some(0.75), "all", md(2)),
        q(true, None, "small", md(2)),
        q(true, None, "medium", md(2)),
        q(true, None, "large", md(2)),
        q(false, None, "all", md(0)),
        q(false, None, "all", md(1)),
        q(false, None, "all", md(2)),
        q(false, None, "small", md(2)),
        q(false, None, "medium", md(2)),
        q(false, None, "large", md(2)),
    ]
}

/// `summarize()` for detections/segmentations: the 12 stats and the 12 printed lines, formatted
/// exactly like pycocotools.
#[must_use]
pub fn summarize(acc: &Accumulated, p: &Params) -> (Vec<f64>, String) {
    let max_dets = p.sorted_max_dets();
    let first = p.iou_thrs.first().copied().unwrap_or(0.0);
    let last = p.iou_thrs.last().copied().unwrap_or(0.0);
    let mut text = String::new();
    let mut stats = Vec::with_capacity(12);
    for q in queries(&max_dets) {
        let v = summarize_one(acc, p, &max_dets, q);
        let (title, kind) = if q.ap {
            ("Average Precision", "(AP)")
        } else {
            ("Average Recall", "(AR)")
        };
        let iou = match q.iou_thr {
            None => format!("{}:{}", py_fixed(first, 2), py_fixed(last, 2)),
            Some(t) => py_fixed(t, 2),
        };
        let _ = writeln!(
            text,
            " {title:<18} {kind} @[ IoU={iou:<9} | area={:>6} | maxDets={:>3} ] = {}",
            q.area,
            q.max_dets,
            py_fixed(v, 3)
        );
        stats.push(v);
    }
    (stats, text)
}

/// Python's `'{:.Nf}'.format(v)` (round half to even on the exact binary value, as Rust does).
#[must_use]
pub fn py_fixed(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}

/// Per-category results of the COCO protocol.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryAp {
    /// Category id.
    pub category_id: i64,
    /// Category name.
    pub name: String,
    /// AP over all `IoU` thresholds (area all, last maxDets); -1 without ground truth.
    #[serde(rename = "AP")]
    pub ap: f64,
    /// AP at each `IoU` threshold (same order as `params.iou_thrs`).
    #[serde(rename = "AP_per_iou")]
    pub ap_per_iou: Vec<f64>,
    /// Recall over all `IoU` thresholds (area all, last maxDets).
    #[serde(rename = "AR")]
    pub ar: f64,
    /// Number of ground truths (not crowd) of this category in the evaluated images.
    pub num_gt: u64,
    /// Number of detections of this category in the evaluated images (before maxDets).
    pub num_dt: u64,
}

/// Per-category AP at area "all" and the largest maxDets (detectron2's table).
#[must_use]
pub fn per_category(acc: &Accumulated, cat_ids: &[i64], names: &[String], num_gt: &[u64]) -> Vec<CategoryAp> {
    let [tn, rn, kn, _, mn] = acc.shape;
    let m = mn.saturating_sub(1);
    (0..kn)
        .map(|k| {
            let mut all = Vec::with_capacity(tn * rn);
            let mut per_iou = Vec::with_capacity(tn);
            for t in 0..tn {
                let row: Vec<f64> = (0..rn).map(|r| acc.precision[acc.pidx(t, r, k, 0, m)]).collect();
                per_iou.push(mean_valid(&row));
                all.extend(row);
            }
            let rec: Vec<f64> = (0..tn).map(|t| acc.recall[acc.ridx(t, k, 0, m)]).collect();
            CategoryAp {
                category_id: cat_ids.get(k).copied().unwrap_or(-1),
                name: names.get(k).cloned().unwrap_or_default(),
                ap: mean_valid(&all),
                ap_per_iou: per_iou,
                ar: mean_valid(&rec),
                num_gt: num_gt.get(k).copied().unwrap_or(0),
                num_dt: 0,
            }
        })
        .collect()
}
