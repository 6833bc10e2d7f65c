//! Error analyses, table options, plots and the report: hand-made TIDE and confusion-matrix
//! cases with numbers worked out by hand (`docs/evaluation.md`), text in the figures, report
//! contents, and the CLI flags.
use std::path::{Path, PathBuf};
use std::process::Command;

use baiseg_rt::eval::tide::ErrorKind;
use baiseg_rt::eval::{
    self, CocoDataset, ConfusionParams, Evaluator, IouType, Params, TableOptions, TableSort, TideParams,
};

const GT: &str = r#"{
  "images": [{"id": 1, "height": 100, "width": 100, "file_name": "a.jpg"}],
  "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"},
                 {"id": 4, "name": "unused"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 100, "bbox": [0, 0, 10, 10]},
    {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 100, "bbox": [50, 50, 10, 10]},
    {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 100, "bbox": [20, 0, 10, 10]},
    {"id": 4, "image_id": 1, "category_id": 3, "iscrowd": 0, "area": 100, "bbox": [0, 50, 10, 10]}
  ]
}"#;

/// d1 true positive, d2 duplicate of d1, d3 a cat on the dog (classification), d4 a bird at `IoU`
/// 1/3 (localisation), d5 a cat on nothing (background, scored highest), d6 a bird at `IoU` 0.25
/// with a cat (both). Ground truth 3 (cat) is missed.
const DT: &str = r#"[
  {"image_id": 1, "category_id": 1, "score": 0.9,  "bbox": [0, 0, 10, 10]},
  {"image_id": 1, "category_id": 1, "score": 0.8,  "bbox": [0, 0, 10, 10]},
  {"image_id": 1, "category_id": 1, "score": 0.7,  "bbox": [50, 50, 10, 10]},
  {"image_id": 1, "category_id": 3, "score": 0.6,  "bbox": [0, 55, 10, 10]},
  {"image_id": 1, "category_id": 1, "score": 0.95, "bbox": [80, 80, 10, 10]},
  {"image_id": 1, "category_id": 3, "score": 0.4,  "bbox": [20, 6, 10, 10]}
]"#;

fn evaluator(gt: &str, dt: &str, iou_type: IouType) -> Evaluator {
    let gt = CocoDataset::from_slice(gt.as_bytes(), Path::new("gt.json")).unwrap();
    let dt = eval::dataset::parse_results(dt.as_bytes(), Path::new("dt.json")).unwrap();
    let mut ev = Evaluator::new(gt, Params::new(iou_type)).unwrap();
    ev.add_results(dt).unwrap();
    ev
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn tide_hand_made_case() {
    let ev = evaluator(GT, DT, IouType::Bbox);
    let (t, _) = ev.analyse(Some(&TideParams::default()), None).unwrap();
    let t = t.unwrap();
    // Base AP per class: cat 25.5/101 (precision 0.5 up to recall 0.5), dog 0, bird 0; the
    // unused category has neither ground truth nor detections and is left out of the mean.
    let base = 25.5 / 101.0 / 3.0;
    assert!(close(t.ap, base), "{}", t.ap);
    let by = |k: ErrorKind| t.errors.iter().find(|e| e.kind == k).unwrap();
    for k in [
        ErrorKind::Cls,
        ErrorKind::Loc,
        ErrorKind::Both,
        ErrorKind::Dupe,
        ErrorKind::Bkg,
        ErrorKind::Miss,
    ] {
        assert_eq!(by(k).count, 1, "{k:?}");
    }
    // Cls: d3 becomes a dog true positive (dog AP 1); Loc: d4 a bird true positive (bird AP 1).
    assert!(
        close(by(ErrorKind::Cls).d_ap, 1.0 / 3.0),
        "{}",
        by(ErrorKind::Cls).d_ap
    );
    assert!(close(by(ErrorKind::Loc).d_ap, 1.0 / 3.0));
    // Both and Dupe suppress detections below the only true positive: no change.
    assert!(close(by(ErrorKind::Both).d_ap, 0.0));
    assert!(close(by(ErrorKind::Dupe).d_ap, 0.0));
    // Bkg removes the 0.95 false positive in front of the cat: cat AP 51/101.
    assert!(close(by(ErrorKind::Bkg).d_ap, 25.5 / 303.0));
    // Miss removes ground truth 3: cat recall 1 at precision 0.5.
    assert!(close(by(ErrorKind::Miss).d_ap, (0.5 - 25.5 / 101.0) / 3.0));
    assert!(close(t.d_ap_false_pos, 25.5 / 303.0));
    // Perfect recall removes the three unmatched ground truths: dog drops out (empty), bird
    // keeps AP 0, cat 0.5.
    assert!(close(t.d_ap_false_neg, 0.25 - base));
    assert_eq!((t.num_gt, t.num_dt), (4, 6));
    let table = t.table();
    for needle in ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss", "dAP", "33.33"] {
        assert!(table.contains(needle), "{needle} in {table}");
    }
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["errors"][0]["kind"], "cls");
    assert!(v["errors"][0]["dAP"].is_number());
}

