//! Malformed input: clear errors, never a panic (library and CLI).
use std::path::{Path, PathBuf};
use std::process::Command;

use baiseg_rt::Error;
use baiseg_rt::error::{CocoError, ResultProblem};
use baiseg_rt::eval::dataset::SegmentationError;
use baiseg_rt::eval::{self, CocoDataset, Detection, Evaluator, Params, Segmentation};

const GT: &str = r#"{
  "images": [{"id": 0, "height": 10, "width": 12, "file_name": "a.jpg", "extra": 1}],
  "categories": [{"id": 0, "name": "thing"}, {"id": 3, "name": "other"}],
  "annotations": [
    {"id": 1, "image_id": 0, "category_id": 0, "iscrowd": 0, "area": 16.0, "bbox": [1, 1, 4, 4],
     "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}
  ]
}"#;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

fn cli(gt: &Path, dt: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_baiseg-rt"))
        .arg("eval")
        .arg("--coco")
        .arg(gt)
        .arg("--results")
        .arg(dt)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn expect_cli_error(dt_text: &str, needle: &str) {
    let d = Dir::new();
    let gt = d.write("gt.json", GT);
    let dt = d.write("dt.json", dt_text);
    let (code, _out, err) = cli(&gt, &dt, &[]);
    assert_eq!(code, 1, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
}

#[test]
fn cli_ok_on_valid_input_and_writes_json() {
    let d = Dir::new();
    let gt = d.write("gt.json", GT);
    let dt = d.write(
        "dt.json",
        r#"[{"image_id": 0, "category_id": 0, "score": 0.9, "segmentation": {"size": [10, 12], "counts": ";4600000U2"}}]"#,
    );
    let json = d.0.path().join("out.json");
    let plots = d.0.path().join("plots");
    let (code, out, err) = cli(
        &gt,
        &dt,
        &[
            "--json",
            json.to_str().unwrap(),
            "--plot",
            plots.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["iou_type"], "segm");
    assert_eq!(v["stats"].as_array().unwrap().len(), 12);
    assert_eq!(v["stat_names"][0], "AP");
    assert_eq!(v["per_category"][0]["category_id"], 0);
    assert_eq!(v["per_category"][0]["name"], "thing");
    assert!(v["per_category"][0]["AP"].is_number());
    assert!(v["params"]["iou_thrs"].is_array());
    assert!(plots.join("pr_all.png").exists());
}

#[test]
fn bad_json_reports_line_and_column() {
    expect_cli_error(
        "[{\"image_id\": 0,\n  \"category_id\": 0 \"score\": 1}]",
        "line 2 column",
    );
}

#[test]
fn unknown_image_id() {
    expect_cli_error(
        r#"[{"image_id": 7, "category_id": 0, "score": 1, "bbox": [0,0,1,1]}]"#,
        "image id 7",
    );
}

#[test]
fn unknown_category_id() {
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 9, "score": 1, "bbox": [0,0,1,1]}]"#,
        "category id 9",
    );
}

#[test]
fn short_polygon_in_results() {
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 0, "score": 1, "segmentation": [[1, 1, 4, 4]]}]"#,
        "at least 3 points",
    );
}

#[test]
fn rle_size_mismatch() {
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 0, "score": 1, "segmentation": {"size": [11, 12], "counts": "e0"}}]"#,
        "RLE size mismatch",
    );
    // Right size, runs that do not cover it.
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 0, "score": 1, "segmentation": {"size": [10, 12], "counts": [5, 5]}}]"#,
        "RLE size mismatch",
    );
}

#[test]
fn corrupt_compressed_rle() {
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 0, "score": 1, "segmentation": {"size": [10, 12], "counts": "\u007f"}}]"#,
        "invalid byte",
    );
}

