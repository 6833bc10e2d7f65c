//! Precision/recall curves as PNG (`--plot DIR`).
//!
//! Drawn with `imageproc` line primitives and written with `image`: no fonts are needed (none are
//! guaranteed on the machines this runs on), so the plots carry no text. Layout: white
//! background, the unit square framed in black with grey grid lines every 0.1, one curve per IoU
//! threshold coloured from blue (lowest threshold) to red (highest). `pr_all.png` holds the mean
//! over categories (cells without ground truth left out); `pr_<category id>.png` one category.
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use imageproc::drawing::draw_line_segment_mut;

use super::EvalReport;
use crate::{Error, Result};

const W: u32 = 480;
const H: u32 = 400;
const MARGIN: f32 = 30.0;

#[allow(clippy::cast_precision_loss, reason = "image sizes")]
#[allow(clippy::cast_possible_truncation, reason = "colour channels")]
#[allow(clippy::cast_sign_loss, reason = "colour channels")]
fn draw(curves: &[Vec<(f64, f64)>]) -> RgbImage {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let (pw, ph) = (W as f32 - 2.0 * MARGIN, H as f32 - 2.0 * MARGIN);
    let map = |x: f64, y: f64| -> (f32, f32) { (MARGIN + x as f32 * pw, H as f32 - MARGIN - y as f32 * ph) };
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        let grey = if i == 0 || i == 10 {
            Rgb([0, 0, 0])
        } else {
            Rgb([220, 220, 220])
        };
        draw_line_segment_mut(&mut img, map(v, 0.0), map(v, 1.0), grey);
        draw_line_segment_mut(&mut img, map(0.0, v), map(1.0, v), grey);
    }
    let n = curves.len().max(2) - 1;
    for (i, c) in curves.iter().enumerate() {
        let f = i as f32 / n as f32;
        let colour = Rgb([(255.0 * f) as u8, 40, (255.0 * (1.0 - f)) as u8]);
        for pair in c.windows(2) {
            draw_line_segment_mut(
                &mut img,
                map(pair[0].0, pair[0].1),
                map(pair[1].0, pair[1].1),
                colour,
            );
        }
    }
    img
}

fn save(img: &RgbImage, path: &Path) -> Result<()> {
    img.save(path)
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))
}

/// Writes the PR curves of a report into `dir` (created if needed); returns the files written.
///
/// # Errors
/// [`Error::Io`] when the directory or a file cannot be written.
pub fn write_plots(report: &EvalReport, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let mut per_cat: Vec<Vec<Vec<(f64, f64)>>> = Vec::new();
    let mut mean: Vec<Vec<(f64, f64)>> = Vec::new();
    if let Some(acc) = &report.accumulated {
        let [tn, rn, kn, _, mn] = acc.shape;
        let m = mn.saturating_sub(1);
        let rec = &report.params.rec_thrs;
        for k in 0..kn {
            per_cat.push(
                (0..tn)
                    .map(|t| {
                        (0..rn)
                            .filter_map(|r| {
                                let v = acc.precision[acc.pidx(t, r, k, 0, m)];
                                (v > -1.0).then_some((rec[r], v))
                            })
                            .collect()
                    })
                    .collect(),
            );
        }
        for t in 0..tn {
            let mut c = Vec::with_capacity(rn);
            for (r, &rt) in rec.iter().enumerate().take(rn) {
                let vals: Vec<f64> = (0..kn)
                    .map(|k| acc.precision[acc.pidx(t, r, k, 0, m)])
                    .filter(|&v| v > -1.0)
                    .collect();
                if !vals.is_empty() {
                    c.push((rt, super::summarize::mean_valid(&vals)));
                }
            }
            mean.push(c);
        }
    } else if let Some(voc) = &report.voc {
        let kn = report.per_category.len();
        for k in 0..kn {
            per_cat.push(
                voc.curves
                    .iter()
                    .map(|per_k| {
                        per_k[k]
                            .0
                            .iter()
                            .copied()
                            .zip(per_k[k].1.iter().copied())
                            .collect()
                    })
                    .collect(),
            );
        }
    }
    if !mean.is_empty() {
        let path = dir.join("pr_all.png");
        save(&draw(&mean), &path)?;
        written.push(path);
    }
    for (c, curves) in report.per_category.iter().zip(&per_cat) {
        if curves.iter().all(Vec::is_empty) {
            continue;
        }
        let path = dir.join(format!("pr_{}.png", c.category_id));
        save(&draw(curves), &path)?;
        written.push(path);
    }
    Ok(written)
}