#[test]
fn confusion_hand_made_case() {
    let ev = evaluator(GT, DT, IouType::Bbox);
    let (_, c) = ev.analyse(None, Some(&ConfusionParams::default())).unwrap();
    let c = c.unwrap();
    assert_eq!(c.labels, ["cat", "dog", "bird", "unused", "background"]);
    // Rows ground truth, columns detections; d6 (score 0.4) is below the score threshold.
    let want: Vec<Vec<u64>> = vec![
        vec![1, 0, 0, 0, 1], // cat: d1 matched, ground truth 3 unmatched
        vec![1, 0, 0, 0, 0], // dog: taken by the cat detection d3
        vec![0, 0, 0, 0, 0],
        vec![0, 0, 0, 0, 0],
        vec![0, 0, 0, 0, 0],
    ];
    let mut want = want;
    want[2][4] = 1; // bird: d4 at IoU 1/3 does not match
    want[4][0] = 2; // background: d5 and the duplicate d2
    want[4][2] = 1; // background: d4
    assert_eq!(c.matrix, want);
    // The picture leaves out the category with nothing in it unless asked.
    assert_eq!(c.shown(false), vec![0, 1, 2, 4]);
    assert_eq!(c.shown(true).len(), 5);
    let svg = c.scene(false, "Confusion matrix (bbox)").to_svg();
    assert!(svg.contains(">Confusion matrix (bbox)</text>"));
    assert!(svg.contains(">background</text>") && svg.contains(">dog</text>"));
    assert!(!svg.contains(">unused</text>"));
    // A lower IoU threshold lets d4 match the bird.
    let ev = evaluator(GT, DT, IouType::Bbox);
    let (_, c) = ev
        .analyse(
            None,
            Some(&ConfusionParams {
                iou_thresh: 0.3,
                score_thresh: 0.5,
            }),
        )
        .unwrap();
    assert_eq!(c.unwrap().matrix[2][2], 1);
}

#[test]
fn crowd_regions_are_ignored() {
    let gt = r#"{"images": [{"id": 1, "height": 50, "width": 50}],
      "categories": [{"id": 1, "name": "cat"}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1, "area": 400,
                       "bbox": [0, 0, 20, 20]}]}"#;
    let dt = r#"[{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [2, 2, 10, 10]}]"#;
    let ev = evaluator(gt, dt, IouType::Bbox);
    let (t, c) = ev
        .analyse(Some(&TideParams::default()), Some(&ConfusionParams::default()))
        .unwrap();
    let c = c.unwrap();
    assert!(c.matrix.iter().flatten().all(|&x| x == 0), "{:?}", c.matrix);
    let t = t.unwrap();
    // No non-crowd ground truth: the detection is a background error but is ignored for AP.
    assert_eq!(t.num_gt, 0);
    assert_eq!(
        t.errors.iter().find(|e| e.kind == ErrorKind::Bkg).unwrap().count,
        1
    );
    assert!(close(t.ap, 0.0));
}

fn clarifai() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/coco/clarifai_val2017_10");
    (
        root.join("instances_val2017_subset.json"),
        root.join("dets_segm.json"),
    )
}

#[test]
fn table_hides_empty_categories_and_sorts() {
    let (gt, dt) = clarifai();
    let r = eval::evaluate_files(&gt, &dt, Params::default()).unwrap();
    assert_eq!(r.per_category.len(), 80);
    let shown = r.table_rows(TableOptions::default());
    assert!(shown.len() < 80 && shown.len() >= 18, "{}", shown.len());
    assert!(shown.iter().all(|c| c.num_gt > 0 || c.num_dt > 0));
    let text = r.category_table();
    assert_eq!(text.lines().count(), shown.len() + 2, "{text}");
    assert!(text.contains("categories with no ground truth and no detections hidden"));
    let all = r.category_table_with(TableOptions {
        all_categories: true,
        sort: TableSort::Id,
    });
    assert_eq!(all.lines().count(), 81);
    let by_ap = r.table_rows(TableOptions {
        all_categories: false,
        sort: TableSort::Ap,
    });
    let key = |v: f64| if v < 0.0 { f64::NEG_INFINITY } else { v };
    assert!(by_ap.windows(2).all(|w| key(w[0].ap) >= key(w[1].ap)));
    let by_name = r.table_rows(TableOptions {
        all_categories: false,
        sort: TableSort::Name,
    });
    assert!(by_name.windows(2).all(|w| w[0].name <= w[1].name));
    let by_gt = r.table_rows(TableOptions {
        all_categories: false,
        sort: TableSort::Gt,
    });
    assert!(by_gt.windows(2).all(|w| w[0].num_gt >= w[1].num_gt));
    let dets: u64 = r.per_category.iter().map(|c| c.num_dt).sum();
    assert_eq!(dets, r.num_detections);
}

