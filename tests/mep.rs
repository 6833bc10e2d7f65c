//! Integration tests of the Mask Extraction Pipeline (docs/mep.md): parity with the Python reference
//! fixtures under `fixtures/mep/`, insta snapshots of every case, and the `mep` command line.
use std::path::{Path, PathBuf};

use baiseg_rt::mep::io;
use ndarray::Array2;

mod cli;
mod improved;
mod parity;
mod snapshots;

/// `fixtures/mep/`.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("mep")
}

/// Names of the fixture cases, sorted.
fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures/mep exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("expected.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the reference fixtures, found {names:?}"
    );
    names
}

/// The inputs of one fixture case, loaded with the library's case loader.
struct Case {
    dir: PathBuf,
    maps: io::CaseMaps,
}

impl Case {
    fn load(name: &str) -> Self {
        let dir = fixtures().join(name);
        let maps = io::load_case(&dir).unwrap_or_else(|e| panic!("{e}"));
        Self { dir, maps }
    }
}

impl std::ops::Deref for Case {
    type Target = io::CaseMaps;

    fn deref(&self) -> &io::CaseMaps {
        &self.maps
    }
}

/// The snapshot summary of one case: instance count, per-instance class / area / bbox / score
/// (rounded to 1e-6) and an FNV-1a hash of the painted label map; `mep` names a non-default MEP.
fn summary(
    name: &str,
    mep: Option<&str>,
    instances: &[baiseg_rt::instances::Instance],
    (h, w): (usize, usize),
) -> serde_json::Value {
    let labels = baiseg_rt::instances::paint_label_map(instances, h as u32, w as u32);
    let mut v = serde_json::json!({
        "case": name,
        "size": [h, w],
        "instances": instances.len(),
        "label_map_fnv1a": hash_u16_map(&labels),
        "per_instance": instances.iter().map(|i| {
            let s = i.summary();
            let [x, y, w, h] = s.bbox;
            format!("class {} area {} bbox [{x}, {y}, {w}, {h}] score {:.6}", s.category, s.area, s.score)
        }).collect::<Vec<_>>(),
    });
    if let Some(m) = mep {
        v["mep"] = serde_json::Value::from(m);
    }
    v
}

/// 64-bit FNV-1a, a stable hash for snapshotting label maps.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a of a u16 map: height and width (u64 LE), then the values (u16 LE) in row-major order.
fn hash_u16_map(map: &Array2<u16>) -> String {
    let (h, w) = map.dim();
    let header = (h as u64)
        .to_le_bytes()
        .into_iter()
        .chain((w as u64).to_le_bytes());
    format!(
        "{:016x}",
        fnv1a(header.chain(map.iter().flat_map(|v| v.to_le_bytes())))
    )
}

#[test]
fn fnv1a_known_values() {
    assert_eq!(fnv1a(*b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(*b"foobar"), 0x8594_4171_f739_67e8);
}
