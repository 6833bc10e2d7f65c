//! `baiseg-rt inspect`: what a model declares.
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::GlobalOpts;
use baiseg_rt::model::{Device, Model, SessionOptions};

/// Arguments of `inspect`.
#[derive(Debug, Args)]
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
    .with_context(|| format!("inspect {}", args.model.display()))?;
    let info = &model.info;
    if args.json {
        println!("{}", serde_json::to_string_pretty(info)?);
        return Ok(super::EXIT_OK);
    }
    println!("model:        {}", args.model.display());
    println!("onnxruntime:  {}", model.library.display());
    println!("inputs:");
    for t in &info.inputs {
        println!(
            "  {:<10} {} {:?} {}",
            t.name,
            t.dtype,
            t.shape,
            t.symbols.join(",")
        );
    }
    println!("outputs:");
    for t in &info.outputs {
        println!(
            "  {:<10} {} {:?} {}",
            t.name,
            t.dtype,
            t.shape,
            t.symbols.join(",")
        );
    }
    println!(
        "mode:         {}",
        if info.has_semantic {
            "two-branch (boundary + semantic)"
        } else {
            "single-branch (boundary only; needs --semantic-dir)"
        }
    );
    println!("classes ({}): {}", info.classes.len(), info.classes.join(", "));
    println!("mean / std:   {:?} / {:?}", info.mean, info.std);
    println!(
        "size divisor: {}   training size: {}",
        info.size_divisor, info.input_size
    );
    println!("metadata:");
    for (k, v) in &info.metadata {
        println!("  {k} = {v}");
    }
    Ok(super::EXIT_OK)
}
