//! Tiled inference (`infer --tile SIZE --tile-overlap PX`; design: `docs/tiling.md`).
//!
//! An image larger than one tile is cut into overlapping tiles of `SIZE x SIZE` (rounded up to the
//! model's `size_divisor`) whose origins are multiples of the divisor, so that a model whose
//! output does not depend on absolute position sees every pixel on the same grid as in an untiled
//! run. Tiles are normalised straight from the RGB buffer (no full-frame input tensor), sent
//! `batch` at a time to ONNX Runtime, and each tile's maps are resized to the tile (docs/model-contract.md's
//! cv2 bilinear rule, #io) and *cropped at the seams*: a tile keeps only the part of the
//! overlap nearer to its own centre (the cut is the middle of the overlap), so every kept pixel
//! is at least `overlap / 2` away from a tile edge that is not an image edge. The last tile of a
//! row or column ends where the untiled run's padded canvas ends (`round_up(len, divisor)`), so
//! image borders and padding are seen exactly as without tiling.
//!
//! The stitched boundary and semantic maps then go through the MEP as one image, so an instance
//! crossing a seam comes out once and whole, exactly as the untiled MEP would produce it from the
//! same maps. Memory: the model's input and outputs are bounded by one tile batch; the stitched
//! maps (4 bytes per pixel for the boundary, 2 for the class map) and the MEP's working buffers
//! still grow with the image, while the `K` foreground probability planes of a large image go to
//! a scratch file ([`planes`], `docs/tiling.md#memory`).
use std::ops::Range;
use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::{Array2, Array3, Array4, Axis, s};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::input::Normalization;
use crate::input::preprocess::round_up;
use crate::maps::{Maps, SemanticMap, resize_window};
use crate::model::{Model, RawOutputs};

pub mod mep;
pub mod planes;

pub use planes::{PlaneStore, SpillOptions};

/// `--tile SIZE --tile-overlap PX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileOptions {
    /// Tile side in pixels (rounded up to the model's `size_divisor`).
    pub size: usize,
    /// Minimum overlap between neighbouring tiles in pixels.
    pub overlap: usize,
}

impl TileOptions {
    /// Checks the options against a model's `size_divisor`.
    ///
    /// # Errors
    /// [`Error::Setting`] (`"tile size"`, `"tile overlap"`) when the tile is empty or the overlap
    /// leaves no stride of at least one divisor.
    pub fn validate(&self, size_divisor: usize) -> Result<()> {
        let d = size_divisor.max(1);
        let t = round_up(self.size, d);
        if self.size == 0 {
            return Err(Error::setting("tile size", "must be at least 1"));
        }
        if self.overlap + d > t {
            return Err(Error::setting(
                "tile overlap",
                format!(
                    "overlap {} leaves no stride in a tile of {t} px (the tile side rounded up to the model's size divisor {d}); \
                     use an overlap of at most {}",
                    self.overlap,
                    t - d
                ),
            ));
        }
        Ok(())
    }

    /// The tile side the model sees (`size` rounded up to the divisor).
    #[must_use]
    pub fn tile_side(&self, size_divisor: usize) -> usize {
        round_up(self.size, size_divisor.max(1))
    }

    /// Whether an `h x w` image needs more than one tile.
    #[must_use]
    pub fn needs_tiling(&self, h: usize, w: usize, size_divisor: usize) -> bool {
        let d = size_divisor.max(1);
        let t = self.tile_side(d);
        round_up(h, d) > t || round_up(w, d) > t
    }

    /// Input pixels of one forward pass of `batch` tiles (what a pixel budget must allow).
    #[must_use]
    pub fn pass_pixels(&self, batch: usize, size_divisor: usize) -> u64 {
        let t = self.tile_side(size_divisor) as u64;
        t * t * batch.max(1) as u64
    }
}

/// One tile along one axis: it covers `start .. start + extent` of the padded canvas and keeps
/// `keep` (image coordinates) of its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxisTile {
    /// First pixel covered.
    pub start: usize,
    /// The pixels whose output this tile provides.
    pub keep: Range<usize>,
}

