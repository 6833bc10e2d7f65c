//! The paper MEP (SPEC section 2) for tiled images, on compact maps and partly in bands
//! (`docs/tiling.md#banded-mep`).
//!
//! The full-frame runner ([`crate::mep::Mep`]) needs the `K+1` probability planes, an f64 smoothed
//! boundary and four more full-frame scratch maps: about 40 bytes per pixel with the stitched maps
//! for three classes. This driver calls the same stage functions but keeps less:
//!
//! - the semantic input is the argmax class map (u16) plus the `K` foreground probability planes
//!   ([`CompactMaps`], stitched tile by tile in [`super::Stitched::add`]): the refinement only
//!   reads the class map, and the score (mean of `P[c_k]` over the mask, `c_k >= 1`) is
//!   recomputed from the foreground planes in the refinement's own summation order, so scores
//!   are bit-identical;
//! - thinning, dilation and the seed threshold are local (radius `nms_radius + 10`,
//!   `dilate_iterations`, `ceil(seed_distance) + 2`), so they run in bands of rows with that halo
//!   ([`band_halo`]) and only the u8 seed map is full-frame; the boundary map is dropped as soon as
//!   the seeds exist. The result is exact: every kept row is farther from a band edge than any
//!   stage can see (tested against the full-frame stages);
//! - labelling, the watershed (a priority flood whose order is global) and the refinement run on
//!   the whole frame: one i32 marker map, the class map and the RGB image;
//! - the scores are one sequential pass over the foreground planes in bands of rows
//!   ([`score_banded`]), so the planes may live in a scratch file ([`super::planes`],
//!   `docs/tiling.md#plane-store`).
use ndarray::{Array2, ArrayView2, ArrayView3, s};
use rayon::prelude::*;

use super::planes::{Band, PlaneStore};
use crate::error::{Error, Result};
use crate::instances::Instance;
use crate::mep::{MepMode, MepParams, Semantic, dilate, distance, label, nms, refine, watershed};

/// The MEP input of a tiled image, without the background channel.
#[derive(Debug)]
pub struct CompactMaps {
    /// Boundary probability `[H, W]`.
    pub boundary: Array2<f32>,
    /// Class per pixel: the argmax of the probabilities (first maximum on ties), or label ids
    /// given from outside (`from_labels`; 255 = ignore).
    pub classes: Array2<u16>,
    /// Probabilities of classes `1..=K`, `[K, H, W]` (plane `c - 1` holds class `c`), in memory
    /// or in a scratch file; `None` for label maps (the score is then the share of the mask in
    /// the majority class).
    pub foreground: Option<PlaneStore>,
    /// Whether `classes` came from outside (label rule: 255 counts as background).
    pub from_labels: bool,
}

impl CompactMaps {
    /// Compact maps from full probabilities `[K+1, H, W]` (for tests and callers that have them).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the shapes disagree or the probabilities hold NaN.
    pub fn from_probabilities(boundary: Array2<f32>, p: ArrayView3<'_, f32>) -> Result<Self> {
        let mut classes = Array2::<u16>::zeros(boundary.dim());
        refine::class_map_into(&Semantic::Probabilities(p), classes.view_mut())?;
        let foreground = PlaneStore::from_array(p.slice(s![1.., .., ..]).to_owned());
        Ok(Self {
            boundary,
            classes,
            foreground: Some(foreground),
            from_labels: false,
        })
    }
}

/// Rows a band must see beyond the rows it keeps for thinning, dilation and the seed threshold to
/// be exact: the NMS reads the smoothed map 2 rows away (second differences) whose triangle
/// smoothing reads 4 more, and samples the boundary `nms_radius` (+1 for the bilinear tap) along
/// the normal (8 + r rounded up to r + 10); each dilation grows by one row; the seed threshold
/// `dist > t_d` only depends on dilated pixels nearer than `t_d`.
#[must_use]
pub fn band_halo(params: &MepParams) -> usize {
    let seeds = if params.seed_distance > 0.0 {
        // Finite (checked); a huge value only makes one band of the whole image.
        params.seed_distance.ceil().min(1e12) as usize + 2
    } else {
        2
    };
    (params.nms_radius + 10)
        .saturating_add(params.dilate_iterations)
        .saturating_add(seeds)
}

