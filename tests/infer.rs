//! `baiseg-rt infer` end to end: the real binary, the tiny test model, real images.
use std::collections::BTreeMap;
use std::path::Path;

use baiseg_rt::instances::{CropMask, Instance, paint_label_map};
use baiseg_rt::mep::io::read_labels;
use baiseg_rt::output::ResultRecord;
use baiseg_rt::rle::Rle;
use serde_json::Value;

use crate::util::{TestDir, assert_code, baiseg, fixture, run, text, tiny_model};

fn read_results(path: &Path) -> Vec<ResultRecord> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn summary(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("--json summary: {e}\n{}", text(out)))
}

/// Rebuilds an image's label map from its records: decode each RLE, paint in ascending score.
fn labels_from_records(records: &[&ResultRecord]) -> ndarray::Array2<u16> {
    let [h, w] = records[0].segmentation.size;
    let instances: Vec<Instance> = records
        .iter()
        .map(|r| {
            let rle = Rle::from_compressed_string(&r.segmentation.counts, h, w).expect("valid RLE");
            Instance {
                category: 1,
                score: r.score,
                mask: CropMask {
                    image_height: h,
                    image_width: w,
                    x: 0,
                    y: 0,
                    width: w,
                    height: h,
                    data: rle.to_row_major(),
                },
            }
        })
        .collect();
    paint_label_map(&instances, h, w)
}

