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
    let at_n = an * tn;
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
            let mut all: Vec<(f64, u32, u32)> = Vec::new();
            let mut buf: Vec<u8> = Vec::new();
            let mut tp_pos: Vec<(usize, u64)> = Vec::new();
            let mut best: Vec<f64> = Vec::new();
            let mut tp_min: Vec<Option<u64>> = vec![None; rn];
            for (m, &max_det) in max_dets.iter().enumerate() {
                // (score, eval index, detection index), concatenated in image order, then a
                // stable sort on descending score (numpy mergesort of -score).
                all.clear();
                for (e, ev) in evals.iter().enumerate() {
                    let nd = ev.scores.len().min(max_det);
                    for d in 0..nd {
                        all.push((ev.scores[d], e as u32, d as u32));
                    }
                }
                all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
                let nd = all.len();
                // Flags in score order, `buf[(i * A + a) * T + t]`.
                buf.clear();
                for &(_, e, d) in &all {
                    let d = d as usize;
                    buf.extend_from_slice(&evals[e as usize].flags[d * at_n..(d + 1) * at_n]);
                }
                for a in 0..an {
                    let npig: u64 = evals.iter().map(|e| u64::from(e.num_pos[a])).sum();
                    if npig == 0 {
                        continue;
                    }
                    let npig_f = npig as f64;
                    // searchsorted(rc, recThrs, 'left') on rc = tp / npig: the first position
                    // whose tp reaches the smallest tp with tp / npig >= thr (exact float test).
                    for (slot, &thr) in tp_min.iter_mut().zip(rec_thrs) {
                        let mut x = ((thr * npig_f).ceil().max(0.0) as u64).min(npig + 1);
                        while x > 0 && (x - 1) as f64 / npig_f >= thr {
                            x -= 1;
                        }
                        while x <= npig && (x as f64 / npig_f) < thr {
                            x += 1;
                        }
                        *slot = (x <= npig).then_some(x);
                    }
                    for t in 0..tn {
                        // One pass: cumulative tp/fp, positions of true positives.
                        tp_pos.clear();
                        let (mut tp, mut fp) = (0u64, 0u64);
                        let mut idx = a * tn + t;
                        for i in 0..nd {
                            let f = buf[idx];
                            idx += at_n;
                            if f & IGNORED == 0 {
                                if f & MATCHED != 0 {
                                    tp += 1;
                                    tp_pos.push((i, fp));
                                } else {
                                    fp += 1;
                                }
                            }
                        }
                        c.recall[(t * an + a) * mn + m] = if nd > 0 { tp as f64 / npig_f } else { 0.0 };
                        // pr = tp / (fp + tp + eps) only changes upwards at true positives, so
                        // the right-to-left running max (pycocotools' loop) only needs them.
                        best.clear();
                        best.resize(tp_pos.len(), 0.0);
                        let mut run = 0.0f64;
                        for j in (0..tp_pos.len()).rev() {
                            let tpf = (j + 1) as f64;
                            let pr = tpf / (tp_pos[j].1 as f64 + tpf + EPS);
                            if pr > run {
                                run = pr;
                            }
                            best[j] = run;
                        }
                        for (ri, &need) in tp_min.iter().enumerate() {
                            let cell = ((t * rn + ri) * an + a) * mn + m;
                            let hit = match need {
                                Some(0) if nd > 0 => Some((0usize, best.first().copied().unwrap_or(0.0))),
                                Some(x) if x >= 1 && (x as usize) <= tp_pos.len() => {
                                    let j = x as usize - 1;
                                    Some((tp_pos[j].0, best[j]))
                                }
                                _ => None,
                            };
                            let Some((i, q)) = hit else {
                                // Past the last detection: pycocotools' `try/except` leaves 0.
                                for rj in ri..rn {
                                    let cj = ((t * rn + rj) * an + a) * mn + m;
                                    c.precision[cj] = 0.0;
                                    c.scores[cj] = 0.0;
                                }
                                break;
                            };
                            c.precision[cell] = q;
                            c.scores[cell] = all[i].0;
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
