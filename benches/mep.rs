//! Criterion benches of the Mask Extraction Pipeline (docs/mep.md): every stage and the whole MEP,
//! single-threaded, at 512x512 / 25 objects, 1024x1024 / 100 and 2048x1024 / 200 (1024 rows x
//! 2048 columns), plus a batch of 8 1024x1024 images on 1 and on 2 threads.
//!
//! Inputs are generated here (deterministic xorshift): touching discs with random radii, a
//! 3-class semantic map with noisy probabilities, a boundary map made of the instance contours,
//! Gaussian-blurred (sigma 1) and noisy, and an RGB image with a colour per object plus noise.
//!
//! `cargo bench --bench mep` (all), `cargo bench --bench mep -- 1024x1024` (one size; 2048x2048
//! and 4096x4096 only when named), `whole_2t`: one image on two threads,
//! `cargo bench --bench mep -- batch8` (parallel speedup). With `MEP_BENCH_CPU=1` the stage
//! benches measure process CPU time instead of wall time (robust on a shared, loaded machine;
//! the single-threaded benches use one worker, so CPU time = that worker's time); the batch bench
//! always measures wall time.
use std::hint::black_box;
use std::time::Duration;

use baiseg_rt::mep::{Mep, MepInput, MepParams, Semantic, dilate, distance, label, nms, refine, watershed};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion};
use ndarray::{Array2, Array3};
use rayon::ThreadPool;

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A generated MEP input.
struct Synthetic {
    image: Array3<u8>,
    boundary: Array2<f32>,
    probs: Array3<f32>,
}

impl Synthetic {
    fn input(&self) -> MepInput<'_> {
        MepInput {
            image: self.image.view(),
            boundary: self.boundary.view(),
            semantic: Semantic::Probabilities(self.probs.view()),
        }
    }
}

/// `n` touching discs in an `h x w` image (about 60% coverage), 3 classes.
fn synthetic(h: usize, w: usize, n: usize, seed: u64) -> Synthetic {
    const K: usize = 3;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mean_r = ((0.6 * (h * w) as f64) / (n as f64 * std::f64::consts::PI)).sqrt();
    let mut ids = Array2::<u32>::zeros((h, w));
    let mut best = Array2::<f32>::from_elem((h, w), f32::INFINITY);
    let mut classes = vec![0usize; n + 1];
    let mut colours = vec![[0u8; 3]; n + 1];
    for i in 1..=n {
        let cy = rng.unit() * h as f64;
        let cx = rng.unit() * w as f64;
        let r = mean_r * (0.7 + 0.6 * rng.unit());
        classes[i] = 1 + (rng.next() % K as u64) as usize;
        colours[i] = [
            (rng.next() % 256) as u8,
            (rng.next() % 256) as u8,
            (rng.next() % 256) as u8,
        ];
        let (y0, y1) = ((cy - r).max(0.0) as usize, ((cy + r) as usize + 1).min(h));
        let (x0, x1) = ((cx - r).max(0.0) as usize, ((cx + r) as usize + 1).min(w));
        for y in y0..y1 {
            for x in x0..x1 {
                let d = (((y as f64 - cy).powi(2) + (x as f64 - cx).powi(2)).sqrt() / r) as f32;
                if d <= 1.0 && d < best[[y, x]] {
                    best[[y, x]] = d;
                    ids[[y, x]] = i as u32;
                }
            }
        }
    }
    let boundary = blurred_contours(&ids, &mut rng);
    let image = Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
        let base = if ids[[y, x]] == 0 {
            90
        } else {
            colours[ids[[y, x]] as usize][c]
        };
        (i32::from(base) + (rng.next() % 21) as i32 - 10).clamp(0, 255) as u8
    });
    let probs = probabilities(&ids, &classes, K, &mut rng);
    Synthetic {
        image,
        boundary,
        probs,
    }
}

/// The instances' contours (both sides), blurred with a Gaussian of sigma 1, scaled to peak near
/// 1, with noise: a boundary map like the network's.
fn blurred_contours(ids: &Array2<u32>, rng: &mut Rng) -> Array2<f32> {
    let (h, w) = ids.dim();
    let contour = Array2::from_shape_fn((h, w), |(y, x)| {
        let v = ids[[y, x]];
        let mut edge = false;
        for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
            for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                edge |= ids[[yy, xx]] != v;
            }
        }
        f32::from(u8::from(edge))
    });
    let g: Vec<f32> = (-3i32..=3).map(|k| (-(k * k) as f32 / 2.0).exp()).collect();
    let gs: f32 = g.iter().sum();
    let blur = |src: &Array2<f32>, axis: usize| {
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut acc = 0.0;
            for (k, &wk) in g.iter().enumerate() {
                let o = k as isize - 3;
                let (yy, xx) = if axis == 0 {
                    (y as isize + o, x as isize)
                } else {
                    (y as isize, x as isize + o)
                };
                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                    acc += wk * src[[yy as usize, xx as usize]];
                }
            }
            acc / gs
        })
    };
    let blurred = blur(&blur(&contour, 1), 0);
    let peak = 0.45f32;
    blurred.mapv(|v| ((v / peak) + 0.04 * (rng.unit() as f32 - 0.5)).clamp(0.0, 1.0))
}

