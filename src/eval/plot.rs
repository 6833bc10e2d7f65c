//! Precision/recall figures (`--plot DIR`, `--report DIR`), as SVG and PNG.
//!
//! One figure for all categories (`pr_all.*`, the mean over categories with ground truth, cells
//! without ground truth left out as in `summarize`) and one per category with ground truth or
//! detections (`pr_<category id>.*`). A COCO figure has two panels: the curves at every `IoU`
//! threshold (area `all`, largest maxDets), and the curves of every area range averaged over the
//! `IoU` thresholds (whose mean is the AP of that range); each legend entry gives the AP of its
//! curve. A VOC figure has the first panel only. Title, axis labels, ticks and legends are text
//! ([`super::canvas`]); see `docs/evaluation.md#plots`.
use std::path::{Path, PathBuf};

use super::EvalReport;
use super::accumulate::Accumulated;
use super::canvas::{Anchor, Colour, Scene, text_width};
use super::params::Protocol;
use super::summarize::{CategoryAp, mean_valid, py_fixed};
use super::voc::VocReport;
use crate::output::{write_atomic, write_bytes_atomic};
use crate::{Error, Result};

/// PNG pixels per scene unit.
pub const PNG_SCALE: f32 = 2.0;

const INK: Colour = [33, 37, 41];
const MUTED: Colour = [108, 117, 125];
const GRID: Colour = [226, 230, 234];
const AXIS: Colour = [73, 80, 87];

/// viridis, dark to light (stopping before the palest yellow).
const IOU_RAMP: [Colour; 10] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
];
const AREA_COLOURS: [Colour; 4] = [[33, 37, 41], [31, 119, 180], [255, 127, 14], [44, 160, 44]];

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "palette index"
)]
fn ramp(i: usize, n: usize) -> Colour {
    if n <= 1 {
        return IOU_RAMP[0];
    }
    let f = i as f32 / (n - 1) as f32 * (IOU_RAMP.len() - 1) as f32;
    let (lo, t) = (f.floor() as usize, f - f.floor());
    let hi = (lo + 1).min(IOU_RAMP.len() - 1);
    let mut c = [0u8; 3];
    for j in 0..3 {
        c[j] = (f32::from(IOU_RAMP[lo][j]) * (1.0 - t) + f32::from(IOU_RAMP[hi][j]) * t).round() as u8;
    }
    c
}

/// One curve: its legend label, its AP (or `None`), its points (recall, precision), its colour.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// AP shown in the legend; `None` = no ground truth.
    pub ap: Option<f64>,
    /// (recall, precision) points.
    pub points: Vec<(f64, f64)>,
    /// Line colour.
    pub colour: Colour,
}

/// A panel: a title, a legend header and its curves.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// Legend header (e.g. "`IoU`").
    pub legend_title: String,
    /// Curves.
    pub curves: Vec<Curve>,
}

/// A figure: a title, a subtitle and one or two panels.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Title.
    pub title: String,
    /// Subtitle (summary numbers).
    pub subtitle: String,
    /// Panels, left to right.
    pub panels: Vec<Panel>,
}

fn pct(v: f64) -> String {
    if v < 0.0 || v.is_nan() {
        "n/a".to_owned()
    } else {
        py_fixed(v * 100.0, 1)
    }
}

const PLOT: f32 = 330.0;
const LEFT: f32 = 62.0;
const TOP: f32 = 96.0;
const LEGEND_W: f32 = 124.0;
const PANEL_W: f32 = LEFT + PLOT + 14.0 + LEGEND_W + 16.0;

