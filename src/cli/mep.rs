//! `baiseg-rt mep` (issue 7). PLACEHOLDER.
use clap::Args;

use super::GlobalOpts;

/// Arguments of `mep`.
#[derive(Debug, Args)]
pub struct MepArgs {}

/// Runs `mep`.
pub fn run(_args: &MepArgs, _global: &GlobalOpts) -> anyhow::Result<u8> {
    anyhow::bail!("mep is not implemented yet")
}