#[test]
fn infer_on_real_images_writes_consistent_outputs() {
    let dir = TestDir::new();
    let out_dir = dir.join("out");
    let out = run(baiseg()
        .args([
            "infer",
            "--json",
            "--save",
            "labels,semantic,boundary,overlay",
            "--out",
        ])
        .arg(&out_dir)
        .arg(tiny_model())
        .arg(fixture("images")));
    assert_code(&out, 0);
    let s = summary(&out);
    assert_eq!(s["images"], 4);
    assert_eq!(s["processed"], 4);
    assert_eq!(s["skipped"].as_array().map(Vec::len), Some(0));

    let records = read_results(&out_dir.join("instances.json"));
    assert_eq!(records.len() as u64, s["instances"].as_u64().unwrap_or(0));
    let header: Value = serde_json::from_slice(&std::fs::read(out_dir.join("images.json")).unwrap()).unwrap();
    let images = header["images"].as_array().expect("images");
    assert_eq!(images.len(), 4);
    let mut by_image: BTreeMap<String, Vec<&ResultRecord>> = BTreeMap::new();
    for r in &records {
        let [h, w] = r.segmentation.size;
        let rle = Rle::from_compressed_string(&r.segmentation.counts, h, w).expect("valid RLE");
        assert_eq!(rle.area() as f64, r.area, "area of {}", r.file_name);
        assert!(r.score >= 0.0 && r.score <= 1.0);
        assert!(r.category_id >= 1);
        let img = images
            .iter()
            .find(|i| i["file_name"] == r.file_name.as_str())
            .expect("image listed in images.json");
        assert_eq!(img["id"], r.image_id);
        assert_eq!(img["height"], h);
        by_image.entry(r.file_name.clone()).or_default().push(r);
    }
    for name in [
        "000000074646.jpg",
        "000000193245.jpg",
        "000000384850.jpg",
        "stardist_img2d.png",
    ] {
        let stem = name.rsplit_once('.').unwrap().0;
        for sub in ["semantic", "boundary", "labels"] {
            assert!(
                out_dir.join(sub).join(format!("{stem}.png")).is_file(),
                "{sub}/{stem}.png"
            );
        }
        assert!(out_dir.join("overlays").join(format!("{stem}.jpg")).is_file());
        let labels = read_labels(&out_dir.join("labels").join(format!("{stem}.png"))).unwrap();
        match by_image.get(name) {
            Some(recs) => assert_eq!(
                labels_from_records(recs),
                labels,
                "RLE masks of {name} paint its label PNG"
            ),
            None => assert!(
                labels.iter().all(|&v| v == 0),
                "{name} has no instances but a non-empty label map"
            ),
        }
    }
    // No temporary file survives.
    let leftovers: Vec<_> = walk(&out_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rerun_resumes_and_force_recomputes() {
    let dir = TestDir::new();
    dir.copy(&fixture("images/000000074646.jpg"), "in/a.jpg");
    dir.copy(&fixture("images/stardist_img2d.png"), "in/b.png");
    let infer = |extra: &[&str]| {
        run(baiseg()
            .arg("infer")
            .arg("--json")
            .args(extra)
            .arg("--out")
            .arg(dir.join("out"))
            .arg(tiny_model())
            .arg(dir.join("in")))
    };
    let first = infer(&[]);
    assert_code(&first, 0);
    assert_eq!(summary(&first)["processed"], 2);
    let before = std::fs::read(dir.join("out/instances.json")).unwrap();
    let mtime = std::fs::metadata(dir.join("out/records/a.json"))
        .unwrap()
        .modified()
        .unwrap();

    let second = infer(&[]);
    assert_code(&second, 0);
    assert_eq!(summary(&second)["processed"], 0);
    assert_eq!(summary(&second)["resumed"], 2);
    assert_eq!(
        std::fs::metadata(dir.join("out/records/a.json"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    assert_eq!(std::fs::read(dir.join("out/instances.json")).unwrap(), before);

    // A new output kind makes the images due again; --force redoes everything.
    let third = infer(&["--save", "labels"]);
    assert_eq!(summary(&third)["processed"], 2);
    let fourth = infer(&["--force"]);
    assert_eq!(summary(&fourth)["processed"], 2);
    assert_eq!(
        std::fs::read(dir.join("out/instances.json")).unwrap(),
        before,
        "deterministic"
    );
}

#[test]
fn bad_files_are_reported_and_skipped() {
    let dir = TestDir::new();
    dir.copy(&fixture("images/000000074646.jpg"), "in/good.jpg");
    dir.write("in/empty.jpg", b"");
    dir.write("in/text.png", b"this is not an image");
    // A truncated PNG fails its checksums (a truncated JPEG decodes to a partly grey image, as in
    // most decoders, and is not an error).
    let png = std::fs::read(fixture("images/stardist_img2d.png")).unwrap();
    dir.write("in/truncated.png", &png[..png.len() / 3]);
    let out = run(baiseg()
        .args(["infer", "--out"])
        .arg(dir.join("out"))
        .arg(tiny_model())
        .arg(dir.join("in")));
    assert_code(&out, 2);
    let msg = text(&out);
    assert!(msg.contains("empty.jpg") && msg.contains("empty file"), "{msg}");
    assert!(
        msg.contains("text.png") && msg.contains("not a recognised image"),
        "{msg}"
    );
    assert!(msg.contains("truncated.png"), "{msg}");
    let records = read_results(&dir.join("out/instances.json"));
    assert!(records.iter().all(|r| r.file_name == "good.jpg"));
    assert!(dir.join("out/records/good.json").is_file());

    let strict = run(baiseg()
        .args(["infer", "--strict", "--out"])
        .arg(dir.join("out"))
        .arg(tiny_model())
        .arg(dir.join("in")));
    assert_code(&strict, 1);
}

#[test]
fn zip_archives_are_inputs() {
    let dir = TestDir::new();
    let zip_path = dir.join("images.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, src) in [
            ("x/one.jpg", "images/000000384850.jpg"),
            ("two.png", "images/stardist_img2d.png"),
        ] {
            zip.start_file(name, opts).unwrap();
            std::io::Write::write_all(&mut zip, &std::fs::read(fixture(src)).unwrap()).unwrap();
        }
        zip.start_file("readme.txt", opts).unwrap();
        zip.finish().unwrap();
    }
    let out = run(baiseg()
        .args(["infer", "--json", "--save", "labels", "--out"])
        .arg(dir.join("out"))
        .arg(tiny_model())
        .arg(&zip_path));
    assert_code(&out, 0);
    assert_eq!(summary(&out)["processed"], 2);
    assert!(dir.join("out/labels/x/one.png").is_file());
    assert!(dir.join("out/labels/two.png").is_file());
}

#[test]
fn batching_gives_the_same_results() {
    let dir = TestDir::new();
    let one = run(baiseg()
        .args(["infer", "--batch", "1", "--out"])
        .arg(dir.join("b1"))
        .arg(tiny_model())
        .arg(fixture("images")));
    assert_code(&one, 0);
    let three = run(baiseg()
        .args(["infer", "--batch", "3", "--out"])
        .arg(dir.join("b3"))
        .arg(tiny_model())
        .arg(fixture("images")));
    assert_code(&three, 0);
    let a = read_results(&dir.join("b1/instances.json"));
    let b = read_results(&dir.join("b3/instances.json"));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.image_id, x.category_id, &x.segmentation.counts),
            (y.image_id, y.category_id, &y.segmentation.counts)
        );
        assert!((x.score - y.score).abs() < 1e-4);
    }
}

#[test]
fn external_semantic_labels() {
    let dir = TestDir::new();
    dir.copy(&fixture("images/stardist_img2d.png"), "in/cells.png");
    // Everything is class 1 except a background band at the top.
    let mut labels = ndarray::Array2::<u16>::from_elem((512, 512), 1);
    labels.slice_mut(ndarray::s![..64, ..]).fill(0);
    baiseg_rt::output::png::write_label_png(&dir.join("sem/cells.png"), labels.view()).unwrap();
    let out = run(baiseg()
        .args(["infer", "--json", "--save", "labels", "--semantic-dir"])
        .arg(dir.join("sem"))
        .arg("--out")
        .arg(dir.join("out"))
        .arg(tiny_model())
        .arg(dir.join("in")));
    assert_code(&out, 0);
    let records = read_results(&dir.join("out/instances.json"));
    assert!(
        records.iter().all(|r| r.category_id == 1 && r.bbox[1] >= 64.0),
        "instances stay inside the semantic foreground"
    );
    let missing = run(baiseg()
        .args(["infer", "--semantic-dir"])
        .arg(dir.join("nowhere"))
        .arg("--out")
        .arg(dir.join("out2"))
        .arg(tiny_model())
        .arg(dir.join("in")));
    assert_code(&missing, 1);
    assert!(text(&missing).contains("cells.png"), "{}", text(&missing));
}

#[test]
fn wrong_models_give_clear_errors() {
    let dir = TestDir::new();
    let junk = dir.write("junk.onnx", b"definitely not protobuf");
    let out = run(baiseg()
        .arg("infer")
        .arg(&junk)
        .arg(fixture("images"))
        .arg("--out")
        .arg(dir.join("o")));
    assert_code(&out, 1);
    assert!(text(&out).contains("junk.onnx"), "{}", text(&out));

    let foreign = fixture("models/not_baiseg.onnx");
    let out = run(baiseg()
        .arg("infer")
        .arg(&foreign)
        .arg(fixture("images"))
        .arg("--out")
        .arg(dir.join("o")));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("not a BAISeg model") && msg.contains("`image`") && msg.contains("baiseg.classes"),
        "{msg}"
    );

    let out = run(baiseg()
        .arg("infer")
        .arg(dir.join("missing.onnx"))
        .arg(fixture("images"))
        .arg("--out")
        .arg(dir.join("o")));
    assert_code(&out, 1);
    assert!(text(&out).contains("missing.onnx"), "{}", text(&out));
}