impl Figure {
    /// Lays the figure out as a scene.
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "small counts")]
    pub fn scene(&self) -> Scene {
        let n = self.panels.len().max(1) as f32;
        let width = 20.0 + PANEL_W * n;
        let height = TOP + PLOT + 62.0;
        let mut s = Scene::new(width, height);
        s.text(20.0, 32.0, &self.title, 19.0, INK, Anchor::Start);
        s.text(20.0, 54.0, &self.subtitle, 12.5, MUTED, Anchor::Start);
        for (i, p) in self.panels.iter().enumerate() {
            draw_panel(&mut s, 20.0 + PANEL_W * i as f32, p);
        }
        s
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "layout"
)]
fn draw_panel(s: &mut Scene, x0: f32, p: &Panel) {
    let (px, py) = (x0 + LEFT, TOP);
    let map = |r: f64, q: f64| (px + r as f32 * PLOT, py + PLOT - q as f32 * PLOT);
    s.text(px, py - 12.0, &p.title, 13.5, INK, Anchor::Start);
    // Grid, ticks and tick labels.
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        let (gx, _) = map(v, 0.0);
        let (_, gy) = map(0.0, v);
        if i > 0 && i < 10 {
            s.line((gx, py), (gx, py + PLOT), GRID, 1.0);
            s.line((px, gy), (px + PLOT, gy), GRID, 1.0);
        }
        if i % 2 == 0 {
            s.line((gx, py + PLOT), (gx, py + PLOT + 5.0), AXIS, 1.0);
            s.line((px - 5.0, gy), (px, gy), AXIS, 1.0);
            let label = py_fixed(v, 1);
            s.text(gx, py + PLOT + 18.0, &label, 11.0, AXIS, Anchor::Middle);
            s.text(px - 8.0, gy + 4.0, &label, 11.0, AXIS, Anchor::End);
        }
    }
    s.rect(px, py, PLOT, PLOT, None, Some((AXIS, 1.0)));
    s.text(
        px + PLOT / 2.0,
        py + PLOT + 40.0,
        "Recall",
        13.0,
        INK,
        Anchor::Middle,
    );
    s.vtext(x0 + 20.0, py + PLOT / 2.0, "Precision", 13.0, INK, Anchor::Middle);
    // Curves, last first so the first (e.g. IoU 0.50) is on top.
    for c in p.curves.iter().rev() {
        if c.points.len() >= 2 {
            let pts = c.points.iter().map(|&(r, q)| map(r, q.clamp(0.0, 1.0))).collect();
            s.polyline(pts, c.colour, 2.0);
        } else if let Some(&(r, q)) = c.points.first() {
            let (x, y) = map(r, q);
            s.rect(x - 2.0, y - 2.0, 4.0, 4.0, Some(c.colour), None);
        }
    }
    // Legend.
    let lx = px + PLOT + 14.0;
    let row = 17.0;
    let lh = row * (p.curves.len() as f32 + 1.0) + 10.0;
    s.rect(lx, py, LEGEND_W, lh, Some([248, 249, 250]), Some((GRID, 1.0)));
    s.text(lx + 8.0, py + 16.0, &p.legend_title, 11.5, MUTED, Anchor::Start);
    s.text(lx + LEGEND_W - 8.0, py + 16.0, "AP", 11.5, MUTED, Anchor::End);
    for (i, c) in p.curves.iter().enumerate() {
        let y = py + 16.0 + row * (i as f32 + 1.0);
        s.line((lx + 8.0, y - 4.0), (lx + 28.0, y - 4.0), c.colour, 2.5);
        let mut label = c.label.clone();
        while text_width(&label, 11.5) > LEGEND_W - 80.0 && label.len() > 3 {
            label.pop();
        }
        s.text(lx + 34.0, y, &label, 11.5, INK, Anchor::Start);
        s.text(
            lx + LEGEND_W - 8.0,
            y,
            pct(c.ap.unwrap_or(-1.0)),
            11.5,
            INK,
            Anchor::End,
        );
    }
}

fn save(fig: &Figure, dir: &Path, stem: &str, written: &mut Vec<PathBuf>) -> Result<()> {
    written.extend(write_scene(&fig.scene(), dir, stem)?);
    Ok(())
}

/// The figures of a report: `("all", overall)` first, then `(category id, figure)` for every
/// category with ground truth or detections.
#[must_use]
pub fn figures(report: &EvalReport) -> Vec<(String, Figure)> {
    if let Some(acc) = &report.accumulated {
        coco_figures(report, acc)
    } else if let Some(voc) = &report.voc {
        voc_figures(report, voc)
    } else {
        Vec::new()
    }
}

fn thr_label(t: f64) -> String {
    py_fixed(t, 2)
}

/// A category's figure title.
fn category_title(report: &EvalReport, c: &CategoryAp) -> String {
    format!(
        "Precision-recall: {} (category {}, {})",
        c.name,
        c.category_id,
        report.iou_type.as_str()
    )
}

