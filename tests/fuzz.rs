//! Fuzz harness (stable toolchain, proptest) over every parser that reads untrusted input: the
//! RLE string codec, COCO ground truth and results JSON, `.npy` headers, image headers, zip
//! archives and member names, and model metadata. Each target feeds arbitrary bytes and mutations
//! of a valid sample and asserts "an error, never a panic" (plus target-specific properties).
//!
//! A few seconds in the normal suite; a long run by hand (docs/reliability.md#fuzzing):
//! `FUZZ_CASES=200000 cargo test --release --test tests fuzz:: -- --test-threads 2`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use baiseg_rt::eval::CocoDataset;
use baiseg_rt::input::source::safe_member_name;
use baiseg_rt::input::{DecodeOptions, decode_image_with, enumerate_inputs};
use baiseg_rt::mep::io::check_npy_header;
use baiseg_rt::model::contract::{ModelInfo, TensorSpec};
use baiseg_rt::rle::Rle;
use proptest::prelude::*;

use crate::util::fixture;

/// Cases per target: `FUZZ_CASES` (default 64, a few seconds in all).
fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A mutation of `seed`: byte flips, truncation, insertion of interesting bytes.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        0..=len,
        prop::collection::vec(
            prop::sample::select(vec![0u8, 0xFF, b'9', b'-', b'"', b'[', b'{', 0x7F, b'e', b'.']),
            0..6,
        ),
        0..len,
    )
        .prop_map(move |(flips, cut, insert, at)| {
            let mut b = seed.clone();
            for (i, v) in flips {
                if i < b.len() {
                    b[i] = v;
                }
            }
            let at = at.min(b.len());
            b.splice(at..at, insert);
            b.truncate(cut.max(1));
            b
        })
}

fn bytes_or_mutation(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated(seed)]
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(23, 17, |x, y| {
        image::Rgb([(x * 11) as u8, (y * 13) as u8, ((x ^ y) * 7) as u8])
    }));
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).expect("encode");
    buf.into_inner()
}

fn results_sample() -> Vec<u8> {
    br#"[{"image_id": 1, "category_id": 3, "score": 0.9, "segmentation": {"size": [384, 384], "counts": "PPYo05P1"}},
       {"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [1, 2, 3e9, 4]},
       {"image_id": 2, "category_id": 2, "score": 0.2, "segmentation": [[1, 1, 1e9, 2, 5, -1e9]]}]"#
        .to_vec()
}

fn npy_sample() -> Vec<u8> {
    let mut buf = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&ndarray::Array2::<f32>::zeros((3, 4)), &mut buf).expect("npy");
    buf
}

fn zip_sample() -> Vec<u8> {
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut cur);
        let opts = zip::write::SimpleFileOptions::default();
        for name in ["a.png", "d/b.jpg", "../c.png"] {
            zip.start_file(name, opts).expect("zip");
            std::io::Write::write_all(&mut zip, &encoded(image::ImageFormat::Png)).expect("zip");
        }
        zip.finish().expect("zip");
    }
    cur.into_inner()
}

fn spec(name: &str, shape: &[i64]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        dtype: "f32".into(),
        shape: shape.to_vec(),
        symbols: vec![],
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_rle_string_codec(s in prop_oneof![".{0,64}", "[0-9A-Za-z\\[\\]^_`\\\\]{0,64}"], h in 0u32..40, w in 0u32..40) {
        if let Ok(rle) = Rle::from_compressed_string(&s, h, w) {
            let again = Rle::from_compressed_string(&rle.to_compressed_string(), h, w);
            prop_assert_eq!(again.as_ref().ok(), Some(&rle));
        }
    }

    #[test]
    fn fuzz_coco_ground_truth_json(bytes in bytes_or_mutation(std::fs::read(fixture("samples/annotations.json")).unwrap_or_default())) {
        let _ = CocoDataset::from_slice(&bytes, Path::new("gt.json"));
    }

    #[test]
    fn fuzz_coco_results_json(bytes in bytes_or_mutation(results_sample())) {
        let _ = baiseg_rt::eval::dataset::parse_results(&bytes, Path::new("dt.json"));
    }

    #[test]
    fn fuzz_npy_headers(bytes in bytes_or_mutation(npy_sample())) {
        let len = bytes.len() as u64;
        if check_npy_header(Path::new("x.npy"), &bytes, len).is_ok() {
            // What passes the header check reads without a panic or an oversized allocation.
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("x.npy");
            std::fs::write(&p, &bytes).unwrap();
            let _ = baiseg_rt::mep::io::read_boundary(&p);
        }
    }

    #[test]
    fn fuzz_image_headers(bytes in prop_oneof![
        mutated(encoded(image::ImageFormat::Png)),
        mutated(encoded(image::ImageFormat::Jpeg)),
        mutated(encoded(image::ImageFormat::Bmp)),
        mutated(encoded(image::ImageFormat::Tiff)),
        mutated(encoded(image::ImageFormat::WebP)),
        prop::collection::vec(any::<u8>(), 0..256),
    ]) {
        let opts = DecodeOptions { max_pixels: 1 << 16, allow_truncated: true };
        if let Ok(img) = decode_image_with(&bytes, Path::new("x"), &opts) {
            prop_assert!(u64::from(img.width()) * u64::from(img.height()) <= 1 << 16);
        }
    }

    #[test]
    fn fuzz_zip_member_names(name in prop_oneof![".{0,40}", "[./a\\\\:]{0,12}"]) {
        if let Ok(safe) = safe_member_name(&name) {
            let out = PathBuf::from("/out");
            let joined = out.join(&safe);
            prop_assert!(joined.starts_with(&out));
            prop_assert!(Path::new(&safe).components().all(|c| matches!(c, std::path::Component::Normal(_))), "{safe}");
        }
    }

    #[test]
    fn fuzz_zip_archives(bytes in bytes_or_mutation(zip_sample())) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.zip");
        std::fs::write(&p, &bytes).unwrap();
        if let Ok(found) = enumerate_inputs(&[p], &[]) {
            for item in &found.items {
                prop_assert!(safe_member_name(&item.name).as_deref() == Ok(item.name.as_str()));
                let _ = item.read_bytes();
            }
        }
    }

    #[test]
    fn fuzz_model_metadata(values in prop::collection::vec(prop_oneof![".{0,24}", "-?[0-9]{1,12}", "\\[[0-9., e\"a-z-]{0,24}\\]"], 6)) {
        let keys = ["baiseg.classes", "baiseg.mean", "baiseg.std", "baiseg.size_divisor", "baiseg.input_size", "baiseg.version"];
        let md: BTreeMap<String, String> = keys.iter().map(|k| (*k).to_owned()).zip(values).collect();
        if let Ok(info) = ModelInfo::check(
            Path::new("m.onnx"),
            vec![spec("image", &[-1, 3, -1, -1])],
            vec![spec("boundary", &[-1, 1, -1, -1])],
            md,
        ) {
            prop_assert!((1..=baiseg_rt::model::contract::MAX_SIZE_DIVISOR).contains(&info.size_divisor));
            prop_assert!(info.std.iter().all(|s| *s > 0.0));
        }
    }
}