/// Softmax-like probabilities `[K+1, H, W]`: the instance's class (0 for the background) near 2/3,
/// the others noise.
fn probabilities(ids: &Array2<u32>, classes: &[usize], k: usize, rng: &mut Rng) -> Array3<f32> {
    let (h, w) = ids.dim();
    let mut probs = Array3::<f32>::zeros((k + 1, h, w));
    for y in 0..h {
        for x in 0..w {
            let c = classes[ids[[y, x]] as usize];
            let mut total = 0.0;
            for j in 0..=k {
                let v = if j == c { 2.0 } else { 0.0 } + rng.unit() as f32;
                probs[[j, y, x]] = v;
                total += v;
            }
            for j in 0..=k {
                probs[[j, y, x]] /= total;
            }
        }
    }
    probs
}

fn pool(threads: usize) -> ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn bench_size<M: Measurement>(c: &mut Criterion<M>, h: usize, w: usize, n: usize) {
    let name = format!("mep/{h}x{w}_{n}");
    if !c_wants(&name) {
        return;
    }
    bench_input(c, &name, &synthetic(h, w, n, (h * w + n) as u64));
}

/// Whether the command-line filter (first free argument) can match benches of group `name`
/// (skips generating inputs that would not be used).
fn c_wants(name: &str) -> bool {
    let Some(f) = std::env::args().skip(1).find(|a| !a.starts_with('-')) else {
        return true;
    };
    let id = name.trim_start_matches("mep/");
    let names_a_group = f.contains('x') || f.contains("case_") || f.contains("batch");
    name.contains(&f) || f.contains(id) || !names_a_group
}

/// Loads a case folder in the fixture layout (`image.png`, `boundary.npy`, `semantic.npy`).
fn load_case(dir: &std::path::Path) -> Synthetic {
    let case = baiseg_rt::mep::io::load_case(dir).unwrap_or_else(|e| panic!("{e}"));
    let baiseg_rt::maps::SemanticMap::Probabilities(probs) = case.semantic else {
        panic!("{}: the benches need semantic.npy", dir.display())
    };
    Synthetic {
        image: case.image,
        boundary: case.boundary,
        probs,
    }
}

fn bench_input<M: Measurement>(c: &mut Criterion<M>, name: &str, s: &Synthetic) {
    let p = MepParams::default();
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    bench_stages(&mut group, s, &p);
    let one = pool(1);
    let mut mep = Mep::new(p.clone());
    group.bench_function("whole", |b| {
        b.iter(|| one.install(|| black_box(mep.run(&s.input()).expect("runs"))));
    });
    // One image on two threads (stages split by rows, regions and the class map beside the
    // watershed): compare with `whole` in wall time (without MEP_BENCH_CPU).
    let two = pool(2);
    group.bench_function("whole_2t", |b| {
        b.iter(|| two.install(|| black_box(mep.run(&s.input()).expect("runs"))));
    });
    group.finish();
}