/// Tiles along an axis of `len` pixels: extent (the tile side on this axis) and the tiles.
///
/// The canvas is `P = round_up(len, d)`. With `T = min(round_up(tile, d), P)` and the stride
/// `S = floor((T - overlap) / d) * d`, tiles start at `0, S, 2S, ...` and the last one at `P - T`;
/// the seam between two neighbours is the middle of their overlap.
#[must_use]
pub fn axis_plan(len: usize, tile: usize, overlap: usize, d: usize) -> (usize, Vec<AxisTile>) {
    let d = d.max(1);
    let p = round_up(len, d);
    let t = round_up(tile.max(1), d).min(p);
    let stride = ((t.saturating_sub(overlap)) / d * d).max(d);
    let mut starts = vec![0usize];
    while let Some(&last) = starts.last() {
        if last + t >= p {
            break;
        }
        let next = last + stride;
        starts.push(if next + t >= p { p - t } else { next });
    }
    let cuts: Vec<usize> = starts.windows(2).map(|w| (w[1] + w[0] + t) / 2).collect();
    let tiles = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let lo = if i == 0 { 0 } else { cuts[i - 1] };
            let hi = if i + 1 == starts.len() { len } else { cuts[i] };
            AxisTile {
                start,
                keep: lo.min(len)..hi.min(len),
            }
        })
        .collect();
    (t, tiles)
}

/// One tile of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// Top row of the tile on the canvas.
    pub y: usize,
    /// Left column.
    pub x: usize,
    /// Rows of the image this tile provides.
    pub rows: Range<usize>,
    /// Columns of the image this tile provides.
    pub cols: Range<usize>,
}

/// The tiles of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlan {
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Tile height seen by the model.
    pub tile_h: usize,
    /// Tile width seen by the model.
    pub tile_w: usize,
    /// Tiles, row-major.
    pub tiles: Vec<Tile>,
}

impl TilePlan {
    /// Plans the tiles of an `h x w` image.
    #[must_use]
    pub fn new(h: usize, w: usize, opts: &TileOptions, size_divisor: usize) -> Self {
        let (tile_h, rows) = axis_plan(h, opts.size, opts.overlap, size_divisor);
        let (tile_w, cols) = axis_plan(w, opts.size, opts.overlap, size_divisor);
        let tiles = rows
            .iter()
            .flat_map(|r| {
                cols.iter().map(move |c| Tile {
                    y: r.start,
                    x: c.start,
                    rows: r.keep.clone(),
                    cols: c.keep.clone(),
                })
            })
            .collect();
        Self {
            height: h,
            width: w,
            tile_h,
            tile_w,
            tiles,
        }
    }
}

/// Normalises `tiles` of `image` into a `[N, 3, tile_h, tile_w]` batch; pixels outside the image
/// hold the mean colour (0), as the untiled padding.
#[must_use]
pub fn tile_batch(
    image: &RgbImage,
    tiles: &[Tile],
    tile_h: usize,
    tile_w: usize,
    norm: &Normalization,
) -> Array4<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let lut = norm.lookup_tables();
    let mut tensor = Array4::<f32>::zeros((tiles.len(), 3, tile_h, tile_w));
    tensor
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(tiles.par_iter())
        .for_each(|(mut slot, t)| {
            let cols = t.x.min(w)..(t.x + tile_w).min(w);
            for c in 0..3 {
                let mut plane = slot.index_axis_mut(Axis(0), c);
                for y in t.y..(t.y + tile_h).min(h) {
                    let src = &raw[(y * w + cols.start) * 3..(y * w + cols.end) * 3];
                    let mut row = plane.row_mut(y - t.y);
                    for (d, px) in row.iter_mut().zip(src.chunks_exact(3)) {
                        *d = lut[c][px[c] as usize];
                    }
                }
            }
        });
    tensor
}

/// What the stitched maps keep of the model's semantic output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemanticKeep {
    /// All `K+1` probability channels at full resolution (`4 (K+1)` bytes per pixel): what
    /// [`Stitched::into_maps`] and the full-frame MEP runner need (`--mep improved`).
    Full,
    /// The argmax class map (u16) and the probabilities of the `K` foreground classes only: all
    /// the paper MEP needs (`mep::extract_compact`, `docs/tiling.md#memory`).
    Compact,
    /// Nothing: the classes come from outside (`--semantic-dir`).
    Discard,
}

