//! `baiseg-rt mep` end to end: the real binary on fixture files, and bad inputs that must fail
//! with an error naming the file (exit code 1, never a panic).
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baiseg_rt::mep::io;
use serde_json::Value;

use super::fixtures;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baiseg-rt"))
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    bin().arg("mep").args(args).output().expect("binary runs")
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

fn case(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Runs a single-image `mep` with `boundary` and `semantic` (a `--semantic` or `--labels` file).
fn single(image: &Path, boundary: &Path, sem_flag: &str, sem: &Path, out: &Path) -> Output {
    run(&[
        os("--image"),
        os(image),
        os("--boundary"),
        os(boundary),
        os(sem_flag),
        os(sem),
        os("--out"),
        os(out),
    ])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure with exit code 1 whose message names `file` and contains `what`; no panic.
fn assert_fails(o: &Output, file: &str, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(file), "error should name {file}: {err}");
    assert!(
        err.to_lowercase().contains(&what.to_lowercase()),
        "error should say {what}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn single_image_writes_labels_and_coco_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = case("syn_96x128_s2");
    let out = dir.path().join("out");
    let o = run(&[
        os("--image"),
        os(&c.join("image.png")),
        os("--boundary"),
        os(&c.join("boundary.npy")),
        os("--semantic"),
        os(&c.join("semantic.npy")),
        os("--out"),
        os(&out),
        os("--save"),
        os("overlay"),
        os("--image-id"),
        os("42"),
        os("--timing-json"),
        os(&dir.path().join("t.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels = io::read_labels(&out.join("labels.png")).expect("labels.png");
    let expected = io::read_labels(&c.join("expected_labels.png")).expect("expected");
    assert_eq!(labels, expected);
    assert!(out.join("overlay.png").is_file());
    assert!(!out.join("labels.png.tmp").exists());
    let json: Value =
        serde_json::from_slice(&std::fs::read(out.join("instances.json")).expect("json")).expect("json");
    let exp: Value =
        serde_json::from_slice(&std::fs::read(c.join("expected.json")).expect("json")).expect("json");
    let recs = json.as_array().expect("array");
    assert_eq!(recs.len(), exp["instances"].as_array().expect("instances").len());
    for (r, e) in recs.iter().zip(exp["instances"].as_array().expect("instances")) {
        assert_eq!(r["image_id"], 42);
        assert_eq!(r["category_id"], e["category"]);
        assert_eq!(r["segmentation"]["counts"], e["counts"]);
        assert_eq!(r["segmentation"]["size"], serde_json::json!([96, 128]));
        assert_eq!(r["area"], e["area"]);
        assert!(r["bbox"].is_array() && r["score"].is_f64());
    }
    let t: Value = serde_json::from_slice(&std::fs::read(dir.path().join("t.json")).expect("t")).expect("t");
    assert_eq!(t["images"][0]["height"], 96);
    assert!(t["images"][0]["stages_ms"]["watershed"].is_f64());
    // The parameters as `MepParams` serialises them: the seven by name and the mode as "mep".
    assert_eq!(
        t["params"],
        serde_json::json!({
            "nms_radius": 1, "nms_margin": 1.01, "edge_threshold": 0.5, "dilate_iterations": 2,
            "seed_distance": 3.0, "closing_kernel": 5, "min_area": 0, "mep": "paper",
        })
    );
}

#[test]
fn label_png_input_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = case("stardist_256");
    let o = run(&[
        os("--image"),
        os(&c.join("image.png")),
        os("--boundary"),
        os(&c.join("boundary.npy")),
        os("--labels"),
        os(&c.join("labels.png")),
        os("--out"),
        os(dir.path()),
        os("--min-area"),
        os("100000"),
        os("--nms-radius=2"),
        os("--nms-margin=1.02"),
        os("--edge-threshold=0.4"),
        os("--dilate-iterations=1"),
        os("--seed-distance=2.5"),
        os("--closing-kernel=3"),
        os("--timing-json"),
        os(&dir.path().join("timing.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("timing.json")).expect("t")).expect("t");
    assert_eq!(
        t["params"],
        serde_json::json!({
            "nms_radius": 2, "nms_margin": 1.02, "edge_threshold": f64::from(0.4_f32),
            "dilate_iterations": 1, "seed_distance": 2.5, "closing_kernel": 3, "min_area": 100_000,
            "mep": "paper",
        })
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("instances.json")).expect("json"))
            .expect("json");
    assert_eq!(
        json.as_array().map(Vec::len),
        Some(0),
        "min-area drops everything"
    );
}

#[test]
fn batch_mode_matches_fixtures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&[
        os("--cases"),
        os(&fixtures()),
        os("--out"),
        os(dir.path()),
        os("--threads"),
        os("2"),
        os("--timing-json"),
        os(&dir.path().join("timing.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in super::case_names() {
        let got = io::read_labels(&dir.path().join(&name).join("labels.png")).expect("labels");
        let want = io::read_labels(&case(&name).join("expected_labels.png")).expect("expected");
        assert_eq!(got, want, "{name}");
    }
    let t: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("timing.json")).expect("t")).expect("t");
    assert_eq!(
        t["images"].as_array().map(Vec::len),
        Some(super::case_names().len())
    );
    assert_eq!(t["threads"], 2);
}

#[test]
fn batch_mode_reports_bad_cases_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases");
    let good = cases.join("a_good");
    std::fs::create_dir_all(&good).expect("mkdir");
    for f in ["image.png", "boundary.npy", "semantic.npy"] {
        std::fs::copy(case("syn_64x64_s1").join(f), good.join(f)).expect("copy");
    }
    let bad = cases.join("b_bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::copy(case("syn_64x64_s1").join("image.png"), bad.join("image.png")).expect("copy");
    std::fs::copy(
        case("syn_96x128_s2").join("boundary.npy"),
        bad.join("boundary.npy"),
    )
    .expect("copy");
    std::fs::copy(
        case("syn_64x64_s1").join("semantic.npy"),
        bad.join("semantic.npy"),
    )
    .expect("copy");
    let o = run(&[
        os("--cases"),
        os(&cases),
        os("--out"),
        os(&dir.path().join("out")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("b_bad") && stderr(&o).contains("boundary.npy"),
        "{}",
        stderr(&o)
    );
    assert!(dir.path().join("out/a_good/labels.png").is_file());
}

#[test]
fn bad_inputs_fail_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = case("syn_64x64_s1");
    let (img, b, sem) = (
        c.join("image.png"),
        c.join("boundary.npy"),
        c.join("semantic.npy"),
    );
    let out = dir.path().join("out");
    // Size mismatch.
    let other = case("syn_96x128_s2").join("boundary.npy");
    assert_fails(
        &single(&img, &other, "--semantic", &sem, &out),
        "syn_96x128_s2/boundary.npy",
        "size",
    );
    let other_sem = case("syn_96x128_s2").join("semantic.npy");
    assert_fails(
        &single(&img, &b, "--semantic", &other_sem, &out),
        "syn_96x128_s2/semantic.npy",
        "size",
    );
    // Wrong dtype.
    let f64_path = dir.path().join("b64.npy");
    ndarray_npy::write_npy(&f64_path, &ndarray::Array2::<f64>::zeros((64, 64))).expect("npy");
    assert_fails(
        &single(&img, &f64_path, "--semantic", &sem, &out),
        "b64.npy",
        "dtype",
    );
    // Wrong rank for the probabilities.
    assert_fails(
        &single(&img, &b, "--semantic", &b, &out),
        "boundary.npy",
        "dimensional",
    );
    // NaN.
    let nan_path = dir.path().join("nan.npy");
    let mut nan = ndarray::Array2::<f32>::zeros((64, 64));
    nan[[3, 4]] = f32::NAN;
    ndarray_npy::write_npy(&nan_path, &nan).expect("npy");
    assert_fails(
        &single(&img, &nan_path, "--semantic", &sem, &out),
        "nan.npy",
        "NaN",
    );
    // Unreadable / missing / garbage files.
    let missing = dir.path().join("missing.png");
    assert_fails(
        &single(&missing, &b, "--semantic", &sem, &out),
        "missing.png",
        "missing.png",
    );
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"not a png").expect("write");
    assert_fails(
        &single(&garbage, &b, "--semantic", &sem, &out),
        "garbage.png",
        "decode",
    );
    let garbage_npy = dir.path().join("garbage.npy");
    std::fs::write(&garbage_npy, b"\x93NUMPY garbage").expect("write");
    assert_fails(
        &single(&img, &garbage_npy, "--semantic", &sem, &out),
        "garbage.npy",
        "garbage.npy",
    );
    // Non-3-channel image (a grey PNG).
    let grey = case("stardist_256").join("labels.png");
    assert_fails(
        &single(&grey, &b, "--semantic", &sem, &out),
        "labels.png",
        "channel",
    );
    assert!(!out.join("labels.png").exists(), "nothing written on failure");
}

#[test]
fn argument_errors() {
    // Neither single nor batch inputs: clap usage error (exit code 2 from clap).
    let o = run(&[]);
    assert!(!o.status.success());
    // Both --semantic and --labels.
    let c = case("syn_64x64_s1");
    let o = run(&[
        os("--image"),
        os(&c.join("image.png")),
        os("--boundary"),
        os(&c.join("boundary.npy")),
        os("--semantic"),
        os(&c.join("semantic.npy")),
        os("--labels"),
        os(&c.join("semantic.npy")),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--labels"), "{}", stderr(&o));
}
