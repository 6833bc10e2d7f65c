//! The pixel budget: the largest image `infer` takes, checked from the image header before any
//! pixel is decoded (docs/reliability.md#pixel-budget).
//!
//! One function, [`check_pixel_budget`], decides; tiling (which processes large images in
//! pieces) reuses it for the whole-image and per-tile checks.
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes of working memory `infer` needs per input pixel, a generous estimate: RGB (3), the f32
/// input tensor (12), boundary + semantic outputs at full resolution (4 * (K + 2), K <= 8 assumed),
/// the MEP's scratch (16) and outputs (~8).
pub const BYTES_PER_PIXEL: u64 = 80;

/// Largest default budget, whatever the memory: 256 megapixels.
pub const MAX_DEFAULT_PIXELS: u64 = 256 << 20;

/// Smallest default budget: 16 megapixels.
pub const MIN_DEFAULT_PIXELS: u64 = 16 << 20;

/// The default `--max-pixels`: a quarter of the physical memory divided by [`BYTES_PER_PIXEL`]
/// (several images are in flight at once), clamped to 16..=256 megapixels. Physical memory is read
/// from `/proc/meminfo`; where that is unavailable, 8 GiB is assumed.
#[must_use]
pub fn default_max_pixels() -> u64 {
    let mem = total_memory_bytes().unwrap_or(8 << 30);
    (mem / 4 / BYTES_PER_PIXEL).clamp(MIN_DEFAULT_PIXELS, MAX_DEFAULT_PIXELS)
}

/// Bytes per pixel of an image that runs tile by tile (`--tile`), whatever the number of classes:
/// the network only ever sees one tile batch and the foreground probabilities of a large image
/// live in a scratch file (`docs/tiling.md#plane-store`), but the RGB image (3), the class map
/// (2) and the boundary (4, until the seeds) or the markers (4), with the seeds (1), grow with the
/// image: 10 B/px (`docs/tiling.md#memory`), plus allocator slack and the band scratch of the
/// MEP; measured 12.1 B/px for three classes (the slope of `docs/tiling.md#measured-spill`, where
/// the peak is in the MEP, not in stitching), rounded up.
pub const TILED_BYTES_PER_PIXEL: u64 = 13;

/// The largest image that runs tile by tile: [`max_tiled_pixels_for`] the physical memory. With
/// `--tile`, `--max-pixels` bounds one forward pass (tile side squared times the batch) and this
/// bounds the whole image.
#[must_use]
pub fn max_tiled_pixels() -> u64 {
    max_tiled_pixels_for(total_memory_bytes().unwrap_or(8 << 30))
}

/// The largest image that runs tile by tile on a machine of `memory` bytes: half of it divided
/// by [`TILED_BYTES_PER_PIXEL`] (the other half for the model, the probabilities kept in memory
/// below the spill threshold, `--save` outputs and the next image in the pipeline), at least
/// 16 megapixels.
#[must_use]
pub fn max_tiled_pixels_for(memory: u64) -> u64 {
    (memory / 2 / TILED_BYTES_PER_PIXEL).max(MIN_DEFAULT_PIXELS)
}

fn total_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Checks an image of `width` x `height` against the budget of `max_pixels`.
///
/// # Errors
/// [`Error::Decode`] naming `path`: for a zero side, or for more pixels than `max_pixels` (then
/// naming the size and the budget, and marked for the `"pixel budget"` setting,
/// [`Error::for_setting`]).
pub fn check_pixel_budget(path: &Path, width: u64, height: u64, max_pixels: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::decode(path, "image has a zero dimension"));
    }
    let pixels = width.saturating_mul(height);
    if pixels > max_pixels {
        return Err(Error::decode(
            path,
            format!(
                "image is {width}x{height} = {pixels} pixels, more than the pixel budget of \
                 {max_pixels} (raise it if the machine has the memory)"
            ),
        )
        .for_setting("pixel budget"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_oversized_and_zero_images() {
        let p = Path::new("big.png");
        assert!(check_pixel_budget(p, 100, 100, 10_000).is_ok());
        let e = check_pixel_budget(p, 100_000, 100_000, 10_000).unwrap_err();
        assert_eq!(
            e.setting_name(),
            Some("pixel budget"),
            "front ends add their flag"
        );
        let err = e.to_string();
        assert!(!err.contains("--"), "library errors name no flag: {err}");
        assert!(
            err.contains("big.png") && err.contains("100000x100000") && err.contains("pixel budget"),
            "{err}"
        );
        assert!(check_pixel_budget(p, u64::MAX, u64::MAX, u64::MAX - 1).is_err());
        assert!(check_pixel_budget(p, 0, 5, 10).is_err());
    }

    #[test]
    fn tiled_budget_follows_the_accounting() {
        // Half the memory at 13 B/px: a 20000 x 20000 image (400 Mpx, 5.2 GB of full-frame maps)
        // needs a machine of 10.4 GB.
        let side20k = 20_000u64 * 20_000;
        assert_eq!(max_tiled_pixels_for(10_400_000_000), side20k);
        assert!(max_tiled_pixels_for(10_399_999_999) < side20k);
        assert_eq!(max_tiled_pixels_for(16 << 30), (16u64 << 30) / 26);
        // Small machines still take 16 Mpx.
        assert_eq!(max_tiled_pixels_for(1 << 20), MIN_DEFAULT_PIXELS);
        assert!(max_tiled_pixels() >= MIN_DEFAULT_PIXELS);
    }

    #[test]
    fn default_budget_is_clamped() {
        let d = default_max_pixels();
        assert!((MIN_DEFAULT_PIXELS..=MAX_DEFAULT_PIXELS).contains(&d));
    }
}
