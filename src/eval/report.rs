//! `--report DIR`: one self-contained HTML page with the summary, the per-category table, the PR
//! figures, and the error analyses when computed (`docs/evaluation.md#report`).
//!
//! Layout of `DIR`: `index.html`, `eval.json` (every number, as `--json`), `plots/pr_*.{svg,png}`,
//! and when computed `confusion.{json,svg,png}` and `tide.json`. The page links the SVG figures
//! (text stays sharp at any zoom) and needs no script, style sheet or font from elsewhere.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::confusion::ConfusionMatrix;
use super::summarize::{CategoryAp, py_fixed};
use super::tide::TideReport;
use super::{EvalReport, Protocol, TableOptions, plot};
use crate::Result;
use crate::output::write_bytes_atomic;

/// What the report shows besides the evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportExtras<'a> {
    /// The TIDE breakdown.
    pub tide: Option<&'a TideReport>,
    /// The confusion matrix.
    pub confusion: Option<&'a ConfusionMatrix>,
    /// Inputs to name in the header, `(label, value)`.
    pub inputs: &'a [(&'a str, String)],
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(v: f64) -> String {
    if v < 0.0 || v.is_nan() {
        "&ndash;".to_owned()
    } else {
        py_fixed(v * 100.0, 2)
    }
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;color:#212529;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #dee2e6;padding-bottom:.2em}\
table{border-collapse:collapse;font-size:.9em}th,td{padding:.25em .6em;border-bottom:1px solid #e9ecef;text-align:right}\
th{background:#f8f9fa}td.l,th.l{text-align:left}pre{background:#f8f9fa;padding:.8em;overflow-x:auto;font-size:.85em}\
img{max-width:100%;border:1px solid #e9ecef}.muted{color:#6c757d}.grid{display:flex;flex-wrap:wrap;gap:10px}.grid a img{width:340px}";

/// Writes the report into `dir` (created if needed); returns the path of `index.html`. The page
/// is written section by section, in this order: header, summary, per-category table, TIDE,
/// confusion matrix, per-category figures.
///
/// # Errors
/// [`crate::Error::Io`] when a file cannot be written; JSON errors as [`crate::Error::Invalid`].
pub fn write_report(
    dir: &Path,
    report: &EvalReport,
    opts: TableOptions,
    extras: &ReportExtras<'_>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    write_bytes_atomic(&dir.join("eval.json"), to_json(report)?.as_bytes())?;
    plot::write_plots(report, &dir.join("plots"))?;
    let mut h = String::new();
    header(&mut h, report, extras.inputs);
    summary(&mut h, report, dir);
    let rows = report.table_rows(opts);
    category_table(&mut h, report, dir, &rows);
    if let Some(t) = extras.tide {
        write_bytes_atomic(&dir.join("tide.json"), to_json(t)?.as_bytes())?;
        tide_section(&mut h, t);
    }
    if let Some(c) = extras.confusion {
        write_bytes_atomic(&dir.join("confusion.json"), to_json(c)?.as_bytes())?;
        let title = format!("Confusion matrix ({})", report.iou_type.as_str());
        plot::write_scene(&c.scene(opts.all_categories, &title), dir, "confusion")?;
        let _ = writeln!(
            h,
            "<h2 id=\"confusion\">Confusion matrix</h2>\n<p><a href=\"confusion.svg\"><img src=\"confusion.svg\" alt=\"confusion matrix\"></a></p><p class=\"muted\">Counts in <a href=\"confusion.json\">confusion.json</a>.</p>"
        );
    }
    if rows.iter().any(|c| c.num_gt > 0 || c.num_dt > 0)
        && (report.accumulated.is_some() || report.voc.is_some())
    {
        figure_grid(&mut h, dir, &rows);
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Written by baiseg-rt {}.</p></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    let index = dir.join("index.html");
    write_bytes_atomic(&index, h.as_bytes())?;
    Ok(index)
}

/// The page head, the title and what was evaluated (`inputs`: `(label, value)` rows).
fn header(h: &mut String, report: &EvalReport, inputs: &[(&str, String)]) {
    let kind = report.iou_type.as_str();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation report ({kind})</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Evaluation report</h1>");
    let proto = match report.protocol {
        Protocol::Coco => "COCO (pycocotools COCOeval)",
        Protocol::CocoThresholds => "COCO matching at IoU 0.25/0.5/0.7/0.75",
        Protocol::VocChainercv => "VOC (chainercv all-point AP)",
    };
    let _ = writeln!(
        h,
        "<p class=\"muted\">IoU type <b>{kind}</b>, protocol {proto}, {} images, {} categories, {} detections.</p>",
        report.params.img_ids.as_ref().map_or(0, Vec::len),
        report.per_category.len(),
        report.num_detections
    );
    if !inputs.is_empty() {
        let _ = writeln!(h, "<table>");
        for (k, v) in inputs {
            let _ = writeln!(
                h,
                "<tr><th class=\"l\">{}</th><td class=\"l\"><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            );
        }
        let _ = writeln!(h, "</table>");
    }
}

/// The headline numbers, the summary text and the overall figure.
fn summary(h: &mut String, report: &EvalReport, dir: &Path) {
    let _ = writeln!(h, "<h2 id=\"summary\">Summary</h2>\n<table><tr>");
    for n in &report.stat_names {
        let _ = write!(h, "<th>{}</th>", esc(n));
    }
    let _ = writeln!(h, "</tr><tr>");
    for v in &report.stats {
        let _ = write!(h, "<td>{}</td>", pct(*v));
    }
    let _ = writeln!(h, "</tr></table>\n<pre>{}</pre>", esc(&report.summary));
    if dir.join("plots/pr_all.svg").is_file() {
        let _ = writeln!(
            h,
            "<h2 id=\"pr\">Precision-recall</h2>\n<p><a href=\"plots/pr_all.svg\"><img src=\"plots/pr_all.svg\" alt=\"precision-recall curves, all categories\"></a></p>"
        );
    }
}

/// The per-category table (`rows`, as the summary's table shows them), linking each category's
/// figure when there is one.
fn category_table(h: &mut String, report: &EvalReport, dir: &Path, rows: &[&CategoryAp]) {
    let _ = writeln!(h, "<h2 id=\"categories\">Per category</h2>");
    let hidden = report.per_category.len() - rows.len();
    if hidden > 0 {
        let _ = writeln!(
            h,
            "<p class=\"muted\">{hidden} categories with no ground truth and no detections are not listed (<code>--all-categories</code> lists them).</p>"
        );
    }
    let _ = write!(
        h,
        "<table><tr><th>id</th><th class=\"l\">name</th><th>GT</th><th>dets</th>"
    );
    if report.protocol != Protocol::VocChainercv {
        let _ = write!(h, "<th>AP</th><th>AR</th>");
    }
    for t in &report.params.iou_thrs {
        let _ = write!(h, "<th>AP@{}</th>", py_fixed(*t * 100.0, 0));
    }
    let _ = writeln!(h, "<th>plot</th></tr>");
    for c in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>",
            c.category_id,
            esc(&c.name),
            c.num_gt,
            c.num_dt
        );
        if report.protocol != Protocol::VocChainercv {
            let _ = write!(h, "<td>{}</td><td>{}</td>", pct(c.ap), pct(c.ar));
        }
        for v in &c.ap_per_iou {
            let _ = write!(h, "<td>{}</td>", pct(*v));
        }
        if dir.join(format!("plots/pr_{}.svg", c.category_id)).is_file() {
            let _ = writeln!(
                h,
                "<td><a href=\"plots/pr_{id}.svg\">svg</a> <a href=\"plots/pr_{id}.png\">png</a></td></tr>",
                id = c.category_id
            );
        } else {
            let _ = writeln!(h, "<td></td></tr>");
        }
    }
    let _ = writeln!(h, "</table>");
}

/// The TIDE table.
fn tide_section(h: &mut String, t: &TideReport) {
    let _ = writeln!(
        h,
        "<h2 id=\"tide\">Error breakdown (TIDE)</h2>\n<p class=\"muted\">AP@{} = {} (tidecv AP); dAP = AP gained by fixing every error of the type alone. Definitions: Bolya et al., ECCV 2020, as in <code>docs/evaluation.md</code>.</p>",
        t.params.pos_thresh,
        py_fixed(t.ap * 100.0, 2)
    );
    let _ = writeln!(
        h,
        "<table><tr><th class=\"l\">error</th><th>count</th><th>dAP</th></tr>"
    );
    for e in &t.errors {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            e.kind.name(),
            e.count,
            py_fixed(e.d_ap * 100.0, 2)
        );
    }
    let _ = writeln!(
        h,
        "<tr><td class=\"l\">all false positives</td><td></td><td>{}</td></tr><tr><td class=\"l\">all false negatives</td><td></td><td>{}</td></tr></table>",
        py_fixed(t.d_ap_false_pos * 100.0, 2),
        py_fixed(t.d_ap_false_neg * 100.0, 2)
    );
}

/// The grid of per-category figures.
fn figure_grid(h: &mut String, dir: &Path, rows: &[&CategoryAp]) {
    let _ = writeln!(
        h,
        "<h2 id=\"pr-categories\">Precision-recall per category</h2>\n<div class=\"grid\">"
    );
    for c in rows
        .iter()
        .filter(|c| dir.join(format!("plots/pr_{}.svg", c.category_id)).is_file())
    {
        let _ = writeln!(
            h,
            "<a href=\"plots/pr_{id}.svg\"><img src=\"plots/pr_{id}.svg\" alt=\"{}\" loading=\"lazy\"></a>",
            esc(&c.name),
            id = c.category_id
        );
    }
    let _ = writeln!(h, "</div>");
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| crate::Error::invalid("report", e.to_string()))
}
