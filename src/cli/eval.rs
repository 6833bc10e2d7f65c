//! `baiseg-rt eval`: COCO (pycocotools-identical) and VOC instance-segmentation metrics.
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use baiseg_rt::eval::{self, CocoDataset, EvalReport, Evaluator, IouType, Params, Protocol};

use super::{EXIT_OK, GlobalOpts};

/// `--iou-type`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IouTypeArg {
    /// Mask IoU.
    Segm,
    /// Box IoU.
    Bbox,
}

/// `--protocol`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// pycocotools COCOeval (12 stats).
    Coco,
    /// chainercv eval_instance_segmentation_voc at IoU 0.25/0.5/0.7/0.75 (crowd = difficult).
    VocChainercv,
    /// COCOeval with iouThrs 0.25/0.5/0.7/0.75 (as CIM).
    CocoThresholds,
}

/// Arguments of `eval`.
#[derive(Debug, Args)]
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
    /// MEP of the one-pass evaluation (with --model): paper (default) or improved.
    #[arg(long, value_name = "MODE", default_value_t = baiseg_rt::mep::MepMode::Paper)]
    pub mep: baiseg_rt::mep::MepMode,
    /// What is compared.
    #[arg(long, value_enum, default_value = "segm")]
    pub iou_type: IouTypeArg,
    /// Metric family.
    #[arg(long, value_enum, default_value = "coco")]
    pub protocol: ProtocolArg,
    /// IoU thresholds, comma-separated [default: 0.50:0.05:0.95; voc protocols 0.25,0.5,0.7,0.75].
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
    /// Write precision/recall curves as PNG into this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Do not print the per-category table.
    #[arg(long)]
    pub no_per_category: bool,
}

/// Validates the raw flags into library parameters.
///
/// # Errors
/// A message naming the bad flag.
pub fn params_from_args(args: &EvalArgs) -> anyhow::Result<Params> {
    let iou_type = match args.iou_type {
        IouTypeArg::Segm => IouType::Segm,
        IouTypeArg::Bbox => IouType::Bbox,
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
    p.validate()?;
    Ok(p)
}

/// Prints a report (summary and per-category table) and writes `--json` / `--plot`.
///
/// # Errors
/// I/O errors writing stdout or the files.
pub fn emit(report: &EvalReport, args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<()> {
    // Files first: a closed stdout (`| head`) must not lose them.
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(report).context("serialising the report")?;
        write_atomic(path, text.as_bytes())?;
    }
    if let Some(dir) = &args.plot {
        let files = eval::plot::write_plots(report, dir)?;
        tracing::info!("wrote {} plots into {}", files.len(), dir.display());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !global.quiet {
        if !args.no_per_category {
            writeln!(out, "{}", report.category_table())?;
        }
        write!(out, "{}", report.summary)?;
        out.flush()?;
    }
    Ok(())
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Builds the evaluator for one-pass evaluation (`--model --images`), for `infer` to feed with
/// `Evaluator::add_image_results` and then pass the report to [`emit`].
///
/// # Errors
/// Bad flags, or an unreadable/malformed ground-truth file.
#[allow(dead_code, reason = "entry point for the one-pass evaluation wired by infer")]
pub fn one_pass_evaluator(args: &EvalArgs) -> anyhow::Result<Evaluator> {
    let params = params_from_args(args)?;
    let gt = CocoDataset::from_path(&args.coco)?;
    Ok(Evaluator::new(gt, params)?.with_results_path("<inference>"))
}

/// Runs `eval`.
///
/// # Errors
/// Bad flags, unreadable or malformed inputs (the message names the file and the problem).
pub fn run(args: &EvalArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    let params = params_from_args(args)?;
    let Some(results) = &args.results else {
        return super::infer::one_pass_eval(args, global);
    };
    let report = eval::evaluate_files(&args.coco, results, params)?;
    emit(&report, args, global)?;
    Ok(EXIT_OK)
}
