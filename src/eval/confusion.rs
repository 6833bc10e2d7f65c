//! Confusion matrix over the categories plus background, at one `IoU` and one score threshold;
//! definitions in `docs/evaluation.md#confusion-matrix`.
//!
//! Per image, the detections with score >= `score_thresh` are taken in score order (highest
//! first); each is matched to the still-unmatched non-crowd ground truth of highest `IoU` >=
//! `iou_thresh`, looking at ground truths of its own class first and, only if none qualifies, at
//! every class. A match adds one to `matrix[gt class][detected class]`. A detection left
//! unmatched counts in the background row (`matrix[K][detected class]`), unless it lies on a
//! crowd region of its class (crowd `IoU` >= `iou_thresh`), where it is ignored; a ground truth
//! left unmatched counts in the background column (`matrix[gt class][K]`). Rows are ground
//! truth, columns detections; `K` is the number of categories.
use serde::Serialize;

use super::canvas::{Anchor, Colour, Scene, text_width};
use super::geometry::ImageGeom;

/// Thresholds of the matrix.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ConfusionParams {
    /// `IoU` needed for a match.
    pub iou_thresh: f64,
    /// Detections below this score are left out.
    pub score_thresh: f64,
}

impl Default for ConfusionParams {
    fn default() -> Self {
        Self {
            iou_thresh: 0.5,
            score_thresh: 0.5,
        }
    }
}

/// The matrix.
#[derive(Debug, Clone, Serialize)]
pub struct ConfusionMatrix {
    /// Thresholds.
    pub params: ConfusionParams,
    /// Category ids of rows/columns `0..K`; row/column `K` is background.
    pub category_ids: Vec<i64>,
    /// Names of rows/columns, `"background"` last.
    pub labels: Vec<String>,
    /// `(K+1) x (K+1)` counts, rows = ground truth, columns = detection.
    pub matrix: Vec<Vec<u64>>,
}

/// Accumulates the matrix over images (geometry from [`super::geometry::image_geom`] with the
/// score filter applied).
#[must_use]
pub fn confusion(
    images: &[ImageGeom],
    category_ids: &[i64],
    names: &[String],
    p: &ConfusionParams,
) -> ConfusionMatrix {
    let k = category_ids.len();
    let mut m = vec![vec![0u64; k + 1]; k + 1];
    for img in images {
        let gn = img.gt_cls.len();
        let mut taken = vec![false; gn];
        for d in 0..img.det_cls.len() {
            let dc = img.det_cls[d];
            let pick = |same_only: bool, taken: &[bool]| {
                let mut best: Option<(usize, f64)> = None;
                for (g, &t) in taken.iter().enumerate() {
                    if t || (same_only && img.gt_cls[g] != dc) {
                        continue;
                    }
                    let v = img.iou(d, g);
                    if v >= p.iou_thresh && best.is_none_or(|(_, b)| v > b) {
                        best = Some((g, v));
                    }
                }
                best
            };
            if let Some((g, _)) = pick(true, &taken).or_else(|| pick(false, &taken)) {
                taken[g] = true;
                m[img.gt_cls[g] as usize][dc as usize] += 1;
            } else {
                let on_crowd = (0..img.crowd_cls.len())
                    .any(|c| img.crowd_cls[c] == dc && img.crowd_iou(d, c) >= p.iou_thresh);
                if !on_crowd {
                    m[k][dc as usize] += 1;
                }
            }
        }
        for g in 0..gn {
            if !taken[g] {
                m[img.gt_cls[g] as usize][k] += 1;
            }
        }
    }
    let mut labels = names.to_vec();
    labels.push("background".into());
    ConfusionMatrix {
        params: *p,
        category_ids: category_ids.to_vec(),
        labels,
        matrix: m,
    }
}

const INK: Colour = [33, 37, 41];
const MUTED: Colour = [108, 117, 125];

/// Blues, light to dark, by `f` in [0, 1].
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "colour channels"
)]
fn blues(f: f64) -> Colour {
    let lo = [247.0, 251.0, 255.0];
    let hi = [8.0, 48.0, 107.0];
    let f = f.clamp(0.0, 1.0);
    let mut c = [0u8; 3];
    for i in 0..3 {
        c[i] = (lo[i] * (1.0 - f) + hi[i] * f).round() as u8;
    }
    c
}

impl ConfusionMatrix {
    /// Rows/columns shown: categories with a nonzero row or column (all if `all`), then
    /// background.
    #[must_use]
    pub fn shown(&self, all: bool) -> Vec<usize> {
        let k = self.category_ids.len();
        let mut v: Vec<usize> = (0..k)
            .filter(|&i| all || self.matrix[i].iter().any(|&x| x > 0) || self.matrix.iter().any(|r| r[i] > 0))
            .collect();
        v.push(k);
        v
    }