/// The COCO figures: the overall one, then one per category (when categories are used).
fn coco_figures(report: &EvalReport, acc: &Accumulated) -> Vec<(String, Figure)> {
    let kn = acc.shape[2];
    let panels = CocoPanels::new(report, acc);
    let all_ks: Vec<usize> = (0..kn).collect();
    let mut out = vec![("all".to_owned(), overall_figure(report, panels.panels(&all_ks)))];
    if kn > 1 || report.params.use_cats {
        for (k, c) in report.per_category.iter().enumerate() {
            if c.num_gt == 0 && c.num_dt == 0 {
                continue;
            }
            out.push((
                c.category_id.to_string(),
                coco_category_figure(report, c, panels.panels(&[k])),
            ));
        }
    }
    out
}

/// The overall COCO figure: the summary numbers and the mean over all categories.
fn overall_figure(report: &EvalReport, panels: Vec<Panel>) -> Figure {
    let p = &report.params;
    let n_with_gt = report.per_category.iter().filter(|c| c.num_gt > 0).count();
    let stat = |i: usize| report.stats.get(i).copied().unwrap_or(-1.0);
    Figure {
        title: format!("Precision-recall, all categories ({})", report.iou_type.as_str()),
        subtitle: format!(
            "AP {}  AP50 {}  AP75 {}  AR100 {}  |  mean over {n_with_gt} categories with ground truth, {} images, {} detections",
            pct(stat(0)),
            pct(stat(1)),
            pct(stat(2)),
            pct(stat(8)),
            p.img_ids.as_ref().map_or(0, Vec::len),
            report.num_detections
        ),
        panels,
    }
}

/// One category's COCO figure.
fn coco_category_figure(report: &EvalReport, c: &CategoryAp, panels: Vec<Panel>) -> Figure {
    let ap_at = |thr: f64| {
        report
            .params
            .iou_thrs
            .iter()
            .position(|&t| t == thr)
            .map_or(-1.0, |i| c.ap_per_iou[i])
    };
    Figure {
        title: category_title(report, c),
        subtitle: format!(
            "AP {}  AP50 {}  AP75 {}  AR {}  |  {} ground truths, {} detections",
            pct(c.ap),
            pct(ap_at(0.5)),
            pct(ap_at(0.75)),
            pct(c.ar),
            c.num_gt,
            c.num_dt
        ),
        panels,
    }
}

/// The two panels of a COCO figure, for any set of categories (averaged).
struct CocoPanels<'a> {
    params: &'a super::Params,
    acc: &'a Accumulated,
    /// Index of the largest maxDets.
    m: usize,
    max_det: usize,
    iou_range: String,
}

impl<'a> CocoPanels<'a> {
    fn new(report: &'a EvalReport, acc: &'a Accumulated) -> Self {
        let p = &report.params;
        Self {
            params: p,
            acc,
            m: acc.shape[4].saturating_sub(1),
            max_det: p.sorted_max_dets().last().copied().unwrap_or(0),
            iou_range: format!(
                "{}:{}",
                thr_label(p.iou_thrs.first().copied().unwrap_or(0.0)),
                thr_label(p.iou_thrs.last().copied().unwrap_or(0.0))
            ),
        }
    }

    /// Precision of categories `ks` at `IoU` threshold `t`, recall threshold `r`, area range `a`.
    fn cell(&self, ks: &[usize], t: usize, r: usize, a: usize) -> Vec<f64> {
        ks.iter()
            .map(|&k| self.acc.precision[self.acc.pidx(t, r, k, a, self.m)])
            .collect()
    }

    fn panels(&self, ks: &[usize]) -> Vec<Panel> {
        vec![
            Panel {
                title: format!("By IoU threshold (area all, maxDets {})", self.max_det),
                legend_title: "IoU".into(),
                curves: self.iou_curves(ks),
            },
            Panel {
                title: format!("By area range (mean over IoU {})", self.iou_range),
                legend_title: "area".into(),
                curves: self.area_curves(ks),
            },
        ]
    }

