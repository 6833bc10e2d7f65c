//! Integration tests (eval): golden parity with pycocotools on every fixture, malformed input,
//! invariances, the streaming API and the CLI.
mod analysis;
mod boundary;
mod malformed;
mod parity;
mod rle_golden;

use std::path::{Path, PathBuf};

use baiseg_rt::eval::IouType;

/// `fixtures/coco/`.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/coco")
}

/// One reference entry of a `fixtures/coco/*/PREFIX*.json` file.
struct RefCase {
    /// `file:key`.
    name: String,
    gt: PathBuf,
    results: PathBuf,
    iou_type: IouType,
    /// The reference's 12 stats (under `stats_key`).
    expected: Vec<f64>,
    /// The file's `versions` object.
    versions: serde_json::Value,
}

/// Every entry with a `results` file in the reference files whose name starts with `prefix`,
/// files in path order, entries in key order; `stats_key` names the reference's stats.
fn reference_cases(prefix: &str, stats_key: &str) -> Vec<RefCase> {
    let root = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/coco")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .flat_map(|d| {
            std::fs::read_dir(d)
                .expect("fixture dir")
                .map(|e| e.expect("entry").path())
        })
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).expect("read")).expect("json");
        let gt = root.join(v["gt"].as_str().expect("gt"));
        for (key, case) in v.as_object().expect("object") {
            let Some(results) = case.get("results").and_then(|x| x.as_str()) else {
                continue;
            };
            let iou_type: IouType = case["iouType"]
                .as_str()
                .expect("iouType")
                .parse()
                .expect("IoU type");
            out.push(RefCase {
                name: format!("{}:{key}", f.strip_prefix(&root).expect("under root").display()),
                gt: gt.clone(),
                results: root.join(results),
                iou_type,
                expected: case[stats_key]
                    .as_array()
                    .expect("stats")
                    .iter()
                    .map(|x| x.as_f64().expect("number"))
                    .collect(),
                versions: v["versions"].clone(),
            });
        }
    }
    out
}
