//! Stage 4 of the MEP: per-instance refinement (docs/mep.md#refinement): morphological closing of each
//! watershed region with `OpenCV`'s elliptical kernel ([`closing`]), the semantic filter, the
//! instance's class (majority vote, ties to the smaller id) and score (the per-pixel class
//! comes from [`crate::class_map`], the one class-map policy: docs/model-contract.md#class-map).
//!
//! No pass over the image per region (docs/mep-performance.md#refine): one parallel pass cuts the
//! label map into runs of equal labels, a counting sort groups them by region (in raster order)
//! and gives every region's bounding box; each region then sets its runs into a bit grid over its
//! box grown by the kernel's reach, closes it (`closing::close_bits`), ANDs it with the
//! bit-packed filter `F` (the grid is aligned to 64-pixel words of the image, so `F` words are
//! used as they are), and visits only the kept bits, in row-major order, for the area, the crop
//! box, the class vote, the mask and the score (the same f64 summation order as the reference).
//! Regions are independent and processed in parallel; the output keeps label order.
use ndarray::{ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use super::Semantic;
use crate::instances::{CropMask, Instance};

pub mod closing;

pub use crate::class_map::class_map_into;
pub use closing::ellipse_kernel;
use closing::{ClosingScratch, KernelRows, close_bits};

/// Parameters of the refinement stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefineParams {
    /// Size of the elliptical closing kernel (`cv2.MORPH_ELLIPSE`); 0 disables the closing.
    pub closing_kernel: usize,
    /// Instances with fewer pixels are dropped.
    pub min_area: u64,
}

impl Default for RefineParams {
    fn default() -> Self {
        Self {
            closing_kernel: 5,
            min_area: 0,
        }
    }
}

/// A run `[x0, x1)` of one label on row `y`.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
}

/// The runs of every region `1..=n`, grouped by region in raster order:
/// `runs[start[k]..start[k + 1]]` are region `k`'s.
struct RegionRuns {
    runs: Vec<Run>,
    start: Vec<usize>,
}

/// Cuts the (standard-layout) label map into runs of equal labels in `1..=n`, in parallel over
/// row bands, and groups them by label (counting sort, stable: raster order within a label).
fn region_runs(labels: &[i32], h: usize, w: usize, n: usize) -> RegionRuns {
    let band_rows = 32usize;
    let bands: Vec<Vec<(u32, Run)>> = (0..h.div_ceil(band_rows))
        .into_par_iter()
        .map(|b| {
            let mut out = Vec::new();
            for y in b * band_rows..((b + 1) * band_rows).min(h) {
                let row = &labels[y * w..(y + 1) * w];
                let mut x = 0;
                while x < w {
                    let v = row[x];
                    let s = x;
                    x += 1;
                    while x < w && row[x] == v {
                        x += 1;
                    }
                    if v > 0 && (v as usize) <= n {
                        out.push((
                            v as u32,
                            Run {
                                y: y as u32,
                                x0: s as u32,
                                x1: x as u32,
                            },
                        ));
                    }
                }
            }
            out
        })
        .collect();
    let mut start = vec![0usize; n + 2];
    for band in &bands {
        for &(k, _) in band {
            start[k as usize + 1] += 1;
        }
    }
    for k in 1..start.len() {
        start[k] += start[k - 1];
    }
    let mut fill = start.clone();
    let mut runs = vec![Run::default(); start[n + 1]];
    for band in &bands {
        for &(k, r) in band {
            runs[fill[k as usize]] = r;
            fill[k as usize] += 1;
        }
    }
    RegionRuns { runs, start }
}

/// The filter `F` (`classes != 0`) bit-packed: `nw = ceil(w / 64)` words per row, bit `x % 64` of
/// word `x / 64` is column `x`.
fn pack_filter(classes: &[u16], h: usize, w: usize) -> Vec<u64> {
    let nw = w.div_ceil(64);
    let mut bits = vec![0u64; h * nw];
    if nw == 0 {
        return bits;
    }
    bits.par_chunks_mut(nw).enumerate().for_each(|(y, words)| {
        let row = &classes[y * w..(y + 1) * w];
        for (word, chunk) in words.iter_mut().zip(row.chunks(64)) {
            let mut v = 0u64;
            for (i, &c) in chunk.iter().enumerate() {
                v |= u64::from(c != 0) << i;
            }
            *word = v;
        }
    });
    bits
}

