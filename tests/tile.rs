//! `infer --tile`: tiled and untiled runs agree (docs/mep.md#agreement) with the tiny model.
use std::path::Path;

use baiseg_rt::output::ResultRecord;
use baiseg_rt::rle::{Rle, rle_iou};

use crate::util::{TestDir, assert_code, baiseg, fixture, run, text, tiny_model};

fn records(path: &Path) -> Vec<ResultRecord> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rle(r: &ResultRecord) -> Rle {
    let [h, w] = r.segmentation.size;
    Rle::from_compressed_string(&r.segmentation.counts, h, w).expect("valid RLE")
}

/// Greedy one-to-one matching by descending `IoU`, pairs with `IoU` >= 0.5 only: `(iou, i, j)`.
fn greedy_pairs(a: &[&ResultRecord], b: &[&ResultRecord]) -> Vec<(f64, usize, usize)> {
    let (ra, rb): (Vec<Rle>, Vec<Rle>) = (
        a.iter().map(|r| rle(r)).collect(),
        b.iter().map(|r| rle(r)).collect(),
    );
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, x) in ra.iter().enumerate() {
        for (j, y) in rb.iter().enumerate() {
            let iou = rle_iou(x, y, false);
            if iou >= 0.5 {
                pairs.push((iou, i, j));
            }
        }
    }
    pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
    let (mut used_a, mut used_b) = (vec![false; ra.len()], vec![false; rb.len()]);
    pairs
        .into_iter()
        .filter(|&(_, i, j)| {
            let fresh = !used_a[i] && !used_b[j];
            if fresh {
                used_a[i] = true;
                used_b[j] = true;
            }
            fresh
        })
        .collect()
}

/// The agreement rule (docs/mep.md#agreement) for one image: after [`greedy_pairs`], every matched pair has an
/// `IoU` of at least 0.99 and equal classes, and the unmatched instances of both sides cover less
/// than 0.1% of the image. Returns (matched, worst `IoU`, unmatched share) or the reason it fails.
fn agree(a: &[&ResultRecord], b: &[&ResultRecord], pixels: f64) -> Result<(usize, f64, f64), String> {
    let pairs = greedy_pairs(a, b);
    let mut worst: f64 = 1.0;
    for &(iou, i, j) in &pairs {
        worst = worst.min(iou);
        if iou < 0.99 || a[i].category_id != b[j].category_id {
            return Err(format!(
                "pair {i}/{j}: IoU {iou}, classes {} / {}",
                a[i].category_id, b[j].category_id
            ));
        }
    }
    let unmatched: Vec<Rle> = (0..a.len())
        .filter(|&i| !pairs.iter().any(|p| p.1 == i))
        .map(|i| rle(a[i]))
        .chain(
            (0..b.len())
                .filter(|&j| !pairs.iter().any(|p| p.2 == j))
                .map(|j| rle(b[j])),
        )
        .collect();
    let share = if unmatched.is_empty() {
        0.0
    } else {
        Rle::merge(&unmatched, false).area() as f64 / pixels
    };
    if share >= 0.001 {
        return Err(format!(
            "unmatched instances cover {:.4}% of the image",
            share * 100.0
        ));
    }
    Ok((pairs.len(), worst, share))
}

fn infer(dir: &TestDir, name: &str, model: &Path, inputs: &[&str], extra: &[&str]) -> Vec<ResultRecord> {
    let out_dir = dir.join(name);
    let mut cmd = baiseg();
    cmd.args(["infer", "--quiet", "--out"])
        .arg(&out_dir)
        .args(extra)
        .arg(model);
    for i in inputs {
        cmd.arg(fixture(i));
    }
    let out = run(&mut cmd);
    assert_code(&out, 0);
    records(&out_dir.join("instances.json"))
}

