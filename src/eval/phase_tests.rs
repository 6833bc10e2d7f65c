//! Unit tests of COCO evaluation's three phases on one hand-made image
//! (docs/evaluation.md#phases): `evaluate_image` (matching flags), `accumulate` (precision /
//! recall / score tensors) and `summarize` (the 12 stats).
//!
//! The case: a 10x10 image, one category, two 4x4 ground-truth boxes `g1 = [0,0,4,4]` and
//! `g2 = [5,5,4,4]`; three detections: `d1 = g1` (score 0.9, `IoU` 1 with g1), `d2 = [5,5,4,2]`
//! (0.8, `IoU` 8/16 = 0.5 with g2) and `d3 = [0,5,3,3]` (0.7, `IoU` 0 with both); box `IoU` at the
//! thresholds 0.5 and 0.75. By hand: at 0.5, d1 and d2 match (0.5 >= 0.5) and d3 is a false
//! positive, so recall reaches 1 with precision 1 -> AP 1; at 0.75 only d1 matches: recall 0.5,
//! precision 1/(1 + eps) up to recall 0.5 (51 of the 101 recall thresholds) -> AP 51/101 (times
//! `1 - 2^-52`). All boxes are "small" (area 16 < 32^2), so medium and large have no ground truth
//! (-1). The numbers below are pycocotools 2.0.11's on the same case (`COCOeval(..., "bbox")` with
//! `params.iouThrs = [0.5, 0.75]`), which agree with the derivation.
use std::collections::HashMap;
use std::path::Path;

use super::accumulate::accumulate;
use super::dataset::{Annotation, Category, CocoDataset, DetEntry, Detection, ImageInfo, ResultMode};
use super::evaluate::{CatEval, Context, IGNORED, MATCHED, evaluate_image};
use super::params::{IouType, Params};
use super::summarize::summarize;

fn dataset() -> CocoDataset {
    let ann = |id: i64, bbox: [f64; 4]| Annotation {
        id,
        image_id: 1,
        category_id: 1,
        segmentation: None,
        area: Some(bbox[2] * bbox[3]),
        bbox: Some(bbox.to_vec()),
        iscrowd: Some(false),
    };
    CocoDataset::new(
        vec![ImageInfo {
            id: 1,
            height: 10,
            width: 10,
            file_name: None,
        }],
        vec![ann(1, [0.0, 0.0, 4.0, 4.0]), ann(2, [5.0, 5.0, 4.0, 4.0])],
        vec![Category {
            id: 1,
            name: "a".into(),
        }],
        Path::new("gt.json"),
    )
    .expect("valid dataset")
}

fn dets() -> Vec<DetEntry> {
    [
        ([0.0, 0.0, 4.0, 4.0], 0.9),
        ([5.0, 5.0, 4.0, 2.0], 0.8),
        ([0.0, 5.0, 3.0, 3.0], 0.7),
    ]
    .into_iter()
    .zip(1..)
    .map(|((bbox, score), id)| DetEntry {
        id,
        det: Detection {
            category_id: 1,
            score,
            bbox: Some(bbox),
            segmentation: None,
        },
    })
    .collect()
}

fn params() -> Params {
    let mut p = Params::new(IouType::Bbox);
    p.iou_thrs = vec![0.5, 0.75];
    p
}

fn evaluated(p: &Params) -> Vec<CatEval> {
    let gt = dataset();
    let cat_index: HashMap<i64, u32> = HashMap::from([(1, 0)]);
    let max_dets = p.sorted_max_dets();
    let ctx = Context {
        cat_index: &cat_index,
        use_cats: true,
        iou_type: p.iou_type,
        iou_thrs: &p.iou_thrs,
        area_rng: &p.area_rng,
        max_det: max_dets.last().copied().unwrap_or(0),
        mode: ResultMode::Bbox,
        fix_zero_ids: false,
        boundary_dilation_ratio: p.boundary_dilation_ratio,
        results_path: Path::new("dt.json"),
    };
    evaluate_image(&gt, Some(0), &dets(), &ctx).expect("evaluates")
}