impl SemanticKeep {
    /// What a run with these MEP parameters needs: the compact maps for the paper MEP, the full
    /// probabilities for the improved one, nothing when labels come from outside.
    #[must_use]
    pub fn for_run(params: &crate::mep::MepParams, labels_from_outside: bool) -> Self {
        if labels_from_outside {
            Self::Discard
        } else if params.mode == crate::mep::MepMode::Paper {
            Self::Compact
        } else {
            Self::Full
        }
    }
}

/// The semantic part of [`Stitched`].
#[derive(Debug)]
pub enum StitchedSemantic {
    /// No semantic map (single-branch model, or [`SemanticKeep::Discard`]).
    None,
    /// Class probabilities `[K+1, H, W]`.
    Full(Array3<f32>),
    /// The class map (argmax of the probabilities, first maximum on ties, as
    /// `mep::refine::class_map_into`) and the foreground probabilities `[K, H, W]` (plane
    /// `c - 1` holds class `c`), in memory or in a scratch file ([`PlaneStore`]).
    Compact {
        /// Argmax class per pixel.
        classes: Array2<u16>,
        /// Probabilities of classes `1..=K`.
        foreground: PlaneStore,
    },
}

/// Full-frame maps assembled from tiles.
#[derive(Debug)]
pub struct Stitched {
    /// Boundary probability `[H, W]`.
    pub boundary: Array2<f32>,
    /// What is kept of the semantic output.
    pub semantic: StitchedSemantic,
}

impl Stitched {
    /// Empty maps for an `h x w` image with `channels` semantic channels (`None`: single-branch),
    /// keeping all of them ([`SemanticKeep::Full`]).
    #[must_use]
    pub fn new(h: usize, w: usize, channels: Option<usize>) -> Self {
        Self::with_keep(h, w, channels, SemanticKeep::Full)
    }

    /// Empty maps for an `h x w` image with `channels` semantic channels (`None`: single-branch),
    /// keeping `keep` of them, all in memory.
    #[must_use]
    pub fn with_keep(h: usize, w: usize, channels: Option<usize>, keep: SemanticKeep) -> Self {
        let semantic = match (channels, keep) {
            (None, _) | (_, SemanticKeep::Discard) => StitchedSemantic::None,
            (Some(k), SemanticKeep::Full) => StitchedSemantic::Full(Array3::zeros((k, h, w))),
            (Some(k), SemanticKeep::Compact) => StitchedSemantic::Compact {
                classes: Array2::zeros((h, w)),
                foreground: PlaneStore::in_memory(k.saturating_sub(1), h, w),
            },
        };
        Self {
            boundary: Array2::zeros((h, w)),
            semantic,
        }
    }

    /// [`Stitched::with_keep`], with the foreground planes of compact maps in a scratch file when
    /// `spill` says so (`docs/tiling.md#plane-store`).
    ///
    /// # Errors
    /// [`Error::Io`] naming the scratch folder when the scratch file cannot be made.
    pub fn with_spill(
        h: usize,
        w: usize,
        channels: Option<usize>,
        keep: SemanticKeep,
        spill: &SpillOptions,
    ) -> Result<Self> {
        Ok(match (channels, keep) {
            (Some(k), SemanticKeep::Compact) => Self {
                boundary: Array2::zeros((h, w)),
                semantic: StitchedSemantic::Compact {
                    classes: Array2::zeros((h, w)),
                    foreground: PlaneStore::new(k.saturating_sub(1), h, w, spill)?,
                },
            },
            _ => Self::with_keep(h, w, channels, keep),
        })
    }

    /// The full probabilities, when kept ([`SemanticKeep::Full`]).
    #[must_use]
    pub fn probabilities(&self) -> Option<&Array3<f32>> {
        match &self.semantic {
            StitchedSemantic::Full(p) => Some(p),
            _ => None,
        }
    }