/// Pixels per band of the banded stages (its scratch is 14 bytes per pixel: f64 smoothed map,
/// two u8 maps, i32 distance columns).
pub const BAND_PIXELS: usize = 4 << 20;

/// Rows per band for an image `w` pixels wide: about [`BAND_PIXELS`], and at least twice the halo.
#[must_use]
pub fn default_band_rows(w: usize, halo: usize) -> usize {
    (BAND_PIXELS / w.max(1)).max(2 * halo).max(16)
}

/// The seeds of SPEC section 2.2 (`dist > t_d` of the dilated thinned boundary, 0/1) computed in
/// bands of `band_rows` rows with [`band_halo`] rows of context: equal to the full-frame
/// `nms::thin_nms_into` -> `dilate::dilate_square_mut` -> `distance::seeds_into`.
#[must_use]
pub fn seeds_banded(boundary: ArrayView2<'_, f32>, params: &MepParams, band_rows: usize) -> Array2<u8> {
    let (h, w) = boundary.dim();
    let halo = band_halo(params);
    let band = band_rows.max(1);
    let nms_params = nms::NmsParams {
        radius: params.nms_radius,
        margin: params.nms_margin,
        threshold: params.edge_threshold,
    };
    let mut seeds = Array2::<u8>::zeros((h, w));
    let mut smooth = Array2::<f64>::zeros((0, 0));
    let mut bin_a = Array2::<u8>::zeros((0, 0));
    let mut bin_b = Array2::<u8>::zeros((0, 0));
    let mut cols = Array2::<i32>::zeros((0, 0));
    let mut y0 = 0;
    while y0 < h {
        let y1 = (y0 + band).min(h);
        let (e0, e1) = (y0.saturating_sub(halo), y1.saturating_add(halo).min(h));
        if smooth.dim() != (e1 - e0, w) {
            smooth = Array2::zeros((e1 - e0, w));
            bin_a = Array2::zeros((e1 - e0, w));
            bin_b = Array2::zeros((e1 - e0, w));
            cols = Array2::zeros((e1 - e0, w));
        }
        let b = boundary.slice(s![e0..e1, ..]);
        {
            let _span = crate::timing::span("mep::nms");
            nms::thin_nms_into(b, &nms_params, smooth.view_mut(), bin_a.view_mut());
        }
        {
            let _span = crate::timing::span("mep::dilate");
            dilate::dilate_square_mut(bin_a.view_mut(), params.dilate_iterations, bin_b.view_mut());
        }
        {
            let _span = crate::timing::span("mep::distance");
            distance::seeds_into(
                bin_a.view(),
                params.seed_distance,
                cols.view_mut(),
                bin_b.view_mut(),
            );
        }
        seeds
            .slice_mut(s![y0..y1, ..])
            .assign(&bin_b.slice(s![y0 - e0..y1 - e0, ..]));
        y0 = y1;
    }
    seeds
}

/// Runs the paper MEP on compact maps: the same instances, classes and scores as
/// [`crate::mep::Mep::run`] on the full maps, with less memory (module docs). The maps are
/// consumed so that each is freed as soon as the stages no longer need it.
///
/// # Errors
/// [`Error::Setting`] (`"MEP mode"`) for the improved MEP (it needs all probability channels),
/// [`Error::Invalid`] for shapes that disagree, a boundary with NaN or infinite values, or
/// invalid parameters.
pub fn extract_compact(
    image: ArrayView3<'_, u8>,
    maps: CompactMaps,
    params: &MepParams,
) -> Result<Vec<Instance>> {
    let halo = band_halo(params);
    let rows = default_band_rows(maps.boundary.ncols(), halo);
    extract_compact_with(image, maps, params, rows)
}