    /// One curve per `IoU` threshold, area `all`.
    fn iou_curves(&self, ks: &[usize]) -> Vec<Curve> {
        let [tn, rn, ..] = self.acc.shape;
        let rec = &self.params.rec_thrs;
        (0..tn)
            .map(|t| {
                let pts: Vec<(f64, f64)> = (0..rn)
                    .filter_map(|r| {
                        let v = mean_valid(&self.cell(ks, t, r, 0));
                        (v > -1.0).then_some((rec[r], v))
                    })
                    .collect();
                let all: Vec<f64> = (0..rn).flat_map(|r| self.cell(ks, t, r, 0)).collect();
                let ap = mean_valid(&all);
                Curve {
                    label: thr_label(self.params.iou_thrs[t]),
                    ap: (ap > -1.0).then_some(ap),
                    points: pts,
                    colour: ramp(t, tn),
                }
            })
            .collect()
    }

    /// One curve per area range, averaged over the `IoU` thresholds.
    fn area_curves(&self, ks: &[usize]) -> Vec<Curve> {
        let [tn, rn, _, an, _] = self.acc.shape;
        let rec = &self.params.rec_thrs;
        (0..an)
            .map(|a| {
                let pts: Vec<(f64, f64)> = (0..rn)
                    .filter_map(|r| {
                        let v: Vec<f64> = (0..tn).flat_map(|t| self.cell(ks, t, r, a)).collect();
                        let v = mean_valid(&v);
                        (v > -1.0).then_some((rec[r], v))
                    })
                    .collect();
                let all: Vec<f64> = (0..tn)
                    .flat_map(|t| (0..rn).map(move |r| (t, r)))
                    .flat_map(|(t, r)| self.cell(ks, t, r, a))
                    .collect();
                let ap = mean_valid(&all);
                Curve {
                    label: self.params.area_rng_lbl.get(a).cloned().unwrap_or_default(),
                    ap: (ap > -1.0).then_some(ap),
                    points: pts,
                    colour: AREA_COLOURS[a % AREA_COLOURS.len()],
                }
            })
            .collect()
    }
}

/// The VOC figures: one per category with ground truth or detections, its curves at every
/// `IoU` threshold.
fn voc_figures(report: &EvalReport, voc: &VocReport) -> Vec<(String, Figure)> {
    let label = if report.protocol == Protocol::VocChainercv {
        "chainercv all-point AP"
    } else {
        "AP"
    };
    let mut out = Vec::new();
    for (k, c) in report.per_category.iter().enumerate() {
        if c.num_gt == 0 && c.num_dt == 0 {
            continue;
        }
        let curves = voc
            .curves
            .iter()
            .enumerate()
            .map(|(t, per_k)| Curve {
                label: thr_label(report.params.iou_thrs[t]),
                ap: c.ap_per_iou.get(t).copied().filter(|&v| v > -1.0),
                points: per_k[k]
                    .0
                    .iter()
                    .copied()
                    .zip(per_k[k].1.iter().copied())
                    .collect(),
                colour: ramp(t, voc.curves.len()),
            })
            .collect();
        out.push((
            c.category_id.to_string(),
            Figure {
                title: category_title(report, c),
                subtitle: format!(
                    "VOC protocol, {label}  |  {} ground truths, {} detections",
                    c.num_gt, c.num_dt
                ),
                panels: vec![Panel {
                    title: "By IoU threshold".into(),
                    legend_title: "IoU".into(),
                    curves,
                }],
            },
        ));
    }
    out
}

/// Writes the PR figures of a report into `dir` (created if needed) as `pr_<key>.svg` and
/// `pr_<key>.png`; returns the files written.
///
/// # Errors
/// [`Error::Io`] when the directory or a file cannot be written.
pub fn write_plots(report: &EvalReport, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let figs = figures(report);
    let mut written = Vec::new();
    for (key, fig) in &figs {
        save(fig, dir, &format!("pr_{key}"), &mut written)?;
    }
    Ok(written)
}

/// Writes any scene as `<stem>.svg` and `<stem>.png` into `dir` (atomically).
///
/// # Errors
/// [`Error::Io`] when a file cannot be written.
pub fn write_scene(scene: &Scene, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    let svg = dir.join(format!("{stem}.svg"));
    write_bytes_atomic(&svg, scene.to_svg().as_bytes())?;
    let png = dir.join(format!("{stem}.png"));
    let img = scene.to_png(PNG_SCALE);
    write_atomic(&png, |w| {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Png)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        w.write_all(buf.get_ref())
    })?;
    Ok(vec![svg, png])
}
