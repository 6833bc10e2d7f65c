//! Golden parity: all 12 stats equal `reference_stats*.json` (pycocotools 2.0.11) for every
//! dataset and results file under `fixtures/coco/`.
use baiseg_rt::eval::{self, CocoDataset, Detection, Evaluator, IouType, Params, load_results};

use super::{RefCase, fixtures, reference_cases};

fn cases() -> Vec<RefCase> {
    let cases = reference_cases("reference_stats", "pycocotools");
    for c in &cases {
        assert!(matches!(c.iou_type, IouType::Segm | IouType::Bbox), "{}", c.name);
    }
    cases
}

#[test]
fn all_fixtures_match_pycocotools() {
    let cases = cases();
    assert!(cases.len() >= 30, "found only {} parity cases", cases.len());
    let mut failures = Vec::new();
    let mut not_bitwise = Vec::new();
    for c in &cases {
        let report = eval::evaluate_files(&c.gt, &c.results, Params::new(c.iou_type)).unwrap();
        assert_eq!(report.stats.len(), 12);
        for (i, (got, want)) in report.stats.iter().zip(&c.expected).enumerate() {
            if (got - want).abs() > 1e-12 {
                failures.push(format!("{} stat {i}: got {got:.17} want {want:.17}", c.name));
            } else if got.to_bits() != want.to_bits() {
                not_bitwise.push(format!("{} stat {i}: got {got:e} want {want:e}", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        not_bitwise.is_empty(),
        "within 1e-12 but not bit-identical:\n{}",
        not_bitwise.join("\n")
    );
}

/// The printed summary is pycocotools' text, character for character.
#[test]
fn summary_text_matches_pycocotools() {
    let root = fixtures();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("coco_val2014_100/reference_stats.json")).unwrap(),
    )
    .unwrap();
    for (key, iou) in [("segm", IouType::Segm), ("bbox", IouType::Bbox)] {
        let case = &v[key];
        let report = eval::evaluate_files(
            &root.join(v["gt"].as_str().unwrap()),
            &root.join(case["results"].as_str().unwrap()),
            Params::new(iou),
        )
        .unwrap();
        assert_eq!(
            report.summary.trim_end(),
            case["pycocotools_summary"].as_str().unwrap()
        );
    }
}

/// Feeding the evaluator image by image, in any image order, gives the file's numbers as long as
/// the detections of each image keep their relative order (ties in score are broken by it).
#[test]
fn streaming_matches_file_and_is_order_invariant() {
    let root = fixtures().join("coco_val2014_100");
    let gt_path = root.join("instances_val2014_100.json");
    let dt_path = root.join("synth_dets_segm.json");
    let whole = eval::evaluate_files(&gt_path, &dt_path, Params::default()).unwrap();
    let results = load_results(&dt_path).unwrap();
    let mut by_image: std::collections::BTreeMap<i64, Vec<Detection>> = std::collections::BTreeMap::new();
    for (img, d) in results {
        by_image.entry(img).or_default().push(d);
    }
    let mut images: Vec<_> = by_image.into_iter().collect();
    images.reverse();
    let mut ev = Evaluator::new(CocoDataset::from_path(&gt_path).unwrap(), Params::default()).unwrap();
    for (img, dets) in &images {
        ev.add_image_results(*img, dets).unwrap();
    }
    let streamed = ev.finish().unwrap();
    assert_eq!(whole.stats, streamed.stats);
}

/// Permuting the results file changes nothing when scores are distinct.
#[test]
fn invariant_under_permuting_results() {
    let root = fixtures().join("coco_val2014_100");
    let gt_path = root.join("instances_val2014_100.json");
    let dt_path = root.join("instances_val2014_fakesegm100_results.json");
    let results = load_results(&dt_path).unwrap();
    // Make scores distinct (ties would be broken by file order, as in pycocotools).
    let results: Vec<_> = results
        .into_iter()
        .enumerate()
        .map(|(i, (img, mut d))| {
            d.score += i as f64 * 1e-9;
            (img, d)
        })
        .collect();
    let base = eval::evaluate(
        CocoDataset::from_path(&gt_path).unwrap(),
        results.clone(),
        Params::default(),
        &dt_path,
    )
    .unwrap();
    let mut shuffled = results;
    // Deterministic permutation: a fixed-stride walk.
    let n = shuffled.len();
    let perm: Vec<usize> = (0..n).map(|i| (i * 7919) % n).collect();
    let mut seen = vec![false; n];
    for &p in &perm {
        assert!(!seen[p]);
        seen[p] = true;
    }
    shuffled = perm.iter().map(|&p| shuffled[p].clone()).collect();
    let permuted = eval::evaluate(
        CocoDataset::from_path(&gt_path).unwrap(),
        shuffled,
        Params::default(),
        &dt_path,
    )
    .unwrap();
    assert_eq!(base.stats, permuted.stats);
}

/// `coco-thresholds` reports the mAP at 0.25/0.5/0.7/0.75 and agrees with COCO's AP50/AP75.
#[test]
fn coco_thresholds_protocol() {
    let root = fixtures().join("coco_val2014_100");
    let gt_path = root.join("instances_val2014_100.json");
    let dt_path = root.join("instances_val2014_fakesegm100_results.json");
    let coco = eval::evaluate_files(&gt_path, &dt_path, Params::default()).unwrap();
    let p = Params::for_protocol(IouType::Segm, eval::Protocol::CocoThresholds);
    let thr = eval::evaluate_files(&gt_path, &dt_path, p).unwrap();
    assert_eq!(thr.map_per_iou.len(), 4);
    assert_eq!(thr.map_per_iou[1].to_bits(), coco.stats[1].to_bits());
    assert_eq!(thr.map_per_iou[3].to_bits(), coco.stats[2].to_bits());
    assert!(thr.map_per_iou[0] >= thr.map_per_iou[1]);
}

/// The VOC protocol on a hand-checkable case: perfect detections give AP 1, a duplicate is a
/// false positive that, ranked last, leaves the all-point AP at 1.
#[test]
fn voc_chainercv_perfect_and_duplicate() {
    let root = fixtures().join("labelme_voc_3");
    let gt = CocoDataset::from_path(root.join("annotations.json")).unwrap();
    let mut ev = Evaluator::new(
        gt.clone(),
        Params::for_protocol(IouType::Segm, eval::Protocol::VocChainercv),
    )
    .unwrap();
    for a in &gt.annotations {
        let det = Detection {
            category_id: a.category_id,
            score: 0.9,
            bbox: None,
            segmentation: a.segmentation.clone(),
        };
        let dup = Detection {
            score: 0.1,
            ..det.clone()
        };
        ev.add_image_results(a.image_id, &[det, dup]).unwrap();
    }
    let r = ev.finish().unwrap();
    for m in &r.stats {
        assert!((m - 1.0).abs() < 1e-12, "{:?}", r.stats);
    }
}

/// The GT id 0 quirk: pycocotools counts a detection matched to annotation id 0 as a false
/// positive; `fix_zero_ids` counts it as a true positive.
#[test]
fn zero_annotation_id_quirk_and_fix() {
    let root = fixtures().join("panoptic_val2017_2");
    let gt = CocoDataset::from_path(root.join("panoptic_coco_detection_format.json")).unwrap();
    let zero = gt.annotations.iter().find(|a| a.id == 0).unwrap().clone();
    let det = Detection {
        category_id: zero.category_id,
        score: 1.0,
        bbox: None,
        segmentation: zero.segmentation.clone(),
    };
    let run = |fix: bool| {
        let p = Params {
            fix_zero_ids: fix,
            img_ids: Some(vec![zero.image_id]),
            cat_ids: Some(vec![zero.category_id]),
            ..Params::default()
        };
        let mut ev = Evaluator::new(gt.clone(), p).unwrap();
        ev.add_image_results(zero.image_id, std::slice::from_ref(&det))
            .unwrap();
        ev.finish().unwrap()
    };
    let quirk = run(false);
    let fixed = run(true);
    assert_eq!(
        quirk.stats[0], 0.0,
        "pycocotools treats the id-0 match as unmatched"
    );
    assert!(fixed.stats[0] > 0.0, "{:?}", fixed.stats);
    assert!(fixed.stats[8] > quirk.stats[8]);
}

/// LVIS as released has no `iscrowd`: it loads (documented default 0) and gives the numbers of
/// the `_coco.json` copy that adds `"iscrowd": 0`, which pycocotools needs.
#[test]
fn lvis_without_iscrowd_equals_coco_copy() {
    let root = fixtures().join("lvis_val_100");
    let dt = root.join("dets_segm.json");
    let orig = eval::evaluate_files(&root.join("lvis_val_100.orig.json"), &dt, Params::default()).unwrap();
    let coco = eval::evaluate_files(&root.join("lvis_val_100_coco.json"), &dt, Params::default()).unwrap();
    assert_eq!(orig.stats, coco.stats);
}
