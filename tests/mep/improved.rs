//! `--mep improved` (`docs/mep-improved.md`): insta snapshots on every fixture case,
//! determinism across thread counts, the behaviours it is built for (small objects, broken
//! boundaries, class changes), degenerate inputs without panics, and the `--mep` flag.
use baiseg_rt::instances::Instance;
use baiseg_rt::mep::{MepInput, MepMode, MepParams, Semantic, extract};
use ndarray::{Array2, Array3};

use super::{Case, case_names, fixtures};

fn improved() -> MepParams {
    MepParams {
        mode: MepMode::Improved,
        ..MepParams::default()
    }
}

fn run_labels(boundary: &Array2<f32>, classes: &Array2<u16>, p: &MepParams) -> Vec<Instance> {
    let (h, w) = boundary.dim();
    let image = Array3::<u8>::zeros((h, w, 3));
    let input = MepInput {
        image: image.view(),
        boundary: boundary.view(),
        semantic: Semantic::Labels(classes.view()),
    };
    extract(&input, p).expect("valid input")
}

fn summary(name: &str, instances: &[Instance], dim: (usize, usize)) -> serde_json::Value {
    super::summary(name, Some("improved"), instances, dim)
}

#[test]
fn improved_fixture_summaries() {
    for name in case_names() {
        let case = Case::load(&name);
        let instances = extract(&case.input(), &improved()).expect("improved MEP runs");
        let s = summary(&name, &instances, case.boundary.dim());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(format!("mep_improved_{name}"), s);
        });
    }
}

#[test]
fn improved_is_deterministic_across_thread_counts() {
    for name in ["syn_dense_256x256_s5", "coco_193245_labels", "stardist_256"] {
        let case = Case::load(name);
        let runs: Vec<String> = [1usize, 2, 3]
            .iter()
            .map(|&t| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .expect("pool");
                let inst = pool.install(|| extract(&case.input(), &improved()).expect("runs"));
                summary(name, &inst, case.boundary.dim()).to_string()
            })
            .collect();
        assert!(
            runs.iter().all(|r| r == &runs[0]),
            "{name}: results differ across thread counts"
        );
    }
}

/// A grid of `cell x cell` squares of class 1 separated by one-pixel boundary lines.
fn grid(n: usize, cell: usize) -> (Array2<f32>, Array2<u16>) {
    let side = n * (cell + 1) + 1;
    let b = Array2::from_shape_fn((side, side), |(y, x)| {
        f32::from(u8::from(y % (cell + 1) == 0 || x % (cell + 1) == 0))
    });
    (b, Array2::from_elem((side, side), 1))
}

#[test]
fn small_objects_keep_their_seeds() {
    // 6x6 cells: the paper's two dilations and 3 px distance leave no seed at all.
    let (b, c) = grid(8, 6);
    let paper = run_labels(&b, &c, &MepParams::default());
    let imp = run_labels(&b, &c, &improved());
    assert!(paper.len() < 5, "paper mode: {} instances", paper.len());
    assert_eq!(imp.len(), 64);
    assert!(
        imp.iter()
            .all(|i| i.category == 1 && (36..=64).contains(&i.mask.area()))
    );
}

#[test]
fn weak_and_broken_boundaries_still_separate() {
    // Two 30x30 squares; the lower half of their common edge has strength 0.35 (below the
    // paper's 0.5) and a 2-pixel gap: its mean strength stays above the merge threshold.
    let (h, w) = (32, 63);
    let b = Array2::from_shape_fn((h, w), |(y, x)| {
        if x == 31 && y < 16 {
            0.9f32
        } else if x == 31 && !(22..24).contains(&y) {
            0.35
        } else if y == 0 || y == h - 1 || x == 0 || x == w - 1 {
            0.9
        } else {
            0.0
        }
    });
    let c = Array2::from_elem((h, w), 1u16);
    let imp = run_labels(&b, &c, &improved());
    assert_eq!(
        imp.len(),
        2,
        "{:?}",
        imp.iter().map(|i| i.mask.area()).collect::<Vec<_>>()
    );
    assert!(imp.iter().all(|i| i.mask.area() > 800));
    assert!(run_labels(&b, &c, &MepParams::default()).len() < 2);
}

