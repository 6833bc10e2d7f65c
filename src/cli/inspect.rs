//! `baiseg-rt inspect`: what a model declares.
use std::path::PathBuf;

use std::io::Write as _;

use anyhow::Context;
use clap::Args;

use super::GlobalOpts;
use baiseg_rt::model::{Device, Model, SessionOptions};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  baiseg-rt inspect models/baiseg_small.onnx
  baiseg-rt inspect models/baiseg_small.onnx --json")]
pub struct InspectArgs {
    /// The ONNX model.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    let model = Model::load(
        &args.model,
        &SessionOptions {
            device: Device::Cpu,
            threads: global.threads,
            trt_cache: None,
        },
    )
    .context("inspect")?;
    let info = &model.info;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(info)?)?;
        return Ok(super::EXIT_OK);
    }
    writeln!(out, "model:        {}", args.model.display())?;
    writeln!(out, "onnxruntime:  {}", model.library.display())?;
    for (title, specs) in [("inputs", &info.inputs), ("outputs", &info.outputs)] {
        writeln!(out, "{title}:")?;
        for t in specs {
            writeln!(
                out,
                "  {:<10} {} {:?} {}",
                t.name,
                t.dtype,
                t.shape,
                t.symbols.join(",")
            )?;
        }
    }
    writeln!(
        out,
        "mode:         {}",
        if info.has_semantic {
            "two-branch (boundary + semantic)"
        } else {
            "single-branch (boundary only; needs --semantic-dir)"
        }
    )?;
    writeln!(
        out,
        "classes ({}): {}",
        info.classes.len(),
        info.classes.join(", ")
    )?;
    writeln!(out, "mean / std:   {:?} / {:?}", info.mean, info.std)?;
    writeln!(
        out,
        "size divisor: {}   training size: {}",
        info.size_divisor, info.input_size
    )?;
    writeln!(out, "metadata:")?;
    for (k, v) in &info.metadata {
        writeln!(out, "  {k} = {v}")?;
    }
    Ok(super::EXIT_OK)
}
