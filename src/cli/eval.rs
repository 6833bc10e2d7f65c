//! `baiseg-rt eval`: COCO (pycocotools-identical) and VOC instance-segmentation metrics, from a
//! results file or in one pass with the engine (`--model --images`: an evaluator sink, nothing
//! written; docs/engine.md#front-ends).
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use baiseg_rt::eval::{self, CocoDataset, EvalReport, Evaluator, IouType, Params, Protocol};
use baiseg_rt::model::{Device, SessionOptions};
use baiseg_rt::output::write_bytes_atomic;

use super::mep::MepFlags;
use super::{EXIT_OK, EXIT_PARTIAL, GlobalOpts};

/// `--iou-type`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IouTypeArg {
    /// Mask `IoU`.
    Segm,
    /// Box `IoU`.
    Bbox,
    /// Boundary `IoU` (Cheng et al. 2021), as faster-coco-eval `iouType="boundary"`.
    Boundary,
}

/// `--sort`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    /// Category id.
    Id,
    /// AP, best first.
    Ap,
    /// Category name.
    Name,
    /// Number of ground truths, most first.
    Gt,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// pycocotools `COCOeval` (12 stats).
    Coco,
    /// chainercv `eval_instance_segmentation_voc` at `IoU` 0.25/0.5/0.7/0.75 (crowd = difficult).
    VocChainercv,
    /// `COCOeval` with iouThrs 0.25/0.5/0.7/0.75 (as CIM).
    CocoThresholds,
}

/// Arguments of `eval`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  baiseg-rt eval --coco annotations.json --results run1/instances.json
  baiseg-rt eval --coco annotations.json --results run1/instances.json --protocol voc-chainercv
  baiseg-rt eval --coco annotations.json --model model.onnx --images images/ --device auto")]
pub struct EvalArgs {
    /// COCO ground-truth annotation file.
    #[arg(long, value_name = "GT.json")]
    pub coco: PathBuf,
    /// COCO results file (a JSON list of detections).
    #[arg(long, value_name = "DT.json", required_unless_present = "model")]
    pub results: Option<PathBuf>,
    /// One-pass evaluation: run this model on --images and evaluate while it runs.
    #[arg(
        long,
        value_name = "MODEL.onnx",
        requires = "images",
        conflicts_with = "results"
    )]
    pub model: Option<PathBuf>,
    /// Images for one-pass evaluation (with --model).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Execution provider of the one-pass evaluation (with --model): cpu, cuda[:N], tensorrt[:N]
    /// or auto.
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: Device,
    /// Images per ONNX Runtime call in the one-pass evaluation (with --model).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// MEP of the one-pass evaluation (with --model); --mep paper (default) or improved.
    #[command(flatten)]
    pub mep: MepFlags,
    /// What is compared.
    #[arg(long, value_enum, default_value = "segm")]
    pub iou_type: IouTypeArg,
    /// Metric family.
    #[arg(long, value_enum, default_value = "coco")]
    pub protocol: ProtocolArg,
    /// `IoU` thresholds, comma-separated [default: 0.50:0.05:0.95; voc protocols 0.25,0.5,0.7,0.75].
    #[arg(long, value_delimiter = ',', value_name = "T,...")]
    pub iou_thrs: Option<Vec<f64>>,
    /// maxDets, comma-separated (at least 3 for the 12-line summary) [default: 1,10,100].
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub max_dets: Option<Vec<usize>>,
    /// Area ranges lo:hi, comma-separated, labelled all,small,medium,large in order
    /// [default: 0:1e10,0:1024,1024:9216,9216:1e10].
    #[arg(long, value_delimiter = ',', value_name = "LO:HI,...")]
    pub area_rng: Option<Vec<String>>,
    /// Evaluate only these category ids [default: all].
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub cat_ids: Option<Vec<i64>>,
    /// Evaluate only these image ids [default: all].
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub img_ids: Option<Vec<i64>>,
    /// useCats: match detections to ground truth of the same category only.
    #[arg(long, value_name = "BOOL", default_value = "true", action = clap::ArgAction::Set)]
    pub use_cats: bool,
    /// Count detections matched to ground-truth annotation id 0 as true positives
    /// (pycocotools counts them as false positives; off by default for identical numbers).
    #[arg(long)]
    pub fix_zero_ids: bool,
    /// Write every number (stats, per-category AP, params) to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write precision/recall figures (SVG and PNG, one overall and one per category) into this
    /// directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Write an HTML report (summary, per-category table, figures, TIDE breakdown, confusion
    /// matrix) into this directory (index.html).
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Write the TIDE error breakdown (Bolya et al. 2020) as JSON to this file and print its table.
    #[arg(long, value_name = "FILE")]
    pub tide: Option<PathBuf>,
    /// Write the confusion matrix (categories + background) as JSON to this file, with the
    /// picture beside it (same name, .svg and .png).
    #[arg(long, value_name = "FILE")]
    pub confusion: Option<PathBuf>,
    /// Confusion matrix: `IoU` needed for a match.
    #[arg(long, value_name = "T", default_value_t = 0.5)]
    pub confusion_iou: f64,
    /// Confusion matrix: detections below this score are left out.
    #[arg(long, value_name = "S", default_value_t = 0.5)]
    pub confusion_score: f64,
    /// Do not print the per-category table.
    #[arg(long)]
    pub no_per_category: bool,
    /// Also list categories with no ground truth and no detections in the per-category table.
    #[arg(long)]
    pub all_categories: bool,
    /// Order of the per-category table.
    #[arg(long, value_enum, default_value = "id")]
    pub sort: SortArg,
    /// Boundary `IoU`: erosion radius as a fraction of the image diagonal.
    #[arg(long, value_name = "R", default_value_t = eval::boundary::DEFAULT_DILATION_RATIO)]
    pub boundary_dilation_ratio: f64,
}

