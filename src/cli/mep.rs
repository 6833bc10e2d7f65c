//! `baiseg-rt mep`: the Mask Extraction Pipeline alone, on saved maps (docs/mep.md).
//!
//! Single image: `--image IMG --boundary B.(npy|png) (--semantic P.npy | --labels L.png) --out DIR`
//! writes `DIR/labels.png` (u16 instance ids) and `DIR/instances.json` (COCO results), and with
//! `--save overlay` `DIR/overlay.png`. Batch: `--cases DIR` processes every subfolder of DIR holding
//! `image.png`, `boundary.(npy|png)` and `semantic.npy` or `labels.png` (the layout of
//! `fixtures/mep/`), in parallel, into `OUT/<case>/`.
//!
//! `--timing-json FILE` writes the in-process MEP times (file I/O excluded) per image and per
//! stage, for `benches/compare_mep.py`:
//! `{"threads", "repeat", "params", "images": [{"case", "height", "width", "instances",
//! "mep_ms", "stages_ms": {stage: ms}, "runs_ms": [...]}], "mep_ms", "stages_ms", "mep_wall_ms",
//! "wall_ms"}`; with `--repeat N` each image is run N times in memory and the median run is
//! reported (`runs_ms` lists all). `mep_wall_ms` is the wall time of the MEP phases alone (all
//! images, in parallel in batch mode); `load_wall_ms` and `write_wall_ms` those of the reading and
//! writing phases, and `io_ms` (per image and summed) the time of each file read and write:
//! `read_image`, `read_boundary`, `read_semantic`, `paint` (the label map), `labels_png`,
//! `instances_json` (docs/mep-performance.md#process).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use baiseg_rt::instances::{Instance, paint_label_map};
use baiseg_rt::mep::improved::ImprovedParams;
use baiseg_rt::mep::io::NpyArray;
use baiseg_rt::mep::{self, Mep, MepInput, MepMode, MepParams, Semantic, StageTimes, io};
use baiseg_rt::output::overlay::{OverlayOptions, render_overlay};
use baiseg_rt::output::{png, write_bytes_atomic};
use clap::{Args, ValueEnum};
use ndarray::{Array2, Array3, Ix2, Ix3};
use rayon::prelude::*;
use serde_json::{Value, json};

use super::{EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, GlobalOpts};

/// Every [`MepParams`] field as a flag (defaults: docs/mep.md#parameters); `infer` flattens the same struct.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "MEP options")]
pub struct MepFlags {
    /// NMS sampling radius r (pixels along the edge normal).
    #[arg(long, value_name = "R", default_value_t = MepParams::default().nms_radius)]
    pub nms_radius: usize,
    /// NMS margin m: a pixel is suppressed when a sample exceeds m * B(p).
    #[arg(long, value_name = "M", default_value_t = MepParams::default().nms_margin)]
    pub nms_margin: f64,
    /// Threshold `t_e` on the thinned boundary.
    #[arg(long, value_name = "T", default_value_t = MepParams::default().edge_threshold)]
    pub edge_threshold: f32,
    /// Number of 3x3 dilations of the thinned boundary.
    #[arg(long, value_name = "N", default_value_t = MepParams::default().dilate_iterations)]
    pub dilate_iterations: usize,
    /// Seed distance threshold `t_d` in pixels (seeds are dist > `t_d`).
    #[arg(long, value_name = "PX", default_value_t = MepParams::default().seed_distance)]
    pub seed_distance: f64,
    /// Size of the elliptical closing kernel (5 = `OpenCV`'s 5x5 `MORPH_ELLIPSE`; 0 or 1: none).
    #[arg(long, value_name = "K", default_value_t = MepParams::default().closing_kernel)]
    pub closing_kernel: usize,
    /// Instances with fewer pixels are dropped.
    #[arg(long, value_name = "PIXELS", default_value_t = MepParams::default().min_area)]
    pub min_area: u64,
    /// Which MEP: paper (docs/mep.md, exact) or improved (docs/mep-improved.md; the flags
    /// above except --min-area apply to paper only, the --improved-* flags to improved only).
    #[arg(long = "mep", value_name = "MODE", default_value_t = MepParams::default().mode)]
    pub mode: MepMode,
    #[command(flatten)]
    pub improved: ImprovedFlags,
}