/// Largest class id for which the vote counts bits of class planes instead of a histogram.
pub(crate) const PLANE_MAX_CLASS: u16 = 15;

/// The class map as bit planes, for class ids `<= PLANE_MAX_CLASS` (docs/mep-performance.md#refine):
/// plane `b` of image word `i` (`bits[i * nb + b]`, words numbered as in [`pack_filter`]) holds
/// bit `b` of the class id of each of the word's 64 pixels.
#[derive(Debug)]
struct ClassPlanes {
    /// Number of planes: the bit length of the largest class id (1..=4).
    nb: usize,
    /// Largest class id.
    max_class: u16,
    bits: Vec<u64>,
}

/// The filter `F` and, when every class id is `<= PLANE_MAX_CLASS`, the class planes (then `F`
/// is the OR of the planes).
fn pack_classes(classes: &[u16], h: usize, w: usize) -> (Vec<u64>, Option<ClassPlanes>) {
    let max_class = classes
        .par_chunks(w.max(1) * 64)
        .map(|c| c.iter().copied().max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    if max_class == 0 || max_class > PLANE_MAX_CLASS || w == 0 {
        return (pack_filter(classes, h, w), None);
    }
    let nb = (16 - max_class.leading_zeros()) as usize;
    let nw = w.div_ceil(64);
    let mut filter = vec![0u64; h * nw];
    let mut bits = vec![0u64; h * nw * nb];
    let pack = match nb {
        1 => pack_row_planes::<1>,
        2 => pack_row_planes::<2>,
        3 => pack_row_planes::<3>,
        _ => pack_row_planes::<4>,
    };
    filter
        .par_chunks_mut(nw)
        .zip(bits.par_chunks_mut(nw * nb))
        .enumerate()
        .for_each(|(y, (f, p))| pack(&classes[y * w..(y + 1) * w], f, p));
    (filter, Some(ClassPlanes { nb, max_class, bits }))
}

/// One row of [`pack_classes`]: `NB` planes per word into `planes`, their OR into `filter`.
fn pack_row_planes<const NB: usize>(row: &[u16], filter: &mut [u64], planes: &mut [u64]) {
    for ((f, p), chunk) in filter
        .iter_mut()
        .zip(planes.chunks_exact_mut(NB))
        .zip(row.chunks(64))
    {
        let mut acc = [0u64; NB];
        for (i, &c) in chunk.iter().enumerate() {
            for (b, a) in acc.iter_mut().enumerate() {
                *a |= u64::from((c >> b) & 1) << i;
            }
        }
        p.copy_from_slice(&acc);
        *f = acc.iter().fold(0, |o, &a| o | a);
    }
}

/// Per-class counts of the kept bits `k` of one image word from its class planes `p`
/// (`votes[c]` for class `c`, `1..=max_class`): the bits whose class is `c` are the AND over the
/// planes of the plane or its complement, as bit `b` of `c` says.
#[inline]
fn vote_word(k: u64, p: &[u64], max_class: u16, votes: &mut [u32; PLANE_MAX_CLASS as usize + 1]) {
    for c in 1..=max_class {
        let mut m = k;
        for (b, &pb) in p.iter().enumerate() {
            m &= if (c >> b) & 1 != 0 { pb } else { !pb };
        }
        votes[usize::from(c)] += m.count_ones();
    }
}

/// The majority class of the plane votes (ties to the smaller id) and its count; `None` when no
/// bit was counted.
#[inline]
fn vote_winner(votes: &[u32; PLANE_MAX_CLASS as usize + 1]) -> Option<(u16, u32)> {
    let mut best: Option<(u16, u32)> = None;
    for (c, &n) in (0u16..).zip(votes.iter()) {
        if n > 0 && best.is_none_or(|(_, bn)| n > bn) {
            best = Some((c, n));
        }
    }
    best
}

/// Sets bits `[a, b)` of `words`.
#[inline]
fn set_range(words: &mut [u64], a: usize, b: usize) {
    if a >= b {
        return;
    }
    let (wa, wb) = (a / 64, (b - 1) / 64);
    let lo = u64::MAX << (a % 64);
    let hi = u64::MAX >> (63 - (b - 1) % 64);
    if wa == wb {
        words[wa] |= lo & hi;
    } else {
        words[wa] |= lo;
        words[wa + 1..wb].fill(u64::MAX);
        words[wb] |= hi;
    }
}

/// Reusable scratch of one worker.
#[derive(Debug, Default)]
struct Scratch {
    closing: ClosingScratch,
    hist: Vec<u32>,
    touched: Vec<u16>,
}

/// The image-wide inputs every region reads.
struct Shared<'a> {
    h: usize,
    w: usize,
    classes: &'a [u16],
    filter: &'a [u64],
    planes: Option<&'a ClassPlanes>,
    probs: Option<ArrayView3<'a, f32>>,
    kernel: KernelRows,
    identity: bool,
    min_area: u64,
}