    /// The matrix as a picture: cells shaded by the share of their ground-truth row (the
    /// background row by the share of its total), counts written in the cells.
    #[must_use]
    pub fn scene(&self, all: bool, title: &str) -> Scene {
        let idx = self.shown(all);
        let names: Vec<String> = idx.iter().map(|&i| self.labels[i].clone()).collect();
        let g = Grid::new(&names);
        let mut s = Scene::new(g.width(), g.height());
        s.text(20.0, 30.0, title, 17.0, INK, Anchor::Start);
        s.text(
            20.0,
            50.0,
            format!(
                "IoU >= {}, score >= {}; rows: ground truth, columns: detection; shade = share of the row",
                self.params.iou_thresh, self.params.score_thresh
            ),
            11.5,
            MUTED,
            Anchor::Start,
        );
        self.draw_rows(&mut s, &idx, &names, &g);
        g.draw_frame(&mut s, &names);
        s
    }

    /// Row labels and cells of the shown rows `idx` (`names`: their labels).
    #[allow(clippy::cast_precision_loss, reason = "layout and shares")]
    fn draw_rows(&self, s: &mut Scene, idx: &[usize], names: &[String], g: &Grid) {
        for (r, &i) in idx.iter().enumerate() {
            let row = &self.matrix[i];
            let total: u64 = idx.iter().map(|&j| row[j]).sum();
            let y = g.top + g.cell * r as f32;
            s.text(
                g.left - 6.0,
                y + g.cell / 2.0 + g.label_font * 0.35,
                &names[r],
                g.label_font,
                INK,
                Anchor::End,
            );
            for (c, &j) in idx.iter().enumerate() {
                let x = g.left + g.cell * c as f32;
                let v = row[j];
                let f = if total > 0 { v as f64 / total as f64 } else { 0.0 };
                s.rect(x, y, g.cell, g.cell, Some(blues(f)), Some(([222, 226, 230], 0.5)));
                if v > 0 && g.cell >= 18.0 {
                    let ink = if f > 0.5 { [255, 255, 255] } else { INK };
                    s.text(
                        x + g.cell / 2.0,
                        y + g.cell / 2.0 + g.font * 0.35,
                        v.to_string(),
                        g.font,
                        ink,
                        Anchor::Middle,
                    );
                }
            }
        }
    }
}

/// The layout of the matrix picture: cell size and fonts by the number of rows, margins by the
/// longest label.
struct Grid {
    /// Rows (and columns) shown.
    n: f32,
    cell: f32,
    font: f32,
    label_font: f32,
    left: f32,
    top: f32,
}

impl Grid {
    #[allow(clippy::cast_precision_loss, reason = "layout")]
    fn new(names: &[String]) -> Self {
        let n = names.len();
        let cell: f32 = if n <= 12 {
            40.0
        } else if n <= 30 {
            26.0
        } else {
            (900.0 / n as f32).max(8.0)
        };
        let label_font = (cell * 0.45).clamp(7.0, 12.0);
        let label_w = names
            .iter()
            .map(|s| text_width(s, label_font))
            .fold(0.0f32, f32::max)
            + 10.0;
        Self {
            n: n as f32,
            cell,
            font: (cell * 0.36).clamp(6.0, 12.0),
            label_font,
            left: 40.0 + label_w,
            top: 70.0 + label_w,
        }
    }

    fn width(&self) -> f32 {
        (self.left + self.cell * self.n + 30.0).max(420.0)
    }

    fn height(&self) -> f32 {
        self.top + self.cell * self.n + 50.0
    }

    /// Column labels, the border and the axis titles.
    #[allow(clippy::cast_precision_loss, reason = "layout")]
    fn draw_frame(&self, s: &mut Scene, names: &[String]) {
        let (cell, left, top) = (self.cell, self.left, self.top);
        for (c, name) in names.iter().enumerate() {
            let x = left + cell * c as f32 + cell / 2.0 + self.label_font * 0.35;
            s.vtext(x, top - 6.0, name, self.label_font, INK, Anchor::Start);
        }
        let side = cell * self.n;
        s.rect(left, top, side, side, None, Some(([73, 80, 87], 1.0)));
        s.vtext(
            22.0,
            top + side / 2.0,
            "ground truth",
            12.0,
            MUTED,
            Anchor::Middle,
        );
        s.text(
            left + side / 2.0,
            top + side + 24.0,
            "detection",
            12.0,
            MUTED,
            Anchor::Middle,
        );
    }
}