impl EvalArgs {
    /// The per-category table options of `--all-categories` / `--sort`.
    #[must_use]
    pub fn table_options(&self) -> eval::TableOptions {
        eval::TableOptions {
            all_categories: self.all_categories,
            sort: match self.sort {
                SortArg::Id => eval::TableSort::Id,
                SortArg::Ap => eval::TableSort::Ap,
                SortArg::Name => eval::TableSort::Name,
                SortArg::Gt => eval::TableSort::Gt,
            },
        }
    }
}

/// Validates the raw flags into library parameters.
///
/// # Errors
/// A message naming the bad flag.
pub fn params_from_args(args: &EvalArgs) -> anyhow::Result<Params> {
    let iou_type = match args.iou_type {
        IouTypeArg::Segm => IouType::Segm,
        IouTypeArg::Bbox => IouType::Bbox,
        IouTypeArg::Boundary => IouType::Boundary,
    };
    let protocol = match args.protocol {
        ProtocolArg::Coco => Protocol::Coco,
        ProtocolArg::VocChainercv => Protocol::VocChainercv,
        ProtocolArg::CocoThresholds => Protocol::CocoThresholds,
    };
    let mut p = Params::for_protocol(iou_type, protocol);
    if let Some(t) = &args.iou_thrs {
        p.iou_thrs.clone_from(t);
    }
    if let Some(m) = &args.max_dets {
        if m.len() < 3 && protocol != Protocol::VocChainercv {
            bail!("--max-dets needs at least 3 values (the summary reads maxDets[0..3])");
        }
        p.max_dets.clone_from(m);
    }
    if let Some(ranges) = &args.area_rng {
        let labels = ["all", "small", "medium", "large"];
        if ranges.len() > labels.len() {
            bail!("--area-rng takes at most 4 ranges (labelled all, small, medium, large)");
        }
        p.area_rng = ranges
            .iter()
            .map(|r| {
                let (lo, hi) = r
                    .split_once(':')
                    .with_context(|| format!("--area-rng: {r:?} is not LO:HI"))?;
                let lo: f64 = lo
                    .trim()
                    .parse()
                    .with_context(|| format!("--area-rng: bad number in {r:?}"))?;
                let hi: f64 = hi
                    .trim()
                    .parse()
                    .with_context(|| format!("--area-rng: bad number in {r:?}"))?;
                Ok([lo, hi])
            })
            .collect::<anyhow::Result<_>>()?;
        p.area_rng_lbl = labels[..ranges.len()].iter().map(|s| (*s).to_owned()).collect();
    }
    p.cat_ids.clone_from(&args.cat_ids);
    p.img_ids.clone_from(&args.img_ids);
    p.use_cats = args.use_cats;
    p.fix_zero_ids = args.fix_zero_ids;
    p.boundary_dilation_ratio = args.boundary_dilation_ratio;
    p.validate()?;
    Ok(p)
}

