//! VOC instance-segmentation mAP, chainercv `eval_instance_segmentation_voc` semantics
//! (`calc_instance_segmentation_voc_prec_rec` + `calc_detection_voc_ap(use_07_metric=False)`).
//!
//! Per image and label, detections are taken highest score first; each is assigned to the
//! ground truth of maximal `IoU` (first on ties, `argmax`); below the threshold it is a false
//! positive; a ground truth taken a second time makes the detection a false positive; a
//! "difficult" ground truth makes it neither. Labelled extension: `iscrowd` ground truth is
//! treated as difficult (not counted in `n_pos`, matches to it ignored). AP is the all-point
//! interpolated area under the precision/recall curve; mAP is the `nanmean` over labels
//! (labels without ground truth are NaN and left out).
//!
//! chainercv sorts with `argsort()[::-1]` (numpy quicksort, reversed); ties are broken here as a
//! stable ascending sort reversed (what numpy does for short arrays), so equal scores keep
//! reversed insertion order.
use std::path::Path;

use rayon::prelude::*;

use super::dataset::{CocoDataset, DetEntry, ResultMode};
use super::params::{IouType, Params};
use super::shapes::{ShapeContext, Shapes, iou_matrix};
use super::summarize::{CategoryAp, numpy_sum, py_fixed};
use super::{EvalReport, Protocol};
use crate::Result;

/// Precision/recall curves of the VOC protocol.
#[derive(Debug, Clone)]
pub struct VocReport {
    /// `IoU` thresholds.
    pub thresholds: Vec<f64>,
    /// `curves[t][k]`: `(recall, precision)` points of category `k` at threshold `t`
    /// (empty without ground truth).
    pub curves: Vec<Vec<(Vec<f64>, Vec<f64>)>>,
}

/// Per-image, per-label: scores (sorted) and per-threshold match codes (1 tp, 0 fp, -1 ignored).
struct ImgLabel {
    k: usize,
    n_pos: u64,
    scores: Vec<f64>,
    matches: Vec<Vec<i8>>,
}

/// Indices sorted like `argsort(x)[::-1]` with a stable ascending sort.
fn desc_order(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        scores[a]
            .partial_cmp(&scores[b])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    idx.reverse();
    idx
}

/// Where the VOC phases read their inputs.
struct VocInput<'a> {
    gt: &'a CocoDataset,
    p: &'a Params,
    cat_ids: &'a [i64],
    mode: ResultMode,
    results_path: &'a Path,
}

#[allow(clippy::too_many_arguments, reason = "the evaluator's state, passed through")]
pub(crate) fn run(
    gt: &CocoDataset,
    p: &Params,
    img_ids: &[i64],
    cat_ids: &[i64],
    dets: &[Vec<DetEntry>],
    mode: Option<ResultMode>,
    results_path: &Path,
    num_dets: u64,
) -> Result<EvalReport> {
    let input = VocInput {
        gt,
        p,
        cat_ids,
        mode: mode.unwrap_or(ResultMode::Segm),
        results_path,
    };
    let per_image: Vec<Vec<ImgLabel>> = img_ids
        .par_iter()
        .map(|&id| match gt.image_position(id) {
            Some(pos) => image_labels(&input, pos, &dets[pos]),
            None => Ok(Vec::new()),
        })
        .collect::<Result<_>>()?;
    let labels = gather(&per_image, cat_ids.len(), p.iou_thrs.len());
    let (ap, curves) = average_precisions(&labels, p.iou_thrs.len());
    let maps = nanmean_over_labels(&ap, &labels.seen);
    let mut per_category = per_category(gt, cat_ids, &ap, &labels.n_pos);
    super::count_detections(&mut per_category, gt, img_ids, dets);
    let thr = &p.iou_thrs;
    Ok(EvalReport {
        iou_type: p.iou_type,
        protocol: Protocol::VocChainercv,
        stats: maps.iter().map(|&m| if m.is_nan() { -1.0 } else { m }).collect(),
        stat_names: thr
            .iter()
            .map(|t| format!("mAP@{}", py_fixed(t * 100.0, 0)))
            .collect(),
        summary: summary_text(thr, &maps, p.iou_type),
        map_per_iou: maps,
        per_category,
        params: p.clone(),
        num_detections: num_dets,
        accumulated: None,
        voc: Some(VocReport {
            thresholds: thr.clone(),
            curves,
        }),
    })
}

