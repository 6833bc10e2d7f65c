//! VOC instance-segmentation mAP, chainercv `eval_instance_segmentation_voc` semantics
//! (`calc_instance_segmentation_voc_prec_rec` + `calc_detection_voc_ap(use_07_metric=False)`).
//!
//! Per image and label, detections are taken highest score first; each is assigned to the
//! ground truth of maximal IoU (first on ties, `argmax`); below the threshold it is a false
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

use super::boundary::dilation_radius;
use super::dataset::CocoDataset;
use super::evaluate::{DetEntry, ResultMode, det_box, det_mask};
use super::iou::{MaskGeom, boundary_iou_matrix, mask_iou_matrix};
use super::params::{IouType, Params};
use super::summarize::{CategoryAp, numpy_sum, py_fixed};
use super::{EvalReport, Protocol};
use crate::rle::bbox_iou;
use crate::{Error, Result};

/// Precision/recall curves of the VOC protocol.
#[derive(Debug, Clone)]
pub struct VocReport {
    /// IoU thresholds.
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

#[allow(clippy::too_many_arguments, reason = "the evaluator's state, passed through")]
#[allow(clippy::too_many_lines, reason = "chainercv's two functions in one pass")]
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
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
    let mode = mode.unwrap_or(ResultMode::Segm);
    let thr = &p.iou_thrs;
    let tn = thr.len();
    let kn = cat_ids.len();
    let cat_pos = |c: i64| cat_ids.binary_search(&c).ok();
    let per_image: Vec<Vec<ImgLabel>> = img_ids
        .par_iter()
        .map(|&id| -> Result<Vec<ImgLabel>> {
            let Some(pos) = gt.image_position(id) else {
                return Ok(Vec::new());
            };
            let img = &gt.images[pos];
            let (h, w) = (img.height, img.width);
            let mut out = Vec::new();
            let mut labels: Vec<usize> = gt
                .annotations_of(pos)
                .iter()
                .filter_map(|&ai| cat_pos(gt.annotations[ai as usize].category_id))
                .chain(dets[pos].iter().filter_map(|d| cat_pos(d.det.category_id)))
                .collect();
            labels.sort_unstable();
            labels.dedup();
            for k in labels {
                let gts: Vec<u32> = gt
                    .annotations_of(pos)
                    .iter()
                    .copied()
                    .filter(|&ai| cat_pos(gt.annotations[ai as usize].category_id) == Some(k))
                    .collect();
                let pd: Vec<&DetEntry> = dets[pos]
                    .iter()
                    .filter(|d| cat_pos(d.det.category_id) == Some(k))
                    .collect();
                let order = desc_order(&pd.iter().map(|d| d.det.score).collect::<Vec<_>>());
                let pd: Vec<&DetEntry> = order.iter().map(|&i| pd[i]).collect();
                let difficult: Vec<bool> = gts
                    .iter()
                    .map(|&ai| gt.annotations[ai as usize].iscrowd.unwrap_or(false))
                    .collect();
                let n_pos = difficult.iter().filter(|&&d| !d).count() as u64;
                let scores: Vec<f64> = pd.iter().map(|d| d.det.score).collect();
                let mut matches = vec![Vec::with_capacity(pd.len()); tn];
                if !pd.is_empty() {
                    if gts.is_empty() {
                        for m in &mut matches {
                            m.resize(pd.len(), 0);
                        }
                    } else {
                        let ious = match p.iou_type {
                            IouType::Segm | IouType::Boundary => {
                                let dg: Vec<MaskGeom> = pd
                                    .iter()
                                    .map(|d| {
                                        det_mask(d, h, w, mode, results_path).map(|(r, _)| MaskGeom::new(r))
                                    })
                                    .collect::<Result<_>>()?;
                                let gg: Vec<MaskGeom> = gts
                                    .iter()
                                    .map(|&ai| {
                                        let a = &gt.annotations[ai as usize];
                                        let seg = a.segmentation.as_ref().ok_or_else(|| Error::Coco {
                                            path: gt.path.clone(),
                                            reason: format!("annotation id {} has no segmentation", a.id),
                                        })?;
                                        seg.to_rle(h, w).map(MaskGeom::new).map_err(|r| Error::Coco {
                                            path: gt.path.clone(),
                                            reason: format!("annotation id {}: {r}", a.id),
                                        })
                                    })
                                    .collect::<Result<_>>()?;
                                let no_crowd = vec![false; gg.len()];
                                let mut flat = mask_iou_matrix(&dg, &gg, &no_crowd);
                                if p.iou_type == IouType::Boundary {
                                    let d = dilation_radius(h, w, p.boundary_dilation_ratio);
                                    flat = boundary_iou_matrix(&dg, &gg, &no_crowd, d, flat);
                                }
                                flat.chunks(gg.len()).map(<[f64]>::to_vec).collect::<Vec<_>>()
                            }
                            IouType::Bbox => {
                                let db: Vec<[f64; 4]> = pd
                                    .iter()
                                    .map(|d| det_box(d, h, w, mode, results_path).map(|(b, _)| b))
                                    .collect::<Result<_>>()?;
                                let gb: Vec<[f64; 4]> = gts
                                    .iter()
                                    .map(|&ai| {
                                        let a = &gt.annotations[ai as usize];
                                        a.bbox
                                            .as_deref()
                                            .and_then(|b| <[f64; 4]>::try_from(b).ok())
                                            .ok_or_else(|| Error::Coco {
                                                path: gt.path.clone(),
                                                reason: format!("annotation id {} has no bbox", a.id),
                                            })
                                    })
                                    .collect::<Result<_>>()?;
                                db.iter()
                                    .map(|d| gb.iter().map(|g| bbox_iou(d, g, false)).collect())
                                    .collect()
                            }
                        };
                        for (t, &th) in thr.iter().enumerate() {
                            let mut selec = vec![false; gts.len()];
                            for row in &ious {
                                // argmax (first maximum) and max.
                                let mut best = 0usize;
                                for (g, &v) in row.iter().enumerate() {
                                    if v > row[best] {
                                        best = g;
                                    }
                                }
                                if row[best] < th {
                                    matches[t].push(0);
                                    continue;
                                }
                                if difficult[best] {
                                    matches[t].push(-1);
                                } else if selec[best] {
                                    matches[t].push(0);
                                } else {
                                    matches[t].push(1);
                                }
                                selec[best] = true;
                            }
                        }
                    }
                }
                out.push(ImgLabel {
                    k,
                    n_pos,
                    scores,
                    matches,
                });
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;

    // Gather per label, in image order.
    let mut n_pos = vec![0u64; kn];
    let mut seen = vec![false; kn];
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); kn];
    let mut matches: Vec<Vec<Vec<i8>>> = vec![vec![Vec::new(); tn]; kn];
    for img in &per_image {
        for il in img {
            seen[il.k] = true;
            n_pos[il.k] += il.n_pos;
            scores[il.k].extend_from_slice(&il.scores);
            for (dst, src) in matches[il.k].iter_mut().zip(&il.matches) {
                dst.extend_from_slice(src);
            }
        }
    }
    let mut ap = vec![vec![f64::NAN; kn]; tn];
    let mut curves = vec![vec![(Vec::new(), Vec::new()); kn]; tn];
    for k in 0..kn {
        if !seen[k] || n_pos[k] == 0 {
            continue;
        }
        let order = desc_order(&scores[k]);
        for t in 0..tn {
            let (mut tp, mut fp) = (0u64, 0u64);
            let mut prec = Vec::with_capacity(order.len());
            let mut rec = Vec::with_capacity(order.len());
            for &i in &order {
                match matches[k][t][i] {
                    1 => tp += 1,
                    0 => fp += 1,
                    _ => {}
                }
                prec.push(tp as f64 / (fp + tp) as f64);
                rec.push(tp as f64 / n_pos[k] as f64);
            }
            // calc_detection_voc_ap, all-point.
            let mut mpre = Vec::with_capacity(prec.len() + 2);
            mpre.push(0.0);
            mpre.extend(prec.iter().map(|&v| if v.is_nan() { 0.0 } else { v }));
            mpre.push(0.0);
            let mut mrec = Vec::with_capacity(rec.len() + 2);
            mrec.push(0.0);
            mrec.extend_from_slice(&rec);
            mrec.push(1.0);
            for i in (0..mpre.len() - 1).rev() {
                mpre[i] = mpre[i].max(mpre[i + 1]);
            }
            let terms: Vec<f64> = (0..mrec.len() - 1)
                .filter(|&i| mrec[i + 1] != mrec[i])
                .map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1])
                .collect();
            ap[t][k] = numpy_sum(&terms);
            curves[t][k] = (rec, prec);
        }
    }
    // np.nanmean over labels 0..=max seen label.
    let n_fg = (0..kn).rev().find(|&k| seen[k]).map_or(0, |k| k + 1);
    let maps: Vec<f64> = (0..tn)
        .map(|t| {
            let vals: Vec<f64> = ap[t][..n_fg]
                .iter()
                .map(|&v| if v.is_nan() { 0.0 } else { v })
                .collect();
            let cnt = ap[t][..n_fg].iter().filter(|v| !v.is_nan()).count();
            if cnt == 0 {
                f64::NAN
            } else {
                numpy_sum(&vals) / cnt as f64
            }
        })
        .collect();
    let mut summary = String::new();
    for (t, m) in thr.iter().zip(&maps) {
        use std::fmt::Write as _;
        let _ = writeln!(
            summary,
            " VOC mAP@{:<4} (chainercv all-point AP, {}) = {}",
            py_fixed(*t, 2),
            p.iou_type.as_str(),
            if m.is_nan() {
                "nan".to_owned()
            } else {
                py_fixed(*m, 4)
            }
        );
    }
    let mut per_category: Vec<CategoryAp> = (0..kn)
        .map(|k| {
            let per: Vec<f64> = (0..tn)
                .map(|t| if ap[t][k].is_nan() { -1.0 } else { ap[t][k] })
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
        .collect();

    super::count_detections(&mut per_category, gt, img_ids, dets);
    Ok(EvalReport {
        iou_type: p.iou_type,
        protocol: Protocol::VocChainercv,
        stats: maps.iter().map(|&m| if m.is_nan() { -1.0 } else { m }).collect(),
        stat_names: thr
            .iter()
            .map(|t| format!("mAP@{}", py_fixed(t * 100.0, 0)))
            .collect(),
        map_per_iou: maps,
        per_category,
        summary,
        params: p.clone(),
        num_detections: num_dets,
        accumulated: None,
        voc: Some(VocReport {
            thresholds: thr.clone(),
            curves,
        }),
    })
}