#[test]
fn missing_onnx_runtime_says_how_to_install_it() {
    let dir = TestDir::new();
    let out = run(baiseg()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .arg("infer")
        .arg(tiny_model())
        .arg(fixture("images"))
        .arg("--out")
        .arg(dir.join("o")));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("ORT_DYLIB_PATH") && msg.contains("pip install"),
        "{msg}"
    );
    assert!(!msg.contains("panicked"), "{msg}");
}

#[test]
fn strict_devices_never_fall_back_silently() {
    let dir = TestDir::new();
    // The CPU-only onnxruntime wheel has no CUDA provider: --device cuda must fail, auto must fall back.
    let out = run(baiseg()
        .args(["infer", "--json", "--device", "cuda", "--out"])
        .arg(dir.join("o"))
        .arg(tiny_model())
        .arg(fixture("images/000000074646.jpg")));
    if out.status.code() == Some(0) {
        // A GPU build of ONNX Runtime with a working GPU: the run must really be on CUDA and
        // give a complete result.
        let v: Value = serde_json::from_slice(&out.stdout).expect("infer --json");
        assert_eq!(v["device"], "cuda:0", "{}", text(&out));
        assert_eq!(v["processed"], 1, "{}", text(&out));
        assert_eq!(
            read_results(&dir.join("o/instances.json")).len() as u64,
            v["results_written"].as_u64().unwrap()
        );
    } else {
        assert_code(&out, 1);
        let msg = text(&out);
        // The library names the setting, the CLI the flag.
        assert!(
            msg.to_lowercase().contains("cuda") && msg.contains("--device"),
            "{msg}"
        );
    }
    let auto = run(baiseg()
        .args(["infer", "--device", "auto", "--out"])
        .arg(dir.join("a"))
        .arg(tiny_model())
        .arg(fixture("images/000000074646.jpg")));
    assert_code(&auto, 0);
}