/// `calc_instance_segmentation_voc_prec_rec`, the per-image part: for every label present in the
/// image (ground truth or detection), the detections' scores (highest first) and match codes.
fn image_labels(input: &VocInput<'_>, pos: usize, dets: &[DetEntry]) -> Result<Vec<ImgLabel>> {
    let gt = input.gt;
    let cat_pos = |c: i64| input.cat_ids.binary_search(&c).ok();
    let mut labels: Vec<usize> = gt
        .annotations_of(pos)
        .iter()
        .filter_map(|&ai| cat_pos(gt.annotations[ai as usize].category_id))
        .chain(dets.iter().filter_map(|d| cat_pos(d.det.category_id)))
        .collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .map(|k| {
            let gts: Vec<u32> = gt
                .annotations_of(pos)
                .iter()
                .copied()
                .filter(|&ai| cat_pos(gt.annotations[ai as usize].category_id) == Some(k))
                .collect();
            let pd: Vec<&DetEntry> = dets
                .iter()
                .filter(|d| cat_pos(d.det.category_id) == Some(k))
                .collect();
            let order = desc_order(&pd.iter().map(|d| d.det.score).collect::<Vec<_>>());
            let pd: Vec<&DetEntry> = order.iter().map(|&i| pd[i]).collect();
            let difficult: Vec<bool> = gts
                .iter()
                .map(|&ai| gt.annotations[ai as usize].iscrowd.unwrap_or(false))
                .collect();
            let matches = if pd.is_empty() {
                vec![Vec::new(); input.p.iou_thrs.len()]
            } else if gts.is_empty() {
                vec![vec![0; pd.len()]; input.p.iou_thrs.len()]
            } else {
                let ious = label_ious(input, pos, &pd, &gts)?;
                match_codes(&ious, gts.len(), &difficult, &input.p.iou_thrs)
            };
            Ok(ImgLabel {
                k,
                n_pos: difficult.iter().filter(|&&d| !d).count() as u64,
                scores: pd.iter().map(|d| d.det.score).collect(),
                matches,
            })
        })
        .collect()
}

/// Row-major `pd x gts` `IoUs` of one image and label (no crowd rule: crowds are "difficult").
fn label_ious(input: &VocInput<'_>, pos: usize, pd: &[&DetEntry], gts: &[u32]) -> Result<Vec<f64>> {
    let img = &input.gt.images[pos];
    let ctx = ShapeContext::for_image(img, input.p.iou_type, input.mode, input.results_path);
    let (ds, _) = Shapes::of_dets(pd.iter().copied(), &ctx)?;
    let gs = Shapes::of_gts(input.gt, gts.iter().copied(), &ctx)?;
    Ok(iou_matrix(
        &ds,
        &gs,
        &vec![false; gts.len()],
        input.p.iou_type,
        (img.height, img.width, input.p.boundary_dilation_ratio),
    ))
}

/// Match codes per threshold (1 tp, 0 fp, -1 ignored): each detection, in score order, goes to
/// its ground truth of maximal `IoU` (first on ties); below the threshold, or to a ground truth
/// already taken, it is a false positive; to a difficult one it is ignored.
fn match_codes(ious: &[f64], g_n: usize, difficult: &[bool], thrs: &[f64]) -> Vec<Vec<i8>> {
    thrs.iter()
        .map(|&th| {
            let mut selec = vec![false; g_n];
            ious.chunks(g_n)
                .map(|row| {
                    // argmax (first maximum) and max.
                    let mut best = 0usize;
                    for (g, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = g;
                        }
                    }
                    if row[best] < th {
                        return 0;
                    }
                    let code = if difficult[best] {
                        -1
                    } else {
                        i8::from(!selec[best])
                    };
                    selec[best] = true;
                    code
                })
                .collect()
        })
        .collect()
}

/// The per-image results gathered per label, in image order.
struct PerLabel {
    n_pos: Vec<u64>,
    seen: Vec<bool>,
    scores: Vec<Vec<f64>>,
    /// `matches[k][t]`.
    matches: Vec<Vec<Vec<i8>>>,
}

fn gather(per_image: &[Vec<ImgLabel>], kn: usize, tn: usize) -> PerLabel {
    let mut out = PerLabel {
        n_pos: vec![0u64; kn],
        seen: vec![false; kn],
        scores: vec![Vec::new(); kn],
        matches: vec![vec![Vec::new(); tn]; kn],
    };
    for il in per_image.iter().flatten() {
        out.seen[il.k] = true;
        out.n_pos[il.k] += il.n_pos;
        out.scores[il.k].extend_from_slice(&il.scores);
        for (dst, src) in out.matches[il.k].iter_mut().zip(&il.matches) {
            dst.extend_from_slice(src);
        }
    }
    out
}

/// `(recall, precision)` points of one label.
type Curve = (Vec<f64>, Vec<f64>);

/// `ap[t][k]` (NaN for labels never seen or without positives) and the curves `curves[t][k]`.
fn average_precisions(labels: &PerLabel, tn: usize) -> (Vec<Vec<f64>>, Vec<Vec<Curve>>) {
    let kn = labels.n_pos.len();
    let mut ap = vec![vec![f64::NAN; kn]; tn];
    let mut curves = vec![vec![(Vec::new(), Vec::new()); kn]; tn];
    for k in 0..kn {
        if !labels.seen[k] || labels.n_pos[k] == 0 {
            continue;
        }
        let order = desc_order(&labels.scores[k]);
        for t in 0..tn {
            let (rec, prec) = prec_rec(&order, &labels.matches[k][t], labels.n_pos[k]);
            ap[t][k] = voc_ap(&rec, &prec);
            curves[t][k] = (rec, prec);
        }
    }
    (ap, curves)
}

