//! RLE operations against values computed with pycocotools' mask API
//! (`fixtures/rle/make_rle_golden.py` made `fixtures/rle/golden.json`), plus property tests
//! against naive pixel references.
use baiseg_rt::rle::{Rle, bbox_iou, rle_iou};
use proptest::prelude::*;
use serde_json::Value;

fn golden() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rle/golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn dims(c: &Value) -> (u32, u32) {
    (c["h"].as_u64().unwrap() as u32, c["w"].as_u64().unwrap() as u32)
}

fn from_str(s: &Value, h: u32, w: u32) -> Rle {
    Rle::from_compressed_string(s.as_str().unwrap(), h, w).unwrap()
}

#[test]
fn polygons_merge_area_bbox_match_pycocotools() {
    let g = golden();
    let cases = g["polygons"].as_array().unwrap();
    assert!(cases.len() > 100);
    for (i, c) in cases.iter().enumerate() {
        let (h, w) = dims(c);
        let polys: Vec<Vec<f64>> = c["polygons"].as_array().unwrap().iter().map(f64s).collect();
        let each: Vec<Rle> = polys.iter().map(|p| Rle::from_polygon(p, h, w)).collect();
        for (j, (r, want)) in each.iter().zip(c["each"].as_array().unwrap()).enumerate() {
            assert_eq!(
                r.to_compressed_string(),
                want.as_str().unwrap(),
                "case {i} polygon {j}"
            );
            r.check_size().unwrap();
        }
        let merged = Rle::merge(&each, false);
        assert_eq!(
            merged.to_compressed_string(),
            c["merged"].as_str().unwrap(),
            "case {i} merged"
        );
        assert_eq!(
            Rle::merge(&each, true).to_compressed_string(),
            c["merged_intersect"].as_str().unwrap(),
            "case {i}"
        );
        assert_eq!(merged.area(), c["area"].as_u64().unwrap(), "case {i} area");
        assert_eq!(merged.to_bbox().to_vec(), f64s(&c["bbox"]), "case {i} bbox");
    }
}

#[test]
fn masks_encode_area_bbox_iou_merge_match_pycocotools() {
    let g = golden();
    let masks = g["masks"].as_array().unwrap();
    let mut rles = Vec::new();
    for (i, m) in masks.iter().enumerate() {
        let (h, w) = dims(m);
        let pix: Vec<u8> = m["row_major"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u8)
            .collect();
        let r = Rle::from_row_major(&pix, h, w);
        assert_eq!(
            r.to_compressed_string(),
            m["counts"].as_str().unwrap(),
            "mask {i}"
        );
        assert_eq!(from_str(&m["counts"], h, w), r, "mask {i} decode");
        assert_eq!(r.to_row_major(), pix, "mask {i} round trip");
        assert_eq!(r.area(), m["area"].as_u64().unwrap(), "mask {i} area");
        assert_eq!(r.to_bbox().to_vec(), f64s(&m["bbox"]), "mask {i} bbox");
        rles.push(r);
    }
    for p in g["mask_pairs"].as_array().unwrap() {
        let (a, b) = (
            p["a"].as_u64().unwrap() as usize,
            p["b"].as_u64().unwrap() as usize,
        );
        let (ra, rb) = (&rles[a], &rles[b]);
        assert_eq!(
            rle_iou(ra, rb, false).to_bits(),
            p["iou"].as_f64().unwrap().to_bits(),
            "pair {a},{b}"
        );
        assert_eq!(
            rle_iou(ra, rb, true).to_bits(),
            p["iou_crowd"].as_f64().unwrap().to_bits(),
            "pair {a},{b} crowd"
        );
        let pair = [ra.clone(), rb.clone()];
        assert_eq!(
            Rle::merge(&pair, false).to_compressed_string(),
            p["union"].as_str().unwrap()
        );
        assert_eq!(
            Rle::merge(&pair, true).to_compressed_string(),
            p["intersection"].as_str().unwrap()
        );
    }
}

#[test]
fn boxes_match_pycocotools() {
    let g = golden();
    for c in g["bbox_iou"].as_array().unwrap() {
        let d: [f64; 4] = f64s(&c["dt"]).try_into().unwrap();
        let t: [f64; 4] = f64s(&c["gt"]).try_into().unwrap();
        assert_eq!(
            bbox_iou(&d, &t, false).to_bits(),
            c["iou"].as_f64().unwrap().to_bits(),
            "{d:?} {t:?}"
        );
        assert_eq!(
            bbox_iou(&d, &t, true).to_bits(),
            c["iou_crowd"].as_f64().unwrap().to_bits(),
            "{d:?} {t:?}"
        );
    }
    for c in g["fr_bbox"].as_array().unwrap() {
        let (h, w) = dims(c);
        let b: [f64; 4] = f64s(&c["bbox"]).try_into().unwrap();
        assert_eq!(
            Rle::from_bbox(&b, h, w).to_compressed_string(),
            c["counts"].as_str().unwrap(),
            "{b:?} {h}x{w}"
        );
    }
}