/// Refines the watershed regions `labels` (values `1..=n`; `<= 0` = none) into instances.
/// `classes` is the output of [`class_map_into`] for `semantic`.
///
/// Example (5x5): a region with a one-pixel notch is closed, then filtered by the semantic map
/// (class 2 everywhere but the last column).
/// ```
/// use ndarray::{array, Array2, Array3};
/// use baiseg_rt::mep::{Semantic, refine::{refine, RefineParams}};
/// let labels = array![
///     [0, 0, 0, 0, 0],
///     [0, 1, 1, 1, 0],
///     [0, 1, 0, 1, 0],
///     [0, 1, 1, 1, 0],
///     [0, 0, 0, 0, 0],
/// ];
/// let classes = Array2::<u16>::from_shape_fn((5, 5), |(_, x)| if x < 4 { 2 } else { 0 });
/// let sem = Semantic::Labels(classes.view());
/// let inst = refine(labels.view(), 1, &sem, classes.view(), &RefineParams::default());
/// assert_eq!(inst.len(), 1);
/// assert_eq!(inst[0].category, 2);
/// assert_eq!(inst[0].score, 1.0);
/// // Closing fills the hole and, at the image border, grows to the frame (never cleared there).
/// assert_eq!(inst[0].mask.bbox(), [0.0, 0.0, 4.0, 5.0]);
/// ```
#[must_use]
pub fn refine(
    labels: ArrayView2<'_, i32>,
    n: usize,
    semantic: &Semantic<'_>,
    classes: ArrayView2<'_, u16>,
    params: &RefineParams,
) -> Vec<Instance> {
    let (h, w) = labels.dim();
    // Row slices below need contiguous rows (a copy only for unusual layouts).
    let labels = labels.as_standard_layout();
    let classes = classes.as_standard_layout();
    let (Some(lab), Some(cls)) = (labels.as_slice(), classes.as_slice()) else {
        unreachable!("standard layout is contiguous")
    };
    if h == 0 || w == 0 || n == 0 {
        return Vec::new();
    }
    let (regions, (filter, planes)) = rayon::join(|| region_runs(lab, h, w, n), || pack_classes(cls, h, w));
    let shared = Shared {
        h,
        w,
        classes: cls,
        filter: &filter,
        planes: planes.as_ref(),
        probs: match *semantic {
            Semantic::Probabilities(p) => Some(p),
            Semantic::Labels(_) => None,
        },
        kernel: KernelRows::new(params.closing_kernel.max(1)),
        identity: params.closing_kernel <= 1,
        min_area: params.min_area,
    };
    let results: Vec<Option<Instance>> = (1..=n)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, k| {
            let runs = &regions.runs[regions.start[k]..regions.start[k + 1]];
            refine_one(runs, &shared, scratch)
        })
        .collect();
    results.into_iter().flatten().collect()
}

/// Calls `f(y, x)` for every set bit of the grid (`nw` words per row, row `ry` = image row
/// `ry0 + ry`, bit `i` of word `j` = image column `cx0 + 64 j + i`), row-major.
#[inline]
fn for_each_bit(bits: &[u64], nw: usize, ry0: isize, cx0: isize, mut f: impl FnMut(usize, usize)) {
    for (ry, row) in bits.chunks_exact(nw).enumerate() {
        let y = (ry0 + ry as isize) as usize;
        for (j, &word) in row.iter().enumerate() {
            let mut b = word;
            while b != 0 {
                let x = (cx0 + (64 * j) as isize + b.trailing_zeros() as isize) as usize;
                b &= b - 1;
                f(y, x);
            }
        }
    }
}