/// Cumulative precision and recall over the detections in `order`.
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
fn prec_rec(order: &[usize], matches: &[i8], n_pos: u64) -> Curve {
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut prec = Vec::with_capacity(order.len());
    let mut rec = Vec::with_capacity(order.len());
    for &i in order {
        match matches[i] {
            1 => tp += 1,
            0 => fp += 1,
            _ => {}
        }
        prec.push(tp as f64 / (fp + tp) as f64);
        rec.push(tp as f64 / n_pos as f64);
    }
    (rec, prec)
}

/// `calc_detection_voc_ap(use_07_metric=False)`: the all-point interpolated area under the curve.
fn voc_ap(rec: &[f64], prec: &[f64]) -> f64 {
    let mut mpre = Vec::with_capacity(prec.len() + 2);
    mpre.push(0.0);
    mpre.extend(prec.iter().map(|&v| if v.is_nan() { 0.0 } else { v }));
    mpre.push(0.0);
    let mut mrec = Vec::with_capacity(rec.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(rec);
    mrec.push(1.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    let terms: Vec<f64> = (0..mrec.len() - 1)
        .filter(|&i| mrec[i + 1] != mrec[i])
        .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
        .collect();
    numpy_sum(&terms)
}

/// `np.nanmean` over labels `0..=max seen label`, per threshold (NaN when all are NaN).
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
fn nanmean_over_labels(ap: &[Vec<f64>], seen: &[bool]) -> Vec<f64> {
    let n_fg = (0..seen.len()).rev().find(|&k| seen[k]).map_or(0, |k| k + 1);
    ap.iter()
        .map(|row| {
            let vals: Vec<f64> = row[..n_fg]
                .iter()
                .map(|&v| if v.is_nan() { 0.0 } else { v })
                .collect();
            let cnt = row[..n_fg].iter().filter(|v| !v.is_nan()).count();
            if cnt == 0 {
                f64::NAN
            } else {
                numpy_sum(&vals) / cnt as f64
            }
        })
        .collect()
}

/// The text summary: one line per threshold.
fn summary_text(thr: &[f64], maps: &[f64], iou_type: IouType) -> String {
    use std::fmt::Write as _;
    let mut summary = String::new();
    for (t, m) in thr.iter().zip(maps) {
        let _ = writeln!(
            summary,
            " VOC mAP@{:<4} (chainercv all-point AP, {}) = {}",
            py_fixed(*t, 2),
            iou_type.as_str(),
            if m.is_nan() {
                "nan".to_owned()
            } else {
                py_fixed(*m, 4)
            }
        );
    }
    summary
}

/// Per-category rows (AP per threshold, -1 for NaN; detection counts are filled in later).
fn per_category(gt: &CocoDataset, cat_ids: &[i64], ap: &[Vec<f64>], n_pos: &[u64]) -> Vec<CategoryAp> {
    (0..cat_ids.len())
        .map(|k| {
            let per: Vec<f64> = ap
                .iter()
                .map(|row| if row[k].is_nan() { -1.0 } else { row[k] })
                .collect();
            CategoryAp {
                category_id: cat_ids[k],
                name: gt.category_name(cat_ids[k]).to_owned(),
                ap: per.first().copied().unwrap_or(-1.0),
                ap_per_iou: per,
                ar: -1.0,
                num_gt: n_pos[k],
                num_dt: 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_codes_take_the_best_gt_once_and_ignore_difficult() {
        // d0 -> g0 (tp); d1 also prefers g0, already taken (fp); d2 -> g1, difficult (ignored);
        // d3 below the threshold (fp).
        let ious = [0.9, 0.2, 0.8, 0.1, 0.0, 0.7, 0.3, 0.4];
        let codes = match_codes(&ious, 2, &[false, true], &[0.5, 0.85]);
        assert_eq!(codes, vec![vec![1, 0, -1, 0], vec![1, 0, 0, 0]]);
    }

    #[test]
    fn all_point_ap_is_the_area_under_the_monotone_curve() {
        // tp, fp, tp over 2 positives: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
        let (rec, prec) = prec_rec(&[0, 1, 2], &[1, 0, 1], 2);
        assert_eq!(rec, vec![0.5, 0.5, 1.0]);
        assert_eq!(prec, vec![1.0, 0.5, 2.0 / 3.0]);
        // 0.5 * 1 + 0.5 * 2/3.
        assert!((voc_ap(&rec, &prec) - (0.5 + 1.0 / 3.0)).abs() < 1e-15);
        // nanmean over labels 0..=max seen: label 1 never seen but below a seen one counts as NaN.
        let maps = nanmean_over_labels(&[vec![0.5, f64::NAN, 1.0]], &[true, false, true]);
        assert_eq!(maps, vec![0.75]);
    }
}