/// The error analyses `--tide` / `--confusion` / `--report` ask for.
fn analyses(args: &EvalArgs) -> (Option<eval::TideParams>, Option<eval::ConfusionParams>) {
    let want = args.report.is_some();
    let tide = (want || args.tide.is_some()).then(eval::TideParams::default);
    let confusion = (want || args.confusion.is_some()).then_some(eval::ConfusionParams {
        iou_thresh: args.confusion_iou,
        score_thresh: args.confusion_score,
    });
    (tide, confusion)
}

/// Runs the requested analyses, finishes the evaluation and emits everything.
///
/// # Errors
/// As [`Evaluator::analyse`], [`Evaluator::finish`] and [`emit_all`].
pub fn finish_and_emit(ev: Evaluator, args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<()> {
    let (tp, cp) = analyses(args);
    let (tide, confusion) = if tp.is_some() || cp.is_some() {
        ev.analyse(tp.as_ref(), cp.as_ref())?
    } else {
        (None, None)
    };
    let report = ev.finish()?;
    emit_all(&report, tide.as_ref(), confusion.as_ref(), args, global)
}

/// Prints a report (summary and per-category table) and writes `--json` / `--plot`.
///
/// # Errors
/// I/O errors writing stdout or the files.
pub fn emit(report: &EvalReport, args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<()> {
    emit_all(report, None, None, args, global)
}

/// [`emit`] with the error analyses: writes `--tide`, `--confusion`, `--report` too.
///
/// # Errors
/// I/O errors writing stdout or the files.
pub fn emit_all(
    report: &EvalReport,
    tide: Option<&eval::TideReport>,
    confusion: Option<&eval::ConfusionMatrix>,
    args: &EvalArgs,
    global: &GlobalOpts,
) -> anyhow::Result<()> {
    // Files first: a closed stdout (`| head`) must not lose them.
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(report).context("serialising the report")?;
        write_bytes_atomic(path, text.as_bytes())?;
    }
    if let Some(dir) = &args.plot {
        let files = eval::plot::write_plots(report, dir)?;
        tracing::info!("wrote {} plot files into {}", files.len(), dir.display());
    }
    if let (Some(path), Some(t)) = (&args.tide, tide) {
        let text = serde_json::to_string_pretty(t).context("serialising the TIDE breakdown")?;
        write_bytes_atomic(path, text.as_bytes())?;
    }
    if let (Some(path), Some(c)) = (&args.confusion, confusion) {
        let text = serde_json::to_string_pretty(c).context("serialising the confusion matrix")?;
        write_bytes_atomic(path, text.as_bytes())?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let stem = path
            .file_stem()
            .map_or_else(|| "confusion".to_owned(), |s| s.to_string_lossy().into_owned());
        let title = format!("Confusion matrix ({})", report.iou_type.as_str());
        eval::plot::write_scene(&c.scene(args.all_categories, &title), dir, &stem)?;
    }
    if let Some(dir) = &args.report {
        let mut inputs = vec![("ground truth", args.coco.display().to_string())];
        if let Some(r) = &args.results {
            inputs.push(("results", r.display().to_string()));
        }
        if let Some(m) = &args.model {
            inputs.push(("model", m.display().to_string()));
        }
        let extras = eval::report::ReportExtras {
            tide,
            confusion,
            inputs: &inputs,
        };
        let index = eval::report::write_report(dir, report, args.table_options(), &extras)?;
        tracing::info!("wrote the report {}", index.display());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !global.quiet {
        if !args.no_per_category {
            writeln!(out, "{}", report.category_table_with(args.table_options()))?;
        }
        write!(out, "{}", report.summary)?;
        if let Some(t) = tide {
            write!(out, "\n{}", t.table())?;
        }
        out.flush()?;
    }
    Ok(())
}

/// The engine configuration of a one-pass evaluation (`--model --images`): the user's device,
/// batch and MEP flags; image and category ids from `--coco`.
///
/// # Errors
/// A usage error naming the flag.
fn one_pass_config(args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<baiseg_rt::engine::InferConfig> {
    let (Some(model), Some(images)) = (&args.model, &args.images) else {
        return Err(super::usage(
            "give either --results DT.json, or --model MODEL.onnx with --images DIR",
        ));
    };
    if args.batch == 0 || args.batch > super::MAX_BATCH {
        return Err(super::usage(format!(
            "--batch {} is out of range 1..={}",
            args.batch,
            super::MAX_BATCH
        )));
    }
    args.mep.validate().map_err(super::usage)?;
    Ok(baiseg_rt::engine::InferConfig {
        model: model.clone(),
        inputs: vec![images.clone()],
        coco: Some(args.coco.clone()),
        semantic_dir: None,
        session: SessionOptions {
            device: args.device,
            threads: global.threads,
            trt_cache: None,
        },
        batch: args.batch,
        force: false,
        mep: args.mep.to_params(),
        threads: global.threads,
        shard: None,
        max_pixels: baiseg_rt::input::default_max_pixels(),
        allow_truncated: false,
        tile: None,
        scratch_dir: None,
        spill_above: None,
    })
}

/// `eval --coco GT --model MODEL --images DIR`: infer and evaluate in one streaming pass through
/// an evaluator sink, without writing masks (docs/evaluation.md, docs/engine.md#sink).
fn one_pass_eval(args: &EvalArgs, params: Params, global: &GlobalOpts) -> anyhow::Result<u8> {
    let cfg = one_pass_config(args, global)?;
    let gt = CocoDataset::from_path(&args.coco)?;
    let sink = baiseg_rt::engine::EvalSink::new(Evaluator::new(gt, params)?.with_results_path("<inference>"));
    let cancel = super::interrupt::cancel_flag();
    let pb = super::progress::bar(global);
    let observer = |event: baiseg_rt::engine::Event<'_>| super::progress::show(&pb, &event, false);
    let result = baiseg_rt::engine::run(&cfg, &sink, &observer, cancel);
    pb.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(baiseg_rt::Error::Interrupted) => {
            eprintln!("interrupted: nothing evaluated");
            return Ok(super::EXIT_INTERRUPTED);
        }
        Err(e) => return Err(e).with_context(|| format!("eval --model {}", cfg.model.display())),
    };
    let evaluator = sink.into_evaluator().context("one-pass evaluation")?;
    if !global.quiet {
        eprintln!(
            "inferred {} images ({} skipped) in {:.2} s; evaluating",
            summary.processed,
            summary.failed.len(),
            summary.wall.as_secs_f64()
        );
    }
    finish_and_emit(evaluator, args, global)?;
    Ok(if summary.failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    })
}

/// Runs `eval`.
///
/// # Errors
/// Bad flags, unreadable or malformed inputs (the message names the file and the problem).
pub fn run(args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    let params = params_from_args(args).map_err(|e| super::usage(format!("{e:#}")))?;
    let Some(results) = &args.results else {
        return one_pass_eval(args, params, global);
    };
    let (tp, cp) = analyses(args);
    if tp.is_none() && cp.is_none() {
        let report = eval::evaluate_files(&args.coco, results, params)?;
        emit(&report, args, global)?;
    } else {
        let gt = if params.iou_type == IouType::Bbox {
            CocoDataset::from_path_boxes_only(&args.coco)?
        } else {
            CocoDataset::from_path(&args.coco)?
        };
        let mut ev = Evaluator::new(gt, params)?.with_results_path(results);
        ev.add_results(eval::load_results(results)?)?;
        finish_and_emit(ev, args, global)?;
    }
    Ok(EXIT_OK)
}