/// `fixtures/models/sobel.onnx` is convolutions only (a 5 x 5 neighbourhood per output pixel), so
/// its maps do not depend on where a tile starts: tiled runs must give the untiled result exactly,
/// on a procedural scene and on a COCO photo, with instances crossing the seams.
#[test]
fn tiled_runs_of_a_position_independent_model_equal_untiled_runs() {
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let inputs = ["samples/images/000000.png", "images/000000074646.jpg"];
    let whole = infer(&dir, "whole", &model, &inputs, &[]);
    // 128 px tiles (16 and 20 per image), 32 px overlap, 4 tiles per forward pass.
    let tiled = infer(
        &dir,
        "tiled",
        &model,
        &inputs,
        &["--tile", "128", "--tile-overlap", "32", "--batch", "4"],
    );
    assert!(whole.len() >= 20, "too few instances: {}", whole.len());
    let seams = [128 - 16, 2 * 96 + 16]; // some seam positions of the plan (stride 96, cut mid-overlap)
    let crossing = whole
        .iter()
        .filter(|r| {
            seams
                .iter()
                .any(|&s| r.bbox[0] < f64::from(s) && r.bbox[0] + r.bbox[2] > f64::from(s))
        })
        .count();
    assert!(crossing >= 5, "only {crossing} instances cross a seam");
    for (image_id, pixels) in [(1, 384.0 * 384.0), (2, 480.0 * 640.0)] {
        let a: Vec<&ResultRecord> = whole.iter().filter(|r| r.image_id == image_id).collect();
        let b: Vec<&ResultRecord> = tiled.iter().filter(|r| r.image_id == image_id).collect();
        let (matched, worst, _) = agree(&a, &b, pixels).unwrap_or_else(|e| panic!("image {image_id}: {e}"));
        assert_eq!((matched, worst), (a.len(), 1.0));
    }
    assert_eq!(tiled, whole, "identical records");
}

/// The compact tiled path (`src/tile/mep.rs`: class map + foreground probabilities, banded
/// seeds) writes the same files as the untiled path: records, label, semantic and boundary PNGs,
/// with the model's probabilities and with label maps from `--semantic-dir`.
#[test]
fn compact_tiled_maps_write_the_untiled_outputs() {
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let inputs = ["samples/images/000000.png", "samples/images/000001.png"];
    let save = ["--save", "labels,semantic,boundary"];
    let tile = ["--tile", "128", "--tile-overlap", "32", "--batch", "3"];
    let semantic_dir = fixture("samples/semantic");
    let labels = ["--semantic-dir", semantic_dir.to_str().expect("utf-8 path")];
    for (name, extra) in [("probs", &[][..]), ("labels", &labels[..])] {
        let untiled: Vec<&str> = save.iter().chain(extra).copied().collect();
        let tiled: Vec<&str> = untiled.iter().chain(&tile).copied().collect();
        let whole = infer(&dir, &format!("{name}-whole"), &model, &inputs, &untiled);
        let cut = infer(&dir, &format!("{name}-tiled"), &model, &inputs, &tiled);
        assert!(whole.len() >= 10, "{name}: {} instances", whole.len());
        assert_eq!(cut, whole, "{name}: identical records");
        for sub in ["labels", "semantic", "boundary"] {
            for stem in ["000000", "000001"] {
                let read = |run: &str| {
                    let p = dir
                        .join(&format!("{name}-{run}"))
                        .join(sub)
                        .join(format!("{stem}.png"));
                    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                };
                assert!(read("whole") == read("tiled"), "{name}: {sub}/{stem}.png differs");
            }
        }
    }
}

/// The tiny test model is *not* position-independent: its attention blocks and ASPP pool over
/// the whole input (17 `ReduceMean`, 16 `ReduceMax`), so a tile sees other global statistics than
/// the whole image. Tiling still covers every pixel once; only a tile as large as the image gives
/// the untiled result exactly (nothing is tiled then).
#[test]
fn tiny_model_tiles_cover_the_image_and_a_whole_image_tile_is_untiled() {
    let dir = TestDir::new();
    let model = tiny_model();
    let inputs = ["samples/images/000000.png"];
    let whole = infer(&dir, "whole", &model, &inputs, &[]);
    let one = infer(&dir, "one", &model, &inputs, &["--tile", "384"]);
    assert_eq!(one, whole);
    let tiled = infer(
        &dir,
        "tiled",
        &model,
        &inputs,
        &["--tile", "256", "--tile-overlap", "128"],
    );
    let a: Vec<&ResultRecord> = whole.iter().collect();
    let b: Vec<&ResultRecord> = tiled.iter().collect();
    // Not the agreement of docs/mep.md#agreement (boundaries move by a few pixels), but the same scene.
    let matched = greedy_pairs(&a, &b).len();
    eprintln!(
        "tiny model, tiled vs untiled: {} / {} instances, {matched} matched (IoU >= 0.5); docs/mep.md#agreement rule: {:?}",
        a.len(),
        b.len(),
        agree(&a, &b, 384.0 * 384.0)
    );
    assert!(matched * 4 >= a.len() * 3, "{matched} of {} matched", a.len());
}

