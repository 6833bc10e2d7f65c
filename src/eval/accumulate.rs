//! Precision/recall tensors (`COCOeval.accumulate`), in float64 exactly as pycocotools computes
//! them: detections of all images concatenated in image order, stable-sorted by score (numpy
//! `mergesort` on `-score`), cumulative tp/fp, `pr = tp / (fp + tp + eps)`, precision made
//! monotone from the right, sampled at the recall thresholds with `searchsorted(side='left')`.
use rayon::prelude::*;
use serde::Serialize;

use super::evaluate::{CatEval, IGNORED, MATCHED};

/// `np.spacing(1)`.
const EPS: f64 = f64::EPSILON;

/// The accumulated tensors (`COCOeval.eval`), flattened in C order.
#[derive(Debug, Clone, Serialize)]
pub struct Accumulated {
    /// `[T, R, K, A, M]`.
    pub shape: [usize; 5],
    /// `precision[t][r][k][a][m]`, -1 where there is no ground truth.
    pub precision: Vec<f64>,
    /// `recall[t][k][a][m]`, -1 where there is no ground truth.
    pub recall: Vec<f64>,
    /// `scores[t][r][k][a][m]`, the score at which each recall threshold is reached.
    pub scores: Vec<f64>,
}

impl Accumulated {
    /// Flat index into `precision`/`scores`.
    #[must_use]
    pub fn pidx(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> usize {
        let [_, rn, kn, an, mn] = self.shape;
        (((t * rn + r) * kn + k) * an + a) * mn + m
    }

    /// Flat index into `recall`.
    #[must_use]
    pub fn ridx(&self, t: usize, k: usize, a: usize, m: usize) -> usize {
        let [_, _, kn, an, mn] = self.shape;
        ((t * kn + k) * an + a) * mn + m
    }
}

/// Per-category cell values: precision/scores `[t][r][a][m]` and recall `[t][a][m]`.
struct CatCells {
    precision: Vec<f64>,
    scores: Vec<f64>,
    recall: Vec<f64>,
}

/// Accumulates per-category evaluations. `per_cat[k]` lists category `k`'s evaluations in image
/// order (images without ground truth or detections for `k` left out, as pycocotools' `None`).
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
pub fn accumulate(
    per_cat: &[Vec<&CatEval>],
    n_thrs: usize,
    rec_thrs: &[f64],
    n_areas: usize,
    max_dets: &[usize],
) -> Accumulated {
    let (tn, rn, an, mn) = (n_thrs, rec_thrs.len(), n_areas, max_dets.len());
    let kn = per_cat.len();
    let cells: Vec<CatCells> = per_cat
        .par_iter()
        .map(|evals| {
            let mut c = CatCells {
                precision: vec![-1.0; tn * rn * an * mn],
                scores: vec![-1.0; tn * rn * an * mn],
                recall: vec![-1.0; tn * an * mn],
            };
            if evals.is_empty() {
                return c;
            }
            let mut rc = Vec::new();
            let mut pr = Vec::new();
            for (m, &max_det) in max_dets.iter().enumerate() {
                // (score, eval index, detection index), concatenated in image order.
                let mut all: Vec<(f64, u32, u32)> = Vec::new();
                for (e, ev) in evals.iter().enumerate() {
                    let nd = ev.scores.len().min(max_det);
                    for d in 0..nd {
                        all.push((ev.scores[d], e as u32, d as u32));
                    }
                }
                all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
                let nd = all.len();
                for a in 0..an {
                    let npig: u64 = evals.iter().map(|e| u64::from(e.areas[a].num_pos)).sum();
                    if npig == 0 {
                        continue;
                    }
                    let npig_f = npig as f64;
                    for t in 0..tn {
                        rc.clear();
                        pr.clear();
                        let (mut tp, mut fp) = (0u64, 0u64);
                        for &(_, e, d) in &all {
                            let ev = evals[e as usize];
                            let dn = ev.scores.len();
                            let f = ev.areas[a].flags[t * dn + d as usize];
                            if f & IGNORED == 0 {
                                if f & MATCHED != 0 {
                                    tp += 1;
                                } else {
                                    fp += 1;
                                }
                            }
                            let (tpf, fpf) = (tp as f64, fp as f64);
                            rc.push(tpf / npig_f);
                            pr.push(tpf / (fpf + tpf + EPS));
                        }
                        c.recall[(t * an + a) * mn + m] = if nd > 0 { rc[nd - 1] } else { 0.0 };
                        for i in (1..nd).rev() {
                            if pr[i] > pr[i - 1] {
                                pr[i - 1] = pr[i];
                            }
                        }
                        let mut idx = 0usize;
                        for (ri, &thr) in rec_thrs.iter().enumerate() {
                            while idx < nd && rc[idx] < thr {
                                idx += 1;
                            }
                            let cell = ((t * rn + ri) * an + a) * mn + m;
                            if idx >= nd {
                                // pycocotools' `try/except` leaves the rest at 0.
                                for rj in ri..rn {
                                    let cj = ((t * rn + rj) * an + a) * mn + m;
                                    c.precision[cj] = 0.0;
                                    c.scores[cj] = 0.0;
                                }
                                break;
                            }
                            c.precision[cell] = pr[idx];
                            c.scores[cell] = all[idx].0;
                        }
                    }
                }
            }
            c
        })
        .collect();
    let mut acc = Accumulated {
        shape: [tn, rn, kn, an, mn],
        precision: vec![-1.0; tn * rn * kn * an * mn],
        recall: vec![-1.0; tn * kn * an * mn],
        scores: vec![-1.0; tn * rn * kn * an * mn],
    };
    for (k, c) in cells.iter().enumerate() {
        for t in 0..tn {
            for a in 0..an {
                for m in 0..mn {
                    let ri = acc.ridx(t, k, a, m);
                    acc.recall[ri] = c.recall[(t * an + a) * mn + m];
                    for r in 0..rn {
                        let pi = acc.pidx(t, r, k, a, m);
                        let ci = ((t * rn + r) * an + a) * mn + m;
                        acc.precision[pi] = c.precision[ci];
                        acc.scores[pi] = c.scores[ci];
                    }
                }
            }
        }
    }
    acc
}
