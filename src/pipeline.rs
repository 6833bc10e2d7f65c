//! The `infer` pipeline: inputs -> decode -> batch -> ONNX Runtime -> maps -> MEP -> outputs.
//!
//! Decoding and the MEP run on a rayon pool while the calling thread runs ONNX Runtime on the next
//! batch, so the stages overlap. Channels are bounded, so memory stays flat however many images
//! there are. Every image's outputs are written atomically as soon as it is done, ending with its
//! record file (`records/<name>.json`); a re-run skips images whose record exists (resume), and
//! `instances.json` is assembled from the records at the end.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::ArrayView3;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::input::preprocess::{make_batch, padded_shape};
use crate::input::{DecodeOptions, InputItem, enumerate_inputs};
use crate::instances::Instance;
use crate::maps::{self, Maps};
use crate::mep::{Mep, MepParams};
use crate::model::{Model, RawOutputs, SessionOptions};
use crate::output::coco_json::{self, CocoHeader};
use crate::output::{CategoryMap, ImageRecords, ResultRecord, png};
use crate::timing::{self, StageTime};

/// Which optional per-image outputs to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveSet {
    /// `labels/<name>.png`: u16 instance ids.
    pub labels: bool,
    /// `semantic/<name>.png`: u8 class ids.
    pub semantic: bool,
    /// `boundary/<name>.png`: u8 boundary probability.
    pub boundary: bool,
    /// `overlays/<name>.jpg`: the image with coloured masks.
    pub overlay: bool,
    /// `cvat/annotations/instances_default.json` (COCO 1.0 for CVAT) and `labelme/<name>.json`.
    pub polygons: bool,
}

impl std::str::FromStr for SaveSet {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut set = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "labels" => set.labels = true,
                "semantic" => set.semantic = true,
                "boundary" => set.boundary = true,
                "overlay" | "overlays" => set.overlay = true,
                "polygons" | "polygon" => set.polygons = true,
                "all" => {
                    set = Self {
                        labels: true,
                        semantic: true,
                        boundary: true,
                        overlay: true,
                        polygons: true,
                    }
                }
                "none" => {}
                other => {
                    return Err(format!(
                        "unknown output `{other}` (expected labels, semantic, boundary, overlay, polygons, all, none)"
                    ));
                }
            }
        }
        Ok(set)
    }
}

/// Everything `infer` needs, validated.
#[derive(Debug, Clone)]
pub struct InferConfig {
    /// The ONNX model.
    pub model: PathBuf,
    /// Files, directories and zip archives.
    pub inputs: Vec<PathBuf>,
    /// Output directory.
    pub out_dir: PathBuf,
    /// COCO annotation file giving image and category ids.
    pub coco: Option<PathBuf>,
    /// Directory of external semantic label PNGs (`<name>.png`), for single-branch models.
    pub semantic_dir: Option<PathBuf>,
    /// Execution provider and threads.
    pub session: SessionOptions,
    /// Images per ONNX Runtime call.
    pub batch: usize,
    /// Optional per-image outputs.
    pub save: SaveSet,
    /// Recompute images that are already done.
    pub force: bool,
    /// MEP parameters.
    pub mep: MepParams,
    /// Worker threads for decoding and the MEP (`None`: all cores).
    pub threads: Option<usize>,
    /// Process only shard `k` of `n` (`(k, n)`, `0 <= k < n`): the inputs whose position in the
    /// enumeration is `k` modulo `n`. Image ids stay those of the whole input set.
    pub shard: Option<(usize, usize)>,
    /// Pixel budget per image, checked from the header before decoding
    /// ([`crate::input::check_pixel_budget`]; default [`crate::input::default_max_pixels`]).
    pub max_pixels: u64,
    /// Accept truncated JPEGs (with a warning) instead of skipping them.
    pub allow_truncated: bool,
    /// `--tile SIZE --tile-overlap PX`: images larger than one tile run tile by tile.
    pub tile: Option<crate::tile::TileOptions>,
    /// How `instances.json` stores masks.
    pub mask_format: crate::output::polygons::MaskFormat,
}

/// What happened, reported while the run goes on (for progress bars).
#[derive(Debug)]
pub enum Event<'a> {
    /// Work is planned: `todo` images to process, `already_done` skipped by resume.
    Planned {
        /// Images to process in this run.
        todo: usize,
        /// Images found done by an earlier run.
        already_done: usize,
    },
    /// One image finished.
    ImageDone {
        /// Its name.
        name: &'a str,
        /// Instances found.
        instances: usize,
    },
    /// One image was skipped because of an error.
    ImageFailed {
        /// Its name.
        name: &'a str,
        /// Why.
        error: &'a Error,
    },
}