#[test]
fn tile_options_are_checked() {
    let dir = TestDir::new();
    let out = run(baiseg()
        .args(["infer", "--tile", "64", "--tile-overlap", "64", "--out"])
        .arg(dir.join("o"))
        .arg(tiny_model())
        .arg(fixture("samples/images/000000.png")));
    assert_code(&out, 1);
    assert!(text(&out).contains("--tile-overlap"), "{}", text(&out));
    let out = run(baiseg()
        .args(["infer", "--tile-overlap", "64", "--out"])
        .arg(dir.join("o"))
        .arg(tiny_model())
        .arg(fixture("samples/images/000000.png")));
    assert!(!out.status.success(), "--tile-overlap needs --tile");
}

/// `--scratch-dir DIR` (the folder of a large tiled image's probability planes,
/// docs/tiling.md#plane-store): shown in `--help`, needs `--tile`, a missing folder is an error
/// naming it and the flag before any image runs, and an existing one changes no result and keeps
/// no file.
#[test]
fn scratch_dir_is_checked_and_documented() {
    let help = run(baiseg().args(["infer", "--help"]));
    assert_code(&help, 0);
    assert!(text(&help).contains("--scratch-dir <DIR>"), "{}", text(&help));
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let input = "samples/images/000000.png";
    let missing = dir.join("no-such-folder");
    let out = run(baiseg()
        .args(["infer", "--tile", "128", "--tile-overlap", "32", "--scratch-dir"])
        .arg(&missing)
        .arg("--out")
        .arg(dir.join("o"))
        .arg(&model)
        .arg(fixture(input)));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("scratch folder")
            && msg.contains("no-such-folder")
            && msg.contains("(see --scratch-dir)"),
        "{msg}"
    );
    let out = run(baiseg()
        .args(["infer", "--scratch-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.join("o"))
        .arg(&model)
        .arg(fixture(input)));
    assert!(!out.status.success(), "--scratch-dir needs --tile");
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let tiled = ["--tile", "128", "--tile-overlap", "32"];
    let plain = infer(&dir, "plain", &model, &[input], &tiled);
    let scratch_arg = scratch.to_str().unwrap();
    let with: Vec<&str> = tiled
        .iter()
        .copied()
        .chain(["--scratch-dir", scratch_arg])
        .collect();
    let here = infer(&dir, "here", &model, &[input], &with);
    assert!(!plain.is_empty());
    assert_eq!(here, plain);
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "nothing left behind"
    );
}

/// `--spill-above SIZE` (docs/tiling.md#plane-store) forces the scratch file for small images: the
/// planes of both images are spilled (the debug log says so), the results are those of the
/// in-memory planes byte for byte, and nothing is left in the scratch folder. A size that is not
/// one is a usage error naming the flag.
#[test]
fn spilled_planes_give_the_in_memory_results() {
    let help = run(baiseg().args(["infer", "--help"]));
    assert!(text(&help).contains("--spill-above <SIZE>"), "{}", text(&help));
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let inputs = ["samples/images/000000.png", "images/000000074646.jpg"];
    let scratch = dir.join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let tiled = ["--tile", "128", "--tile-overlap", "32", "--batch", "3"];
    let logged = |name: &str, spill: &str| {
        let out_dir = dir.join(name);
        let mut cmd = baiseg();
        cmd.args(["-v", "infer", "--out"])
            .arg(&out_dir)
            .args(tiled)
            .args(["--spill-above", spill, "--scratch-dir"])
            .arg(&scratch)
            .arg(&model);
        for i in inputs {
            cmd.arg(fixture(i));
        }
        let out = run(&mut cmd);
        assert_code(&out, 0);
        let spilled = text(&out).matches("spilled to an unlinked scratch file").count();
        let json = std::fs::read(out_dir.join("instances.json")).unwrap();
        (spilled, json)
    };
    let (spilled, in_memory) = logged("memory", "1G");
    assert_eq!(spilled, 0, "planes of 1.8 and 3.7 MB stay in memory below 1 GiB");
    let (spilled, in_file) = logged("file", "0");
    assert_eq!(spilled, 2, "both images spilled");
    assert!(in_file.len() > 1000);
    assert!(
        in_file == in_memory,
        "instances.json differs with the planes spilled"
    );
    // 2M: only the 640 x 480 photo (3.7 MB of planes) spills.
    let (spilled, between) = logged("between", "2M");
    assert_eq!(spilled, 1);
    assert!(between == in_memory);
    assert_eq!(
        std::fs::read_dir(&scratch).unwrap().count(),
        0,
        "nothing left behind"
    );
    let out = run(baiseg()
        .args(["infer", "--tile", "128", "--spill-above", "12Q", "--out"])
        .arg(dir.join("bad"))
        .arg(&model)
        .arg(fixture(inputs[0])));
    assert_code(&out, 64);
    assert!(text(&out).contains("--spill-above"), "{}", text(&out));
}