#[test]
fn inspect_prints_the_contract() {
    let out = run(baiseg().arg("inspect").arg(tiny_model()));
    assert_code(&out, 0);
    let msg = text(&out);
    assert!(
        msg.contains("classes")
            && msg.contains("boundary")
            && msg.contains("semantic")
            && msg.contains("baiseg.mean"),
        "{msg}"
    );
    let json = run(baiseg().args(["inspect", "--json"]).arg(tiny_model()));
    let v: Value = serde_json::from_slice(&json.stdout).expect("inspect --json");
    assert!(v["classes"].as_array().is_some_and(|c| !c.is_empty()));
    assert_eq!(v["size_divisor"], 32);
}

/// `infer --coco` of the held-out sample scenes with the tiny model into `out`.
fn infer_samples_with_coco(out: &Path) -> std::process::Output {
    run(baiseg()
        .args(["infer", "--coco"])
        .arg(fixture("samples/annotations.json"))
        .arg("--out")
        .arg(out)
        .arg(tiny_model())
        .arg(fixture("samples/images")))
}

#[test]
fn infer_with_coco_ids_feeds_eval() {
    let dir = TestDir::new();
    let gt = fixture("samples/annotations.json");
    let out = infer_samples_with_coco(&dir.join("out"));
    assert_code(&out, 0);
    assert!(!dir.join("out/images.json").exists(), "ids come from the GT file");
    let gt_json: Value = serde_json::from_slice(&std::fs::read(&gt).unwrap()).unwrap();
    let image_id = |name: &str| {
        gt_json["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["file_name"] == name)
            .map(|i| i["id"].as_i64().unwrap())
    };
    let records = read_results(&dir.join("out/instances.json"));
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(Some(r.image_id), image_id(&r.file_name), "{}", r.file_name);
    }
    let eval = run(baiseg()
        .args(["eval", "--coco"])
        .arg(&gt)
        .arg("--results")
        .arg(dir.join("out/instances.json"))
        .arg("--json")
        .arg(dir.join("eval.json")));
    assert_code(&eval, 0);
    let report: Value = serde_json::from_slice(&std::fs::read(dir.join("eval.json")).unwrap()).unwrap();
    let ap50 = report["stats"][1].as_f64().unwrap();
    // The tiny model is weak, but the whole pipeline must find the objects (AP50 0.42 when made).
    assert!(ap50 > 0.2, "AP50 {ap50}");

    // An image the GT file does not list is reported and skipped.
    let extra = TestDir::new();
    extra.copy(&fixture("samples/images/000000.png"), "in/000000.png");
    extra.copy(&fixture("images/000000074646.jpg"), "in/stranger.jpg");
    let out = run(baiseg()
        .args(["infer", "--coco"])
        .arg(&gt)
        .arg("--out")
        .arg(extra.join("out"))
        .arg(tiny_model())
        .arg(extra.join("in")));
    assert_code(&out, 2);
    assert!(text(&out).contains("stranger.jpg"), "{}", text(&out));
}

#[test]
fn shards_then_merge_equal_one_run() {
    let dir = TestDir::new();
    let infer = |extra: &[&str], out: &str| {
        let o = run(baiseg()
            .args(["infer", "--save", "labels"])
            .args(extra)
            .arg("--out")
            .arg(dir.join(out))
            .arg(tiny_model())
            .arg(fixture("samples/images"))
            .arg(fixture("images/stardist_img2d.png")));
        assert_code(&o, 0);
    };
    infer(&[], "whole");
    infer(&["--shard", "0/3"], "s0");
    infer(&["--shard", "1/3"], "s1");
    infer(&["--shard", "2/3"], "s2");
    let merged = run(baiseg()
        .arg("merge")
        .arg(dir.join("s2"))
        .arg(dir.join("s0"))
        .arg(dir.join("s1"))
        .arg("--out")
        .arg(dir.join("merged")));
    assert_code(&merged, 0);
    for file in [
        "instances.json",
        "images.json",
        "labels/000004.png",
        "records/stardist_img2d.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join("whole").join(file)).unwrap(),
            std::fs::read(dir.join("merged").join(file)).unwrap(),
            "{file}"
        );
    }
    // Overlapping shards (a shard and the whole run) are refused: their run.json disagree on N.
    let overlap = run(baiseg()
        .arg("merge")
        .arg(dir.join("s0"))
        .arg(dir.join("whole"))
        .arg("--out")
        .arg(dir.join("bad")));
    assert_code(&overlap, 1);
    assert!(
        text(&overlap).contains("other shards are of 3"),
        "{}",
        text(&overlap)
    );
    let bad_shard = run(baiseg()
        .args(["infer", "--shard", "3/3"])
        .arg(tiny_model())
        .arg(fixture("samples/images")));
    assert_code(&bad_shard, 64);
    assert!(text(&bad_shard).contains("0 <= K < N"), "{}", text(&bad_shard));
}

