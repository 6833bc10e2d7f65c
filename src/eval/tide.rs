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
/// category indices: the matching and error typing of every image (`Matching::add_image`),
/// then one oracle per error type (`Matching::fixed`) and the two special errors.
#[must_use]
pub fn tide(images: &[ImageGeom], num_classes: usize, p: &TideParams) -> TideReport {
    let mut m = Matching::new(num_classes);
    for img in images {
        m.add_image(img, p);
    }
    let ap = mean_ap(&m.base);
    let errors = ERROR_KINDS
        .iter()
        .map(|&k| ErrorCost {
            kind: k,
            count: m.errors.iter().filter(|e| e.kind == k).count() as u64,
            d_ap: (mean_ap(&m.fixed(Some(k))) - ap).max(0.0),
        })
        .collect();
    TideReport {
        params: *p,
        ap,
        errors,
        d_ap_false_pos: mean_ap(&m.false_positives_fixed()) - ap,
        d_ap_false_neg: mean_ap(&m.false_negatives_fixed()) - ap,
        num_gt: m.gts.len() as u64,
        num_dt: m.preds.len() as u64,
    }
}

/// What the matching phase gives the oracles: every detection and ground truth of every image
/// (global indices, images in order), the errors in tidecv's order, and the per-class AP data.
struct Matching {
    preds: Vec<Pred>,
    gts: Vec<Gt>,
    errors: Vec<Err>,
    base: Vec<ApData>,
}

impl Matching {
    fn new(num_classes: usize) -> Self {
        Self {
            preds: Vec::new(),
            gts: Vec::new(),
            errors: Vec::new(),
            base: vec![ApData::default(); num_classes],
        }
    }

    /// One image: greedy matching, crowd ignores, every detection's AP point and error, then the
    /// missed ground truths.
    fn add_image(&mut self, img: &ImageGeom, p: &TideParams) {
        let g0 = self.gts.len();
        let p0 = self.preds.len();
        for &c in &img.gt_cls {
            self.base[c as usize].n_gt += 1;
            self.gts.push(Gt {
                cls: c,
                used: false,
                usable: false,
                best: None,
            });
        }
        let dn = img.det_cls.len().min(p.max_dets);
        if dn > 0 {
            let taken = self.match_greedy(img, dn, g0, p);
            self.ignore_crowd(img, dn, p0, p);
            for d in 0..dn {
                self.add_detection(img, d, (p0, g0), &taken, p);
            }
        }
        self.add_misses(g0);
    }

    /// Greedy matching in score order to the unused same-class ground truth of highest `IoU`
    /// (a true positive at `IoU` >= `pos_thresh`); pushes the detections, returns which ground
    /// truths of the image are taken.
    fn match_greedy(&mut self, img: &ImageGeom, dn: usize, g0: usize, p: &TideParams) -> Vec<bool> {
        let gn = img.gt_cls.len();
        let mut taken = vec![false; gn];
        for d in 0..dn {
            let mut best = (0usize, f64::NEG_INFINITY);
            for (g, &t) in taken.iter().enumerate() {
                let v = if img.det_cls[d] == img.gt_cls[g] && !t {
                    img.iou(d, g)
                } else {
                    0.0
                };
                if v > best.1 {
                    best = (g, v);
                }
            }
            let used = if gn > 0 && best.1 >= p.pos_thresh {
                taken[best.0] = true;
                self.gts[g0 + best.0].used = true;
                Used::Yes
            } else {
                Used::No
            };
            self.preds.push(Pred {
                cls: img.det_cls[d],
                score: img.det_score[d],
                used,
            });
        }
        taken
    }

    /// Unmatched detections over a crowd region of their class (crowd `IoU` > `pos_thresh`) are
    /// ignored for AP.
    fn ignore_crowd(&mut self, img: &ImageGeom, dn: usize, p0: usize, p: &TideParams) {
        for c in 0..img.crowd_cls.len() {
            for d in 0..dn {
                let pr = &mut self.preds[p0 + d];
                if pr.used == Used::No && img.crowd_iou(d, c) > p.pos_thresh && img.crowd_cls[c] == pr.cls {
                    pr.used = Used::Ignored;
                }
            }
        }
    }

    /// Detection `d` of `img` (`(p0, g0)`: the image's first global detection and ground-truth
    /// index): its AP point, and unless it is a true positive its error; a Cls / Loc error of a
    /// still-unused ground truth becomes that ground truth's fix candidate (tidecv's
    /// `BestGTMatch`: the best-scoring one).
    fn add_detection(
        &mut self,
        img: &ImageGeom,
        d: usize,
        (p0, g0): (usize, usize),
        taken: &[bool],
        p: &TideParams,
    ) {
        let gi = p0 + d;
        let pr = &self.preds[gi];
        if pr.used != Used::Ignored {
            self.base[pr.cls as usize]
                .points
                .push((pr.score, pr.used == Used::Yes));
        }
        if pr.used == Used::Yes {
            return;
        }
        if img.gt_cls.is_empty() {
            self.errors.push(Err {
                kind: ErrorKind::Bkg,
                pred: Some(gi),
                gt: None,
            });
            return;
        }
        let (kind, g) = error_kind(img, d, taken, p);
        let target = matches!(kind, ErrorKind::Cls | ErrorKind::Loc).then(|| g0 + g);
        if let Some(t) = target {
            let score = self.preds[gi].score;
            let gt = &mut self.gts[t];
            if !gt.used {
                gt.usable = true;
                if gt.best.is_none_or(|(s, _)| s < score) {
                    gt.best = Some((score, gi));
                }
            }
        }
        self.errors.push(Err {
            kind,
            pred: Some(gi),
            gt: target,
        });
    }