/// Parameters of `--mep improved` (docs/mep-improved.md#parameters).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Improved MEP options")]
#[allow(
    clippy::struct_field_names,
    reason = "the fields are the `--improved-*` flags, named as the CLI names them"
)]
pub struct ImprovedFlags {
    /// Hysteresis low threshold on the boundary map.
    #[arg(long, value_name = "T", default_value_t = ImprovedParams::default().edge_low)]
    pub improved_edge_low: f32,
    /// Hysteresis high threshold on the boundary map.
    #[arg(long, value_name = "T", default_value_t = ImprovedParams::default().edge_high)]
    pub improved_edge_high: f32,
    /// Distance levels (px) of the nested seeds, comma-separated.
    #[arg(long, value_name = "PX,...", value_delimiter = ',', default_values_t = ImprovedParams::default().seed_levels)]
    pub improved_seed_levels: Vec<f64>,
    /// Same-class neighbours whose common border has a mean boundary below this are merged.
    #[arg(long, value_name = "T", default_value_t = ImprovedParams::default().merge_threshold)]
    pub improved_merge: f32,
    /// Unreached foreground components under this many pixels get no instance.
    #[arg(long, value_name = "PIXELS", default_value_t = ImprovedParams::default().min_leftover)]
    pub improved_min_leftover: u64,
    /// Elliptical closing kernel of the refinement (0: none).
    #[arg(long, value_name = "K", default_value_t = ImprovedParams::default().closing_kernel)]
    pub improved_closing: usize,
    /// Weight of the region's border strength in its score (0: the paper's score).
    #[arg(long, value_name = "W", default_value_t = ImprovedParams::default().border_score_weight)]
    pub improved_border_score: f64,
    /// Size prior of the score: score * area / (area + A) (0: none).
    #[arg(long, value_name = "A", default_value_t = ImprovedParams::default().area_score)]
    pub improved_area_score: f64,
}

impl Default for ImprovedFlags {
    fn default() -> Self {
        let p = ImprovedParams::default();
        Self {
            improved_edge_low: p.edge_low,
            improved_edge_high: p.edge_high,
            improved_seed_levels: p.seed_levels,
            improved_merge: p.merge_threshold,
            improved_min_leftover: p.min_leftover,
            improved_closing: p.closing_kernel,
            improved_border_score: p.border_score_weight,
            improved_area_score: p.area_score,
        }
    }
}

impl ImprovedFlags {
    /// The library parameters.
    #[must_use]
    pub fn to_params(&self) -> ImprovedParams {
        ImprovedParams {
            edge_low: self.improved_edge_low,
            edge_high: self.improved_edge_high,
            seed_levels: self.improved_seed_levels.clone(),
            merge_threshold: self.improved_merge,
            min_leftover: self.improved_min_leftover,
            closing_kernel: self.improved_closing,
            border_score_weight: self.improved_border_score,
            area_score: self.improved_area_score,
        }
    }
}

impl Default for MepFlags {
    fn default() -> Self {
        let p = MepParams::default();
        Self {
            nms_radius: p.nms_radius,
            nms_margin: p.nms_margin,
            edge_threshold: p.edge_threshold,
            dilate_iterations: p.dilate_iterations,
            seed_distance: p.seed_distance,
            closing_kernel: p.closing_kernel,
            min_area: p.min_area,
            mode: p.mode,
            improved: ImprovedFlags::default(),
        }
    }
}

impl MepFlags {
    /// The library parameters.
    #[must_use]
    pub fn to_params(&self) -> MepParams {
        MepParams {
            nms_radius: self.nms_radius,
            nms_margin: self.nms_margin,
            edge_threshold: self.edge_threshold,
            dilate_iterations: self.dilate_iterations,
            seed_distance: self.seed_distance,
            closing_kernel: self.closing_kernel,
            min_area: self.min_area,
            mode: self.mode,
            improved: self.improved.to_params(),
        }
    }

