//! Criterion benches (eval): RLE operations of `rle.rs` and a whole COCO evaluation
//! (evaluate + accumulate + summarize) on a synthetic, seeded dataset built in memory.
//!
//! `cargo bench --bench eval`; whole-process comparisons with pycocotools, faster-coco-eval and
//! hotcoco live in `benches/compare_eval.py`.
#![allow(missing_docs, reason = "bench binary")]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "synthetic data"
)]
use std::hint::black_box;
use std::path::Path;

use baiseg_rt::eval::{self, Annotation, Category, CocoDataset, Detection, ImageInfo, Params, Segmentation};
use baiseg_rt::rle::{Rle, rle_iou};
use criterion::{Criterion, criterion_group, criterion_main};

/// A tiny deterministic generator (xorshift), so the bench needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

fn blob(rng: &mut Rng, cx: f64, cy: f64, r: f64, w: f64, h: f64) -> Vec<f64> {
    let k = 12;
    let mut xy = Vec::with_capacity(2 * k);
    for i in 0..k {
        let a = i as f64 / k as f64 * std::f64::consts::TAU;
        let rr = r * rng.range(0.6, 1.0);
        xy.push((cx + rr * a.cos()).clamp(0.0, w - 1.0));
        xy.push((cy + rr * a.sin()).clamp(0.0, h - 1.0));
    }
    xy
}

fn dataset(n_images: usize) -> (CocoDataset, Vec<(i64, Detection)>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (h, w) = (480u32, 640u32);
    let cats: Vec<Category> = (1..=80)
        .map(|id| Category {
            id,
            name: format!("c{id}"),
        })
        .collect();
    let mut images = Vec::new();
    let mut anns = Vec::new();
    let mut dets = Vec::new();
    let mut ann_id = 1;
    for img in 1..=n_images as i64 {
        images.push(ImageInfo {
            id: img,
            height: h,
            width: w,
            file_name: None,
        });
        for _ in 0..7 {
            let (cx, cy, r) = (
                rng.range(0.0, 640.0),
                rng.range(0.0, 480.0),
                rng.range(3.0, 150.0),
            );
            let poly = blob(&mut rng, cx, cy, r, f64::from(w), f64::from(h));
            let rle = Rle::from_polygon(&poly, h, w);
            let cat = 1 + (rng.next() * 80.0) as i64;
            anns.push(Annotation {
                id: ann_id,
                image_id: img,
                category_id: cat,
                segmentation: Some(Segmentation::Polygons(vec![poly])),
                area: Some(rle.area() as f64),
                bbox: Some(rle.to_bbox().to_vec()),
                iscrowd: Some(false),
            });
            ann_id += 1;
            for _ in 0..5 {
                let (ox, oy) = (rng.range(-r, r) * 0.2, rng.range(-r, r) * 0.2);
                let p = blob(&mut rng, cx + ox, cy + oy, r, 640.0, 480.0);
                let m = Rle::from_polygon(&p, h, w);
                let c = if rng.next() < 0.8 {
                    cat
                } else {
                    1 + (rng.next() * 80.0) as i64
                };
                dets.push((
                    img,
                    Detection {
                        category_id: c,
                        score: rng.next(),
                        bbox: None,
                        segmentation: Some(Segmentation::Compressed {
                            size: [h, w],
                            counts: m.to_compressed_string(),
                        }),
                    },
                ));
            }
        }
    }
    let gt =
        CocoDataset::new(images, anns, cats, Path::new("synthetic.json")).expect("valid synthetic dataset");
    (gt, dets)
}

fn rle_ops(c: &mut Criterion) {
    let mut rng = Rng(42);
    let polys: Vec<Vec<f64>> = (0..64)
        .map(|_| {
            let (cx, cy) = (rng.range(100.0, 540.0), rng.range(100.0, 380.0));
            blob(&mut rng, cx, cy, 90.0, 640.0, 480.0)
        })
        .collect();
    let rles: Vec<Rle> = polys.iter().map(|p| Rle::from_polygon(p, 480, 640)).collect();
    let strings: Vec<String> = rles.iter().map(Rle::to_compressed_string).collect();
    c.bench_function("rle/from_polygon x64", |b| {
        b.iter(|| {
            polys
                .iter()
                .map(|p| Rle::from_polygon(black_box(p), 480, 640).counts.len())
                .sum::<usize>()
        });
    });
    c.bench_function("rle/from_compressed_string x64", |b| {
        b.iter(|| {
            strings
                .iter()
                .map(|s| Rle::from_compressed_string(black_box(s), 480, 640).map_or(0, |r| r.counts.len()))
                .sum::<usize>()
        });
    });
    c.bench_function("rle/iou 64x64", |b| {
        b.iter(|| {
            let mut s = 0.0;
            for a in &rles {
                for g in &rles {
                    s += rle_iou(black_box(a), black_box(g), false);
                }
            }
            s
        });
    });
    c.bench_function("rle/merge 64", |b| {
        b.iter(|| Rle::merge(black_box(&rles), false).counts.len());
    });
}

fn matching(c: &mut Criterion) {
    let (gt, dets) = dataset(200);
    let mut group = c.benchmark_group("eval");
    group.sample_size(10);
    group.bench_function("coco segm 200 images (evaluate+accumulate+summarize)", |b| {
        b.iter(|| {
            eval::evaluate(
                gt.clone(),
                dets.clone(),
                Params::default(),
                Path::new("synthetic"),
            )
            .map(|r| r.stats[0])
        });
    });
    group.finish();
}

criterion_group!(benches, rle_ops, matching);
criterion_main!(benches);