/// One bench per stage function on one thread, each fed the previous stages' output (computed
/// once).
fn bench_stages<M: Measurement>(group: &mut BenchmarkGroup<'_, M>, s: &Synthetic, p: &MepParams) {
    let one = pool(1);
    let (h, w) = s.boundary.dim();
    // Intermediates, computed once.
    let np = nms::NmsParams {
        radius: p.nms_radius,
        margin: p.nms_margin,
        threshold: p.edge_threshold,
    };
    let thin = one.install(|| nms::thin_nms(s.boundary.view(), &np));
    let dilated = one.install(|| dilate::dilate_square(thin.view(), p.dilate_iterations));
    let seeds = one.install(|| distance::seeds(dilated.view(), p.seed_distance));
    let (markers, count) = one.install(|| label::label_8(seeds.view()));
    let ws = one.install(|| watershed::watershed(s.image.view(), markers.view()));

    let mut smooth = Array2::<f64>::zeros((h, w));
    let mut out_u8 = Array2::<u8>::zeros((h, w));
    let mut scratch_u8 = Array2::<u8>::zeros((h, w));
    let mut out_i32 = Array2::<i32>::zeros((h, w));
    let mut parent = Vec::new();
    let mut queues = watershed::WatershedScratch::default();
    let mut classes = Array2::<u16>::zeros((h, w));

    group.bench_function("nms", |b| {
        b.iter(|| {
            one.install(|| nms::thin_nms_into(s.boundary.view(), &np, smooth.view_mut(), out_u8.view_mut()));
        });
    });
    group.bench_function("dilate", |b| {
        b.iter(|| {
            out_u8.assign(&thin);
            one.install(|| {
                dilate::dilate_square_mut(out_u8.view_mut(), p.dilate_iterations, scratch_u8.view_mut());
            });
        });
    });
    group.bench_function("distance", |b| {
        b.iter(|| {
            one.install(|| {
                distance::seeds_into(
                    dilated.view(),
                    p.seed_distance,
                    out_i32.view_mut(),
                    out_u8.view_mut(),
                );
            });
        });
    });
    group.bench_function("distance_edt_f64", |b| {
        b.iter(|| one.install(|| black_box(distance::euclidean_distance(dilated.view()))));
    });
    group.bench_function("label", |b| {
        b.iter(|| {
            one.install(|| black_box(label::label_8_into(seeds.view(), out_i32.view_mut(), &mut parent)))
        });
    });
    group.bench_function("watershed", |b| {
        b.iter_batched_ref(
            || markers.clone(),
            |m| one.install(|| watershed::watershed_mut(s.image.view(), m.view_mut(), &mut queues)),
            BatchSize::LargeInput,
        );
    });
    let rp = refine::RefineParams {
        closing_kernel: p.closing_kernel,
        min_area: p.min_area,
    };
    let sem = Semantic::Probabilities(s.probs.view());
    group.bench_function("class_map", |b| {
        b.iter(|| {
            one.install(|| refine::class_map_into(&sem, classes.view_mut()))
                .expect("no NaN");
        });
    });
    group.bench_function("refine", |b| {
        b.iter(|| one.install(|| black_box(refine::refine(ws.view(), count, &sem, classes.view(), &rp))));
    });
}

fn stages<M: Measurement>(c: &mut Criterion<M>) {
    // MEP_BENCH_CASES=DIR: also bench every case folder of DIR (e.g. the inputs that
    // benches/compare_mep.py generates), to compare with the Python reference on the same data.
    if let Some(dir) = std::env::var_os("MEP_BENCH_CASES") {
        let mut dirs: Vec<_> = std::fs::read_dir(&dir)
            .expect("MEP_BENCH_CASES is a folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("boundary.npy").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            let name = format!(
                "mep/case_{}",
                d.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
            if c_wants(&name) {
                bench_input(c, &name, &load_case(&d));
            }
        }
    }
    bench_size(c, 512, 512, 25);
    bench_size(c, 1024, 1024, 100);
    bench_size(c, 1024, 2048, 200);
    // Large single images for the within-image thread scaling (`-- 2048x2048` / `-- 4096x4096`).
    for (h, w, n) in [(2048, 2048, 400), (4096, 4096, 1600)] {
        let name = format!("mep/{h}x{w}_{n}");
        if std::env::args()
            .skip(1)
            .any(|a| !a.starts_with('-') && name.contains(a.as_str()))
        {
            bench_size(c, h, w, n);
        }
    }
}

/// A batch of 8 1024x1024 images, one runner per worker, on 1 and 2 threads.
fn batch(c: &mut Criterion) {
    if !c_wants("mep/batch8_1024x1024_100") {
        return;
    }
    let inputs: Vec<Synthetic> = (0..8).map(|i| synthetic(1024, 1024, 100, 1000 + i)).collect();
    let mut group = c.benchmark_group("mep/batch8_1024x1024_100");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for threads in [1usize, 2] {
        let pool = pool(threads);
        group.bench_function(format!("threads{threads}"), |b| {
            b.iter(|| {
                pool.install(|| {
                    use rayon::prelude::*;
                    inputs
                        .par_iter()
                        .map_init(
                            || Mep::new(MepParams::default()),
                            |mep, s| mep.run(&s.input()).expect("runs").len(),
                        )
                        .sum::<usize>()
                })
            });
        });
    }
    group.finish();
}

/// Process CPU time (`CLOCK_PROCESS_CPUTIME_ID`), in nanoseconds.
struct CpuTime;

fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    #[allow(unsafe_code, reason = "libc::clock_gettime has no safe wrapper in std")]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        cpu_now()
    }
    fn end(&self, i: Duration) -> Duration {
        cpu_now().saturating_sub(i)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

fn main() {
    if std::env::var_os("MEP_BENCH_CPU").is_some() {
        let mut c = Criterion::default()
            .with_measurement(CpuTime)
            .configure_from_args();
        stages(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        stages(&mut c);
        c.final_summary();
    }
    let mut c = Criterion::default().configure_from_args();
    batch(&mut c);
    c.final_summary();
}