#[test]
fn one_pass_eval_equals_infer_then_eval() {
    let dir = TestDir::new();
    let gt = fixture("samples/annotations.json");
    assert_code(&infer_samples_with_coco(&dir.join("out")), 0);
    let two_step = run(baiseg()
        .args(["eval", "--coco"])
        .arg(&gt)
        .arg("--results")
        .arg(dir.join("out/instances.json"))
        .arg("--json")
        .arg(dir.join("a.json")));
    assert_code(&two_step, 0);
    let one_pass = run(baiseg()
        .args(["eval", "--coco"])
        .arg(&gt)
        .arg("--model")
        .arg(tiny_model())
        .arg("--images")
        .arg(fixture("samples/images"))
        .arg("--json")
        .arg(dir.join("b.json")));
    assert_code(&one_pass, 0);
    let a: Value = serde_json::from_slice(&std::fs::read(dir.join("a.json")).unwrap()).unwrap();
    let b: Value = serde_json::from_slice(&std::fs::read(dir.join("b.json")).unwrap()).unwrap();
    assert_eq!(a["stats"], b["stats"]);
    assert_eq!(a["per_category"], b["per_category"]);
}

#[test]
fn ctrl_c_keeps_finished_work_and_leaves_no_partial_file() {
    let dir = TestDir::new();
    for i in 0..48 {
        dir.copy(
            &fixture(&format!("samples/images/00000{}.png", i % 6)),
            &format!("in/img{i:02}.png"),
        );
    }
    let args = |cmd: &mut std::process::Command| {
        cmd.args([
            "infer",
            "--json",
            "--threads",
            "1",
            "--save",
            "labels,overlay",
            "--out",
        ])
        .arg(dir.join("out"))
        .arg(tiny_model())
        .arg(dir.join("in"));
    };
    let mut cmd = baiseg();
    args(&mut cmd);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some images are done, then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while std::time::Instant::now() < deadline
        && std::fs::read_dir(dir.join("out/records")).map_or(0, std::iter::Iterator::count) < 3
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code();
    assert!(
        code == Some(130) || code == Some(0),
        "exit {code:?}: {}",
        text(&out)
    );
    let leftovers: Vec<_> = walk(&dir.join("out"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "partial files after Ctrl-C: {leftovers:?}");
    let done = std::fs::read_dir(dir.join("out/records")).unwrap().count();
    if code == Some(130) {
        assert!(text(&out).contains("resume"), "{}", text(&out));
        assert!(
            !dir.join("out/instances.json").exists(),
            "no instances.json from an interrupted run"
        );
    }
    // Every record written has its label PNG and overlay (each image is all-or-nothing).
    for e in std::fs::read_dir(dir.join("out/records")).unwrap().flatten() {
        let stem = e.path().file_stem().unwrap().to_string_lossy().into_owned();
        assert!(dir.join(&format!("out/labels/{stem}.png")).is_file());
        assert!(dir.join(&format!("out/overlays/{stem}.jpg")).is_file());
    }
    // The re-run resumes and finishes the rest.
    let mut again = baiseg();
    args(&mut again);
    let rerun = run(&mut again);
    assert_code(&rerun, 0);
    let s = summary(&rerun);
    assert_eq!(s["resumed"].as_u64().unwrap() as usize, done);
    assert_eq!(s["processed"].as_u64().unwrap() as usize, 48 - done);
    let header: Value = serde_json::from_slice(&std::fs::read(dir.join("out/images.json")).unwrap()).unwrap();
    assert_eq!(header["images"].as_array().map(Vec::len), Some(48));
}
