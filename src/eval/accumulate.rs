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

/// Tensor sizes: `IoU` thresholds, recall thresholds, area ranges, maxDets.
#[derive(Clone, Copy)]
struct Dims {
    tn: usize,
    rn: usize,
    an: usize,
    mn: usize,
}

impl Dims {
    /// Index of `[t][r][a][m]` in a category's precision/scores cells.
    fn cell(self, t: usize, r: usize, a: usize, m: usize) -> usize {
        ((t * self.rn + r) * self.an + a) * self.mn + m
    }

    /// Index of `[t][a][m]` in a category's recall cells.
    fn rcell(self, t: usize, a: usize, m: usize) -> usize {
        (t * self.an + a) * self.mn + m
    }
}

/// Accumulates per-category evaluations. `per_cat[k]` lists category `k`'s evaluations in image
/// order (images without ground truth or detections for `k` left out, as pycocotools' `None`).
#[must_use]
pub fn accumulate(
    per_cat: &[Vec<&CatEval>],
    n_thrs: usize,
    rec_thrs: &[f64],
    n_areas: usize,
    max_dets: &[usize],
) -> Accumulated {
    let dims = Dims {
        tn: n_thrs,
        rn: rec_thrs.len(),
        an: n_areas,
        mn: max_dets.len(),
    };
    let cells: Vec<CatCells> = per_cat
        .par_iter()
        .map(|evals| category_cells(evals, rec_thrs, max_dets, dims))
        .collect();
    assemble(&cells, dims)
}

/// Detections of one category at one maxDets, in score order: `all` holds (score, eval index,
/// detection index), concatenated in image order then stable-sorted on descending score (numpy
/// mergesort of -score); `buf` their flags, `buf[(i * A + a) * T + t]`.
fn score_order(
    evals: &[&CatEval],
    max_det: usize,
    at_n: usize,
    all: &mut Vec<(f64, u32, u32)>,
    buf: &mut Vec<u8>,
) {
    all.clear();
    for (e, ev) in evals.iter().enumerate() {
        let nd = ev.scores.len().min(max_det);
        for d in 0..nd {
            all.push((ev.scores[d], e as u32, d as u32));
        }
    }
    all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    buf.clear();
    for &(_, e, d) in all.iter() {
        let d = d as usize;
        buf.extend_from_slice(&evals[e as usize].flags[d * at_n..(d + 1) * at_n]);
    }
}

/// `searchsorted(rc, recThrs, 'left')` on `rc = tp / npig`, as the smallest tp count that
/// reaches each recall threshold (exact float test); `None` when no count does.
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
fn tp_needed(rec_thrs: &[f64], npig: u64, tp_min: &mut [Option<u64>]) {
    let npig_f = npig as f64;
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
}

/// The cells of one category.
fn category_cells(evals: &[&CatEval], rec_thrs: &[f64], max_dets: &[usize], dims: Dims) -> CatCells {
    let Dims { tn, rn, an, mn } = dims;
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
    let mut scratch = Scratch::default();
    let mut tp_min: Vec<Option<u64>> = vec![None; rn];
    for (m, &max_det) in max_dets.iter().enumerate() {
        score_order(evals, max_det, an * tn, &mut all, &mut buf);
        for a in 0..an {
            let npig: u64 = evals.iter().map(|e| u64::from(e.num_pos[a])).sum();
            if npig == 0 {
                continue;
            }
            tp_needed(rec_thrs, npig, &mut tp_min);
            for t in 0..tn {
                let at = Cell { t, a, m, npig };
                fill_threshold(&mut c, &all, &buf, &tp_min, at, dims, &mut scratch);
            }
        }
    }
    c
}

/// Reused buffers of [`fill_threshold`].
#[derive(Default)]
struct Scratch {
    /// (position in score order, false positives before it) of each true positive.
    tp_pos: Vec<(usize, u64)>,
    /// Right-to-left running maximum of the precision at each true positive.
    best: Vec<f64>,
}

/// Which (`IoU` threshold, area range, maxDets) cells are filled, and the ground-truth count.
#[derive(Clone, Copy)]
struct Cell {
    t: usize,
    a: usize,
    m: usize,
    npig: u64,
}

/// Recall, precision and scores of one category at one (`IoU` threshold, area range, maxDets).
#[allow(clippy::cast_precision_loss, reason = "counts far below 2^53")]
fn fill_threshold(
    c: &mut CatCells,
    all: &[(f64, u32, u32)],
    buf: &[u8],
    tp_min: &[Option<u64>],
    Cell { t, a, m, npig }: Cell,
    dims: Dims,
    Scratch { tp_pos, best }: &mut Scratch,
) {
    let nd = all.len();
    let at_n = dims.an * dims.tn;
    // One pass: cumulative tp/fp, positions of true positives.
    tp_pos.clear();
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut idx = a * dims.tn + t;
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
    c.recall[dims.rcell(t, a, m)] = if nd > 0 { tp as f64 / npig as f64 } else { 0.0 };
    // pr = tp / (fp + tp + eps) only changes upwards at true positives, so the right-to-left
    // running max (pycocotools' loop) only needs them.
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
        let cell = dims.cell(t, ri, a, m);
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
            for rj in ri..dims.rn {
                let cj = dims.cell(t, rj, a, m);
                c.precision[cj] = 0.0;
                c.scores[cj] = 0.0;
            }
            break;
        };
        c.precision[cell] = q;
        c.scores[cell] = all[i].0;
    }
}

/// The per-category cells laid out as `[T, R, K, A, M]` / `[T, K, A, M]`.
fn assemble(cells: &[CatCells], dims: Dims) -> Accumulated {
    let Dims { tn, rn, an, mn } = dims;
    let kn = cells.len();
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
                    acc.recall[ri] = c.recall[dims.rcell(t, a, m)];
                    for r in 0..rn {
                        let pi = acc.pidx(t, r, k, a, m);
                        let ci = dims.cell(t, r, a, m);
                        acc.precision[pi] = c.precision[ci];
                        acc.scores[pi] = c.scores[ci];
                    }
                }
            }
        }
    }
    acc
}
