//! `infer --tile`: tiled and untiled runs agree (SPEC section 2, end) with the tiny model.
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

/// The SPEC's agreement rule for one image: greedy one-to-one matching by descending IoU (pairs
/// with IoU >= 0.5), every matched pair IoU >= 0.99 with equal classes, and the unmatched
/// instances of both sides covering < 0.1% of the image. Returns (matched, worst IoU, unmatched
/// share) or the reason it fails.
fn agree(a: &[&ResultRecord], b: &[&ResultRecord], pixels: f64) -> Result<(usize, f64, f64), String> {
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
    let mut worst: f64 = 1.0;
    let mut matched = 0;
    for (iou, i, j) in pairs {
        if used_a[i] || used_b[j] {
            continue;
        }
        used_a[i] = true;
        used_b[j] = true;
        matched += 1;
        worst = worst.min(iou);
        if iou < 0.99 || a[i].category_id != b[j].category_id {
            return Err(format!(
                "pair {i}/{j}: IoU {iou}, classes {} / {}",
                a[i].category_id, b[j].category_id
            ));
        }
    }
    let unmatched: Vec<Rle> = ra
        .iter()
        .zip(&used_a)
        .chain(rb.iter().zip(&used_b))
        .filter(|(_, u)| !**u)
        .map(|(r, _)| r.clone())
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
    Ok((matched, worst, share))
}

fn infer(dir: &TestDir, name: &str, extra: &[&str]) -> Vec<ResultRecord> {
    let out_dir = dir.join(name);
    let out = run(baiseg()
        .args(["infer", "--quiet", "--out"])
        .arg(&out_dir)
        .args(extra)
        .arg(tiny_model())
        .arg(fixture("samples/images/000000.png"))
        .arg(fixture("samples/images/000001.png")));
    assert_code(&out, 0);
    records(&out_dir.join("instances.json"))
}

#[test]
fn tiled_and_untiled_runs_agree() {
    let dir = TestDir::new();
    let whole = infer(&dir, "whole", &[]);
    // 384 px images in 256 px tiles: 2 x 2 tiles each, seams in the middle of a 128 px overlap
    // (the tiny model's output moves by < 1e-3 at 64 px from a tile edge), 3 tiles per pass.
    let tiled = infer(
        &dir,
        "tiled",
        &["--tile", "256", "--tile-overlap", "128", "--batch", "3"],
    );
    assert!(whole.len() >= 10, "too few instances to compare: {}", whole.len());
    for image_id in [1, 2] {
        let a: Vec<&ResultRecord> = whole.iter().filter(|r| r.image_id == image_id).collect();
        let b: Vec<&ResultRecord> = tiled.iter().filter(|r| r.image_id == image_id).collect();
        let (matched, worst, share) =
            agree(&a, &b, 384.0 * 384.0).unwrap_or_else(|e| panic!("image {image_id}: {e}"));
        eprintln!(
            "image {image_id}: {} / {} instances, {matched} matched, worst IoU {worst:.4}, unmatched {:.4}%",
            a.len(),
            b.len(),
            share * 100.0
        );
    }
    // With a tile as large as the image nothing is tiled: identical output.
    let one = infer(&dir, "one", &["--tile", "384"]);
    assert_eq!(one, whole);
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
