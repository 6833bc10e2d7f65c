//! `baiseg-rt infer`: images in, instance masks out.
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::mep::MepFlags;
use super::{EXIT_FATAL, EXIT_OK, EXIT_PARTIAL, GlobalOpts};
use baiseg_rt::model::{Device, SessionOptions};
use baiseg_rt::pipeline::{self, Event, InferConfig, InferSummary, SaveSet};

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
    /// The BAISeg ONNX model (see models/README.md for the contract).
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
    /// TensorRT engine cache directory [default: <MODEL>.trt-cache next to the model].
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

/// Largest `--batch`.
const MAX_BATCH: usize = 1024;

static CANCEL: AtomicBool = AtomicBool::new(false);

fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted twice: exiting now (finished images are kept)");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: finishing images in flight, then stopping (press Ctrl-C again to stop at once)"
        );
    });
}

fn progress_bar(global: &GlobalOpts) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if global.quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} images  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Runs `infer`.
pub fn run(args: &InferArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    if args.batch == 0 || args.batch > MAX_BATCH {
        return Err(super::usage(format!(
            "--batch {} is out of range 1..={MAX_BATCH}",
            args.batch
        )));
    }
    args.mep.validate().map_err(super::usage)?;
    if args.max_pixels == Some(0) {
        return Err(super::usage("--max-pixels must be at least 1"));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(super::usage(format!(
            "--out {}: exists and is not a directory",
            args.out.display()
        )));
    }
    let cfg = InferConfig {
        model: args.model.clone(),
        inputs: args.inputs.clone(),
        out_dir: args.out.clone(),
        coco: args.coco.clone(),
        semantic_dir: args.semantic_dir.clone(),
        session: SessionOptions {
            device: args.device,
            threads: global.threads,
            trt_cache: args.trt_cache.clone(),
        },
        batch: args.batch,
        save: args.save,
        force: args.force,
        mep: args.mep.to_params(),
        threads: global.threads,
        shard: args.shard,
        max_pixels: args
            .max_pixels
            .unwrap_or_else(baiseg_rt::input::default_max_pixels),
        allow_truncated: args.allow_truncated,
        tile: args.tile.map(|size| baiseg_rt::tile::TileOptions {
            size,
            overlap: args.tile_overlap,
        }),
        mask_format: args.mask_format,
    };
    install_ctrlc();
    let pb = progress_bar(global);
    let observer = |event: Event<'_>| match event {
        Event::Planned { todo, .. } => pb.set_length(todo as u64),
        Event::ImageDone { instances, .. } => {
            pb.set_message(format!("last: {instances} instances"));
            pb.inc(1);
        }
        Event::ImageFailed { name, error } => {
            // Name the input, whatever file the error itself names (an output, a label PNG).
            let text = error.to_string();
            pb.suspend(|| {
                if text.contains(name) {
                    tracing::warn!("skipped: {text}");
                } else {
                    tracing::warn!("skipped {name}: {text}");
                }
            });
            pb.inc(1);
        }
    };
    let result = pipeline::run_infer(&cfg, &observer, &CANCEL, &mut |_, _, _, _| {}, true);
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
        writeln!(std::io::stdout().lock(), "{}", summary_json(&summary))?;
    } else if !global.quiet {
        print_summary(&summary);
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

fn summary_json(s: &InferSummary) -> String {
    let stages: Vec<serde_json::Value> = s
        .stages
        .iter()
        .map(|t| serde_json::json!({"stage": t.name, "seconds": t.total.as_secs_f64(), "count": t.count}))
        .collect();
    serde_json::json!({
        "images": s.total,
        "processed": s.processed,
        "resumed": s.resumed,
        "skipped": s.failed.iter().map(|(p, r)| serde_json::json!({"path": p, "reason": r})).collect::<Vec<_>>(),
        "instances": s.instances,
        "wall_seconds": s.wall.as_secs_f64(),
        "ort_seconds": s.ort_time.as_secs_f64(),
        "outside_ort_share": s.outside_ort_share(),
        "images_per_second": if s.wall.as_secs_f64() > 0.0 { s.processed as f64 / s.wall.as_secs_f64() } else { 0.0 },
        "device": s.device,
        "results": s.results_path,
        "results_written": s.results_written,
        "stages": stages,
    })
    .to_string()
}

fn print_summary(s: &InferSummary) {
    let wall = s.wall.as_secs_f64();
    let rate = if wall > 0.0 {
        s.processed as f64 / wall
    } else {
        0.0
    };
    eprintln!(
        "done: {} images processed, {} already done (resumed), {} skipped; {} instances; {:.2} s, {:.2} images/s on {}",
        s.processed,
        s.resumed,
        s.failed.len(),
        s.instances,
        wall,
        rate,
        s.device
    );
    if s.processed > 0 {
        eprintln!(
            "time inside ONNX Runtime: {:.2} s ({:.0}% of wall time; {:.0}% outside)",
            s.ort_time.as_secs_f64(),
            100.0 * (1.0 - s.outside_ort_share()),
            100.0 * s.outside_ort_share()
        );
        eprintln!(
            "{:<24} {:>10} {:>8} {:>10}",
            "stage (summed over threads)", "total s", "count", "ms/call"
        );
        for t in &s.stages {
            let total = t.total.as_secs_f64();
            eprintln!(
                "{:<24} {:>10.3} {:>8} {:>10.2}",
                t.name,
                total,
                t.count,
                1000.0 * total / t.count.max(1) as f64
            );
        }
    }
    for (path, reason) in &s.failed {
        if reason.contains(path.as_str()) {
            eprintln!("skipped: {reason}");
        } else {
            eprintln!("skipped: {path}: {reason}");
        }
    }
    if let Some(p) = &s.results_path {
        eprintln!("wrote {} ({} instances)", p.display(), s.results_written);
    }
}

/// `eval --coco GT --model MODEL --images DIR`: infer and evaluate in one streaming pass, without
/// writing masks (docs/evaluation.md#one-pass). Uses the default MEP parameters (docs/mep.md#parameters) on the CPU.
pub fn one_pass_eval(args: &super::eval::EvalArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    use baiseg_rt::eval::{Detection, Segmentation};
    use baiseg_rt::output::CategoryMap;

    let (Some(model), Some(images)) = (&args.model, &args.images) else {
        anyhow::bail!("give either --results DT.json, or --model MODEL.onnx with --images DIR");
    };
    let mut evaluator = super::eval::one_pass_evaluator(args)?;
    let gt = evaluator.ground_truth();
    let ids: std::collections::HashMap<String, i64> = gt
        .images
        .iter()
        .filter_map(|i| i.file_name.as_ref().map(|f| (f.clone(), i.id)))
        .flat_map(|(f, id)| {
            let base = f.rsplit('/').next().unwrap_or(&f).to_owned();
            [(f, id), (base, id)]
        })
        .collect();
    let gt_categories: Vec<(i64, String)> = gt.categories.iter().map(|c| (c.id, c.name.clone())).collect();
    let cfg = InferConfig {
        model: model.clone(),
        inputs: vec![images.clone()],
        out_dir: PathBuf::new(),
        coco: Some(args.coco.clone()),
        semantic_dir: None,
        session: SessionOptions {
            device: Device::Cpu,
            threads: global.threads,
            trt_cache: None,
        },
        batch: 1,
        save: SaveSet::default(),
        force: true,
        mep: baiseg_rt::mep::MepParams {
            mode: args.mep,
            ..baiseg_rt::mep::MepParams::default()
        },
        threads: global.threads,
        shard: None,
        max_pixels: baiseg_rt::input::default_max_pixels(),
        allow_truncated: false,
        tile: None,
        mask_format: baiseg_rt::output::polygons::MaskFormat::Rle,
    };
    install_ctrlc();
    let pb = progress_bar(global);
    let observer = |event: Event<'_>| match event {
        Event::Planned { todo, .. } => pb.set_length(todo as u64),
        Event::ImageDone { .. } => pb.inc(1),
        Event::ImageFailed { error, .. } => {
            pb.suspend(|| tracing::warn!("skipped: {error}"));
            pb.inc(1);
        }
    };
    let mut categories: Option<CategoryMap> = None;
    let mut first_error: Option<baiseg_rt::Error> = None;
    let mut on_image = |item: &baiseg_rt::input::InputItem,
                        record: &baiseg_rt::output::ImageRecords,
                        _: &[baiseg_rt::instances::Instance],
                        classes: &[String]| {
        if first_error.is_some() {
            return;
        }
        let Some(&image_id) = ids.get(&item.name).or_else(|| ids.get(item.file_name())) else {
            return;
        };
        let map = categories.get_or_insert_with(|| CategoryMap::by_name(classes, &gt_categories).0);
        let dets: Vec<Detection> = record
            .instances
            .iter()
            .filter_map(|inst| {
                Some(Detection {
                    category_id: map.category_id(inst.class)?,
                    score: inst.score,
                    bbox: Some(inst.bbox),
                    segmentation: Some(Segmentation::Compressed {
                        size: [record.height, record.width],
                        counts: inst.counts.clone(),
                    }),
                })
            })
            .collect();
        if let Err(e) = evaluator.add_image_results(image_id, &dets) {
            first_error = Some(e);
        }
    };
    let result = pipeline::run_infer(&cfg, &observer, &CANCEL, &mut on_image, false);
    pb.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(baiseg_rt::Error::Interrupted) => {
            eprintln!("interrupted: nothing evaluated");
            return Ok(super::EXIT_INTERRUPTED);
        }
        Err(e) => return Err(e).with_context(|| format!("eval --model {}", model.display())),
    };
    if let Some(e) = first_error {
        return Err(e).context("one-pass evaluation");
    }
    if !global.quiet {
        eprintln!(
            "inferred {} images ({} skipped) in {:.2} s; evaluating",
            summary.processed,
            summary.failed.len(),
            summary.wall.as_secs_f64()
        );
    }
    super::eval::finish_and_emit(evaluator, args, global)?;
    Ok(if summary.failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}