/// Dark pixels (any channel below 128) in a region of an RGB image.
fn dark(img: &image::RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> usize {
    let mut n = 0;
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            if img.get_pixel(x, y).0.iter().any(|&c| c < 128) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn plots_carry_title_axes_and_legends() {
    let (gt, dt) = clarifai();
    let r = eval::evaluate_files(&gt, &dt, Params::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = eval::plot::write_plots(&r, dir.path()).unwrap();
    let n_cats = r
        .per_category
        .iter()
        .filter(|c| c.num_gt > 0 || c.num_dt > 0)
        .count();
    assert_eq!(files.len(), 2 * (1 + n_cats));
    let svg = std::fs::read_to_string(dir.path().join("pr_all.svg")).unwrap();
    for needle in [
        ">Precision-recall, all categories (segm)</text>",
        ">Recall</text>",
        ">Precision</text>",
        ">By IoU threshold (area all, maxDets 100)</text>",
        ">By area range (mean over IoU 0.50:0.95)</text>",
        ">IoU</text>",
        ">0.50</text>",
        ">0.95</text>",
        ">area</text>",
        ">small</text>",
        ">large</text>",
        "rotate(-90",
    ] {
        assert!(svg.contains(needle), "{needle} missing from pr_all.svg");
    }
    // The legend shows the AP of each curve: AP@0.5 of the whole set, in percent.
    assert!(svg.contains(&format!(">{:.1}</text>", r.stats[1] * 100.0)));
    let person = std::fs::read_to_string(dir.path().join("pr_1.svg")).unwrap();
    assert!(person.contains("Precision-recall: person (category 1, segm)"));
    // The PNG has ink where the title, the x-axis label and the y-axis label are (scale 2).
    let png = image::open(dir.path().join("pr_all.png")).unwrap().to_rgb8();
    let s = eval::plot::PNG_SCALE as u32;
    assert!(dark(&png, 20 * s, 14 * s, 400 * s, 38 * s) > 300, "title");
    assert!(
        dark(&png, 82 * s + 130 * s, 440 * s, 82 * s + 200 * s, 480 * s) > 50,
        "x label"
    );
    assert!(dark(&png, 26 * s, 200 * s, 44 * s, 330 * s) > 50, "y label");
    // The blank margin right of the figure stays white.
    assert_eq!(dark(&png, png.width() - 8, 0, png.width(), png.height()), 0);
}

#[test]
fn report_holds_summary_table_figures_and_analyses() {
    let (gt, dt) = clarifai();
    let g = CocoDataset::from_path(&gt).unwrap();
    let mut ev = Evaluator::new(g, Params::default()).unwrap();
    ev.add_results(eval::load_results(&dt).unwrap()).unwrap();
    let (t, c) = ev
        .analyse(Some(&TideParams::default()), Some(&ConfusionParams::default()))
        .unwrap();
    let r = ev.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs = [("ground truth", gt.display().to_string())];
    let extras = eval::report::ReportExtras {
        tide: t.as_ref(),
        confusion: c.as_ref(),
        inputs: &inputs,
    };
    let index = eval::report::write_report(dir.path(), &r, TableOptions::default(), &extras).unwrap();
    let html = std::fs::read_to_string(&index).unwrap();
    for needle in [
        "<h2 id=\"summary\">Summary</h2>",
        "<th>AP50</th>",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
        "<td class=\"l\">person</td>",
        "<img src=\"plots/pr_all.svg\"",
        "Error breakdown (TIDE)",
        "<td class=\"l\">Dupe</td>",
        "<img src=\"confusion.svg\"",
        "plots/pr_1.svg",
        "instances_val2017_subset.json",
    ] {
        assert!(html.contains(needle), "{needle} missing from the report");
    }
    assert!(
        !html.contains("<td class=\"l\">toaster</td>"),
        "empty category listed"
    );
    assert!(html.contains(&eval::summarize::py_fixed(r.stats[0] * 100.0, 2)));
    for f in [
        "eval.json",
        "tide.json",
        "confusion.json",
        "confusion.svg",
        "confusion.png",
        "plots/pr_all.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
}

#[test]
fn cli_boundary_tide_confusion_report() {
    let (gt, dt) = clarifai();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new(env!("CARGO_BIN_EXE_baiseg-rt"))
        .args(["eval", "--iou-type", "boundary", "--sort", "ap", "--coco"])
        .arg(&gt)
        .arg("--results")
        .arg(&dt)
        .arg("--tide")
        .arg(d.join("tide.json"))
        .arg("--confusion")
        .arg(d.join("cm.json"))
        .arg("--report")
        .arg(d.join("report"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("TIDE error breakdown"), "{stdout}");
    assert!(stdout.contains("categories with no ground truth and no detections hidden"));
    for f in [
        "tide.json",
        "cm.json",
        "cm.svg",
        "cm.png",
        "report/index.html",
        "report/plots/pr_all.svg",
    ] {
        assert!(d.join(f).is_file(), "{f}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report/eval.json")).unwrap()).unwrap();
    assert_eq!(v["iou_type"], "boundary");
    let all = Command::new(env!("CARGO_BIN_EXE_baiseg-rt"))
        .args(["eval", "--all-categories", "--coco"])
        .arg(&gt)
        .arg("--results")
        .arg(&dt)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&all.stdout);
    assert!(
        text.contains("toaster"),
        "--all-categories lists empty categories"
    );
}
