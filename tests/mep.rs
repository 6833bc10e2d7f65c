//! Integration tests of the Mask Extraction Pipeline (issue 7): parity with the Python reference
//! fixtures under `fixtures/mep/`, insta snapshots of every case, and the `mep` command line.
use std::path::{Path, PathBuf};

use baiseg_rt::mep::{MepInput, Semantic, io};
use ndarray::{Array2, Array3};

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

/// Semantic input of a case.
enum Sem {
    Probs(Array3<f32>),
    Labels(Array2<u16>),
}

/// The inputs of one fixture case.
struct Case {
    dir: PathBuf,
    image: Array3<u8>,
    boundary: Array2<f32>,
    semantic: Sem,
}

impl Case {
    fn load(name: &str) -> Self {
        let dir = fixtures().join(name);
        let image = io::read_rgb(&dir.join("image.png")).expect("image.png");
        let boundary = io::read_boundary(&dir.join("boundary.npy")).expect("boundary.npy");
        let semantic = if dir.join("semantic.npy").is_file() {
            Sem::Probs(io::read_probabilities(&dir.join("semantic.npy")).expect("semantic.npy"))
        } else {
            Sem::Labels(io::read_labels(&dir.join("labels.png")).expect("labels.png"))
        };
        Self {
            dir,
            image,
            boundary,
            semantic,
        }
    }

    fn input(&self) -> MepInput<'_> {
        let semantic = match &self.semantic {
            Sem::Probs(p) => Semantic::Probabilities(p.view()),
            Sem::Labels(l) => Semantic::Labels(l.view()),
        };
        MepInput {
            image: self.image.view(),
            boundary: self.boundary.view(),
            semantic,
        }
    }
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