    /// The ground truths from `g0` on that no detection took and no Cls / Loc fix could take.
    fn add_misses(&mut self, g0: usize) {
        for (g, t) in self.gts.iter().enumerate().skip(g0) {
            if !t.used && !t.usable {
                self.errors.push(Err {
                    kind: ErrorKind::Miss,
                    pred: None,
                    gt: Some(g),
                });
            }
        }
    }

    /// tidecv's `fix_errors`: the error points first (fixed when of type `kind`, else original),
    /// then the true positives.
    fn fixed(&self, kind: Option<ErrorKind>) -> Vec<ApData> {
        let mut out = vec![ApData::default(); self.base.len()];
        let mut n_gt: Vec<i64> = self.base.iter().map(|b| b.n_gt).collect();
        for e in &self.errors {
            let point = if Some(e.kind) == kind {
                self.fixed_point(e, &mut n_gt)
            } else {
                self.original_point(e)
            };
            if let Some((c, pt)) = point {
                out[c as usize].points.push(pt);
            }
        }
        for (c, b) in self.base.iter().enumerate() {
            out[c].points.extend(b.points.iter().filter(|p| p.1));
            out[c].n_gt = n_gt[c];
        }
        out
    }

    /// The AP data point of an error as it is: a false positive, unless ignored (none for Miss).
    fn original_point(&self, e: &Err) -> Option<(u32, (f64, bool))> {
        let d = &self.preds[e.pred?];
        (d.used != Used::Ignored).then_some((d.cls, (d.score, false)))
    }

    /// The AP data point of an error once fixed: Cls / Loc turn the ground truth's fix candidate
    /// into a true positive (of the ground truth's / its own class) and suppress the others;
    /// Both, Dupe and Bkg suppress the detection; Miss removes the ground truth (from `n_gt`).
    fn fixed_point(&self, e: &Err, n_gt: &mut [i64]) -> Option<(u32, (f64, bool))> {
        match e.kind {
            ErrorKind::Cls | ErrorKind::Loc => {
                let (d, t) = (e.pred.unwrap_or(0), e.gt.unwrap_or(0));
                let g = &self.gts[t];
                if g.used || g.best.map(|(_, id)| id) != Some(d) {
                    None
                } else {
                    let cls = if e.kind == ErrorKind::Cls {
                        g.cls
                    } else {
                        self.preds[d].cls
                    };
                    Some((cls, (self.preds[d].score, true)))
                }
            }
            ErrorKind::Miss => {
                if let Some(t) = e.gt {
                    n_gt[self.gts[t].cls as usize] -= 1;
                }
                None
            }
            ErrorKind::Both | ErrorKind::Dupe | ErrorKind::Bkg => None,
        }
    }

    /// Perfect precision: false positives scored 0, true positives 1.
    fn false_positives_fixed(&self) -> Vec<ApData> {
        self.base
            .iter()
            .map(|b| ApData {
                points: b
                    .points
                    .iter()
                    .map(|&(_, t)| (if t { 1.0 } else { 0.0 }, t))
                    .collect(),
                n_gt: b.n_gt,
            })
            .collect()
    }

    /// Perfect recall: every unmatched ground truth removed, precision unchanged.
    fn false_negatives_fixed(&self) -> Vec<ApData> {
        let mut out = self.fixed(None);
        for g in &self.gts {
            if !g.used {
                out[g.cls as usize].n_gt -= 1;
            }
        }
        out
    }
}

/// The error type of unmatched detection `d` of `img` (an image with ground truth) and its
/// target ground truth (meaningful for Loc, Cls and Dupe): the first type that fits, in the
/// module documentation's order.
fn error_kind(img: &ImageGeom, d: usize, taken: &[bool], p: &TideParams) -> (ErrorKind, usize) {
    let same = |g: usize| img.det_cls[d] == img.gt_cls[g];
    // argmax (first maximum) of IoU over the ground truths passing `f`, 0 elsewhere.
    let argmax = |f: &dyn Fn(usize) -> bool| {
        let mut b = (0usize, f64::NEG_INFINITY);
        for g in 0..img.gt_cls.len() {
            let v = if f(g) { img.iou(d, g) } else { 0.0 };
            if v > b.1 {
                b = (g, v);
            }
        }
        b
    };
    let (g, v) = argmax(&same);
    if p.bg_thresh <= v && v <= p.pos_thresh {
        return (ErrorKind::Loc, g);
    }
    let (g, v) = argmax(&|g| !same(g));
    if v >= p.pos_thresh {
        return (ErrorKind::Cls, g);
    }
    let (g, v) = argmax(&|g| same(g) && taken[g]);
    if v >= p.pos_thresh {
        return (ErrorKind::Dupe, g);
    }
    let (_, v) = argmax(&|_| true);
    if v <= p.bg_thresh {
        (ErrorKind::Bkg, usize::MAX)
    } else {
        (ErrorKind::Both, usize::MAX)
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