    /// Checks values the library would accept but that make no sense.
    ///
    /// # Errors
    /// A message naming the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.nms_margin.is_finite() {
            bail!("--nms-margin must be a finite number, got {}", self.nms_margin);
        }
        if !self.edge_threshold.is_finite() {
            bail!(
                "--edge-threshold must be a finite number, got {}",
                self.edge_threshold
            );
        }
        if self.seed_distance.is_nan() {
            bail!("--seed-distance must be a number");
        }
        // The library names the parameter in words; the usage error names the flag too.
        self.to_params()
            .check()
            .map_err(|e| anyhow::anyhow!(super::hints::error_text(&e)))?;
        self.improved
            .to_params()
            .validate()
            .context("--improved-* flags")?;
        Ok(())
    }
}

/// Extra outputs of `mep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveKind {
    /// `overlay.png`: the image with coloured masks.
    Overlay,
    /// The intermediate maps: `thin.png`, `dilated.png`, `seeds.png` (0/255), `markers.npy`,
    /// `watershed.npy` (i32).
    Stages,
}

/// Arguments of `mep`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  baiseg-rt mep --image image.png --boundary boundary.npy --semantic semantic.npy --out case1
  baiseg-rt mep --cases fixtures/mep --out mep-out --save overlay")]
pub struct MepArgs {
    /// RGB image (PNG, JPEG, ...).
    #[arg(
        long,
        value_name = "IMG",
        required_unless_present = "cases",
        requires = "boundary"
    )]
    pub image: Option<PathBuf>,
    /// Boundary map: float32 .npy [H, W] in [0, 1], or a grey PNG (scaled to [0, 1]).
    #[arg(long, value_name = "B.npy|B.png", requires = "image")]
    pub boundary: Option<PathBuf>,
    /// Class probabilities: float32 .npy [K+1, H, W], channel 0 = background.
    #[arg(long, value_name = "P.npy", conflicts_with = "labels", requires = "image")]
    pub semantic: Option<PathBuf>,
    /// Class-id map: 8/16-bit grey PNG, 0 = background, 255 = ignore.
    #[arg(long, value_name = "L.png", requires = "image")]
    pub labels: Option<PathBuf>,
    /// Batch mode: every subfolder of DIR with image.png, boundary.(npy|png) and semantic.npy or
    /// labels.png; outputs go to OUT/<case>/.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["image", "boundary", "semantic", "labels"])]
    pub cases: Option<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Extra outputs, comma-separated.
    #[arg(long, value_name = "WHAT", value_delimiter = ',', value_enum)]
    pub save: Vec<SaveKind>,
    /// Write in-process MEP timings (per image, per stage; I/O excluded) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub timing_json: Option<PathBuf>,
    /// Run the MEP N times per image (in memory) and report the median run's times.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// COCO `image_id` of the single image (batch mode: 1, 2, ... in case-name order).
    #[arg(long, value_name = "ID", default_value_t = 1)]
    pub image_id: u64,
    #[command(flatten)]
    pub flags: MepFlags,
}

/// Input files of one image.
#[derive(Debug, Clone)]
struct CaseFiles {
    name: String,
    image: PathBuf,
    boundary: PathBuf,
    semantic: SemanticFile,
    out: PathBuf,
    image_id: u64,
}

#[derive(Debug, Clone)]
enum SemanticFile {
    Probabilities(PathBuf),
    Labels(PathBuf),
}

/// Loaded inputs of one image.
struct Loaded {
    image: Array3<u8>,
    boundary: NpyArray<f32, Ix2>,
    semantic: LoadedSemantic,
    /// Time spent reading the three files.
    io: IoTimes,
}

/// Wall time of each file read and write of one image (`--timing-json` `"io_ms"`).
#[derive(Debug, Clone, Copy, Default)]
struct IoTimes {
    read_image: Duration,
    read_boundary: Duration,
    read_semantic: Duration,
    paint: Duration,
    labels_png: Duration,
    instances_json: Duration,
}

