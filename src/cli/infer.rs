//! `baiseg-rt infer`: images in, instance masks out.
//!
//! Two stages: the raw clap flags ([`InferArgs`]) are validated into the engine's configuration
//! ([`InferArgs::config`]: usage errors, exit 64), then the engine runs into a file sink
//! (docs/engine.md#front-ends).
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::mep::MepFlags;
use super::{EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, GlobalOpts, MAX_BATCH};
use baiseg_rt::engine::{self, FileSink, InferConfig, OutputOptions, SaveSet};
use baiseg_rt::model::{Device, SessionOptions};

/// Arguments of `infer`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  baiseg-rt infer models/baiseg_small.onnx fixtures/images --out out --save overlay
  baiseg-rt infer model.onnx photos.zip --coco annotations.json --out run1
  baiseg-rt eval --coco annotations.json --results run1/instances.json

Outputs (in --out): instances.json (COCO results, compressed RLE), images.json (ids used, when
--coco is not given), records/<name>.json (per-image state for resuming), and what --save asks for.
Exit status: 0 all images done, 2 some inputs skipped (listed in the summary), 1 fatal error,
64 usage error (bad flag or value), 130 interrupted (re-run the same command to resume).")]
pub struct InferArgs {
    /// The `BAISeg` ONNX model (see models/README.md for the contract).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Images, directories (searched recursively, sorted) or .zip archives.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, short, default_value = "baiseg-out", value_name = "DIR")]
    pub out: PathBuf,
    /// COCO annotation file: take image ids (by file name) and category ids (by class name) from
    /// it, so that instances.json feeds `baiseg-rt eval` directly.
    #[arg(long, value_name = "GT.json")]
    pub coco: Option<PathBuf>,
    /// Directory of semantic label PNGs (`<name>.png`, class ids, 0 = background) to use instead
    /// of the model's semantic branch (required for single-branch models).
    #[arg(long, value_name = "DIR")]
    pub semantic_dir: Option<PathBuf>,
    /// Execution provider: cpu, cuda[:N], tensorrt[:N], or auto (CUDA if it works, else CPU).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: Device,
    /// `TensorRT` engine cache directory [default: <MODEL>.trt-cache next to the model].
    #[arg(long, value_name = "DIR")]
    pub trt_cache: Option<PathBuf>,
    /// Images per ONNX Runtime call (images are grouped by padded size).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// Extra outputs, comma-separated: labels, semantic, boundary, overlay, polygons (CVAT COCO 1.0
    /// and labelme JSON), all.
    #[arg(long, default_value = "none", value_name = "LIST")]
    pub save: SaveSet,
    /// Recompute images that an earlier run already finished.
    #[arg(long)]
    pub force: bool,
    /// Exit with status 1 (not 2) when any input was skipped.
    #[arg(long)]
    pub strict: bool,
    /// Process only shard K of N (0 <= K < N): the inputs whose position in the sorted input list
    /// is K modulo N. Image ids are those of the whole input set; join shards with `merge`.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Largest image, in pixels (width x height), checked from the file header before decoding;
    /// bigger images are skipped with the reason [default: a quarter of the physical memory / 80
    /// bytes per pixel, clamped to 16..256 megapixels].
    #[arg(long, value_name = "N")]
    pub max_pixels: Option<u64>,
    /// Accept JPEGs that end before their end-of-image marker (decoded with grey fill, with a
    /// warning) instead of skipping them.
    #[arg(long)]
    pub allow_truncated: bool,
    /// Run images larger than SIZE x SIZE tile by tile (SIZE rounded up to the model's size
    /// divisor; --batch tiles per forward pass); seams are cut in the middle of the overlap and
    /// the MEP runs on the stitched maps (docs/tiling.md).
    #[arg(long, value_name = "SIZE")]
    pub tile: Option<usize>,
    /// Minimum overlap of neighbouring tiles in pixels (with --tile).
    #[arg(long, value_name = "PX", default_value_t = 128, requires = "tile")]
    pub tile_overlap: usize,
    /// Folder for the scratch file that holds a large tiled image's class probabilities (with
    /// --tile; above 256 MiB of them; the file is unlinked at once, so nothing is left behind)
    /// [default: the system temp folder, TMPDIR].
    #[arg(long, value_name = "DIR", requires = "tile")]
    pub scratch_dir: Option<PathBuf>,
    /// With --tile, a large image's class probabilities go to the scratch file when they take
    /// more than SIZE bytes (4 x classes x width x height; a number of bytes, or with a K, M or G
    /// suffix for KiB, MiB, GiB; 0: always) [default: 256M].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "tile")]
    pub spill_above: Option<u64>,
    /// Mask encoding in instances.json: rle (compressed RLE) or polygon (COCO polygons, every
    /// part of a mask, holes bridged; docs/outputs.md).
    #[arg(long, value_name = "FORMAT", default_value = "rle")]
    pub mask_format: baiseg_rt::output::polygons::MaskFormat,
    #[command(flatten)]
    pub mep: MepFlags,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not K/N (e.g. 0/4)"))?;
    let k: usize = k
        .trim()
        .parse()
        .map_err(|_| format!("`{k}` is not a shard index"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need 0 <= K < N"));
    }
    Ok((k, n))
}

/// `--spill-above SIZE`: bytes, or KiB, MiB, GiB with a `K`, `M`, `G` suffix (`256M`).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size in bytes (e.g. 0, 1048576, 512K, 256M, 2G)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

impl InferArgs {
    /// Validates the flags into the engine's configuration and the output options.
    ///
    /// # Errors
    /// A usage error naming the flag.
    pub fn config(&self, global: &GlobalOpts) -> anyhow::Result<(InferConfig, OutputOptions)> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(super::usage(format!(
                "--batch {} is out of range 1..={MAX_BATCH}",
                self.batch
            )));
        }
        self.mep.validate().map_err(super::usage)?;
        if self.max_pixels == Some(0) {
            return Err(super::usage("--max-pixels must be at least 1"));
        }
        if self.out.exists() && !self.out.is_dir() {
            return Err(super::usage(format!(
                "--out {}: exists and is not a directory",
                self.out.display()
            )));
        }
        let cfg = InferConfig {
            model: self.model.clone(),
            inputs: self.inputs.clone(),
            coco: self.coco.clone(),
            semantic_dir: self.semantic_dir.clone(),
            session: SessionOptions {
                device: self.device,
                threads: global.threads,
                trt_cache: self.trt_cache.clone(),
            },
            batch: self.batch,
            force: self.force,
            mep: self.mep.to_params(),
            threads: global.threads,
            shard: self.shard,
            max_pixels: self
                .max_pixels
                .unwrap_or_else(baiseg_rt::input::default_max_pixels),
            allow_truncated: self.allow_truncated,
            tile: self.tile.map(|size| baiseg_rt::tile::TileOptions {
                size,
                overlap: self.tile_overlap,
            }),
            scratch_dir: self.scratch_dir.clone(),
            spill_above: self.spill_above,
        };
        let output = OutputOptions {
            out_dir: self.out.clone(),
            save: self.save,
            mask_format: self.mask_format,
        };
        Ok((cfg, output))
    }
}

/// Runs `infer`.
pub fn run(args: &InferArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    let (cfg, output) = args.config(global)?;
    let sink = FileSink::new(output);
    let cancel = super::interrupt::cancel_flag();
    let pb = super::progress::bar(global);
    let observer = |event: engine::Event<'_>| super::progress::show(&pb, &event, true);
    let result = engine::run(&cfg, &sink, &observer, cancel);
    pb.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(baiseg_rt::Error::Interrupted) => {
            eprintln!(
                "interrupted: finished images are saved in {}; re-run the same command to resume",
                args.out.display()
            );
            return Ok(super::EXIT_INTERRUPTED);
        }
        Err(e) => return Err(e).context("infer"),
    };
    if args.json {
        writeln!(
            std::io::stdout().lock(),
            "{}",
            super::report::summary_json(&summary)
        )?;
    } else if !global.quiet {
        super::report::print_summary(&summary);
    }
    let code = if summary.processed == 0 && summary.resumed == 0 {
        EXIT_FATAL
    } else if !summary.failed.is_empty() {
        if args.strict { EXIT_FATAL } else { EXIT_PARTIAL }
    } else {
        EXIT_OK
    };
    Ok(code)
}
