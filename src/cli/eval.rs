//! `baiseg-rt eval` (issue 5). PLACEHOLDER.
use clap::Args;

use super::GlobalOpts;

/// Arguments of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {}

/// Runs `eval`.
pub fn run(_args: &EvalArgs, _global: &GlobalOpts) -> anyhow::Result<u8> {
    anyhow::bail!("eval is not implemented yet")
}
