//! Boundary `IoU` parity: the 12 stats of `--iou-type boundary` equal faster-coco-eval 1.8.0's
//! `COCOeval_faster(iouType="boundary")` to 1e-6 on every segm fixture
//! (`fixtures/coco/*/reference_boundary*.json`, made by `benches/gen_boundary_refs.py`).
use baiseg_rt::eval::{self, IouType, Params};

use super::{RefCase, fixtures, reference_cases};

fn cases() -> Vec<RefCase> {
    let cases: Vec<RefCase> = reference_cases("reference_boundary", "faster_coco_eval")
        .into_iter()
        .filter(|c| c.iou_type == IouType::Boundary)
        .collect();
    for c in &cases {
        assert_eq!(c.versions["faster_coco_eval"], "1.8.0", "{}", c.name);
    }
    cases
}

#[test]
fn boundary_matches_faster_coco_eval_on_every_fixture() {
    let cases = cases();
    assert!(cases.len() >= 14, "found only {} boundary cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let report = eval::evaluate_files(&c.gt, &c.results, Params::new(IouType::Boundary)).unwrap();
        assert_eq!(report.iou_type, IouType::Boundary);
        for (i, (got, want)) in report.stats.iter().zip(&c.expected).enumerate() {
            if (got - want).abs() > 1e-6 {
                failures.push(format!(
                    "{} stat {i}: ours {got} vs faster-coco-eval {want}",
                    c.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn boundary_is_at_most_segm() {
    // min(mask IoU, boundary IoU) <= mask IoU, so every AP/AR can only drop.
    let root = fixtures().join("clarifai_val2017_10");
    let gt = root.join("instances_val2017_subset.json");
    let dt = root.join("dets_segm.json");
    let segm = eval::evaluate_files(&gt, &dt, Params::new(IouType::Segm)).unwrap();
    let bnd = eval::evaluate_files(&gt, &dt, Params::new(IouType::Boundary)).unwrap();
    for (b, s) in bnd.stats.iter().zip(&segm.stats) {
        assert!(b <= s, "{b} > {s}");
    }
    assert!(bnd.stats[0] < segm.stats[0]);
}

#[test]
fn boundary_voc_protocol_runs() {
    let root = fixtures().join("labelme_voc_3");
    let p = Params::for_protocol(IouType::Boundary, eval::Protocol::VocChainercv);
    let r = eval::evaluate_files(&root.join("annotations.json"), &root.join("dets_segm.json"), p).unwrap();
    assert_eq!(r.stats.len(), 4);
    assert!(r.summary.contains("boundary"), "{}", r.summary);
}
