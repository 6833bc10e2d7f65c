//! The engine's validated configuration and what it reports (docs/engine.md#config).
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::mep::MepParams;
use crate::model::SessionOptions;
use crate::timing::StageTime;

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

/// What the engine runs (validated): the model, the inputs and how to process them. Where the
/// results go is the [`Sink`](super::Sink)'s business (docs/engine.md#config).
#[derive(Debug, Clone)]
pub struct InferConfig {
    /// The ONNX model.
    pub model: PathBuf,
    /// Files, directories and zip archives.
    pub inputs: Vec<PathBuf>,
    /// COCO annotation file giving image and category ids.
    pub coco: Option<PathBuf>,
    /// Directory of external semantic label PNGs (`<name>.png`), for single-branch models.
    pub semantic_dir: Option<PathBuf>,
    /// Execution provider and threads.
    pub session: SessionOptions,
    /// Images per ONNX Runtime call.
    pub batch: usize,
    /// Recompute images that are already done (with a sink that writes an output folder).
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
    /// `--scratch-dir DIR`: the folder of the scratch file for a large tiled image's foreground
    /// probability planes (`None`: the system temp folder; docs/tiling.md#plane-store).
    pub scratch_dir: Option<PathBuf>,
    /// `--spill-above SIZE`: foreground planes of more bytes than this go to the scratch file
    /// (`None`: [`crate::tile::planes::SPILL_THRESHOLD_BYTES`]; docs/tiling.md#plane-store).
    pub spill_above: Option<u64>,
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