/// A scratch file that cannot be written while stitching (here: the file size limit of
/// `ulimit -f`, which makes the write fail with "File too large", as a full disk fails with "No
/// space left on device") skips that image only, with a message naming the image and the scratch
/// folder; the next image still runs and gives its usual result.
#[cfg(target_os = "linux")]
#[test]
fn a_scratch_file_that_cannot_be_written_skips_only_that_image() {
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let photo = "images/000000074646.jpg"; // 640 x 480: 3.7 MB of planes, spilled above 2M
    let sample = "samples/images/000000.png"; // 384 x 384: 1.8 MB, in memory
    let scratch = dir.join("scratch-folder");
    std::fs::create_dir(&scratch).unwrap();
    let tiled = ["--tile", "128", "--tile-overlap", "32", "--spill-above", "2M"];
    let expected = infer(&dir, "alone", &model, &[sample], &tiled);
    let out_dir = dir.join("limited");
    // SIGXFSZ ignored (kept across exec), files limited to 2048 blocks (1 or 2 MiB, by shell).
    let out = run(std::process::Command::new("sh")
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .args(["-c", "trap '' XFSZ; ulimit -f 2048 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_baiseg-rt"))
        .args(["infer", "--out"])
        .arg(&out_dir)
        .args(tiled)
        .arg("--scratch-dir")
        .arg(&scratch)
        .arg(&model)
        .arg(fixture(photo))
        .arg(fixture(sample)));
    let msg = text(&out);
    assert_code(&out, 2);
    assert!(
        msg.contains("000000074646.jpg")
            && msg.contains(&scratch.display().to_string())
            && msg.contains("cannot write the scratch file")
            && msg.contains("File too large"),
        "{msg}"
    );
    let got = records(&out_dir.join("instances.json"));
    assert!(!expected.is_empty());
    assert!(
        got.iter().all(|r| r.image_id == 2),
        "only the sample is in the results"
    );
    let strip = |rs: &[ResultRecord]| -> Vec<(i64, String, f64)> {
        rs.iter()
            .map(|r| (r.category_id, r.segmentation.counts.clone(), r.score))
            .collect()
    };
    assert_eq!(strip(&got), strip(&expected));
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}

/// `--max-pixels` bounds one forward pass: untiled, an image above it is skipped from its header;
/// with `--tile`, the same image runs tile by tile (and equals the untiled result of a
/// position-independent model), and a tile batch above the budget is refused up front.
#[test]
fn pixel_budget_bounds_one_forward_pass_with_tiles() {
    let dir = TestDir::new();
    let model = fixture("models/sobel.onnx");
    let input = "samples/images/000000.png"; // 384 x 384 = 147,456 pixels
    let whole = infer(&dir, "whole", &model, &[input], &[]);

    let out = run(baiseg()
        .args(["infer", "--max-pixels", "40000", "--out"])
        .arg(dir.join("skipped"))
        .arg(&model)
        .arg(fixture(input)));
    assert!(
        !out.status.success(),
        "an image above the budget is not processed untiled"
    );
    assert!(text(&out).contains("--max-pixels"), "{}", text(&out));

    let tiled = infer(
        &dir,
        "tiled",
        &model,
        &[input],
        &["--max-pixels", "40000", "--tile", "128", "--tile-overlap", "32"],
    );
    assert!(!whole.is_empty());
    assert_eq!(tiled.len(), whole.len());
    for (t, w) in tiled.iter().zip(&whole) {
        assert_eq!(t.segmentation.counts, w.segmentation.counts);
        assert_eq!(t.category_id, w.category_id);
    }

    let out = run(baiseg()
        .args([
            "infer",
            "--quiet",
            "--max-pixels",
            "40000",
            "--tile",
            "256",
            "--out",
        ])
        .arg(dir.join("refused"))
        .arg(&model)
        .arg(fixture(input)));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(msg.contains("--max-pixels") && msg.contains("65536"), "{msg}");
}