    /// Copies the kept part of slot `slot` of `raw` (the outputs of a batch of `tile_h x tile_w`
    /// tiles, at the network's resolution) into place.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the slot is outside the batch or the outputs disagree with the
    /// maps (missing semantic channels), or (compact maps) the probabilities hold NaN;
    /// [`Error::Io`] naming the scratch folder when the scratch file cannot be written.
    pub fn add(
        &mut self,
        raw: &RawOutputs,
        slot: usize,
        tile: &Tile,
        tile_h: usize,
        tile_w: usize,
    ) -> Result<()> {
        if slot >= raw.boundary.shape()[0] {
            return Err(Error::invalid(
                "tiles",
                format!("tile {slot} is outside the batch"),
            ));
        }
        let rows = tile.rows.start - tile.y..tile.rows.end - tile.y;
        let cols = tile.cols.start - tile.x..tile.cols.end - tile.x;
        let window = |src: ndarray::ArrayView2<'_, f32>| {
            resize_window(src, tile_h, tile_w, rows.clone(), cols.clone())
        };
        let b = raw.boundary.index_axis(Axis(0), slot);
        self.boundary
            .slice_mut(s![tile.rows.clone(), tile.cols.clone()])
            .assign(&window(b.index_axis(Axis(0), 0)));
        let channels = match &self.semantic {
            StitchedSemantic::None => return Ok(()),
            StitchedSemantic::Full(p) => p.shape()[0],
            StitchedSemantic::Compact { foreground, .. } => foreground.planes() + 1,
        };
        let Some(sem) = raw.semantic.as_ref() else {
            return Err(Error::invalid("tiles", "the model gave no semantic output"));
        };
        let sem = sem.index_axis(Axis(0), slot);
        if sem.shape()[0] != channels {
            return Err(Error::invalid(
                "tiles",
                "semantic channel count changed between tiles",
            ));
        }
        let (rs, cs) = (tile.rows.clone(), tile.cols.clone());
        match &mut self.semantic {
            StitchedSemantic::None => {}
            StitchedSemantic::Full(p) => {
                for (c, mut plane) in p.axis_iter_mut(Axis(0)).enumerate() {
                    plane
                        .slice_mut(s![rs.clone(), cs.clone()])
                        .assign(&window(sem.index_axis(Axis(0), c)));
                }
            }
            StitchedSemantic::Compact { classes, foreground } => {
                // The class map is the argmax over all K+1 channels (first maximum wins, as
                // `mep::refine::class_map_into`); only the foreground channels are stored.
                // Each plane's window goes straight to the store (a spilled store writes it to
                // its place in the scratch file: `planes::PlaneStore::write_plane`).
                let mut best = window(sem.index_axis(Axis(0), 0));
                let mut nan = best.iter().any(|v| v.is_nan());
                let mut cls = Array2::<u16>::zeros(best.dim());
                for c in 1..channels {
                    let plane = window(sem.index_axis(Axis(0), c));
                    let id = u16::try_from(c).unwrap_or(u16::MAX);
                    ndarray::Zip::from(&mut best)
                        .and(&mut cls)
                        .and(&plane)
                        .for_each(|b, k, &v| {
                            nan |= v.is_nan();
                            if v > *b {
                                *b = v;
                                *k = id;
                            }
                        });
                    foreground.write_plane(c - 1, rs.clone(), cs.clone(), plane.view())?;
                }
                if nan {
                    return Err(Error::invalid("semantic probabilities", "contain NaN"));
                }
                classes.slice_mut(s![rs, cs]).assign(&cls);
            }
        }
        Ok(())
    }

    /// The maps for the MEP: the model's probabilities, or `labels` given from outside
    /// (`--semantic-dir`).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `labels` has the wrong size, neither is available, or the maps are
    /// compact (use [`mep::CompactMaps`] and [`mep::extract_compact`] for those).
    pub fn into_maps(self, labels: Option<Array2<u16>>) -> Result<Maps> {
        let dim = self.boundary.dim();
        let semantic = match (labels, self.semantic) {
            (Some(l), _) => {
                check_label_size(&l, dim)?;
                SemanticMap::Labels(l)
            }
            (None, StitchedSemantic::Full(p)) => SemanticMap::Probabilities(p),
            (None, StitchedSemantic::Compact { .. }) => {
                return Err(Error::invalid(
                    "tiles",
                    "compact stitched maps hold no background channel: run them with tile::mep::extract_compact",
                ));
            }
            (None, StitchedSemantic::None) => {
                return Err(Error::setting(
                    "semantic labels",
                    "single-branch model (no `semantic` output): give the semantic labels as label maps",
                ));
            }
        };
        Ok(Maps {
            boundary: self.boundary,
            semantic,
        })
    }

    /// Whether these maps are compact (they go to [`mep::extract_compact`], not
    /// [`Stitched::into_maps`]).
    #[must_use]
    pub fn is_compact(&self) -> bool {
        matches!(self.semantic, StitchedSemantic::Compact { .. })
    }

    /// The compact MEP input: the boundary, the class map (`labels` when given; their 255 =
    /// ignore is applied by [`mep::extract_compact`]) and the foreground probabilities.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `labels` has the wrong size, or there are neither labels nor a
    /// class map, or the maps hold all probabilities (use [`Stitched::into_maps`]); [`Error::Io`]
    /// when the scratch file cannot be extended to its full length.
    pub fn into_compact(self, labels: Option<Array2<u16>>) -> Result<mep::CompactMaps> {
        let dim = self.boundary.dim();
        let (classes, foreground, from_labels) = match (labels, self.semantic) {
            (Some(l), _) => {
                check_label_size(&l, dim)?;
                (l, None, true)
            }
            (
                None,
                StitchedSemantic::Compact {
                    classes,
                    mut foreground,
                },
            ) => {
                // The scratch file gets its full length (rows never stitched read as zero).
                foreground.finish()?;
                (classes, Some(foreground), false)
            }
            (None, StitchedSemantic::Full(_)) => {
                return Err(Error::invalid(
                    "tiles",
                    "full stitched maps: use Stitched::into_maps",
                ));
            }
            (None, StitchedSemantic::None) => {
                return Err(Error::setting(
                    "semantic labels",
                    "single-branch model (no `semantic` output): give the semantic labels as label maps",
                ));
            }
        };
        Ok(mep::CompactMaps {
            boundary: self.boundary,
            classes,
            foreground,
            from_labels,
        })
    }
}