/// The end-of-run report.
#[derive(Debug, Clone)]
pub struct InferSummary {
    /// Images found in the inputs (in this shard, with `--shard`).
    pub total: usize,
    /// Images processed in this run.
    pub processed: usize,
    /// Images skipped because an earlier run finished them.
    pub resumed: usize,
    /// Images skipped because of an error: `(path, reason)`.
    pub failed: Vec<(String, String)>,
    /// Instances found in this run.
    pub instances: u64,
    /// Wall-clock time of the processing loop.
    pub wall: Duration,
    /// Time the calling thread spent inside ONNX Runtime.
    pub ort_time: Duration,
    /// Per-stage totals (summed over threads).
    pub stages: Vec<StageTime>,
    /// The execution provider used.
    pub device: String,
    /// `instances.json`, when written.
    pub results_path: Option<PathBuf>,
    /// Records in `instances.json`.
    pub results_written: usize,
}

impl InferSummary {
    /// Share of the wall time not spent inside ONNX Runtime.
    #[must_use]
    pub fn outside_ort_share(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall <= 0.0 {
            0.0
        } else {
            (1.0 - self.ort_time.as_secs_f64() / wall).max(0.0)
        }
    }
}

/// Paths of the per-image outputs of one input.
fn output_paths(out: &Path, item: &InputItem) -> [PathBuf; 5] {
    let stem = item.stem();
    [
        out.join("records").join(format!("{stem}.json")),
        out.join("labels").join(format!("{stem}.png")),
        out.join("semantic").join(format!("{stem}.png")),
        out.join("boundary").join(format!("{stem}.png")),
        out.join("overlays").join(format!("{stem}.jpg")),
    ]
}

fn is_done(out: &Path, item: &InputItem, save: SaveSet) -> bool {
    let [record, labels, semantic, boundary, overlay] = output_paths(out, item);
    record.is_file()
        && (!save.labels || labels.is_file())
        && (!save.semantic || semantic.is_file())
        && (!save.boundary || boundary.is_file())
        && (!save.overlay || overlay.is_file())
}

struct Shared {
    out: PathBuf,
    save: SaveSet,
    mep: MepParams,
    meps: MepPool,
    classes: Vec<String>,
    semantic_dir: Option<PathBuf>,
    write_outputs: bool,
}

/// Sees every finished image with the model's class names (one-pass evaluation, bindings).
pub type ImageCallback<'a> = dyn FnMut(&InputItem, &ImageRecords, &[Instance], &[String]) + 'a;

/// Receives finished images on the coordinating thread.
type OutcomeHandler<'a> = dyn FnMut(Outcome, &mut Vec<(String, String)>) + 'a;

struct Outcome {
    index: usize,
    result: Result<(ImageRecords, Vec<Instance>)>,
}

/// MEP runners (scratch buffers) shared by the worker threads: each image checks one out and
/// returns it. No thread-local state: a MEP stage's own rayon loop may run another image's job on
/// the same thread (work stealing), and that job then simply checks out another runner
/// (see docs/reliability.md#mep-runner-pool).
#[derive(Debug, Default)]
pub struct MepPool {
    idle: std::sync::Mutex<Vec<Mep>>,
}

impl MepPool {
    /// Runs the MEP with a runner taken from the pool (a new one when none is idle or the idle
    /// ones have other parameters), then puts the runner back.
    ///
    /// # Errors
    /// As [`Mep::run`].
    pub fn run(&self, params: &MepParams, input: &crate::mep::MepInput<'_>) -> Result<Vec<Instance>> {
        let taken = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.retain(|m| m.params() == params);
            idle.pop()
        };
        let mut mep = taken.unwrap_or_else(|| Mep::new(params.clone()));
        let result = mep.run(input);
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mep);
        result
    }

    /// Runners currently idle (for tests).
    #[must_use]
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}

fn run_mep(pool: &MepPool, params: &MepParams, maps: &Maps, image: &RgbImage) -> Result<Vec<Instance>> {
    let (w, h) = image.dimensions();
    let view = ArrayView3::from_shape((h as usize, w as usize, 3), image.as_raw())
        .map_err(|e| Error::invalid("image", e))?;
    let input = maps.mep_input(view)?;
    pool.run(params, &input)
}