impl IoTimes {
    fn fields(&self) -> [(&'static str, Duration); 6] {
        [
            ("read_image", self.read_image),
            ("read_boundary", self.read_boundary),
            ("read_semantic", self.read_semantic),
            ("paint", self.paint),
            ("labels_png", self.labels_png),
            ("instances_json", self.instances_json),
        ]
    }

    fn add(&mut self, o: &Self) {
        self.read_image += o.read_image;
        self.read_boundary += o.read_boundary;
        self.read_semantic += o.read_semantic;
        self.paint += o.paint;
        self.labels_png += o.labels_png;
        self.instances_json += o.instances_json;
    }

    fn json(&self) -> Value {
        Value::Object(
            self.fields()
                .iter()
                .map(|(n, d)| ((*n).to_string(), json!(ms(*d))))
                .collect(),
        )
    }
}

enum LoadedSemantic {
    Probabilities(NpyArray<f32, Ix3>),
    Labels(Array2<u16>),
}

impl Loaded {
    fn input(&self) -> MepInput<'_> {
        let semantic = match &self.semantic {
            LoadedSemantic::Probabilities(p) => Semantic::Probabilities(p.view()),
            LoadedSemantic::Labels(l) => Semantic::Labels(l.view()),
        };
        MepInput {
            image: self.image.view(),
            boundary: self.boundary.view(),
            semantic,
        }
    }
}

/// Result of one image.
struct Done {
    name: String,
    height: usize,
    width: usize,
    instances: usize,
    times: StageTimes,
    runs: Vec<Duration>,
    io: IoTimes,
}

fn load(case: &CaseFiles) -> anyhow::Result<Loaded> {
    let mut t = IoTimes::default();
    let start = Instant::now();
    let image = io::read_rgb(&case.image)?;
    t.read_image = start.elapsed();
    let start = Instant::now();
    let boundary = io::load_boundary(&case.boundary)?;
    t.read_boundary = start.elapsed();
    let start = Instant::now();
    let (h, w, _) = image.dim();
    let size_err = |file: &Path, (fh, fw): (usize, usize)| {
        anyhow::anyhow!(
            "{}: size {fh}x{fw} (HxW) differs from the image's {h}x{w} ({})",
            file.display(),
            case.image.display()
        )
    };
    if boundary.view().dim() != (h, w) {
        return Err(size_err(&case.boundary, boundary.view().dim()));
    }
    let semantic = match &case.semantic {
        SemanticFile::Probabilities(p) => {
            let a = io::load_probabilities(p)?;
            let (_, sh, sw) = a.view().dim();
            if (sh, sw) != (h, w) {
                return Err(size_err(p, (sh, sw)));
            }
            LoadedSemantic::Probabilities(a)
        }
        SemanticFile::Labels(p) => {
            let a = io::read_labels(p)?;
            if a.dim() != (h, w) {
                return Err(size_err(p, a.dim()));
            }
            LoadedSemantic::Labels(a)
        }
    };
    t.read_semantic = start.elapsed();
    Ok(Loaded {
        image,
        boundary,
        semantic,
        io: t,
    })
}