/// [`extract_compact`] with bands of `band_rows` rows (the score pass reads the planes in bands
/// of [`PlaneStore::default_band_rows`]).
///
/// # Errors
/// As [`extract_compact`].
pub fn extract_compact_with(
    image: ArrayView3<'_, u8>,
    maps: CompactMaps,
    params: &MepParams,
    band_rows: usize,
) -> Result<Vec<Instance>> {
    let score_rows = maps.foreground.as_ref().map_or(1, PlaneStore::default_band_rows);
    extract_compact_bands(image, maps, params, band_rows, score_rows)
}

/// [`extract_compact_with`], reading the foreground planes in bands of `score_rows` rows for the
/// scores.
///
/// # Errors
/// As [`extract_compact`], and [`Error::Io`] naming the scratch folder when spilled planes cannot
/// be read.
#[allow(
    clippy::too_many_lines,
    reason = "the banded stages in order, each map freed as soon as its last stage is done (module docs)"
)]
pub fn extract_compact_bands(
    image: ArrayView3<'_, u8>,
    maps: CompactMaps,
    params: &MepParams,
    band_rows: usize,
    score_rows: usize,
) -> Result<Vec<Instance>> {
    let CompactMaps {
        boundary,
        mut classes,
        foreground,
        from_labels,
    } = maps;
    if params.mode != MepMode::Paper {
        return Err(Error::setting(
            "MEP mode",
            "the compact tiled MEP is the paper's; the improved MEP runs on full maps",
        ));
    }
    params.check()?;
    let (h, w) = boundary.dim();
    let (ih, iw, ic) = image.dim();
    if ic != 3 {
        return Err(Error::invalid(
            "image",
            format!("{ic} channels, expected 3 (RGB)"),
        ));
    }
    if (ih, iw) != (h, w) || classes.dim() != (h, w) {
        return Err(Error::invalid(
            "maps",
            format!(
                "image {ih}x{iw}, boundary {h}x{w} and class map {}x{} differ in size",
                classes.nrows(),
                classes.ncols()
            ),
        ));
    }
    if let Some(fg) = &foreground
        && fg.dim() != (h, w)
    {
        return Err(Error::invalid(
            "semantic",
            "probability planes differ in size from the image",
        ));
    }
    let finite = match boundary.as_slice() {
        Some(b) => b.par_iter().all(|v| v.is_finite()),
        None => boundary.iter().all(|v| v.is_finite()),
    };
    if !finite {
        return Err(Error::invalid("boundary", "contains NaN or infinite values"));
    }
    if from_labels {
        classes.par_mapv_inplace(|v| if v == 255 { 0 } else { v });
    }
    let seeds = seeds_banded(boundary.view(), params, band_rows);
    drop(boundary);
    let mut markers = Array2::<i32>::zeros((h, w));
    let n = {
        let _span = crate::timing::span("mep::label");
        let mut parent = Vec::new();
        label::label_8_into(seeds.view(), markers.view_mut(), &mut parent)
    };
    drop(seeds);
    {
        let _span = crate::timing::span("mep::watershed");
        watershed::watershed_mut(
            image,
            markers.view_mut(),
            &mut watershed::WatershedScratch::default(),
        );
    }
    let _span = crate::timing::span("mep::refine");
    let refine_params = refine::RefineParams {
        closing_kernel: params.closing_kernel,
        min_area: params.min_area,
    };
    // The class map decides masks and classes; with label semantics the refinement's score is
    // already the SPEC's (share of the majority class).
    let mut instances = refine::refine(
        markers.view(),
        n,
        &Semantic::Labels(classes.view()),
        classes.view(),
        &refine_params,
    );
    drop(markers);
    drop(classes);
    if let Some(mut fg) = foreground {
        score_banded(&mut instances, &mut fg, score_rows)?;
    }
    Ok(instances)
}