#[test]
fn evaluate_matches_greedily_per_threshold_and_area() {
    let p = params();
    let evals = evaluated(&p);
    assert_eq!(evals.len(), 1);
    let e = &evals[0];
    assert_eq!(e.k, 0);
    assert_eq!(e.scores, vec![0.9, 0.8, 0.7]);
    // pycocotools: dtMatches [[1, 2, 0], [1, 0, 0]] in every area range; gtIgnore [0, 0] for
    // all and small, [1, 1] for medium and large, where every detection is ignored too.
    assert_eq!(e.num_pos, vec![2, 2, 0, 0]);
    let (a_n, t_n) = (p.area_rng.len(), p.iou_thrs.len());
    let flag = |d: usize, a: usize, t: usize| e.flags[(d * a_n + a) * t_n + t];
    for a in 0..2 {
        assert_eq!(
            [flag(0, a, 0), flag(1, a, 0), flag(2, a, 0)],
            [MATCHED, MATCHED, 0]
        );
        assert_eq!([flag(0, a, 1), flag(1, a, 1), flag(2, a, 1)], [MATCHED, 0, 0]);
    }
    for a in 2..4 {
        for d in 0..3 {
            for t in 0..2 {
                assert_eq!(flag(d, a, t) & IGNORED, IGNORED, "d{d} a{a} t{t}");
            }
        }
    }
}

#[test]
fn accumulate_gives_the_precision_recall_and_score_tensors() {
    let p = params();
    let evals = evaluated(&p);
    let max_dets = p.sorted_max_dets();
    let acc = accumulate(
        &[evals.iter().collect()],
        2,
        &p.rec_thrs,
        p.area_rng.len(),
        &max_dets,
    );
    assert_eq!(acc.shape, [2, 101, 1, 4, 3]);
    let m = 2; // maxDets 100
    // IoU 0.5: precision 1 at every recall threshold.
    assert!((0..101).all(|r| acc.precision[acc.pidx(0, r, 0, 0, m)] == 1.0));
    // IoU 0.75: 1/(1 + eps) up to recall 0.5, then 0.
    let below = 1.0 / (1.0 + f64::EPSILON);
    assert_eq!(below, 0.999_999_999_999_999_8);
    for r in 0..101 {
        let want = if r <= 50 { below } else { 0.0 };
        assert_eq!(acc.precision[acc.pidx(1, r, 0, 0, m)], want, "r = {r}");
    }
    // recall[t][k=0][a=0][m]: pycocotools [[0.5, 1, 1], [0.5, 0.5, 0.5]].
    let rec = |t: usize, m: usize| acc.recall[acc.ridx(t, 0, 0, m)];
    assert_eq!([rec(0, 0), rec(0, 1), rec(0, 2)], [0.5, 1.0, 1.0]);
    assert_eq!([rec(1, 0), rec(1, 1), rec(1, 2)], [0.5, 0.5, 0.5]);
    // Scores at recall thresholds 0, 0.5, 0.51, 1 (IoU 0.5): 0.9, 0.9, 0.8, 0.8.
    let sc: Vec<f64> = [0, 50, 51, 100]
        .iter()
        .map(|&r| acc.scores[acc.pidx(0, r, 0, 0, m)])
        .collect();
    assert_eq!(sc, vec![0.9, 0.9, 0.8, 0.8]);
    // Medium and large have no ground truth: -1.
    assert_eq!(acc.precision[acc.pidx(0, 0, 0, 2, m)], -1.0);
    assert_eq!(acc.recall[acc.ridx(0, 0, 3, m)], -1.0);
}

#[test]
fn summarize_gives_pycocotools_stats() {
    let p = params();
    let evals = evaluated(&p);
    let acc = accumulate(
        &[evals.iter().collect()],
        2,
        &p.rec_thrs,
        p.area_rng.len(),
        &p.sorted_max_dets(),
    );
    let (stats, text) = summarize(&acc, &p);
    // (101 * 1 + 51 * (1 - 2^-52)) / 202, AP50 = 1, AP75 = 51 / 101 * (1 - 2^-52), small = all.
    let expected = [
        0.752_475_247_524_752_5,
        1.0,
        0.504_950_495_049_504_8,
        0.752_475_247_524_752_5,
        -1.0,
        -1.0,
        0.5,
        0.75,
        0.75,
        0.75,
        -1.0,
        -1.0,
    ];
    assert_eq!(stats, expected);
    assert!(
        text.starts_with(" Average Precision  (AP) @[ IoU=0.50:0.75 | area=   all | maxDets=100 ] = 0.752"),
        "{text}"
    );
}