/// The majority class of the kept bits (ties to the smaller id) and its count, from a histogram
/// of their classes (`hist`: all zeros, 65536 entries, left all zeros; `touched`: scratch).
fn histogram_vote(
    bits: &[u64],
    nw: usize,
    ry0: isize,
    rx0: isize,
    sh: &Shared<'_>,
    hist: &mut [u32],
    touched: &mut Vec<u16>,
) -> Option<(u16, u32)> {
    for_each_bit(bits, nw, ry0, rx0, |y, x| {
        let c = sh.classes[y * sh.w + x];
        if hist[usize::from(c)] == 0 {
            touched.push(c);
        }
        hist[usize::from(c)] += 1;
    });
    let mut best: Option<(u16, u32)> = None;
    for &c in touched.iter() {
        let cnt = hist[usize::from(c)];
        if best.is_none_or(|(bc, bn)| cnt > bn || (cnt == bn && c < bc)) {
            best = Some((c, cnt));
        }
    }
    for &c in touched.iter() {
        hist[usize::from(c)] = 0;
    }
    touched.clear();
    best
}

/// Closing, filter, class and score of one region (its runs, in raster order).
#[allow(
    clippy::too_many_lines,
    reason = "the hot loop of the refinement: closing, filter, vote and score in one pass over the kept bits (docs/mep-performance.md#refine)"
)]
fn refine_one(runs: &[Run], sh: &Shared<'_>, sc: &mut Scratch) -> Option<Instance> {
    let (first, last) = (runs.first()?, runs.last()?);
    let (h, w) = (sh.h, sh.w);
    let (y0, y1) = (first.y as usize, last.y as usize);
    let x0 = runs.iter().map(|r| r.x0).min()? as usize;
    let x1 = runs.iter().map(|r| r.x1).max()? as usize; // exclusive
    let m = if sh.identity { 0 } else { sh.kernel.reach };
    // Grid R: the box grown by 2m, its left edge on a 64-pixel word boundary of the image.
    let ry0 = y0 as isize - 2 * m as isize;
    let wx0 = (x0 as isize - 2 * m as isize).div_euclid(64); // image word of grid word 0
    let rx0 = 64 * wx0;
    let rh = y1 - y0 + 1 + 4 * m;
    let rw = (x1 as isize + 2 * m as isize - rx0) as usize;
    let nw = rw.div_ceil(64);
    let src = &mut sc.closing.src;
    src.clear();
    src.resize(rh * nw, 0);
    for r in runs {
        let ry = (r.y as isize - ry0) as usize;
        let (a, b) = ((r.x0 as isize - rx0) as usize, (r.x1 as isize - rx0) as usize);
        set_range(&mut src[ry * nw..(ry + 1) * nw], a, b);
    }
    if !sh.identity {
        close_bits(&mut sc.closing, &sh.kernel, rh, nw, rw, ry0, rx0, h, w);
    }
    let bits: &mut [u64] = if sh.identity {
        &mut sc.closing.src
    } else {
        &mut sc.closing.ero
    };
    // AND with F (0 outside the image); rows outside the image are cleared.
    let nwi = w.div_ceil(64);
    for (ry, row) in bits.chunks_exact_mut(nw).enumerate() {
        let y = ry0 + ry as isize;
        if y < 0 || y >= h as isize {
            row.fill(0);
            continue;
        }
        let frow = &sh.filter[y as usize * nwi..(y as usize + 1) * nwi];
        for (j, word) in row.iter_mut().enumerate() {
            let iw = wx0 + j as isize;
            *word &= if iw >= 0 && (iw as usize) < nwi {
                frow[iw as usize]
            } else {
                0
            };
        }
    }
    // Area and crop box from the kept words; the class vote from the class planes (one
    // popcount per class and word) or, for larger ids, a histogram of the kept bits.
    let (mut my0, mut mx0, mut my1, mut mx1) = (usize::MAX, usize::MAX, 0, 0);
    let mut area = 0u64;
    let mut votes = [0u32; PLANE_MAX_CLASS as usize + 1];
    for (ry, row) in bits.chunks_exact(nw).enumerate() {
        let Some(jf) = row.iter().position(|&v| v != 0) else {
            continue;
        };
        let jl = row.iter().rposition(|&v| v != 0).unwrap_or(jf);
        let y = (ry0 + ry as isize) as usize;
        my0 = my0.min(y);
        my1 = y;
        mx0 = mx0.min((rx0 + (64 * jf) as isize + row[jf].trailing_zeros() as isize) as usize);
        mx1 = mx1.max((rx0 + (64 * jl) as isize + 63 - row[jl].leading_zeros() as isize) as usize);
        for &k in &row[jf..=jl] {
            area += u64::from(k.count_ones());
        }
        if let Some(pl) = sh.planes {
            for (j, &k) in (jf..=jl).zip(&row[jf..=jl]) {
                if k != 0 {
                    // A kept bit lies in the image, so its word does too.
                    let iw = (wx0 + j as isize) as usize;
                    let at = (y * nwi + iw) * pl.nb;
                    vote_word(k, &pl.bits[at..at + pl.nb], pl.max_class, &mut votes);
                }
            }
        }
    }
    let best = if sh.planes.is_some() {
        vote_winner(&votes)
    } else {
        if sc.hist.is_empty() {
            sc.hist.resize(usize::from(u16::MAX) + 1, 0);
        }
        histogram_vote(bits, nw, ry0, rx0, sh, &mut sc.hist, &mut sc.touched)
    };
    let (class, count) = best?;
    if area == 0 || area < sh.min_area {
        return None;
    }
    let (cw, ch) = (mx1 - mx0 + 1, my1 - my0 + 1);
    let mut data = vec![0u8; cw * ch];
    let mut psum = 0.0f64;
    match sh.probs {
        Some(p) => {
            let plane = p.index_axis(Axis(0), usize::from(class));
            let mut cur_y = usize::MAX;
            let mut prow = plane.row(0);
            for_each_bit(bits, nw, ry0, rx0, |y, x| {
                if y != cur_y {
                    cur_y = y;
                    prow = plane.row(y);
                }
                data[(y - my0) * cw + (x - mx0)] = 1;
                psum += f64::from(prow[x]);
            });
        }
        None => for_each_bit(bits, nw, ry0, rx0, |y, x| {
            data[(y - my0) * cw + (x - mx0)] = 1;
        }),
    }
    let score = if sh.probs.is_some() {
        psum / area as f64
    } else {
        f64::from(count) / area as f64
    };
    let as_u32 = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Some(Instance {
        category: u32::from(class),
        score,
        mask: CropMask {
            image_height: as_u32(h),
            image_width: as_u32(w),
            x: as_u32(mx0),
            y: as_u32(my0),
            width: as_u32(cw),
            height: as_u32(ch),
            data,
        },
    })
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow references: full-image closing with `OpenCV` border rules, and the refinement written
    //! from docs/mep.md's prose.
    use ndarray::{Array2, ArrayView2};

    use super::ellipse_kernel;
    use crate::instances::Instance;
    use crate::mep::Semantic;

    pub(crate) fn close(mask: &Array2<u8>, k: usize) -> Array2<u8> {
        if k <= 1 {
            return mask.clone();
        }
        let kern = ellipse_kernel(k);
        let a = (k / 2) as isize;
        let (h, w) = mask.dim();
        let offs: Vec<(isize, isize)> = kern
            .indexed_iter()
            .filter(|(_, v)| **v != 0)
            .map(|((i, j), _)| (i as isize - a, j as isize - a))
            .collect();
        let at = |m: &Array2<u8>, y: isize, x: isize, outside: u8| {
            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                outside
            } else {
                m[[y as usize, x as usize]]
            }
        };
        let dil = Array2::from_shape_fn((h, w), |(y, x)| {
            offs.iter()
                .map(|&(dy, dx)| at(mask, y as isize + dy, x as isize + dx, 0))
                .max()
                .unwrap_or(0)
        });
        Array2::from_shape_fn((h, w), |(y, x)| {
            offs.iter()
                .map(|&(dy, dx)| at(&dil, y as isize + dy, x as isize + dx, 1))
                .min()
                .unwrap_or(1)
        })
    }

    /// (category, score, full mask) per kept region.
    pub(crate) fn refine(
        labels: ArrayView2<'_, i32>,
        n: usize,
        sem: &Semantic<'_>,
        classes: ArrayView2<'_, u16>,
        k: usize,
        min_area: u64,
    ) -> Vec<(u32, f64, Array2<u8>)> {
        let mut out = Vec::new();
        for lab in 1..=n as i32 {
            let m = labels.mapv(|v| u8::from(v == lab));
            let closed = close(&m, k);
            let masked = Array2::from_shape_fn(m.dim(), |p| u8::from(closed[p] != 0 && classes[p] != 0));
            let area = masked.iter().filter(|&&v| v != 0).count() as u64;
            if area == 0 || area < min_area {
                continue;
            }
            let mut counts = std::collections::BTreeMap::<u16, u64>::new();
            for (p, &v) in masked.indexed_iter() {
                if v != 0 {
                    *counts.entry(classes[p]).or_default() += 1;
                }
            }
            let best = counts.values().copied().max().unwrap_or(0);
            let class = counts.iter().find(|(_, v)| **v == best).map_or(0, |(c, _)| *c);
            let score = match *sem {
                Semantic::Probabilities(p) => {
                    masked
                        .indexed_iter()
                        .filter(|(_, v)| **v != 0)
                        .map(|((y, x), _)| f64::from(p[[usize::from(class), y, x]]))
                        .sum::<f64>()
                        / area as f64
                }
                Semantic::Labels(_) => best as f64 / area as f64,
            };
            out.push((u32::from(class), score, masked));
        }
        out
    }

    pub(crate) fn full(inst: &Instance) -> Array2<u8> {
        let m = &inst.mask;
        Array2::from_shape_fn((m.image_height as usize, m.image_width as usize), |(y, x)| {
            u8::from(m.contains(y as u32, x as u32))
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn kernels_match_opencv() {
        assert_eq!(ellipse_kernel(1), ndarray::array![[1u8]]);
        assert_eq!(
            ellipse_kernel(3),
            ndarray::array![[0u8, 1, 0], [1, 1, 1], [0, 1, 0]]
        );
        // cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        assert_eq!(
            ellipse_kernel(7),
            ndarray::array![
                [0u8, 0, 0, 1, 0, 0, 0],
                [0, 1, 1, 1, 1, 1, 0],
                [1, 1, 1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1, 1, 1],
                [1, 1, 1, 1, 1, 1, 1],
                [0, 1, 1, 1, 1, 1, 0],
                [0, 0, 0, 1, 0, 0, 0],
            ]
        );
    }

    fn check(
        labels: &Array2<i32>,
        classes: &Array2<u16>,
        probs: Option<&Array3<f32>>,
        k: usize,
        min_area: u64,
    ) {
        let n = labels.iter().copied().max().unwrap_or(0).max(0) as usize;
        let sem = match probs {
            Some(p) => Semantic::Probabilities(p.view()),
            None => Semantic::Labels(classes.view()),
        };
        let fast = refine(
            labels.view(),
            n,
            &sem,
            classes.view(),
            &RefineParams {
                closing_kernel: k,
                min_area,
            },
        );
        let slow = reference::refine(labels.view(), n, &sem, classes.view(), k, min_area);
        assert_eq!(fast.len(), slow.len());
        for (f, (c, s, m)) in fast.iter().zip(&slow) {
            assert_eq!(f.category, *c);
            assert!((f.score - s).abs() < 1e-12, "{} vs {}", f.score, s);
            assert_eq!(&reference::full(f), m);
        }
    }

    #[test]
    fn wide_region_spans_words() {
        let labels = Array2::from_shape_fn((6, 150), |(y, x)| {
            i32::from(y > 0 && y < 5 && x != 70 && x != 64) + i32::from(x > 140)
        });
        let classes = Array2::<u16>::from_elem((6, 150), 3);
        check(&labels, &classes, None, 5, 0);
        check(&labels, &classes, None, 7, 0);
    }

    fn arb_case() -> impl Strategy<Value = (Array2<i32>, Array2<u16>, Array3<f32>)> {
        (1usize..20, 1usize..20, 1usize..4).prop_flat_map(|(h, w, k)| {
            (
                prop::collection::vec(
                    prop_oneof![3 => Just(0i32), 1 => Just(-1i32), 4 => 1i32..4],
                    h * w,
                )
                .prop_map(move |v| Array2::from_shape_vec((h, w), v).expect("shape")),
                prop::collection::vec(0.0f32..1.0, (k + 1) * h * w)
                    .prop_map(move |v| Array3::from_shape_vec((k + 1, h, w), v).expect("shape")),
            )
                .prop_map(|(l, p)| {
                    let (_, h, w) = p.dim();
                    let mut c = Array2::<u16>::zeros((h, w));
                    class_map_into(&Semantic::Probabilities(p.view()), c.view_mut()).expect("no NaN");
                    (l, c, p)
                })
        })
    }

    /// The plane vote (`pack_classes`, `vote_word`, `vote_winner`) against the histogram vote on
    /// random class maps (ids `0..=max`) and random kept bits within `F`.
    fn plane_vote_case(classes: &Array2<u16>, keep: &[u64]) {
        let (h, w) = classes.dim();
        let cls = classes.as_slice().expect("standard layout");
        let (filter, planes) = pack_classes(cls, h, w);
        let nw = w.div_ceil(64);
        let kept: Vec<u64> = filter
            .iter()
            .zip(keep.iter().cycle())
            .map(|(f, k)| f & k)
            .collect();
        let shared = Shared {
            h,
            w,
            classes: cls,
            filter: &filter,
            planes: planes.as_ref(),
            probs: None,
            kernel: KernelRows::new(1),
            identity: true,
            min_area: 0,
        };
        let mut hist = vec![0u32; usize::from(u16::MAX) + 1];
        let mut touched = Vec::new();
        let slow = histogram_vote(&kept, nw, 0, 0, &shared, &mut hist, &mut touched);
        assert!(hist.iter().all(|&v| v == 0) && touched.is_empty());
        let max = cls.iter().copied().max().unwrap_or(0);
        let Some(pl) = planes else {
            assert!(max == 0 || max > PLANE_MAX_CLASS, "planes for max class {max}");
            return;
        };
        assert_eq!(pl.max_class, max);
        let mut votes = [0u32; PLANE_MAX_CLASS as usize + 1];
        for (i, &k) in kept.iter().enumerate() {
            vote_word(k, &pl.bits[i * pl.nb..(i + 1) * pl.nb], pl.max_class, &mut votes);
        }
        assert_eq!(vote_winner(&votes), slow);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn plane_vote_matches_histogram(
            (classes, keep) in (1usize..6, 1usize..150, 0u16..=16).prop_flat_map(|(h, w, max)| (
                prop::collection::vec(0..=max, h * w)
                    .prop_map(move |v| Array2::from_shape_vec((h, w), v).expect("shape")),
                prop::collection::vec(prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()], 1..8),
            ))
        ) {
            plane_vote_case(&classes, &keep);
        }
    }

    #[test]
    fn plane_vote_ties_go_to_the_smaller_id() {
        // Two pixels of class 3, two of class 2, one of class 5: 2 wins the tie.
        let classes = ndarray::array![[3u16, 2, 5, 3, 2, 0]];
        plane_vote_case(&classes, &[u64::MAX]);
        let (f, planes) = pack_classes(classes.as_slice().expect("layout"), 1, 6);
        let pl = planes.expect("planes");
        let mut votes = [0u32; PLANE_MAX_CLASS as usize + 1];
        vote_word(f[0], &pl.bits[..pl.nb], pl.max_class, &mut votes);
        assert_eq!(vote_winner(&votes), Some((2, 2)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn large_class_ids_match_reference((l, c, _p) in arb_case(), k in prop_oneof![Just(5usize), 0usize..8]) {
            // Ids above PLANE_MAX_CLASS take the histogram vote.
            let big = c.mapv(|v| if v == 0 { 0 } else { v * 1000 + 7 });
            check(&l, &big, None, k, 0);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_reference((l, c, p) in arb_case(), k in prop_oneof![Just(5usize), 0usize..8], min_area in 0u64..4) {
            check(&l, &c, Some(&p), k, min_area);
            check(&l, &c, None, k, min_area);
        }
    }
}