#[test]
fn class_changes_separate_without_a_boundary() {
    let c = Array2::from_shape_fn((20, 40), |(_, x)| if x < 20 { 1u16 } else { 2 });
    let imp = run_labels(&Array2::zeros((20, 40)), &c, &improved());
    let mut got: Vec<(u32, u64)> = imp.iter().map(|i| (i.category, i.mask.area())).collect();
    got.sort_unstable();
    assert_eq!(got, vec![(1, 400), (2, 400)]);
}

#[test]
fn degenerate_inputs_never_panic() {
    let p = improved();
    for (h, w) in [(0, 0), (0, 5), (1, 1), (1, 9), (9, 1), (2, 2)] {
        let b = Array2::<f32>::from_shape_fn((h, w), |(y, x)| ((y * 7 + x) % 3) as f32 / 2.0);
        let inst = run_labels(&b, &Array2::from_elem((h, w), 1), &p);
        assert!(inst.iter().all(|i| i.mask.area() > 0), "{h}x{w}");
    }
    // One pixel of class 3: one instance (the paper gives none below 3x3).
    let one = run_labels(&Array2::zeros((1, 1)), &Array2::from_elem((1, 1), 3), &p);
    assert_eq!(one.len(), 1);
    // All boundary: one instance per class component (nothing to split it by).
    let all = run_labels(&Array2::ones((16, 16)), &Array2::from_elem((16, 16), 1), &p);
    assert_eq!(all.len(), 1);
    // All background: nothing.
    assert!(run_labels(&Array2::from_elem((8, 8), 0.5), &Array2::zeros((8, 8)), &p).is_empty());
    // NaN: an error, as in paper mode.
    let mut nan = Array2::<f32>::zeros((4, 4));
    nan[[2, 2]] = f32::NAN;
    let image = Array3::<u8>::zeros((4, 4, 3));
    let l = Array2::from_elem((4, 4), 1u16);
    let input = MepInput {
        image: image.view(),
        boundary: nan.view(),
        semantic: Semantic::Labels(l.view()),
    };
    assert!(extract(&input, &p).expect_err("NaN").to_string().contains("NaN"));
    let mut bad = improved();
    bad.improved.seed_levels = vec![f64::NAN];
    let zeros = Array2::<f32>::zeros((4, 4));
    let input = MepInput {
        boundary: zeros.view(),
        ..input
    };
    assert!(extract(&input, &bad).is_err());
}

#[test]
fn cli_mep_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = fixtures().join("coco_193245_labels");
    let run = |mode: &str, out: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_baiseg-rt"))
            .args(["-q", "mep", "--mep", mode, "--image"])
            .arg(c.join("image.png"))
            .arg("--boundary")
            .arg(c.join("boundary.npy"))
            .arg("--labels")
            .arg(c.join("labels.png"))
            .arg("--out")
            .arg(out)
            .output()
            .expect("binary runs")
    };
    let (pa, im) = (dir.path().join("paper"), dir.path().join("improved"));
    assert!(run("paper", &pa).status.success());
    assert!(run("improved", &im).status.success());
    let count = |d: &std::path::Path| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("instances.json")).expect("instances.json"))
                .expect("json");
        v.as_array().map_or(0, Vec::len)
    };
    // Library and binary agree.
    let case = Case::load("coco_193245_labels");
    assert_eq!(
        count(&im),
        extract(&case.input(), &improved()).expect("runs").len()
    );
    assert_eq!(
        count(&pa),
        extract(&case.input(), &MepParams::default()).expect("runs").len()
    );
    let bad = run("bogus", &dir.path().join("x"));
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("paper or improved"), "{err}");
}