fn check_label_size(l: &Array2<u16>, (h, w): (usize, usize)) -> Result<()> {
    if l.dim() != (h, w) {
        return Err(Error::invalid(
            "semantic labels",
            format!(
                "label map is {}x{} but the image is {h}x{w}",
                l.nrows(),
                l.ncols(),
            ),
        ));
    }
    Ok(())
}

/// Runs the model tile by tile on `image`, `batch` tiles per forward pass, and stitches the maps.
/// Returns them with the time spent inside ONNX Runtime.
///
/// # Errors
/// [`Error::Invalid`] for bad options, [`Error::Ort`] / [`Error::ModelContract`] from the
/// forward pass.
pub fn infer_tiled(
    model: &mut Model,
    image: &RgbImage,
    opts: &TileOptions,
    batch: usize,
) -> Result<(Stitched, Duration)> {
    infer_tiled_with(
        model,
        image,
        opts,
        batch,
        SemanticKeep::Full,
        &SpillOptions::in_memory(),
    )
}

/// [`infer_tiled`], keeping `keep` of the semantic output ([`SemanticKeep::Compact`] for the
/// paper MEP: a third less memory per pixel for three classes, `docs/tiling.md#memory`), with
/// the foreground planes of compact maps in a scratch file when `spill` says so
/// (`docs/tiling.md#plane-store`).
///
/// # Errors
/// As [`infer_tiled`], and [`Error::Io`] naming the scratch folder when the scratch file cannot
/// be made or written.
pub fn infer_tiled_with(
    model: &mut Model,
    image: &RgbImage,
    opts: &TileOptions,
    batch: usize,
    keep: SemanticKeep,
    spill: &SpillOptions,
) -> Result<(Stitched, Duration)> {
    let d = model.info.size_divisor;
    opts.validate(d)?;
    let norm = model.info.normalization();
    let (h, w) = (image.height() as usize, image.width() as usize);
    let plan = TilePlan::new(h, w, opts, d);
    let channels = model.info.has_semantic.then_some(model.info.classes.len() + 1);
    let mut out = Stitched::with_spill(h, w, channels, keep, spill)?;
    let mut ort = Duration::ZERO;
    for chunk in plan.tiles.chunks(batch.max(1)) {
        let tensor = {
            let _span = crate::timing::span("tile::batch");
            tile_batch(image, chunk, plan.tile_h, plan.tile_w, &norm)
        };
        let t0 = Instant::now();
        let raw = model.forward(tensor.view())?;
        ort += t0.elapsed();
        drop(tensor);
        let _span = crate::timing::span("tile::stitch");
        for (slot, tile) in chunk.iter().enumerate() {
            out.add(&raw, slot, tile, plan.tile_h, plan.tile_w)?;
        }
    }
    Ok((out, ort))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers_exactly(len: usize, tiles: &[AxisTile]) {
        let mut next = 0;
        for t in tiles {
            assert_eq!(t.keep.start, next, "{tiles:?}");
            assert!(t.keep.end > t.keep.start || len == 0, "{tiles:?}");
            next = t.keep.end;
        }
        assert_eq!(next, len);
    }

    #[test]
    fn axis_plan_covers_the_image_with_centred_seams() {
        // 1000 px, tiles of 256 with 64 overlap, divisor 32: stride 192, canvas 1024.
        let (t, tiles) = axis_plan(1000, 256, 64, 32);
        assert_eq!(t, 256);
        let starts: Vec<usize> = tiles.iter().map(|t| t.start).collect();
        assert_eq!(starts, [0, 192, 384, 576, 768]);
        covers_exactly(1000, &tiles);
        // Seams in the middle of each overlap: 192..256 -> 224.
        assert_eq!(tiles[0].keep, 0..224);
        assert_eq!(tiles[1].keep, 224..416);
        assert_eq!(tiles[4].keep, 800..1000);
        assert!(tiles.iter().all(|t| t.start % 32 == 0));
    }

    #[test]
    fn last_tile_ends_at_the_padded_canvas() {
        let (t, tiles) = axis_plan(700, 256, 100, 32);
        // canvas 704, stride floor(156 / 32) * 32 = 128.
        assert_eq!(t, 256);
        let last = tiles.last().unwrap();
        assert_eq!(last.start + t, 704);
        covers_exactly(700, &tiles);
        for pair in tiles.windows(2) {
            let overlap = pair[0].start + t - pair[1].start;
            assert!(overlap >= 100, "{tiles:?}");
            // Every kept pixel is at least overlap/2 from the edge of its own tile.
            assert!(pair[0].keep.end >= pair[1].start + overlap / 2);
            assert!(pair[0].keep.end <= pair[0].start + t - overlap / 2);
        }
    }

    #[test]
    fn small_images_are_one_tile() {
        let (t, tiles) = axis_plan(100, 512, 64, 32);
        assert_eq!((t, tiles.len()), (128, 1));
        assert_eq!(tiles[0].keep, 0..100);
        let o = TileOptions {
            size: 512,
            overlap: 64,
        };
        assert!(!o.needs_tiling(480, 500, 32));
        assert!(o.needs_tiling(513, 10, 32));
        assert_eq!(o.pass_pixels(4, 32), 4 * 512 * 512);
    }

    #[test]
    fn bad_overlap_is_an_error() {
        let o = TileOptions {
            size: 64,
            overlap: 40,
        };
        let e = o.validate(32).unwrap_err().to_string();
        assert!(e.contains("tile overlap") && e.contains("at most 32"), "{e}");
        assert!(!e.contains("--"), "library errors name no flag: {e}");
        assert!(
            TileOptions {
                size: 64,
                overlap: 32
            }
            .validate(32)
            .is_ok()
        );
        assert!(TileOptions { size: 0, overlap: 0 }.validate(32).is_err());
    }

    proptest::proptest! {
        /// Every plan covers the image exactly once with divisor-aligned tiles of one size that
        /// stay on the canvas and overlap by at least the requested amount.
        #[test]
        fn plans_are_sound(len in 1usize..3000, tile in 1usize..700, overlap in 0usize..400, d in 1usize..40) {
            let t = round_up(tile, d);
            proptest::prop_assume!(overlap + d <= t);
            let (ext, tiles) = axis_plan(len, tile, overlap, d);
            covers_exactly(len, &tiles);
            let p = round_up(len, d);
            for (i, a) in tiles.iter().enumerate() {
                proptest::prop_assert_eq!(a.start % d, 0);
                proptest::prop_assert!(a.start + ext <= p);
                proptest::prop_assert!(a.keep.start >= a.start && a.keep.end <= a.start + ext);
                if let Some(b) = tiles.get(i + 1) {
                    let ov = a.start + ext - b.start;
                    proptest::prop_assert!(ov >= overlap);
                    proptest::prop_assert!(a.keep.end - b.start >= ov / 2);
                    proptest::prop_assert!(a.start + ext - a.keep.end >= ov / 2);
                }
            }
        }
    }

    /// A position-independent "model": each output pixel is a function of the input pixel, so a
    /// stitched result must equal the whole-image result wherever the tiles are cut.
    #[test]
    fn stitching_reassembles_position_independent_maps() {
        let (h, w) = (150usize, 230usize);
        let value = |y: usize, x: usize| ((y * 7 + x * 13) % 101) as f32 / 100.0;
        let opts = TileOptions {
            size: 64,
            overlap: 16,
        };
        let plan = TilePlan::new(h, w, &opts, 32);
        assert!(plan.tiles.len() > 6);
        let mut st = Stitched::new(h, w, Some(2));
        for chunk in plan.tiles.chunks(3) {
            let n = chunk.len();
            let mut boundary = Array4::<f32>::zeros((n, 1, plan.tile_h, plan.tile_w));
            let mut semantic = Array4::<f32>::zeros((n, 2, plan.tile_h, plan.tile_w));
            for (k, t) in chunk.iter().enumerate() {
                for r in 0..plan.tile_h {
                    for c in 0..plan.tile_w {
                        let (y, x) = (t.y + r, t.x + c);
                        // Garbage within overlap / 2 of a tile edge that is not a canvas edge
                        // must never be kept.
                        let near_edge = (r < 8 && t.y > 0)
                            || (c < 8 && t.x > 0)
                            || (r + 8 >= plan.tile_h && t.y + plan.tile_h < 160)
                            || (c + 8 >= plan.tile_w && t.x + plan.tile_w < 256);
                        let v = if near_edge { -1.0 } else { value(y, x) };
                        boundary[[k, 0, r, c]] = v;
                        semantic[[k, 0, r, c]] = 1.0 - v;
                        semantic[[k, 1, r, c]] = v;
                    }
                }
            }
            let raw = RawOutputs {
                boundary,
                semantic: Some(semantic),
            };
            for (k, t) in chunk.iter().enumerate() {
                st.add(&raw, k, t, plan.tile_h, plan.tile_w).unwrap();
            }
        }
        for y in 0..h {
            for x in 0..w {
                assert_eq!(st.boundary[[y, x]], value(y, x), "({y}, {x})");
                assert_eq!(st.probabilities().unwrap()[[1, y, x]], value(y, x));
            }
        }
        let maps = st.into_maps(None).unwrap();
        assert_eq!(maps.boundary.dim(), (h, w));
    }

    #[test]
    fn strided_outputs_are_resized_per_tile() {
        // Outputs at stride 2: resizing each tile and keeping its window equals resizing the
        // whole-image map, away from tile edges (bilinear taps stay inside the tile).
        let (h, w) = (128usize, 192usize);
        let full_lo = Array2::from_shape_fn((h / 2, w / 2), |(y, x)| ((y * 3 + x * 5) % 17) as f32);
        let whole = crate::maps::resize_crop(full_lo.view(), h, w, h, w);
        let opts = TileOptions {
            size: 64,
            overlap: 32,
        };
        let plan = TilePlan::new(h, w, &opts, 32);
        let mut st = Stitched::new(h, w, None);
        for t in &plan.tiles {
            let lo = full_lo
                .slice(s![
                    t.y / 2..usize::midpoint(t.y, plan.tile_h),
                    t.x / 2..usize::midpoint(t.x, plan.tile_w)
                ])
                .to_owned();
            let raw = RawOutputs {
                boundary: lo.insert_axis(Axis(0)).insert_axis(Axis(0)),
                semantic: None,
            };
            st.add(&raw, 0, t, plan.tile_h, plan.tile_w).unwrap();
        }
        assert_eq!(st.boundary, whole);
        assert!(st.into_maps(None).is_err(), "single-branch tiles need labels");
    }
}