/// Refuses to resume over records made by another model, other MEP parameters or another
/// `--semantic-dir` (unless `--force`), then records this run's provenance in `--out`.
fn check_provenance(cfg: &InferConfig, total: usize) -> Result<()> {
    use crate::provenance::{ModelIdentity, Provenance};
    let now = Provenance {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: ModelIdentity::of_file(&cfg.model)?,
        mep: format!("{:?}", cfg.mep),
        semantic_dir: cfg.semantic_dir.as_ref().map(|p| p.display().to_string()),
        inputs: total,
        shard: cfg.shard.map(|(k, n)| [k, n]),
    };
    if !cfg.force {
        match Provenance::read(&cfg.out_dir) {
            Ok(Some(before)) => {
                if let Some(diff) = before.difference(&now) {
                    return Err(Error::invalid(
                        cfg.out_dir.display(),
                        format!(
                            "holds records of another run: {diff}; use --force to recompute them, or another --out"
                        ),
                    ));
                }
            }
            Ok(None) => {
                let has_records = std::fs::read_dir(cfg.out_dir.join("records")).is_ok_and(|mut entries| {
                    entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
                });
                if has_records {
                    return Err(Error::invalid(
                        cfg.out_dir.display(),
                        format!(
                            "holds records but no {} saying what made them; use --force to recompute them, or another --out",
                            crate::provenance::RUN_FILE
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    now.write(&cfg.out_dir)
}

/// Decoded images grouped for one ONNX Runtime call: `(input index, image)`.
type Group = Vec<(usize, RgbImage)>;

/// Runs a group; when ONNX Runtime fails on it as a whole, runs its images one by one, so that
/// only the image that fails is skipped.
fn run_group_or_singly<F>(
    run_group: &mut F,
    group: Group,
    outstanding: &mut usize,
    failed: &mut Vec<(String, String)>,
    handle: &mut OutcomeHandler<'_>,
) -> Result<()>
where
    F: FnMut(Group, &mut usize, &mut Vec<(String, String)>, &mut OutcomeHandler<'_>) -> Result<Option<Group>>,
{
    if let Some(group) = run_group(group, outstanding, failed, handle)? {
        for one in group {
            // A single image is never handed back: its failure is reported as its own.
            let _ = run_group(vec![one], outstanding, failed, handle)?;
        }
    }
    Ok(())
}

/// Where an image's network outputs come from.
enum Outputs<'a> {
    /// One slot of a batch's outputs, with the letterbox that places the image in it.
    Batch(&'a RawOutputs, usize, &'a crate::input::Letterbox),
    /// Maps stitched from tiles (`--tile`, `src/tile.rs`).
    Tiled(crate::tile::Stitched),
}

/// [`finish_image`] on a worker thread: a panic in one image's job would abort the whole process
/// (rayon), so it becomes that image's error instead.
fn finish_guarded(
    shared: &Shared,
    item: &InputItem,
    image: &RgbImage,
    outputs: Outputs<'_>,
) -> Result<(ImageRecords, Vec<Instance>)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finish_image(shared, item, image, outputs)
    }))
    .unwrap_or_else(|_| {
        Err(Error::invalid(
            item.display_path().display(),
            "internal error (panic) while processing this image; please report it",
        ))
    })
}

/// Postprocesses one image: maps, MEP, outputs, record.
fn finish_image(
    shared: &Shared,
    item: &InputItem,
    image: &RgbImage,
    outputs: Outputs<'_>,
) -> Result<(ImageRecords, Vec<Instance>)> {
    if crate::input::source::safe_member_name(item.stem()).as_deref() != Ok(item.stem()) {
        return Err(Error::invalid(
            item.display_path().display(),
            "its name would place outputs outside --out",
        ));
    }
    let (raw, slot, letterbox) = match outputs {
        Outputs::Batch(raw, slot, letterbox) => (raw, slot, letterbox),
        Outputs::Tiled(stitched) => {
            let labels = match &shared.semantic_dir {
                Some(dir) => {
                    let path = dir.join(format!("{}.png", item.stem()));
                    let mut labels = crate::mep::io::read_labels(&path)?;
                    crate::mep::io::apply_label_rule(&mut labels, Some(shared.classes.len()), &path);
                    Some(labels)
                }
                None => None,
            };
            if stitched.is_compact() || labels.is_some() && shared.mep.mode == crate::mep::MepMode::Paper {
                return finish_compact(shared, item, image, stitched.into_compact(labels)?);
            }
            return finish_maps(shared, item, image, &stitched.into_maps(labels)?);
        }
    };
    let maps = match &shared.semantic_dir {
        Some(dir) => {
            let path = dir.join(format!("{}.png", item.stem()));
            let mut labels = crate::mep::io::read_labels(&path)?;
            crate::mep::io::apply_label_rule(&mut labels, Some(shared.classes.len()), &path);
            maps::from_outputs_with_labels(raw, slot, letterbox, labels)
                .map_err(|e| Error::invalid(path.display(), e))?
        }
        None => maps::from_outputs(raw, slot, letterbox)?,
    };
    finish_maps(shared, item, image, &maps)
}

/// A tiled image on compact maps (`src/tile/mep.rs`): the boundary and semantic maps are written
/// first, then the banded MEP consumes (and frees) them; the rest as [`finish_maps`].
fn finish_compact(
    shared: &Shared,
    item: &InputItem,
    image: &RgbImage,
    maps: crate::tile::mep::CompactMaps,
) -> Result<(ImageRecords, Vec<Instance>)> {
    if shared.write_outputs {
        let _span = timing::span("output::write");
        let [_, _, semantic, boundary, _] = output_paths(&shared.out, item);
        if shared.save.semantic {
            png::write_class_png(&semantic, maps.classes.view())?;
        }
        if shared.save.boundary {
            png::write_boundary_png(&boundary, maps.boundary.view())?;
        }
    }
    let (w, h) = image.dimensions();
    let view = ArrayView3::from_shape((h as usize, w as usize, 3), image.as_raw())
        .map_err(|e| Error::invalid("image", e))?;
    let instances = crate::tile::mep::extract_compact(view, maps, &shared.mep)?;
    finish_outputs(shared, item, image, instances, None)
}

/// MEP, outputs and record of one image, from its maps.
fn finish_maps(
    shared: &Shared,
    item: &InputItem,
    image: &RgbImage,
    maps: &Maps,
) -> Result<(ImageRecords, Vec<Instance>)> {
    let instances = run_mep(&shared.meps, &shared.mep, maps, image)?;
    finish_outputs(shared, item, image, instances, Some(maps))
}

/// Outputs and record of one image (the maps' outputs too when `maps` is given).
fn finish_outputs(
    shared: &Shared,
    item: &InputItem,
    image: &RgbImage,
    instances: Vec<Instance>,
    maps: Option<&Maps>,
) -> Result<(ImageRecords, Vec<Instance>)> {
    let (w, h) = image.dimensions();
    let record = ImageRecords::new(&item.name, h, w, &instances);
    if shared.write_outputs {
        let _span = timing::span("output::write");
        let [record_path, labels, semantic, boundary, overlay] = output_paths(&shared.out, item);
        if shared.save.labels {
            png::write_label_png(
                &labels,
                crate::instances::paint_label_map(&instances, h, w).view(),
            )?;
        }
        if shared.save.semantic
            && let Some(maps) = maps
        {
            png::write_class_png(&semantic, maps.class_map().view())?;
        }
        if shared.save.boundary
            && let Some(maps) = maps
        {
            png::write_boundary_png(&boundary, maps.boundary.view())?;
        }
        if shared.save.overlay {
            let _span = timing::span("output::overlay");
            let picture = crate::output::overlay::render_overlay(
                image,
                &instances,
                &shared.classes,
                &Default::default(),
            );
            png::write_jpeg(&overlay, &picture)?;
        }
        record.write(&record_path)?;
    }
    Ok((record, instances))
}

/// Runs `infer`. `on_image` sees every finished image with the model's class names (for one-pass
/// evaluation); `cancel` stops
/// the run between images (in-flight images are finished and written).
///
/// # Errors
/// Fatal problems only: missing inputs, a model that cannot be loaded, an unwritable output
/// directory, or [`Error::Interrupted`]. Per-image problems are reported through `observer` and
/// listed in the summary.
pub fn run_infer(
    cfg: &InferConfig,
    observer: &(dyn Fn(Event<'_>) + Sync),
    cancel: &AtomicBool,
    on_image: &mut ImageCallback<'_>,
    write_outputs: bool,
) -> Result<InferSummary> {
    timing::reset();
    if write_outputs && cfg.out_dir.exists() && !cfg.out_dir.is_dir() {
        return Err(Error::invalid(
            cfg.out_dir.display(),
            "--out exists and is not a directory",
        ));
    }
    let exclude = if write_outputs {
        vec![cfg.out_dir.clone()]
    } else {
        Vec::new()
    };
    let enumerated = enumerate_inputs(&cfg.inputs, &exclude)?;
    let items = enumerated.items;
    for (path, reason) in &enumerated.skipped {
        tracing::warn!("skipped: {path}: {reason}");
    }
    if items.is_empty() {
        return Err(Error::invalid(
            cfg.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if enumerated.skipped.is_empty() {
                "no images found (looked for .jpg .jpeg .png .tif .tiff .webp .bmp)".to_owned()
            } else {
                format!(
                    "no usable images ({} inputs skipped, see above)",
                    enumerated.skipped.len()
                )
            },
        ));
    }
    let mut model = Model::load(&cfg.model, &cfg.session)?;
    if !model.info.has_semantic && cfg.semantic_dir.is_none() {
        return Err(Error::invalid(
            cfg.model.display(),
            "single-branch model (no `semantic` output): give semantic label PNGs with --semantic-dir",
        ));
    }
    let header = cfg.coco.as_deref().map(CocoHeader::read).transpose()?;
    let categories = match &header {
        Some(h) => {
            let (map, unmatched) = CategoryMap::by_name(&model.info.classes, &h.categories);
            if unmatched.len() == model.info.classes.len() {
                return Err(Error::Coco {
                    path: cfg.coco.clone().unwrap_or_default(),
                    reason: format!(
                        "none of the model's classes ({}) is a category of this file",
                        model.info.classes.join(", ")
                    ),
                });
            }
            if !unmatched.is_empty() {
                tracing::warn!(
                    "classes without a category in the COCO file are left out of instances.json: {}",
                    unmatched.join(", ")
                );
            }
            map
        }
        None => CategoryMap::identity(&model.info.classes),
    };
    if write_outputs {
        std::fs::create_dir_all(&cfg.out_dir).map_err(|e| Error::io(&cfg.out_dir, e))?;
        let removed = crate::output::atomic::remove_stale_temporaries(
            &cfg.out_dir,
            crate::output::merge::PER_IMAGE_DIRS,
        );
        if removed > 0 {
            tracing::info!("removed {removed} temporary files left by an interrupted run");
        }
    }
    // With a COCO file, images it does not list (or lists ambiguously) cannot get an id: report
    // them before any work.
    let mut unlisted: Vec<(usize, String)> = Vec::new();
    let in_shard = |i: usize| cfg.shard.is_none_or(|(k, n)| i % n == k);
    let mut id_owner: HashMap<i64, usize> = HashMap::new();
    let todo: Vec<usize> = (0..items.len())
        .filter(|&i| in_shard(i))
        .filter(|&i| match &header {
            Some(h) => match h.match_image(&items[i].name, items[i].file_name()) {
                Err(reason) => {
                    unlisted.push((i, reason));
                    false
                }
                Ok(id) => match id_owner.get(&id) {
                    Some(&first) => {
                        unlisted.push((
                            i,
                            format!(
                                "matches image id {id}, which {} already matched: ambiguous",
                                items[first].display_path().display()
                            ),
                        ));
                        false
                    }
                    None => {
                        id_owner.insert(id, i);
                        true
                    }
                },
            },
            None => true,
        })
        .collect();
    if write_outputs {
        check_provenance(cfg, items.len())?;
    }
    let listed = todo.len();
    let todo: Vec<usize> = todo
        .into_iter()
        .filter(|&i| !write_outputs || cfg.force || !is_done(&cfg.out_dir, &items[i], cfg.save))
        .collect();
    let resumed = listed - todo.len();
    if resumed > 0 {
        tracing::info!(
            "resuming: {resumed} of {} images are already done (use --force to redo them)",
            items.len()
        );
    }
    observer(Event::Planned {
        todo: todo.len(),
        already_done: resumed,
    });

    let threads = cfg
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("baiseg-worker-{i}"))
        .build()
        .map_err(|e| Error::invalid("--threads", e))?;
    let shared = Arc::new(Shared {
        out: cfg.out_dir.clone(),
        save: cfg.save,
        mep: cfg.mep.clone(),
        meps: MepPool::default(),
        classes: model.info.classes.clone(),
        semantic_dir: cfg.semantic_dir.clone(),
        write_outputs,
    });
    let items = Arc::new(items);
    let batch_size = cfg.batch.max(1);
    let size_divisor = model.info.size_divisor;
    let norm = model.info.normalization();
    let max_inflight = threads * 2 + batch_size;
    if let Some(t) = &cfg.tile {
        t.validate(size_divisor)?;
        // With tiles, the pixel budget bounds one forward pass (docs/tiling.md#budget).
        let pass = t.pass_pixels(batch_size, size_divisor);
        if pass > cfg.max_pixels {
            return Err(Error::invalid(
                "--tile",
                format!(
                    "one forward pass of {batch_size} tile(s) is {pass} pixels, more than the pixel \
                     budget of {} (--max-pixels): use smaller tiles, a smaller --batch or a larger budget",
                    cfg.max_pixels
                ),
            ));
        }
    }
    let needs_tiles = |img: &RgbImage| {
        cfg.tile
            .is_some_and(|t| t.needs_tiling(img.height() as usize, img.width() as usize, size_divisor))
    };

    let start = Instant::now();
    let mut ort_time = Duration::ZERO;
    let mut failed: Vec<(String, String)> = Vec::new();
    for (path, reason) in enumerated.skipped {
        failed.push((path, reason));
    }
    for (i, reason) in &unlisted {
        let i = *i;
        let coco = cfg.coco.as_deref().unwrap_or(Path::new(""));
        let error = Error::Coco {
            path: coco.to_path_buf(),
            reason: format!("{reason} (input {})", items[i].display_path().display()),
        };
        observer(Event::ImageFailed {
            name: &items[i].name,
            error: &error,
        });
        failed.push((items[i].display_path().display().to_string(), error.to_string()));
    }
    let mut processed = 0usize;
    let mut instances_found = 0u64;
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    let mut outstanding = 0usize;

    let mut handle = |outcome: Outcome, failed: &mut Vec<(String, String)>| {
        let item = &items[outcome.index];
        match outcome.result {
            Ok((record, instances)) => {
                processed += 1;
                instances_found += instances.len() as u64;
                observer(Event::ImageDone {
                    name: &item.name,
                    instances: instances.len(),
                });
                on_image(item, &record, &instances, &shared.classes);
            }
            Err(error) => {
                observer(Event::ImageFailed {
                    name: &item.name,
                    error: &error,
                });
                failed.push((item.display_path().display().to_string(), error.to_string()));
            }
        }
    };

    let (dec_tx, dec_rx) = mpsc::sync_channel::<(usize, Result<RgbImage>)>(batch_size * 2 + threads);
    let fatal: Option<Error> = std::thread::scope(|scope| {
        let feeder_items = Arc::clone(&items);
        let todo_ref = &todo;
        let pool_ref = &pool;
        let decode_opts = DecodeOptions {
            // Untiled, the budget bounds the whole image; tiled, it bounds one pass (checked
            // above) and the image is bounded by the memory its full-frame maps need.
            max_pixels: if cfg.tile.is_some() {
                crate::input::max_tiled_pixels().max(cfg.max_pixels)
            } else {
                cfg.max_pixels
            },
            allow_truncated: cfg.allow_truncated,
        };
        scope.spawn(move || {
            let chunk = (threads * 2).max(batch_size);
            for indices in todo_ref.chunks(chunk) {
                if cancel.load(Ordering::Relaxed) {
                    return;
                }
                let decoded: Vec<(usize, Result<RgbImage>)> = pool_ref.install(|| {
                    indices
                        .par_iter()
                        .map(|&i| {
                            let _span = timing::span("input::decode");
                            let item = &feeder_items[i];
                            (i, crate::input::decode::decode_item_with(item, &decode_opts))
                        })
                        .collect()
                });
                for d in decoded {
                    if dec_tx.send(d).is_err() {
                        return;
                    }
                }
            }
        });

        let mut groups: HashMap<(usize, usize), Vec<(usize, RgbImage)>> = HashMap::new();
        let mut pending = 0usize;
        let mut run_group = |group: Vec<(usize, RgbImage)>,
                             outstanding: &mut usize,
                             failed: &mut Vec<(String, String)>,
                             handle: &mut OutcomeHandler<'_>|
         -> Result<Option<Group>> {
            if let [(_, img)] = group.as_slice()
                && needs_tiles(img)
                && let Some(opts) = cfg.tile
            {
                // `--tile`: the image runs tile by tile; its stitched maps go to the MEP whole.
                let Some((index, image)) = group.into_iter().next() else {
                    return Ok(None);
                };
                let keep = crate::tile::SemanticKeep::for_run(&cfg.mep, cfg.semantic_dir.is_some());
                let (stitched, ort) =
                    match crate::tile::infer_tiled_with(&mut model, &image, &opts, batch_size, keep) {
                        Ok(done) => done,
                        // As for a one-image batch: an ONNX Runtime failure skips this image only.
                        Err(Error::Ort(reason)) => {
                            let path = items[index].display_path().display().to_string();
                            handle(
                                Outcome {
                                    index,
                                    result: Err(Error::Ort(format!("{path}: {reason}"))),
                                },
                                failed,
                            );
                            return Ok(None);
                        }
                        Err(e) => return Err(e),
                    };
                ort_time += ort;
                while *outstanding >= max_inflight {
                    match out_rx.recv() {
                        Ok(o) => {
                            *outstanding -= 1;
                            handle(o, failed);
                        }
                        Err(_) => break,
                    }
                }
                let (shared, items, tx) = (Arc::clone(&shared), Arc::clone(&items), out_tx.clone());
                *outstanding += 1;
                pool.spawn(move || {
                    let result = finish_guarded(&shared, &items[index], &image, Outputs::Tiled(stitched));
                    let _ = tx.send(Outcome { index, result });
                });
                return Ok(None);
            }
            let images: Vec<&RgbImage> = group.iter().map(|(_, img)| img).collect();
            let batch = {
                let _span = timing::span("input::preprocess");
                make_batch(&images, &norm, size_divisor)
            };
            let t0 = Instant::now();
            let forwarded = model.forward(batch.tensor.view());
            ort_time += t0.elapsed();
            let raw = match forwarded {
                Ok(raw) => raw,
                // A model that breaks its contract is fatal; an ONNX Runtime failure (e.g. out of
                // memory on one large image) skips the images of this batch: alone when the batch
                // held one image, else each image is retried alone so only the culprit is skipped.
                Err(Error::Ort(reason)) => {
                    if group.len() == 1 {
                        for (index, _) in group {
                            handle(
                                Outcome {
                                    index,
                                    result: Err(Error::Ort(format!(
                                        "{}: {reason}",
                                        items[index].display_path().display()
                                    ))),
                                },
                                failed,
                            );
                        }
                        return Ok(None);
                    }
                    tracing::warn!(
                        "ONNX Runtime failed on a batch of {} images ({reason}): retrying them one by one",
                        group.len()
                    );
                    return Ok(Some(group));
                }
                Err(e) => return Err(e),
            };
            let raw = Arc::new(raw);
            for (slot, ((index, image), letterbox)) in group.into_iter().zip(batch.letterboxes).enumerate() {
                while *outstanding >= max_inflight {
                    match out_rx.recv() {
                        Ok(o) => {
                            *outstanding -= 1;
                            handle(o, failed);
                        }
                        Err(_) => break,
                    }
                }
                let raw = Arc::clone(&raw);
                let shared = Arc::clone(&shared);
                let items = Arc::clone(&items);
                let tx = out_tx.clone();
                *outstanding += 1;
                pool.spawn(move || {
                    let result = finish_guarded(
                        &shared,
                        &items[index],
                        &image,
                        Outputs::Batch(&raw, slot, &letterbox),
                    );
                    let _ = tx.send(Outcome { index, result });
                });
            }
            Ok(None)
        };

        let mut fatal = None;
        for (index, decoded) in dec_rx.iter() {
            while let Ok(o) = out_rx.try_recv() {
                outstanding -= 1;
                handle(o, &mut failed);
            }
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let image = match decoded {
                Ok(img) => img,
                Err(error) => {
                    handle(
                        Outcome {
                            index,
                            result: Err(error),
                        },
                        &mut failed,
                    );
                    continue;
                }
            };
            if needs_tiles(&image) {
                if let Err(e) = run_group(vec![(index, image)], &mut outstanding, &mut failed, &mut handle) {
                    fatal = Some(e);
                    break;
                }
                continue;
            }
            let key = if batch_size == 1 {
                (0, 0)
            } else {
                padded_shape(image.height() as usize, image.width() as usize, size_divisor)
            };
            let group = groups.entry(key).or_default();
            group.push((index, image));
            pending += 1;
            let full = group.len() >= batch_size;
            // Flush a full group, or the largest one when too many images wait for partners.
            let flush_key = if full {
                Some(key)
            } else if pending >= batch_size * 4 {
                groups.iter().max_by_key(|(_, g)| g.len()).map(|(k, _)| *k)
            } else {
                None
            };
            if let Some(k) = flush_key {
                let group = groups.remove(&k).unwrap_or_default();
                pending -= group.len();
                if let Err(e) =
                    run_group_or_singly(&mut run_group, group, &mut outstanding, &mut failed, &mut handle)
                {
                    fatal = Some(e);
                    break;
                }
            }
        }
        if fatal.is_none() && !cancel.load(Ordering::Relaxed) {
            let mut rest: Vec<_> = groups.drain().map(|(_, g)| g).collect();
            rest.sort_by_key(|g| g.first().map(|(i, _)| *i));
            for group in rest {
                if let Err(e) =
                    run_group_or_singly(&mut run_group, group, &mut outstanding, &mut failed, &mut handle)
                {
                    fatal = Some(e);
                    break;
                }
            }
        }
        drop(dec_rx);
        while outstanding > 0 {
            match out_rx.recv() {
                Ok(o) => {
                    outstanding -= 1;
                    handle(o, &mut failed);
                }
                Err(_) => break,
            }
        }
        fatal
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let wall = start.elapsed();
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }

    let mut results_path = None;
    let mut results_written = 0;
    if write_outputs {
        let _span = timing::span("output::instances_json");
        let mut records: Vec<ResultRecord> = Vec::new();
        let mut image_entries: Vec<(i64, ImageRecords)> = Vec::new();
        for (i, item) in items.iter().enumerate().filter(|&(i, _)| in_shard(i)) {
            let path = output_paths(&cfg.out_dir, item)[0].clone();
            if !path.is_file() {
                continue;
            }
            let rec = ImageRecords::read(&path)?;
            let image_id = match &header {
                Some(h) => match h.match_image(&item.name, item.file_name()) {
                    Ok(id) if id_owner.get(&id) == Some(&i) => id,
                    _ => continue, // reported before processing
                },
                None => i as i64 + 1,
            };
            records.extend(rec.to_results(image_id, &categories));
            image_entries.push((image_id, rec));
        }
        // Sorted by image id (stable: MEP order within an image), so that shards merge into
        // exactly what one run writes.
        records.sort_by_key(|r| r.image_id);
        image_entries.sort_by_key(|(id, _)| *id);
        let path = cfg.out_dir.join("instances.json");
        match cfg.mask_format {
            crate::output::polygons::MaskFormat::Rle => coco_json::write_results_json(&path, &records)?,
            crate::output::polygons::MaskFormat::Polygon => {
                crate::output::polygons::write_polygon_results_json(&path, &records)?;
            }
        }
        if cfg.save.polygons {
            let _span = timing::span("output::polygons");
            crate::output::polygons::write_run(
                &cfg.out_dir,
                &items,
                &image_entries,
                &categories,
                &shared.classes,
            )?;
        }
        if header.is_none() {
            let refs: Vec<(i64, &ImageRecords)> = image_entries.iter().map(|(id, r)| (*id, r)).collect();
            coco_json::write_images_json(&cfg.out_dir.join("images.json"), &refs, &categories)?;
        }
        results_written = records.len();
        results_path = Some(path);
    }
    Ok(InferSummary {
        total: (0..items.len()).filter(|&i| in_shard(i)).count(),
        processed,
        resumed,
        failed,
        instances: instances_found,
        wall,
        ort_time,
        stages: timing::snapshot(),
        device: model.device.to_string(),
        results_path,
        results_written,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ndarray::{Array2, Array3};

    use super::*;
    use crate::mep::{MepInput, Semantic, extract};

    fn case(i: usize) -> (Array3<u8>, Array2<f32>, Array2<u16>) {
        let (h, w) = (128 + (i % 4) * 16, 160 + (i % 3) * 16);
        let image = Array3::<u8>::zeros((h, w, 3));
        let step = 9 + i % 7;
        let boundary = Array2::from_shape_fn((h, w), |(y, x)| {
            if x % step == 0 || y % (step + 3) == 0 {
                0.9f32
            } else {
                0.05
            }
        });
        let labels = Array2::<u16>::from_elem((h, w), 1 + (i % 3) as u16);
        (image, boundary, labels)
    }

    fn run_case(pool: &MepPool, params: &MepParams, i: usize) -> Vec<Instance> {
        let (img, b, l) = case(i);
        let input = MepInput {
            image: img.view(),
            boundary: b.view(),
            semantic: Semantic::Labels(l.view()),
        };
        pool.run(params, &input).unwrap()
    }

    /// Image jobs are spawned on the pool as `run_infer` does; while a MEP stage's inner rayon
    /// loop waits for its pieces, its thread runs other image jobs. The old thread-local runner
    /// then panicked ("already borrowed") in the nested job, which aborts the process (a probe
    /// with the old design panicked in about 1 of 300 jobs of this setup). The pool must give
    /// identical results to one-off extraction with no panic.
    #[test]
    fn mep_pool_is_reentrant_under_rayon() {
        static PANICS: AtomicUsize = AtomicUsize::new(0);
        const N: usize = 600;
        let params = MepParams::default();
        let pool = Arc::new(MepPool::default());
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(6)
            .panic_handler(|_| {
                PANICS.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..N {
            let (tx, pool, params) = (tx.clone(), Arc::clone(&pool), params.clone());
            threads.spawn(move || {
                let got = run_case(&pool, &params, i);
                let _ = tx.send((i, got));
            });
        }
        drop(tx);
        let mut got: Vec<(usize, Vec<Instance>)> = rx.iter().collect();
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a nested job panicked");
        assert_eq!(got.len(), N);
        for (i, instances) in got.iter().step_by(37) {
            let (img, b, l) = case(*i);
            let input = MepInput {
                image: img.view(),
                boundary: b.view(),
                semantic: Semantic::Labels(l.view()),
            };
            assert_eq!(instances, &extract(&input, &params).unwrap(), "image {i}");
        }
        assert!(pool.idle_count() >= 1);
    }
}