// ---- property tests against naive pixel references ----

fn naive_iou(a: &[u8], b: &[u8], crowd: bool) -> f64 {
    let i = a.iter().zip(b).filter(|(x, y)| **x != 0 && **y != 0).count();
    let u = if crowd {
        a.iter().filter(|x| **x != 0).count()
    } else {
        a.iter().zip(b).filter(|(x, y)| **x != 0 || **y != 0).count()
    };
    if i == 0 { 0.0 } else { i as f64 / u as f64 }
}

fn naive_bbox(m: &[u8], h: usize, w: usize) -> [f64; 4] {
    // column-major mask
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    let mut any = false;
    for x in 0..w {
        for y in 0..h {
            if m[x * h + y] != 0 {
                any = true;
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if !any {
        return [0.0; 4];
    }
    // maskApi.c: a mask spanning two or more columns spans the full height
    // only when some run crosses a column; check the naive rule for runs.
    [x0 as f64, y0 as f64, (x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64]
}

fn mask_strategy() -> impl Strategy<Value = (usize, usize, Vec<u8>, Vec<u8>)> {
    (1usize..20, 1usize..20).prop_flat_map(|(h, w)| {
        (
            Just(h),
            Just(w),
            prop::collection::vec(0u8..2, h * w),
            prop::collection::vec(0u8..2, h * w),
        )
    })
}

proptest! {
    #[test]
    fn rle_round_trips_and_matches_naive((h, w, a, b) in mask_strategy()) {
        let (hh, ww) = (h as u32, w as u32);
        let ra = Rle::from_column_major(&a, hh, ww);
        let rb = Rle::from_column_major(&b, hh, ww);
        prop_assert_eq!(ra.to_column_major(), a.clone());
        prop_assert_eq!(Rle::from_compressed_string(&ra.to_compressed_string(), hh, ww).unwrap(), ra.clone());
        prop_assert_eq!(ra.area() as usize, a.iter().filter(|x| **x != 0).count());
        prop_assert_eq!(rle_iou(&ra, &rb, false), naive_iou(&a, &b, false));
        prop_assert_eq!(rle_iou(&ra, &rb, true), naive_iou(&a, &b, true));
        let union: Vec<u8> = a.iter().zip(&b).map(|(x, y)| u8::from(*x != 0 || *y != 0)).collect();
        let inter: Vec<u8> = a.iter().zip(&b).map(|(x, y)| u8::from(*x != 0 && *y != 0)).collect();
        prop_assert_eq!(Rle::merge(&[ra.clone(), rb.clone()], false).to_column_major(), union);
        prop_assert_eq!(Rle::merge(&[ra.clone(), rb.clone()], true).to_column_major(), inter);
        // Box: exact for masks within one column run structure; maskApi.c's rule widens y
        // to the full height when a run crosses a column boundary.
        let bb = ra.to_bbox();
        let nb = naive_bbox(&a, h, w);
        prop_assert_eq!(bb[0], nb[0]);
        prop_assert_eq!(bb[2], nb[2]);
        prop_assert!(bb[1] <= nb[1] && bb[1] + bb[3] >= nb[1] + nb[3]);
    }

    /// Rasterised polygons: every produced RLE covers h*w pixels, and a pixel whose centre is
    /// well inside an axis-aligned rectangle is set, one well outside is not.
    #[test]
    fn rectangles_rasterise_like_pixel_centres(
        h in 1u32..60, w in 1u32..60,
        x0 in -5.0f64..60.0, y0 in -5.0f64..60.0, bw in 0.0f64..40.0, bh in 0.0f64..40.0,
    ) {
        let r = Rle::from_bbox(&[x0, y0, bw, bh], h, w);
        r.check_size().unwrap();
        let m = r.to_column_major();
        for x in 0..w {
            for y in 0..h {
                let (cx, cy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
                let inside = cx > x0 + 0.6 && cx < x0 + bw - 0.6 && cy > y0 + 0.6 && cy < y0 + bh - 0.6;
                let outside = cx < x0 - 0.6 || cx > x0 + bw + 0.6 || cy < y0 - 0.6 || cy > y0 + bh + 0.6;
                let v = m[(x * h + y) as usize];
                if inside { prop_assert_eq!(v, 1, "({}, {}) inside", x, y); }
                if outside { prop_assert_eq!(v, 0, "({}, {}) outside", x, y); }
            }
        }
    }
}
