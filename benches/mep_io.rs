//! Criterion benches of the MEP's input reading (docs/mep-performance.md#npy, #png): `image.png`
//! (`io::read_rgb`, the `image` crate), and the `[K+1, H, W]` `.npy` probabilities viewed in place
//! (`io::load_probabilities`) against a read into an owned array (`io::read_probabilities`, one
//! copy).
//!
//! `cargo bench --bench mep_io`. Inputs: a generated 1024x1024 case (textured RGB written with the
//! fast deflate and adaptive filters, 3-channel probabilities), or with `MEP_IO_BENCH_CASE=DIR`
//! the `image.png` and `semantic.npy` of a case folder (e.g. one written by
//! `benches/compare_mep.py --keep`).
use std::hint::black_box;
use std::path::PathBuf;

use baiseg_rt::mep::io;
use criterion::Criterion;
use image::ImageEncoder as _;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

fn generated(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (h, w) = (1024usize, 1024usize);
    let mut s = 0x9e37_79b9_u32;
    let px: Vec<u8> = (0..h * w * 3)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let (x, y) = ((i / 3) % w, (i / 3) / w);
            (((x / 37 + y / 29) * 40 + i % 3 * 60) as u8).wrapping_add((s % 24) as u8)
        })
        .collect();
    let image = dir.join("image.png");
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive)
        .write_image(&px, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .expect("encode");
    std::fs::write(&image, png).expect("write");
    let probs = ndarray::Array3::from_shape_fn((3, h, w), |(c, y, x)| ((c + x + y) % 7) as f32 / 7.0);
    let semantic = dir.join("semantic.npy");
    ndarray_npy::write_npy(&semantic, &probs).expect("npy");
    (image, semantic)
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (image, semantic) = match std::env::var_os("MEP_IO_BENCH_CASE") {
        Some(d) => {
            let d = PathBuf::from(d);
            (d.join("image.png"), d.join("semantic.npy"))
        }
        None => generated(tmp.path()),
    };
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("mep_io");
    g.sample_size(20);
    g.bench_function("png_read_rgb", |b| {
        b.iter(|| black_box(io::read_rgb(&image).expect("read")));
    });
    g.bench_function("npy_mapped", |b| {
        b.iter(|| black_box(io::load_probabilities(&semantic).expect("read")));
    });
    g.bench_function("npy_owned", |b| {
        b.iter(|| black_box(io::read_probabilities(&semantic).expect("read")));
    });
    g.finish();
    c.final_summary();
}