/// Runs the MEP `repeat` times; returns the instances, the median run's stage times, all runs.
fn run_timed(
    mep: &mut Mep,
    loaded: &Loaded,
    repeat: u32,
) -> baiseg_rt::Result<(Vec<Instance>, StageTimes, Vec<Duration>)> {
    let input = loaded.input();
    let mut runs = Vec::new();
    let mut all = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..repeat {
        instances = mep.run(&input)?;
        let t = mep.last_times();
        runs.push(t.total());
        all.push(t);
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by_key(|&i| all[i].total());
    let median = all[order[order.len() / 2]];
    Ok((instances, median, runs))
}

/// One record of `mep`'s `instances.json`. The fields are in the order the file has always had
/// (the keys sorted, as the `serde_json::Value` maps it was built from before sorted them), so
/// the bytes are unchanged.
#[derive(serde::Serialize)]
struct CocoRecord {
    area: u64,
    bbox: [f64; 4],
    category_id: u32,
    image_id: u64,
    score: f64,
    segmentation: CocoRle,
}

/// The `segmentation` of a [`CocoRecord`] (keys sorted, as before).
#[derive(serde::Serialize)]
struct CocoRle {
    counts: String,
    size: [u32; 2],
}

fn coco_records(instances: &[Instance], image_id: u64) -> Vec<CocoRecord> {
    instances
        .iter()
        .map(|inst| {
            let enc = inst.mask.encode();
            CocoRecord {
                area: enc.area,
                bbox: enc.bbox,
                category_id: inst.category,
                image_id,
                score: inst.score,
                segmentation: CocoRle {
                    counts: enc.rle.to_compressed_string(),
                    size: [enc.rle.height, enc.rle.width],
                },
            }
        })
        .collect()
}

fn write_outputs(
    case: &CaseFiles,
    loaded: &Loaded,
    instances: &[Instance],
    save: &[SaveKind],
    mep: &mut Mep,
) -> anyhow::Result<IoTimes> {
    let mut t = loaded.io;
    std::fs::create_dir_all(&case.out).with_context(|| format!("{}: cannot create", case.out.display()))?;
    let (h, w) = loaded.boundary.view().dim();
    let hu = u32::try_from(h).context("image too large")?;
    let wu = u32::try_from(w).context("image too large")?;
    let start = Instant::now();
    let labels = paint_label_map(instances, hu, wu);
    t.paint = start.elapsed();
    let start = Instant::now();
    write_label_png_fast(&case.out.join("labels.png"), labels.view())?;
    t.labels_png = start.elapsed();
    let start = Instant::now();
    let json = serde_json::to_vec_pretty(&coco_records(instances, case.image_id))?;
    write_bytes_atomic(&case.out.join("instances.json"), &json)?;
    t.instances_json = start.elapsed();
    if save.contains(&SaveKind::Overlay) {
        let (rgb, _) = loaded
            .image
            .as_standard_layout()
            .into_owned()
            .into_raw_vec_and_offset();
        let image = image::RgbImage::from_raw(wu, hu, rgb).context("image buffer")?;
        let picture = render_overlay(&image, instances, &[], &OverlayOptions::default());
        png::write_rgb_png(&case.out.join("overlay.png"), &picture)?;
    }
    if save.contains(&SaveKind::Stages) {
        let (_, maps) = mep.run_with_stages(&loaded.input())?;
        let to255 = |a: &Array2<u8>| a.mapv(|v| if v != 0 { 255u8 } else { 0 });
        png::write_gray_png(&case.out.join("thin.png"), to255(&maps.thin).view())?;
        png::write_gray_png(&case.out.join("dilated.png"), to255(&maps.dilated).view())?;
        png::write_gray_png(&case.out.join("seeds.png"), to255(&maps.seeds).view())?;
        for (name, arr) in [("markers.npy", &maps.markers), ("watershed.npy", &maps.watershed)] {
            let mut buf = Vec::new();
            ndarray_npy::WriteNpyExt::write_npy(arr, &mut buf).with_context(|| name.to_string())?;
            write_bytes_atomic(&case.out.join(name), &buf)?;
        }
    }
    Ok(t)
}

/// `labels.png` as a 16-bit grey PNG with one fixed filter (`Up`: a label map is mostly equal to
/// the row above) and the fast deflate: the adaptive filter choice of the shared encoder tries
/// five filters per row. The pixels are those of `png::write_label_png`; the bytes differ
/// (docs/mep-performance.md#process).
fn write_label_png_fast(path: &Path, labels: ndarray::ArrayView2<'_, u16>) -> anyhow::Result<()> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let (h, w) = labels.dim();
    let mut samples = Vec::with_capacity(2 * h * w);
    for v in labels {
        samples.extend_from_slice(&v.to_ne_bytes());
    }
    let mut encoded = Vec::with_capacity(h * w / 4 + 1024);
    PngEncoder::new_with_quality(&mut encoded, CompressionType::Fast, FilterType::Up)
        .write_image(
            &samples,
            u32::try_from(w).context("image too large")?,
            u32::try_from(h).context("image too large")?,
            image::ExtendedColorType::L16,
        )
        .with_context(|| format!("{}: PNG encoding", path.display()))?;
    write_bytes_atomic(path, &encoded)?;
    Ok(())
}

/// One case through the three phases (load, MEP, write); errors carry the case name.
type CaseResult<T> = Result<T, (String, anyhow::Error)>;

/// A case after the MEP phase: its files, inputs, instances and timings.
type Ran = (CaseFiles, Loaded, Vec<Instance>, Done);

fn mep_phase(
    case: &CaseFiles,
    loaded: &Loaded,
    mep: &mut Mep,
    repeat: u32,
) -> CaseResult<(Vec<Instance>, Done)> {
    let (instances, times, runs) = run_timed(mep, loaded, repeat).map_err(|e| {
        (
            case.name.clone(),
            anyhow::Error::new(e).context(format!("MEP on {}", case.image.display())),
        )
    })?;
    let (height, width) = loaded.boundary.view().dim();
    let done = Done {
        name: case.name.clone(),
        height,
        width,
        instances: instances.len(),
        times,
        runs,
        io: IoTimes::default(),
    };
    Ok((instances, done))
}

/// Wall time of each phase of [`process_all`], summed over the chunks.
#[derive(Debug, Clone, Copy, Default)]
struct PhaseWalls {
    load: Duration,
    mep: Duration,
    write: Duration,
}

/// Processes `cases` in chunks: parallel load, parallel MEP (timed), parallel write. Returns the
/// results in case order and the wall time of each phase.
fn process_all(
    cases: Vec<CaseResult<CaseFiles>>,
    params: &MepParams,
    args: &MepArgs,
) -> (Vec<CaseResult<Done>>, PhaseWalls) {
    let chunk = (4 * rayon::current_num_threads()).max(8);
    let mut results = Vec::new();
    let mut walls = PhaseWalls::default();
    let mut cases = cases.into_iter().peekable();
    while cases.peek().is_some() {
        let batch: Vec<CaseResult<CaseFiles>> = cases.by_ref().take(chunk).collect();
        let start = Instant::now();
        let loaded: Vec<CaseResult<(CaseFiles, Loaded)>> = batch
            .into_par_iter()
            .map(|c| {
                let c = c?;
                match load(&c) {
                    Ok(l) => Ok((c, l)),
                    Err(e) => Err((c.name.clone(), e)),
                }
            })
            .collect();
        walls.load += start.elapsed();
        let start = Instant::now();
        let ran: Vec<CaseResult<Ran>> = loaded
            .into_par_iter()
            .map_init(
                || Mep::new(params.clone()),
                |mep, r| {
                    let (c, l) = r?;
                    let (inst, done) = mep_phase(&c, &l, mep, args.repeat)?;
                    Ok((c, l, inst, done))
                },
            )
            .collect();
        walls.mep += start.elapsed();
        let start = Instant::now();
        let written: Vec<CaseResult<Done>> = ran
            .into_par_iter()
            .map_init(
                || Mep::new(params.clone()),
                |mep, r| {
                    let (c, l, inst, mut done) = r?;
                    done.io =
                        write_outputs(&c, &l, &inst, &args.save, mep).map_err(|e| (c.name.clone(), e))?;
                    Ok(done)
                },
            )
            .collect();
        walls.write += start.elapsed();
        results.extend(written);
    }
    (results, walls)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stages_json(t: &StageTimes) -> Value {
    Value::Object(t.iter().map(|(n, d)| (n.to_string(), json!(ms(d)))).collect())
}

fn find_one(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The cases of a batch folder, sorted by name; folders without the inputs are errors.
fn list_cases(dir: &Path, out: &Path) -> anyhow::Result<Vec<Result<CaseFiles, (String, anyhow::Error)>>> {
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the cases folder", dir.display()))?
        .filter_map(std::result::Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, (name, path))| {
            let image = find_one(&path, &["image.png"]);
            let boundary = find_one(&path, &["boundary.npy", "boundary.png"]);
            let semantic = find_one(&path, &["semantic.npy"])
                .map(SemanticFile::Probabilities)
                .or_else(|| find_one(&path, &["labels.png"]).map(SemanticFile::Labels));
            match (image, boundary, semantic) {
                (Some(image), Some(boundary), Some(semantic)) => Ok(CaseFiles {
                    out: out.join(&name),
                    name,
                    image,
                    boundary,
                    semantic,
                    image_id: i as u64 + 1,
                }),
                _ => Err((
                    name,
                    anyhow::anyhow!(
                        "{}: needs image.png, boundary.npy|png and semantic.npy|labels.png",
                        path.display()
                    ),
                )),
            }
        })
        .collect())
}

/// `--timing-json`: the in-process MEP times per image and in total, with the parameters as
/// [`MepParams`] serialises them.
fn write_timing(
    path: &Path,
    repeat: u32,
    params: &MepParams,
    done: &[Done],
    walls: PhaseWalls,
    wall: Duration,
) -> anyhow::Result<()> {
    let mut total = StageTimes::default();
    let mut io = IoTimes::default();
    for d in done {
        for (acc, t) in total.0.iter_mut().zip(d.times.0) {
            *acc += t;
        }
        io.add(&d.io);
    }
    let report = json!({
        "threads": rayon::current_num_threads(),
        "repeat": repeat,
        "params": params,
        "stages": mep::STAGES,
        "images": done.iter().map(|d| json!({
            "case": d.name, "height": d.height, "width": d.width, "instances": d.instances,
            "mep_ms": ms(d.times.total()), "stages_ms": stages_json(&d.times),
            "runs_ms": d.runs.iter().map(|&r| ms(r)).collect::<Vec<_>>(),
            "io_ms": d.io.json(),
        })).collect::<Vec<_>>(),
        "mep_ms": ms(total.total()),
        "stages_ms": stages_json(&total),
        "io_ms": io.json(),
        "load_wall_ms": ms(walls.load),
        "mep_wall_ms": ms(walls.mep),
        "write_wall_ms": ms(walls.write),
        "wall_ms": ms(wall),
    });
    write_bytes_atomic(path, &serde_json::to_vec_pretty(&report)?)?;
    Ok(())
}

/// Runs `mep`.
pub fn run(args: &MepArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    args.flags.validate().map_err(super::usage)?;
    let params = args.flags.to_params();
    let wall = Instant::now();
    let cases = if let Some(dir) = &args.cases {
        let cases = list_cases(dir, &args.out)?;
        if cases.is_empty() {
            bail!("{}: no case folders", dir.display());
        }
        cases
    } else {
        let (Some(image), Some(boundary)) = (&args.image, &args.boundary) else {
            bail!("give --image and --boundary, or --cases");
        };
        let semantic = match (&args.semantic, &args.labels) {
            (Some(p), None) => SemanticFile::Probabilities(p.clone()),
            (None, Some(l)) => SemanticFile::Labels(l.clone()),
            _ => bail!("give exactly one of --semantic P.npy and --labels L.png"),
        };
        let name = image
            .file_stem()
            .map_or_else(|| "image".to_string(), |s| s.to_string_lossy().into_owned());
        vec![Ok(CaseFiles {
            name,
            image: image.clone(),
            boundary: boundary.clone(),
            semantic,
            out: args.out.clone(),
            image_id: args.image_id,
        })]
    };
    let single = args.cases.is_none();
    let (results, walls) = process_all(cases, &params, args);
    let mut failed = 0usize;
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(d) => done.push(d),
            // One image: its error is the command's error.
            Err((_, e)) if single => return Err(e),
            Err((name, e)) => {
                failed += 1;
                eprintln!("error: {name}: {e:#}");
            }
        }
    }
    if let Some(path) = &args.timing_json {
        write_timing(path, args.repeat, &params, &done, walls, wall.elapsed())?;
    }
    if !global.quiet {
        let n: usize = done.iter().map(|d| d.instances).sum();
        eprintln!(
            "mep: {} image(s), {n} instance(s), MEP {:.1} ms in total, {} failed",
            done.len(),
            done.iter().map(|d| ms(d.times.total())).sum::<f64>(),
            failed
        );
    }
    Ok(match (done.is_empty(), failed) {
        (true, _) => EXIT_FATAL,
        (false, 0) => EXIT_OK,
        (false, _) => EXIT_PARTIAL,
    })
}
