//! Parity with the Python reference (`fixtures/mep/README.md`): every intermediate map, the raw
//! watershed on the reference markers, the painted label map and the instances.
use baiseg_rt::instances::paint_label_map;
use baiseg_rt::mep::{Mep, MepParams, distance, io, watershed};
use ndarray::{Array2, Ix2};
use ndarray_npy::ReadNpyExt;
use serde_json::Value;

use super::{Case, case_names};

fn npy<T: ndarray_npy::ReadableElement>(path: &std::path::Path) -> Array2<T> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ndarray::Array::<T, Ix2>::read_npy(f).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn binary_png(path: &std::path::Path) -> Array2<u8> {
    io::read_labels(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .mapv(|v| u8::from(v != 0))
}

fn diff_count<T: PartialEq>(a: &Array2<T>, b: &Array2<T>) -> usize {
    if a.dim() != b.dim() {
        return usize::MAX;
    }
    a.iter().zip(b.iter()).filter(|(x, y)| x != y).count()
}

/// Checks one case; returns the list of mismatches.
fn check_case(name: &str) -> Vec<String> {
    let case = Case::load(name);
    let dir = &case.dir;
    let mut errs = Vec::new();
    let mut bad = |what: &str, n: usize| {
        if n != 0 {
            errs.push(format!("{name}: {what}: {n} pixel(s) differ"));
        }
    };
    let (instances, maps) = Mep::new(MepParams::default())
        .run_with_stages(&case.input())
        .expect("MEP runs");
    bad("thin", diff_count(&maps.thin, &binary_png(&dir.join("thin.png"))));
    bad(
        "dilated",
        diff_count(&maps.dilated, &binary_png(&dir.join("dilated.png"))),
    );
    bad(
        "seeds",
        diff_count(&maps.seeds, &binary_png(&dir.join("seeds.png"))),
    );
    let ref_markers = npy::<i32>(&dir.join("markers.npy"));
    bad("markers", diff_count(&maps.markers, &ref_markers));
    // The watershed alone, on the reference's own markers, against cv2.watershed.
    let ref_ws = npy::<i32>(&dir.join("watershed.npy"));
    bad(
        "watershed (reference markers)",
        diff_count(
            &watershed::watershed(case.image.view(), ref_markers.view()),
            &ref_ws,
        ),
    );
    bad("watershed (pipeline)", diff_count(&maps.watershed, &ref_ws));
    if dir.join("dist.npy").is_file() {
        let ref_dist = npy::<f32>(&dir.join("dist.npy"));
        let dist = distance::euclidean_distance(maps.dilated.view()).mapv(|v| v as f32);
        bad("dist", diff_count(&dist, &ref_dist));
    }
    let (h, w) = case.boundary.dim();
    let labels = paint_label_map(&instances, h as u32, w as u32);
    let expected_labels = io::read_labels(&dir.join("expected_labels.png")).expect("expected_labels.png");
    bad("label map", diff_count(&labels, &expected_labels));
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json"))
            .expect("json");
    let exp = expected["instances"].as_array().expect("instances");
    if exp.len() != instances.len() {
        errs.push(format!(
            "{name}: {} instances, expected {}",
            instances.len(),
            exp.len()
        ));
        return errs;
    }
    for (i, (got, want)) in instances.iter().zip(exp).enumerate() {
        let s = got.summary();
        let bbox: Vec<f64> = want["bbox"]
            .as_array()
            .expect("bbox")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let ok = want["category"].as_u64() == Some(u64::from(got.category))
            && want["score"]
                .as_f64()
                .is_some_and(|v| (v - got.score).abs() <= 1e-6)
            && want["area"].as_u64() == Some(s.area)
            && bbox == s.bbox
            && want["counts"].as_str() == Some(got.mask.to_rle().to_compressed_string().as_str());
        if !ok {
            errs.push(format!("{name}: instance {i}: got {s:?}, expected {want}"));
        }
    }
    errs
}

#[test]
fn fixtures_match_python_reference() {
    let errs: Vec<String> = case_names().iter().flat_map(|n| check_case(n)).collect();
    assert!(
        errs.is_empty(),
        "{} mismatch(es):\n{}",
        errs.len(),
        errs.join("\n")
    );
}

#[test]
fn runner_reuse_across_sizes_is_identical() {
    // One runner over all cases (buffers resized and reused) = fresh runners.
    let mut mep = Mep::new(MepParams::default());
    for name in case_names().iter().chain(case_names().iter().rev()) {
        let case = Case::load(name);
        let reused = mep.run(&case.input()).expect("runs");
        let fresh = baiseg_rt::mep::extract(&case.input(), &MepParams::default()).expect("runs");
        assert_eq!(reused, fresh, "{name}");
    }
}
