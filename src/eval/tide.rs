//! TIDE error breakdown (Bolya et al., ECCV 2020), following the reference `tidecv` 1.0.1; the
//! definitions are in `docs/evaluation.md#tide-error-breakdown`.
//!
//! Per image, detections (best `max_dets` of the image, all classes together) are matched
//! greedily in score order to the unused same-class ground truth of highest `IoU`, a true positive
//! at `IoU` >= `pos_thresh`; unmatched detections over a crowd region of their class (crowd `IoU` >
//! `pos_thresh`) are ignored for AP. Every detection that is not a true positive gets the first
//! error type that fits, in this order: background (image without ground truth), localisation
//! (same class, `bg <= IoU <= pos`), classification (other class, `IoU` >= pos), duplicate (same
//! class, `IoU` >= pos with an already used ground truth), background (`IoU` <= bg with everything),
//! else both (classification and localisation). A ground truth left unmatched that no
//! classification/localisation error could fix is missed.
//!
//! Each error type is then fixed alone (an oracle) and AP recomputed; its dAP is the gain
//! (clamped at 0 as tidecv does). Fixes: classification / localisation turn the best-scoring
//! such detection of a still-unused ground truth into a true positive (of the ground truth's /
//! its own class) and suppress the others; duplicate, background and both suppress the
//! detection; missed removes the ground truth. AP is tidecv's: per class, 101-point interpolated
//! (`searchsorted` on recall), averaged over classes with ground truth or detections.
use serde::Serialize;

use super::geometry::ImageGeom;

/// TIDE thresholds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TideParams {
    /// Foreground `IoU` threshold `t_f` (0.5).
    pub pos_thresh: f64,
    /// Background `IoU` threshold `t_b` (0.1).
    pub bg_thresh: f64,
    /// Detections kept per image (100).
    pub max_dets: usize,
}

impl Default for TideParams {
    fn default() -> Self {
        Self {
            pos_thresh: 0.5,
            bg_thresh: 0.1,
            max_dets: 100,
        }
    }
}

/// The six main error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Right place, wrong class.
    Cls,
    /// Right class, `IoU` between the thresholds.
    Loc,
    /// Wrong class and `IoU` between the thresholds.
    Both,
    /// Right class and place, but the ground truth was taken by a higher-scoring detection.
    Dupe,
    /// Overlaps nothing (`IoU` <= `t_b` with every ground truth).
    Bkg,
    /// A ground truth no detection found or could be fixed into.
    Miss,
}

/// All error types, in the order reported.
pub const ERROR_KINDS: [ErrorKind; 6] = [
    ErrorKind::Cls,
    ErrorKind::Loc,
    ErrorKind::Both,
    ErrorKind::Dupe,
    ErrorKind::Bkg,
    ErrorKind::Miss,
];

impl ErrorKind {
    /// The short name used by TIDE.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Cls => "Cls",
            Self::Loc => "Loc",
            Self::Both => "Both",
            Self::Dupe => "Dupe",
            Self::Bkg => "Bkg",
            Self::Miss => "Miss",
        }
    }
}

/// One error type's count and cost.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCost {
    /// Error type.
    pub kind: ErrorKind,
    /// Number of detections (or ground truths, for `miss`) with this error.
    pub count: u64,
    /// AP gained by fixing every error of this type alone (fraction, >= 0).
    #[serde(rename = "dAP")]
    pub d_ap: f64,
}

/// The TIDE breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct TideReport {
    /// Thresholds used.
    pub params: TideParams,
    /// tidecv's AP at `pos_thresh` (fraction).
    pub ap: f64,
    /// Main errors, in [`ERROR_KINDS`] order.
    pub errors: Vec<ErrorCost>,
    /// AP gained by perfect precision (every false positive scored below every true positive).
    #[serde(rename = "dAP_false_positives")]
    pub d_ap_false_pos: f64,
    /// AP gained by perfect recall (every missed ground truth removed) without changing precision.
    #[serde(rename = "dAP_false_negatives")]
    pub d_ap_false_neg: f64,
    /// Ground truths (not crowd) and detections considered.
    pub num_gt: u64,
    /// Detections considered (after `max_dets`).
    pub num_dt: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Used {
    No,
    Yes,
    Ignored,
}