#[test]
fn results_not_a_list_and_missing_score() {
    expect_cli_error(r#"{"annotations": []}"#, "invalid JSON");
    expect_cli_error(
        r#"[{"image_id": 0, "category_id": 0, "bbox": [0,0,1,1]}]"#,
        "missing field `score`",
    );
}

#[test]
fn missing_file() {
    let d = Dir::new();
    let gt = d.write("gt.json", GT);
    let (code, _, err) = cli(&gt, &d.0.path().join("nope.json"), &[]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.json"), "{err}");
}

#[test]
fn bad_ground_truth() {
    let d = Dir::new();
    let dt = d.write("dt.json", "[]");
    let short = GT.replace("[[1, 1, 5, 1, 5, 5, 1, 5]]", "[[1, 1, 5, 1]]");
    let gt = d.write("gt.json", &short);
    let (code, _, err) = cli(&gt, &dt, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("annotation id 1") && err.contains("at least 3 points"),
        "{err}"
    );
    let unknown = GT.replace(
        "\"image_id\": 0, \"category_id\": 0",
        "\"image_id\": 5, \"category_id\": 0",
    );
    let gt = d.write("gt2.json", &unknown);
    let (code, _, err) = cli(&gt, &dt, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown image id 5"), "{err}");
    let no_area = GT.replace("\"area\": 16.0,", "");
    let gt = d.write("gt3.json", &no_area);
    assert!(
        CocoDataset::from_path(&gt)
            .unwrap_err()
            .to_string()
            .contains("no \"area\"")
    );
}

#[test]
fn bad_flags() {
    let d = Dir::new();
    let gt = d.write("gt.json", GT);
    let dt = d.write("dt.json", "[]");
    let (code, _, err) = cli(&gt, &dt, &["--max-dets", "1,10"]);
    assert_ne!(code, 0);
    assert!(err.contains("max-dets"), "{err}");
    let (code, _, err) = cli(&gt, &dt, &["--area-rng", "0-5"]);
    assert_ne!(code, 0);
    assert!(err.contains("area-rng"), "{err}");
}

#[test]
fn empty_results_evaluate_to_zero() {
    let d = Dir::new();
    let gt = d.write("gt.json", GT);
    let dt = d.write("dt.json", "[]");
    let r = eval::evaluate_files(&gt, &dt, Params::default()).unwrap();
    assert_eq!(r.stats[0], 0.0);
    assert_eq!(r.stats[8], 0.0);
}

#[test]
fn library_errors_are_typed() {
    let d = Dir::new();
    let gt = CocoDataset::from_path(d.write("gt.json", GT)).unwrap();
    let mut ev = Evaluator::new(gt, Params::default()).unwrap();
    let det = Detection {
        category_id: 0,
        score: 1.0,
        bbox: None,
        segmentation: Some(Segmentation::Polygons(vec![vec![1.0, 2.0]])),
    };
    assert!(matches!(ev.add_image_results(0, &[det]), Err(Error::Coco { .. })));
    let det = Detection {
        category_id: 0,
        score: f64::NAN,
        bbox: Some([0.0, 0.0, 1.0, 1.0]),
        segmentation: None,
    };
    assert!(matches!(ev.add_image_results(0, &[det]), Err(Error::Coco { .. })));
    assert!(matches!(
        CocoDataset::from_slice(b"{", Path::new("x.json")),
        Err(Error::Json { .. })
    ));
    // The COCO errors are typed (`CocoError`, the error's source), with the texts they always had.
    let d2 = Dir::new();
    let mut ev = Evaluator::new(
        CocoDataset::from_path(d2.write("gt.json", GT)).unwrap(),
        Params::default(),
    )
    .unwrap();
    let coco = |e: Error| match e {
        Error::Coco { source, .. } => source,
        other => panic!("not a COCO error: {other:?}"),
    };
    let poly = Detection {
        category_id: 0,
        score: 1.0,
        bbox: None,
        segmentation: Some(Segmentation::Polygons(vec![vec![1.0, 2.0]])),
    };
    let e = ev.add_image_results(0, &[poly]).unwrap_err();
    assert!(
        e.to_string().ends_with(
            ": result 1 (image id 0): polygon 0 has 2 coordinates; a polygon needs at least 3 points (6 numbers)"
        ),
        "{e}"
    );
    assert!(
        std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().starts_with("result 1 (image id 0): polygon 0"))
    );
    assert!(matches!(
        coco(e),
        CocoError::ResultSegmentation {
            id: 1,
            image_id: 0,
            source: SegmentationError::TooFewPoints { index: 0, len: 2 }
        }
    ));
    let nan = Detection {
        category_id: 0,
        score: f64::NAN,
        bbox: Some([0.0, 0.0, 1.0, 1.0]),
        segmentation: None,
    };
    let e = ev.add_image_results(0, std::slice::from_ref(&nan)).unwrap_err();
    assert!(
        e.to_string()
            .ends_with(": result 1 (image id 0) has a non-finite score"),
        "{e}"
    );
    assert!(matches!(
        coco(e),
        CocoError::Result {
            id: 1,
            image_id: Some(0),
            problem: ResultProblem::NonFiniteScore
        }
    ));
    let e = ev.add_image_results(7, &[nan]).unwrap_err();
    assert!(
        e.to_string()
            .ends_with(": result 1 refers to image id 7, which is not in the ground truth"),
        "{e}"
    );
    assert!(matches!(
        coco(e),
        CocoError::Result {
            id: 1,
            image_id: None,
            problem: ResultProblem::UnknownImage(7)
        }
    ));
    let e = CocoDataset::from_slice(GT.replace("\"area\": 16.0,", "").as_bytes(), Path::new("g.json"))
        .unwrap_err();
    assert_eq!(e.to_string(), "g.json: annotation id 1 has no \"area\"");
    assert!(matches!(coco(e), CocoError::MissingArea(1)));
    let e = eval::dataset::parse_results(
        br#"[{"image_id": 4, "category_id": 0, "score": 1, "bbox": [1, 2]}]"#,
        Path::new("r.json"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "r.json: result 0 (image id 4): bbox has 2 numbers, not 4"
    );
    assert!(matches!(
        coco(e),
        CocoError::ResultBboxLength {
            index: 0,
            image_id: 4,
            len: 2
        }
    ));

    // LVIS-style annotations without iscrowd load (documented default 0).
    let lvis = GT.replace("\"iscrowd\": 0,", "");
    assert_eq!(
        CocoDataset::from_slice(lvis.as_bytes(), Path::new("l.json"))
            .unwrap()
            .annotations[0]
            .iscrowd,
        None
    );
}
