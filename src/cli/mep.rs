//! `baiseg-rt mep` (issue 7). PLACEHOLDER until the MEP lands; `MepFlags` is shared with `infer`.
use clap::Args;

use super::GlobalOpts;
use baiseg_rt::mep::MepParams;

/// MEP parameters as command-line flags (SPEC section 2 defaults).
#[derive(Debug, Clone, Args)]
pub struct MepFlags {
    /// NMS sampling radius r.
    #[arg(long, default_value_t = 1, help_heading = "MEP options")]
    pub nms_radius: usize,
    /// NMS margin m: suppress a pixel if a neighbour along the normal exceeds m*B(p).
    #[arg(long, default_value_t = 1.01, help_heading = "MEP options")]
    pub nms_margin: f64,
    /// Threshold on the thinned boundary.
    #[arg(long, default_value_t = 0.5, help_heading = "MEP options")]
    pub edge_threshold: f32,
    /// 3x3 dilations of the thinned boundary.
    #[arg(long, default_value_t = 2, help_heading = "MEP options")]
    pub dilate_iterations: usize,
    /// Seeds are pixels farther than this from the dilated boundary (pixels).
    #[arg(long, default_value_t = 3.0, help_heading = "MEP options")]
    pub seed_distance: f64,
    /// Elliptical closing kernel size.
    #[arg(long, default_value_t = 5, help_heading = "MEP options")]
    pub closing_kernel: usize,
    /// Drop instances smaller than this (pixels).
    #[arg(long, default_value_t = 0, help_heading = "MEP options")]
    pub min_area: u64,
}

impl MepFlags {
    /// The MEP parameters.
    pub fn to_params(&self) -> MepParams {
        MepParams {
            nms_radius: self.nms_radius,
            nms_margin: self.nms_margin,
            edge_threshold: self.edge_threshold,
            dilate_iterations: self.dilate_iterations,
            seed_distance: self.seed_distance,
            closing_kernel: self.closing_kernel,
            min_area: self.min_area,
        }
    }
}

/// Arguments of `mep`.
#[derive(Debug, Args)]
pub struct MepArgs {}

/// Runs `mep`.
pub fn run(_args: &MepArgs, _global: &GlobalOpts) -> anyhow::Result<u8> {
    anyhow::bail!("mep is not implemented yet")
}