#[derive(Debug, Clone)]
struct Err {
    kind: ErrorKind,
    /// Detection (global index), none for `Miss`.
    pred: Option<usize>,
    /// Target ground truth (global index) of Cls / Loc / Miss.
    gt: Option<usize>,
}

struct Pred {
    cls: u32,
    score: f64,
    used: Used,
}

struct Gt {
    cls: u32,
    used: bool,
    usable: bool,
    best: Option<(f64, usize)>,
}

/// tidecv's per-class AP data: points (score, true positive) in push order and the number of
/// ground truths.
#[derive(Default, Clone)]
struct ApData {
    points: Vec<(f64, bool)>,
    n_gt: i64,
}

impl ApData {
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    fn ap(&self) -> f64 {
        if self.n_gt <= 0 {
            return 0.0;
        }
        let mut pts = self.points.clone();
        pts.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let (mut tp, mut fp) = (0u64, 0u64);
        let mut prec = Vec::with_capacity(pts.len());
        let mut rec = Vec::with_capacity(pts.len());
        let n = self.n_gt as f64;
        for &(_, t) in &pts {
            if t {
                tp += 1;
            } else {
                fp += 1;
            }
            prec.push(tp as f64 / (tp + fp) as f64);
            rec.push(tp as f64 / n);
        }
        for i in (1..prec.len()).rev() {
            if prec[i] > prec[i - 1] {
                prec[i - 1] = prec[i];
            }
        }
        let mut sum = 0.0;
        for i in 0..=100 {
            let x = f64::from(i) / 100.0;
            let idx = rec.partition_point(|&r| r < x);
            if idx < prec.len() {
                sum += prec[idx];
            }
        }
        sum / 101.0
    }

    fn is_empty(&self) -> bool {
        self.points.is_empty() && self.n_gt == 0
    }
}

#[allow(clippy::cast_precision_loss, reason = "class counts")]
fn mean_ap(data: &[ApData]) -> f64 {
    let aps: Vec<f64> = data.iter().filter(|d| !d.is_empty()).map(ApData::ap).collect();
    if aps.is_empty() {
        0.0
    } else {
        aps.iter().sum::<f64>() / aps.len() as f64
    }
}

