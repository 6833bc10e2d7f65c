//! `baiseg-rt merge`: join the outputs of sharded `infer` runs.
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{EXIT_OK, GlobalOpts};

/// Arguments of `merge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples (two shards, e.g. two Slurm array tasks, then one merge):
  baiseg-rt infer model.onnx images/ --shard 0/2 --out run.0
  baiseg-rt infer model.onnx images/ --shard 1/2 --out run.1
  baiseg-rt merge run.0 run.1 --out run"
)]
pub struct MergeArgs {
    /// Output directories of `baiseg-rt infer --shard k/n` runs over the same inputs.
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged output (instances.json, images.json, per-image files).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `merge`.
pub fn run(args: &MergeArgs, global: &GlobalOpts) -> anyhow::Result<u8> {
    let summary = baiseg_rt::output::merge::merge_runs(&args.shards, &args.out)
        .with_context(|| format!("merge into {}", args.out.display()))?;
    if !global.quiet {
        eprintln!(
            "merged {} shards: {} instances, {} images listed, {} per-image files -> {}",
            summary.shards,
            summary.instances,
            summary.images,
            summary.files,
            args.out.display()
        );
    }
    Ok(EXIT_OK)
}