/// One instance being scored: its accumulated sum and area.
struct Scoring {
    index: usize,
    plane: usize,
    psum: f64,
    area: u64,
}

/// Sets each instance's score to the mean of `P[c_k]` over its mask (instances of class 0 or
/// without a plane keep theirs), in one sequential pass over `planes` in bands of `band_rows`
/// rows: instances enter an active set at the band of their crop's first row and leave after its
/// last; each accumulates its f64 sum row by row, in raster order of the crop, which is exactly
/// the order `mep::refine` sums in, so scores are bit-identical (`docs/tiling.md#plane-store`).
///
/// # Errors
/// [`Error::Io`] naming the scratch folder when spilled planes cannot be read.
pub fn score_banded(instances: &mut [Instance], planes: &mut PlaneStore, band_rows: usize) -> Result<()> {
    let k = planes.planes();
    let mut order: Vec<(usize, usize)> = instances
        .iter()
        .enumerate()
        .filter_map(|(i, inst)| {
            let plane = (inst.category as usize).checked_sub(1).filter(|&c| c < k)?;
            Some((i, plane))
        })
        .collect();
    if order.is_empty() {
        return Ok(());
    }
    order.sort_by_key(|&(i, _)| instances[i].mask.y);
    let mut next = 0;
    let mut active: Vec<Scoring> = Vec::new();
    let mut done: Vec<Scoring> = Vec::with_capacity(order.len());
    {
        let instances = &*instances;
        planes.for_each_band(band_rows, |rows, band| {
            while let Some(&(index, plane)) = order.get(next)
                && (instances[index].mask.y as usize) < rows.end
            {
                active.push(Scoring {
                    index,
                    plane,
                    psum: 0.0,
                    area: 0,
                });
                next += 1;
            }
            active
                .par_iter_mut()
                .for_each(|s| accumulate(s, instances, band, &rows));
            let mut i = 0;
            while i < active.len() {
                let m = &instances[active[i].index].mask;
                if (m.y + m.height) as usize <= rows.end || m.width == 0 {
                    done.push(active.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            Ok(())
        })?;
    }
    done.extend(active);
    for s in done {
        instances[s.index].score = if s.area == 0 { 0.0 } else { s.psum / s.area as f64 };
    }
    Ok(())
}

/// Adds the rows of `band` (`rows`) that the instance's crop covers to its sum, in raster order.
fn accumulate(s: &mut Scoring, instances: &[Instance], band: &Band<'_>, rows: &std::ops::Range<usize>) {
    let m = &instances[s.index].mask;
    let (x0, y0, cw) = (m.x as usize, m.y as usize, m.width as usize);
    if cw == 0 {
        return;
    }
    let crop_rows = m.data.len() / cw;
    let (r0, r1) = (rows.start.max(y0), rows.end.min(y0 + crop_rows));
    for y in r0..r1 {
        let bits = &m.data[(y - y0) * cw..(y - y0 + 1) * cw];
        let prow = band.row(s.plane, y, x0..x0 + cw);
        for (&bit, &v) in bits.iter().zip(prow) {
            if bit != 0 {
                s.psum += f64::from(v);
                s.area += 1;
            }
        }
    }
}

/// Mean of `p` over the mask, summed in f64 in raster order of the crop, exactly as
/// `mep::refine` computes the score: the slow reference of [`score_banded`].
#[cfg(test)]
fn probability_score(mask: &crate::instances::CropMask, p: ArrayView2<'_, f32>) -> f64 {
    let (x0, y0, cw) = (mask.x as usize, mask.y as usize, mask.width as usize);
    if cw == 0 {
        return 0.0;
    }
    let mut psum = 0.0f64;
    let mut area = 0u64;
    for (r, row) in mask.data.chunks_exact(cw).enumerate() {
        let prow = p.slice(s![y0 + r, x0..x0 + cw]);
        for (&bit, &v) in row.iter().zip(prow.iter()) {
            if bit != 0 {
                psum += f64::from(v);
                area += 1;
            }
        }
    }
    if area == 0 { 0.0 } else { psum / area as f64 }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array3, Array4, Axis};

    use super::*;
    use crate::mep::{Mep, MepInput};
    use crate::model::RawOutputs;
    use crate::tile::{SemanticKeep, SpillOptions, Stitched, TileOptions, TilePlan};

    /// Compact maps stitched tile by tile (`Stitched::add`, plan order) from the full maps of a
    /// position-independent "model" (each tile's outputs are the full maps' window, 0 beyond the
    /// image), with the foreground planes where `spill` says.
    fn stitched_compact(
        boundary: &Array2<f32>,
        probs: &Array3<f32>,
        opts: &TileOptions,
        divisor: usize,
        spill: &SpillOptions,
    ) -> CompactMaps {
        let (h, w) = boundary.dim();
        let k1 = probs.shape()[0];
        let plan = TilePlan::new(h, w, opts, divisor);
        let mut st = Stitched::with_spill(h, w, Some(k1), SemanticKeep::Compact, spill).unwrap();
        for t in &plan.tiles {
            let (th, tw) = (plan.tile_h, plan.tile_w);
            let at = |y: usize, x: usize| (t.y + y < h && t.x + x < w).then(|| (t.y + y, t.x + x));
            let b = Array4::from_shape_fn((1, 1, th, tw), |(_, _, y, x)| {
                at(y, x).map_or(0.0, |p| boundary[p])
            });
            let sem = Array4::from_shape_fn((1, k1, th, tw), |(_, c, y, x)| {
                at(y, x).map_or(0.0, |(y, x)| probs[[c, y, x]])
            });
            let raw = RawOutputs {
                boundary: b,
                semantic: Some(sem),
            };
            st.add(&raw, 0, t, th, tw).unwrap();
        }
        st.into_compact(None).unwrap()
    }

    /// A deterministic pseudo-random stream (`SplitMix64`).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// A scene of touching cells: boundary ridges on a jittered grid plus noise, an image that
    /// follows the cells, and K+1 = 4 class probabilities that vary per cell and per pixel.
    fn scene(h: usize, w: usize, seed: u64) -> (Array3<u8>, Array2<f32>, Array3<f32>) {
        let mut rng = Rng(seed);
        let noise: Vec<f32> = (0..h * w).map(|_| rng.next()).collect();
        let cell = |y: usize, x: usize| (y / 23 + (x + y / 7) / 19) % 4;
        let boundary = Array2::from_shape_fn((h, w), |(y, x)| {
            let dy = (y % 23).min(23 - y % 23) as f32;
            let dx = ((x + y / 7) % 19).min(19 - (x + y / 7) % 19) as f32;
            let ridge = (-(dy.min(dx) * dy.min(dx)) / 2.0).exp();
            (0.85 * ridge + 0.3 * noise[y * w + x] * (1.0 - ridge)).min(1.0)
        });
        let image = Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
            (cell(y, x) as u8 * 50 + (c as u8) * 20).wrapping_add((noise[y * w + x] * 30.0) as u8)
        });
        let probs = Array3::from_shape_fn((4, h, w), |(c, y, x)| {
            let favoured = cell(y, x) == c;
            (if favoured { 2.0 } else { 0.5 }) + noise[(y * w + x + c * 7919) % (h * w)]
        });
        let sum = probs.sum_axis(Axis(0));
        let probs = Array3::from_shape_fn((4, h, w), |(c, y, x)| probs[[c, y, x]] / sum[[y, x]]);
        (image, boundary, probs)
    }

    fn full_seeds(boundary: ArrayView2<'_, f32>, p: &MepParams) -> Array2<u8> {
        let (h, w) = boundary.dim();
        let mut smooth = Array2::<f64>::zeros((h, w));
        let mut a = Array2::<u8>::zeros((h, w));
        let mut b = Array2::<u8>::zeros((h, w));
        let mut cols = Array2::<i32>::zeros((h, w));
        let np = nms::NmsParams {
            radius: p.nms_radius,
            margin: p.nms_margin,
            threshold: p.edge_threshold,
        };
        nms::thin_nms_into(boundary, &np, smooth.view_mut(), a.view_mut());
        dilate::dilate_square_mut(a.view_mut(), p.dilate_iterations, b.view_mut());
        distance::seeds_into(a.view(), p.seed_distance, cols.view_mut(), b.view_mut());
        b
    }

    #[test]
    fn banded_seeds_equal_full_frame_seeds() {
        let (_, boundary, _) = scene(181, 97, 7);
        let variants = [
            MepParams::default(),
            MepParams {
                nms_radius: 3,
                dilate_iterations: 0,
                seed_distance: 0.5,
                ..MepParams::default()
            },
            MepParams {
                dilate_iterations: 3,
                seed_distance: 4.5,
                edge_threshold: 0.3,
                ..MepParams::default()
            },
            MepParams {
                edge_threshold: 0.0,
                seed_distance: -1.0,
                ..MepParams::default()
            },
        ];
        for p in &variants {
            let full = full_seeds(boundary.view(), p);
            assert!(full.iter().any(|&v| v == 1), "{p:?}: no seed");
            assert!(
                full.iter().any(|&v| v == 0) || p.seed_distance < 0.0,
                "{p:?}: all seeds"
            );
            for band in [1, 7, 40, 64, 500] {
                assert_eq!(
                    seeds_banded(boundary.view(), p, band),
                    full,
                    "{p:?}, bands of {band}"
                );
            }
        }
    }

    #[test]
    fn compact_mep_equals_the_full_frame_mep() {
        for (seed, (h, w)) in [(1u64, (150usize, 210usize)), (2, (97, 301))] {
            let (image, boundary, probs) = scene(h, w, seed);
            let params = MepParams::default();
            let full = Mep::new(params.clone())
                .run(&MepInput {
                    image: image.view(),
                    boundary: boundary.view(),
                    semantic: Semantic::Probabilities(probs.view()),
                })
                .unwrap();
            assert!(full.len() > 20, "{}", full.len());
            for band in [9, 33, 1000] {
                let maps = CompactMaps::from_probabilities(boundary.clone(), probs.view()).unwrap();
                let got = extract_compact_with(image.view(), maps, &params, band).unwrap();
                // Identical instances: masks, classes and scores bit for bit.
                assert_eq!(got, full, "seed {seed}, bands of {band}");
            }
            stitched_compact_mep_equals(&image, &boundary, &probs, &full);
            // Label maps (255 = ignore) give the label-map MEP's result too.
            let mut labels = crate::class_map::argmax(probs.view()).expect("no NaN");
            labels.slice_mut(s![10..20, ..]).fill(255);
            let full = Mep::new(params.clone())
                .run(&MepInput {
                    image: image.view(),
                    boundary: boundary.view(),
                    semantic: Semantic::Labels(labels.view()),
                })
                .unwrap();
            let maps = CompactMaps {
                boundary: boundary.clone(),
                classes: labels.clone(),
                foreground: None,
                from_labels: true,
            };
            assert_eq!(
                extract_compact_with(image.view(), maps, &params, 17).unwrap(),
                full
            );
        }
    }

    /// Stitched from tiles, the foreground planes in a scratch file (threshold 0: always spilled)
    /// or in memory, read back for the scores in bands of 1 row to all rows: tile plans whose tile
    /// rows keep different heights (divisor 1, and 32); the instances must be `full`.
    fn stitched_compact_mep_equals(
        image: &Array3<u8>,
        boundary: &Array2<f32>,
        probs: &Array3<f32>,
        full: &[Instance],
    ) {
        let params = MepParams::default();
        let (h, w) = boundary.dim();
        let forced = SpillOptions {
            threshold: 0,
            dir: None,
        };
        let plans = [
            (
                TileOptions {
                    size: 50,
                    overlap: 13,
                },
                1,
            ),
            (
                TileOptions {
                    size: 64,
                    overlap: 16,
                },
                32,
            ),
        ];
        for (opts, d) in &plans {
            let plan = TilePlan::new(h, w, opts, *d);
            let heights: Vec<usize> = plan.tiles.iter().map(|t| t.rows.len()).collect();
            assert!(
                heights.iter().any(|&x| x != heights[0]),
                "kept heights {heights:?}"
            );
            for (spill, band, score_rows) in [
                (&forced, 9, 1),
                (&forced, 33, 7),
                (&forced, 1000, 64),
                (&forced, 17, h),
                (&SpillOptions::in_memory(), 33, 5),
            ] {
                let maps = stitched_compact(boundary, probs, opts, *d, spill);
                assert_eq!(
                    maps.foreground.as_ref().map(PlaneStore::is_spilled),
                    Some(spill.threshold == 0)
                );
                let got = extract_compact_bands(image.view(), maps, &params, band, score_rows).unwrap();
                assert_eq!(
                    got, full,
                    "{h}x{w}, {opts:?} / {d}, spill {}, bands of {band}, score bands of {score_rows}",
                    spill.threshold
                );
            }
        }
    }

    /// The banded score pass gives `probability_score`'s value bit for bit, for any band height,
    /// from memory and from a scratch file; class 0 and classes without a plane keep their score.
    #[test]
    fn banded_scores_equal_the_per_instance_reference() {
        let (image, boundary, probs) = scene(120, 90, 5);
        let params = MepParams::default();
        let maps = CompactMaps::from_probabilities(boundary.clone(), probs.view()).unwrap();
        let mut instances = extract_compact_with(image.view(), maps, &params, 40).unwrap();
        assert!(instances.len() > 10);
        instances[0].category = 0;
        instances[0].score = 0.125;
        instances[1].category = 9;
        instances[1].score = 0.375;
        let fg = probs.slice(s![1.., .., ..]).to_owned();
        let reference: Vec<f64> = instances
            .iter()
            .map(|inst| match (inst.category as usize).checked_sub(1) {
                Some(c) if c < 3 => probability_score(&inst.mask, fg.index_axis(Axis(0), c)),
                _ => inst.score,
            })
            .collect();
        assert!(reference.iter().any(|&v| v > 0.0 && v < 1.0));
        for spilled in [false, true] {
            for band in [1, 2, 11, 23, 120, 500] {
                let mut store = if spilled {
                    let spill = SpillOptions {
                        threshold: 0,
                        dir: None,
                    };
                    let mut st = PlaneStore::new(3, 120, 90, &spill).unwrap();
                    for (c, plane) in fg.outer_iter().enumerate() {
                        st.write_plane(c, 0..120, 0..90, plane).unwrap();
                    }
                    st
                } else {
                    PlaneStore::from_array(fg.clone())
                };
                let mut got = instances.clone();
                for g in &mut got {
                    g.score = if g.category == 0 || g.category > 3 {
                        g.score
                    } else {
                        -1.0
                    };
                }
                score_banded(&mut got, &mut store, band).unwrap();
                let scores: Vec<f64> = got.iter().map(|g| g.score).collect();
                assert_eq!(scores, reference, "spilled {spilled}, bands of {band}");
            }
        }
    }

    #[test]
    fn bad_compact_inputs_are_errors() {
        let (image, mut boundary, probs) = scene(40, 50, 3);
        let improved = MepParams {
            mode: MepMode::Improved,
            ..MepParams::default()
        };
        let maps = CompactMaps::from_probabilities(boundary.clone(), probs.view()).unwrap();
        assert!(extract_compact(image.view(), maps, &improved).is_err());
        boundary[[3, 3]] = f32::NAN;
        let maps = CompactMaps::from_probabilities(boundary, probs.view()).unwrap();
        let e = extract_compact(image.view(), maps, &MepParams::default()).unwrap_err();
        assert!(e.to_string().contains("NaN"), "{e}");
    }
}