/// Computes the breakdown from per-image geometry (images in evaluation order), `num_classes`
/// category indices.
#[must_use]
#[allow(
    clippy::too_many_lines,
    reason = "tidecv's matching, error typing and oracles in order"
)]
pub fn tide(images: &[ImageGeom], num_classes: usize, p: &TideParams) -> TideReport {
    let mut preds: Vec<Pred> = Vec::new();
    let mut gts: Vec<Gt> = Vec::new();
    let mut errors: Vec<Err> = Vec::new();
    let mut base = vec![ApData::default(); num_classes];
    for img in images {
        let g0 = gts.len();
        let p0 = preds.len();
        let (gn, dn, cn) = (img.gt_cls.len(), img.det_cls.len(), img.crowd_cls.len());
        for &c in &img.gt_cls {
            base[c as usize].n_gt += 1;
            gts.push(Gt {
                cls: c,
                used: false,
                usable: false,
                best: None,
            });
        }
        let dn = dn.min(p.max_dets);
        if dn == 0 {
            for g in 0..gn {
                errors.push(Err {
                    kind: ErrorKind::Miss,
                    pred: None,
                    gt: Some(g0 + g),
                });
            }
            continue;
        }
        // Matching: greedy in score order on same-class IoU of unused ground truths.
        let same = |d: usize, g: usize| img.det_cls[d] == img.gt_cls[g];
        let mut taken = vec![false; gn];
        for d in 0..dn {
            let mut best = (0usize, f64::NEG_INFINITY);
            for (g, &t) in taken.iter().enumerate() {
                let v = if same(d, g) && !t { img.iou(d, g) } else { 0.0 };
                if v > best.1 {
                    best = (g, v);
                }
            }
            let used = if gn > 0 && best.1 >= p.pos_thresh {
                taken[best.0] = true;
                gts[g0 + best.0].used = true;
                Used::Yes
            } else {
                Used::No
            };
            preds.push(Pred {
                cls: img.det_cls[d],
                score: img.det_score[d],
                used,
            });
        }
        for c in 0..cn {
            for d in 0..dn {
                let pr = &mut preds[p0 + d];
                if pr.used == Used::No && img.crowd_iou(d, c) > p.pos_thresh && img.crowd_cls[c] == pr.cls {
                    pr.used = Used::Ignored;
                }
            }
        }
        for d in 0..dn {
            let pr = &preds[p0 + d];
            if pr.used != Used::Ignored {
                base[pr.cls as usize]
                    .points
                    .push((pr.score, pr.used == Used::Yes));
            }
            if pr.used == Used::Yes {
                continue;
            }
            let gi = p0 + d;
            if gn == 0 {
                errors.push(Err {
                    kind: ErrorKind::Bkg,
                    pred: Some(gi),
                    gt: None,
                });
                continue;
            }
            // argmax (first maximum) of IoU over the ground truths passing `f`, 0 elsewhere.
            let argmax = |f: &dyn Fn(usize) -> bool| {
                let mut b = (0usize, f64::NEG_INFINITY);
                for g in 0..gn {
                    let v = if f(g) { img.iou(d, g) } else { 0.0 };
                    if v > b.1 {
                        b = (g, v);
                    }
                }
                b
            };
            let (g, v) = argmax(&|g| same(d, g));
            let kind = if p.bg_thresh <= v && v <= p.pos_thresh {
                Some((ErrorKind::Loc, g))
            } else {
                let (g, v) = argmax(&|g| !same(d, g));
                if v >= p.pos_thresh {
                    Some((ErrorKind::Cls, g))
                } else {
                    let (g, v) = argmax(&|g| same(d, g) && taken[g]);
                    if v >= p.pos_thresh {
                        Some((ErrorKind::Dupe, g))
                    } else {
                        let (_, v) = argmax(&|_| true);
                        if v <= p.bg_thresh {
                            Some((ErrorKind::Bkg, usize::MAX))
                        } else {
                            Some((ErrorKind::Both, usize::MAX))
                        }
                    }
                }
            };
            let Some((kind, g)) = kind else { continue };
            let target = matches!(kind, ErrorKind::Cls | ErrorKind::Loc).then(|| g0 + g);
            if let Some(t) = target {
                // BestGTMatch: the best-scoring error of a still-unused ground truth gets fixed.
                let gt = &mut gts[t];
                if !gt.used {
                    gt.usable = true;
                    let score = preds[gi].score;
                    if gt.best.is_none_or(|(s, _)| s < score) {
                        gt.best = Some((score, gi));
                    }
                }
            }
            errors.push(Err {
                kind,
                pred: Some(gi),
                gt: target,
            });
        }
        for g in 0..gn {
            let t = &gts[g0 + g];
            if !t.used && !t.usable {
                errors.push(Err {
                    kind: ErrorKind::Miss,
                    pred: None,
                    gt: Some(g0 + g),
                });
            }
        }
    }
    let ap = mean_ap(&base);

    // The original and fixed AP data point of an error.
    let original = |e: &Err| -> Option<(u32, (f64, bool))> {
        let d = &preds[e.pred?];
        (d.used != Used::Ignored).then_some((d.cls, (d.score, false)))
    };
    // tidecv's `fix_errors`: the error points first (fixed for `kind`, else original), then the
    // true positives.
    let fix = |kind: Option<ErrorKind>| -> Vec<ApData> {
        let mut out = vec![ApData::default(); num_classes];
        let mut n_gt: Vec<i64> = base.iter().map(|b| b.n_gt).collect();
        for e in &errors {
            let point = if Some(e.kind) == kind {
                match e.kind {
                    ErrorKind::Cls | ErrorKind::Loc => {
                        let (d, t) = (e.pred.unwrap_or(0), e.gt.unwrap_or(0));
                        let g = &gts[t];
                        if g.used || g.best.map(|(_, id)| id) != Some(d) {
                            None
                        } else {
                            let cls = if e.kind == ErrorKind::Cls {
                                g.cls
                            } else {
                                preds[d].cls
                            };
                            Some((cls, (preds[d].score, true)))
                        }
                    }
                    ErrorKind::Miss => {
                        if let Some(t) = e.gt {
                            n_gt[gts[t].cls as usize] -= 1;
                        }
                        None
                    }
                    ErrorKind::Both | ErrorKind::Dupe | ErrorKind::Bkg => None,
                }
            } else {
                original(e)
            };
            if let Some((c, pt)) = point {
                out[c as usize].points.push(pt);
            }
        }
        for (c, b) in base.iter().enumerate() {
            out[c].points.extend(b.points.iter().filter(|p| p.1));
            out[c].n_gt = n_gt[c];
        }
        out
    };
    let errors_out = ERROR_KINDS
        .iter()
        .map(|&k| ErrorCost {
            kind: k,
            count: errors.iter().filter(|e| e.kind == k).count() as u64,
            d_ap: (mean_ap(&fix(Some(k))) - ap).max(0.0),
        })
        .collect();
    // Special errors: perfect precision (false positives scored 0, true positives 1) and perfect
    // recall (every unmatched ground truth removed).
    let mut fp_fixed = vec![ApData::default(); num_classes];
    for (c, b) in base.iter().enumerate() {
        fp_fixed[c].n_gt = b.n_gt;
        fp_fixed[c].points = b
            .points
            .iter()
            .map(|&(_, t)| (if t { 1.0 } else { 0.0 }, t))
            .collect();
    }
    let mut fn_fixed = fix(None);
    for g in &gts {
        if !g.used {
            fn_fixed[g.cls as usize].n_gt -= 1;
        }
    }
    TideReport {
        params: *p,
        ap,
        errors: errors_out,
        d_ap_false_pos: mean_ap(&fp_fixed) - ap,
        d_ap_false_neg: mean_ap(&fn_fixed) - ap,
        num_gt: gts.len() as u64,
        num_dt: preds.len() as u64,
    }
}

impl TideReport {
    /// The breakdown as an aligned text table (AP and dAP in percentage points).
    #[must_use]
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "TIDE error breakdown (Bolya et al. 2020): AP@{} = {:.2}  (t_f {}, t_b {}, {} ground truths, {} detections)",
            self.params.pos_thresh,
            self.ap * 100.0,
            self.params.pos_thresh,
            self.params.bg_thresh,
            self.num_gt,
            self.num_dt
        );
        let _ = writeln!(s, "  {:<6} {:>7} {:>7}", "error", "count", "dAP");
        for e in &self.errors {
            let _ = writeln!(s, "  {:<6} {:>7} {:>7.2}", e.kind.name(), e.count, e.d_ap * 100.0);
        }
        let _ = writeln!(
            s,
            "  {:<6} {:>7} {:>7.2}",
            "FalseP",
            "",
            self.d_ap_false_pos * 100.0
        );
        let _ = writeln!(
            s,
            "  {:<6} {:>7} {:>7.2}",
            "FalseN",
            "",
            self.d_ap_false_neg * 100.0
        );
        s
    }
}
