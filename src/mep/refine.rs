//! Stage 4 of the MEP: per-instance refinement (docs/mep.md#refinement): morphological closing of each
//! watershed region with OpenCV's elliptical kernel (`cv2.morphologyEx(mask, MORPH_CLOSE,
//! getStructuringElement(MORPH_ELLIPSE, (k, k)))`, default borders), the semantic filter, the
//! instance's class (majority vote, ties to the smaller id) and score.
//!
//! Each region is closed on its bounding box grown by the kernel's reach, not on the whole image:
//! rows of that window are packed into 64-bit words and the kernel is applied as the OR (dilation)
//! or AND (erosion) of word-shifted rows, one shift per kernel column and one row combination per
//! kernel row (van Herk-style separability is not needed at these kernel sizes). Pixels outside the
//! image never set a pixel in the dilation and never clear one in the erosion, as in OpenCV.
//! Regions are independent and processed in parallel; the output keeps label order.
use ndarray::{Array2, ArrayView2, ArrayView3, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use super::Semantic;
use crate::error::{Error, Result};
use crate::instances::{CropMask, Instance};

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

/// OpenCV's `getStructuringElement(MORPH_ELLIPSE, (k, k))` as a 0/1 `k x k` array (anchor at
/// `(k/2, k/2)`).
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::refine::ellipse_kernel;
/// assert_eq!(ellipse_kernel(5), array![
///     [0u8, 0, 1, 0, 0],
///     [1, 1, 1, 1, 1],
///     [1, 1, 1, 1, 1],
///     [1, 1, 1, 1, 1],
///     [0, 0, 1, 0, 0],
/// ]);
/// ```
#[must_use]
pub fn ellipse_kernel(k: usize) -> Array2<u8> {
    let mut out = Array2::<u8>::zeros((k, k));
    if k == 1 {
        out[[0, 0]] = 1;
        return out;
    }
    let r = (k / 2) as i64;
    let c = r;
    let inv_r2 = if r > 0 { 1.0 / (r * r) as f64 } else { 0.0 };
    for i in 0..k as i64 {
        let dy = i - r;
        if dy.abs() > r {
            continue;
        }
        let dx = (c as f64 * (((r * r - dy * dy) as f64) * inv_r2).sqrt()).round_ties_even() as i64;
        let j1 = (c - dx).max(0);
        let j2 = (c + dx + 1).min(k as i64);
        for j in j1..j2 {
            out[[i as usize, j as usize]] = 1;
        }
    }
    out
}

/// The kernel as rows of offsets: `(dy, dx_lo, dx_hi)` (inclusive), plus its reach `m`.
#[derive(Debug, Clone)]
struct KernelRows {
    rows: Vec<(isize, isize, isize)>,
    /// Distinct horizontal runs, and for each row the index of its run.
    runs: Vec<(isize, isize)>,
    run_of: Vec<usize>,
    reach: usize,
}

impl KernelRows {
    fn new(k: usize) -> Self {
        let kern = ellipse_kernel(k);
        let a = (k / 2) as isize;
        let mut rows = Vec::new();
        for (i, row) in kern.axis_iter(Axis(0)).enumerate() {
            let ones: Vec<isize> = row
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0)
                .map(|(j, _)| j as isize)
                .collect();
            if let (Some(&lo), Some(&hi)) = (ones.first(), ones.last()) {
                rows.push((i as isize - a, lo - a, hi - a));
            }
        }
        let mut runs: Vec<(isize, isize)> = Vec::new();
        let mut run_of = Vec::new();
        for &(_, lo, hi) in &rows {
            let idx = runs.iter().position(|&r| r == (lo, hi)).unwrap_or_else(|| {
                runs.push((lo, hi));
                runs.len() - 1
            });
            run_of.push(idx);
        }
        Self {
            rows,
            runs,
            run_of,
            reach: k / 2,
        }
    }
}

/// `dst |= shift(src, dx)` (or `&=` when `and`), where bit `c` of the result is bit `c + dx` of
/// `src` and bits shifted in from outside the row are 0.
#[inline]
fn shifted(src: &[u64], dx: isize, i: usize) -> u64 {
    let n = src.len() as isize;
    let get = |j: isize| if j >= 0 && j < n { src[j as usize] } else { 0 };
    let q = dx.div_euclid(64);
    let s = dx.rem_euclid(64) as u32;
    let j = i as isize + q;
    if s == 0 {
        get(j)
    } else {
        (get(j) >> s) | (get(j + 1) << (64 - s))
    }
}

/// Reusable scratch of one worker.
#[derive(Debug, Default)]
struct Scratch {
    src: Vec<u64>,
    hrun: Vec<u64>,
    dil: Vec<u64>,
    ero: Vec<u64>,
    mask: Vec<u8>,
    hist: Vec<u32>,
    touched: Vec<u16>,
}

/// Per-label bounding boxes `(y0, x0, y1, x1)` (inclusive); `None` for absent labels.
fn label_boxes(labels: ArrayView2<'_, i32>, n: usize) -> Vec<Option<(usize, usize, usize, usize)>> {
    // (x0, x1, y0, y1) with x0 = MAX for absent labels; rows in order, so y1 is the last row seen.
    let mut b = vec![(u32::MAX, 0u32, u32::MAX, 0u32); n + 1];
    for (y, row) in labels.axis_iter(Axis(0)).enumerate() {
        let y = y as u32;
        let mut visit = |x: usize, v: i32| {
            if v > 0 && (v as usize) <= n {
                let e = &mut b[v as usize];
                let x = x as u32;
                e.0 = e.0.min(x);
                e.1 = e.1.max(x);
                e.2 = e.2.min(y);
                e.3 = y;
            }
        };
        match row.as_slice() {
            Some(r) => {
                // Runs of one label are common: visit each run's ends only.
                let mut x = 0;
                while x < r.len() {
                    let v = r[x];
                    let start = x;
                    while x + 1 < r.len() && r[x + 1] == v {
                        x += 1;
                    }
                    visit(start, v);
                    visit(x, v);
                    x += 1;
                }
            }
            None => row.iter().enumerate().for_each(|(x, &v)| visit(x, v)),
        }
    }
    b.into_iter()
        .map(|(x0, x1, y0, y1)| {
            (x0 != u32::MAX).then_some((y0 as usize, x0 as usize, y1 as usize, x1 as usize))
        })
        .collect()
}

/// Per-pixel class of the semantic filter `F`: the class id where `F` holds, else 0
/// (`argmax P`, first maximum on ties; or `L` unless it is 0 or 255).
///
/// # Errors
/// [`Error::Invalid`] when the probabilities hold NaN, have no channel, or shapes disagree, or
/// when there are more than 65535 classes.
pub fn class_map_into(semantic: &Semantic<'_>, mut out: ArrayViewMut2<'_, u16>) -> Result<()> {
    match *semantic {
        Semantic::Labels(l) => {
            if l.dim() != out.dim() {
                return Err(Error::invalid(
                    "semantic labels",
                    format!("shape {:?}, expected {:?}", l.dim(), out.dim()),
                ));
            }
            Zip::from(&mut out)
                .and(&l)
                .par_for_each(|o, &v| *o = if v == 255 { 0 } else { v });
            Ok(())
        }
        Semantic::Probabilities(p) => {
            let (k, h, w) = p.dim();
            if (h, w) != out.dim() || k == 0 {
                return Err(Error::invalid(
                    "semantic probabilities",
                    format!(
                        "shape {:?}, expected [K+1 >= 1, {}, {}]",
                        p.dim(),
                        out.nrows(),
                        out.ncols()
                    ),
                ));
            }
            if k > usize::from(u16::MAX) + 1 {
                return Err(Error::invalid(
                    "semantic probabilities",
                    format!("{k} channels, at most 65536"),
                ));
            }
            let nan = std::sync::atomic::AtomicBool::new(false);
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each_init(
                    || (vec![0f32; w], vec![0f32; w]),
                    |(best, idx), (y, mut orow)| {
                        // Running maximum and its channel (as f32, so that every lane has the same
                        // width and the loop vectorises); NaN is detected on the way.
                        let mut any_nan = false;
                        for (b, &v) in best.iter_mut().zip(p.slice(ndarray::s![0, y, ..])) {
                            any_nan |= v.is_nan();
                            *b = v;
                        }
                        idx.fill(0.0);
                        for c in 1..k {
                            let cf = c as f32;
                            let prow = p.slice(ndarray::s![c, y, ..]);
                            let step = |b: &mut f32, i: &mut f32, v: f32| {
                                let gt = v > *b;
                                *b = if gt { v } else { *b };
                                *i = if gt { cf } else { *i };
                                v.is_nan()
                            };
                            match prow.as_slice() {
                                Some(ps) => {
                                    let mut n = false;
                                    for ((b, i), &v) in best.iter_mut().zip(idx.iter_mut()).zip(ps) {
                                        n |= step(b, i, v);
                                    }
                                    any_nan |= n;
                                }
                                None => {
                                    for ((b, i), &v) in best.iter_mut().zip(idx.iter_mut()).zip(prow.iter()) {
                                        any_nan |= step(b, i, v);
                                    }
                                }
                            }
                        }
                        for (o, &i) in orow.iter_mut().zip(idx.iter()) {
                            *o = i as u16;
                        }
                        if any_nan {
                            nan.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    },
                );
            if nan.into_inner() {
                return Err(Error::invalid("semantic probabilities", "contain NaN"));
            }
            Ok(())
        }
    }
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
    let kernel = KernelRows::new(params.closing_kernel.max(1));
    let identity = params.closing_kernel <= 1;
    // Row slices below need contiguous rows (a copy only for unusual layouts).
    let labels = labels.as_standard_layout();
    let classes = classes.as_standard_layout();
    let (labels, classes) = (labels.view(), classes.view());
    let boxes = label_boxes(labels, n);
    let probs = match *semantic {
        Semantic::Probabilities(p) => Some(p),
        Semantic::Labels(_) => None,
    };
    let results: Vec<Option<Instance>> = (1..=n)
        .into_par_iter()
        .map_init(Scratch::default, |scratch, k| {
            let b = boxes[k]?;
            refine_one(
                labels,
                k as i32,
                b,
                &kernel,
                identity,
                classes,
                probs,
                params.min_area,
                scratch,
            )
        })
        .collect();
    results.into_iter().flatten().collect()
}

/// Row `y` of a standard-layout array as a slice.
fn row_slice<'a, T>(a: ArrayView2<'a, T>, y: usize) -> &'a [T] {
    a.index_axis_move(Axis(0), y)
        .to_slice()
        .expect("refine works on standard-layout arrays")
}

/// Closing, filter, class and score of one region.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
fn refine_one(
    labels: ArrayView2<'_, i32>,
    k: i32,
    (y0, x0, y1, x1): (usize, usize, usize, usize),
    kernel: &KernelRows,
    identity: bool,
    classes: ArrayView2<'_, u16>,
    probs: Option<ArrayView3<'_, f32>>,
    min_area: u64,
    sc: &mut Scratch,
) -> Option<Instance> {
    let (h, w) = labels.dim();
    let m = if identity { 0 } else { kernel.reach };
    // Region R (may extend outside the image).
    let ry0 = y0 as isize - 2 * m as isize;
    let rx0 = x0 as isize - 2 * m as isize;
    let rh = y1 - y0 + 1 + 4 * m;
    let rw = x1 - x0 + 1 + 4 * m;
    let nw = rw.div_ceil(64);
    sc.src.clear();
    sc.src.resize(rh * nw, 0);
    for y in y0..=y1 {
        let ry = (y as isize - ry0) as usize;
        let lrow = row_slice(labels, y);
        let words = &mut sc.src[ry * nw..(ry + 1) * nw];
        // Column x0 + i is bit i + 2m of the region row.
        for (i, &v) in lrow[x0..=x1].iter().enumerate() {
            if v == k {
                let rx = i + 2 * m;
                words[rx / 64] |= 1 << (rx % 64);
            }
        }
    }
    let result: &[u64] = if identity {
        &sc.src
    } else {
        close_bits(sc, kernel, rh, nw, rw, ry0, rx0, h, w);
        &sc.ero
    };
    // Valid output window: R shrunk by m, clipped to the image.
    let vy0 = (ry0 + m as isize).max(0) as usize;
    let vx0 = (rx0 + m as isize).max(0) as usize;
    let vy1 = ((ry0 + (rh - m) as isize) as usize).min(h); // exclusive
    let vx1 = ((rx0 + (rw - m) as isize) as usize).min(w);
    let (vh, vw) = (vy1 - vy0, vx1 - vx0);
    sc.mask.clear();
    sc.mask.resize(vh * vw, 0);
    if sc.hist.is_empty() {
        sc.hist.resize(usize::from(u16::MAX) + 1, 0);
    }
    let (mut my0, mut mx0, mut my1, mut mx1) = (usize::MAX, usize::MAX, 0, 0);
    let mut area = 0u64;
    for y in vy0..vy1 {
        let ry = (y as isize - ry0) as usize;
        let words = &result[ry * nw..(ry + 1) * nw];
        let crow = row_slice(classes, y);
        for (wi, &word) in words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let rx = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let x = rx0 + rx as isize;
                if x < vx0 as isize || x >= vx1 as isize {
                    continue;
                }
                let x = x as usize;
                let c = crow[x];
                if c == 0 {
                    continue;
                }
                if sc.hist[usize::from(c)] == 0 {
                    sc.touched.push(c);
                }
                sc.hist[usize::from(c)] += 1;
                sc.mask[(y - vy0) * vw + (x - vx0)] = 1;
                area += 1;
                my0 = my0.min(y);
                my1 = my1.max(y);
                mx0 = mx0.min(x);
                mx1 = mx1.max(x);
            }
        }
    }
    // Majority class, ties to the smaller id; then reset the histogram.
    let mut best: Option<(u16, u32)> = None;
    for &c in &sc.touched {
        let cnt = sc.hist[usize::from(c)];
        if best.is_none_or(|(bc, bn)| cnt > bn || (cnt == bn && c < bc)) {
            best = Some((c, cnt));
        }
    }
    for &c in &sc.touched {
        sc.hist[usize::from(c)] = 0;
    }
    sc.touched.clear();
    let (class, count) = best?;
    if area == 0 || area < min_area {
        return None;
    }
    let (cw, ch) = (mx1 - mx0 + 1, my1 - my0 + 1);
    let mut data = vec![0u8; cw * ch];
    let mut psum = 0.0f64;
    for y in my0..=my1 {
        let src = &sc.mask[(y - vy0) * vw + (mx0 - vx0)..(y - vy0) * vw + (mx1 - vx0) + 1];
        data[(y - my0) * cw..(y - my0 + 1) * cw].copy_from_slice(src);
        if let Some(p) = probs {
            let prow = p.slice(ndarray::s![usize::from(class), y, mx0..=mx1]);
            for (&bit, &v) in src.iter().zip(prow.iter()) {
                if bit != 0 {
                    psum += f64::from(v);
                }
            }
        }
    }
    let score = if probs.is_some() {
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

/// Closing of the bit grid `sc.src` (`rh` rows of `nw` words, `rw` valid bits, origin `(ry0, rx0)`
/// in an `h x w` image) into `sc.ero`.
#[allow(clippy::too_many_arguments)] // internal helper over one window's geometry
fn close_bits(
    sc: &mut Scratch,
    kernel: &KernelRows,
    rh: usize,
    nw: usize,
    rw: usize,
    ry0: isize,
    rx0: isize,
    h: usize,
    w: usize,
) {
    let nruns = kernel.runs.len();
    // Dilation: horizontal runs, then OR of vertically shifted rows.
    sc.hrun.clear();
    sc.hrun.resize(nruns * rh * nw, 0);
    for (ri, &(lo, hi)) in kernel.runs.iter().enumerate() {
        for ry in 0..rh {
            let src = &sc.src[ry * nw..(ry + 1) * nw];
            let dst = &mut sc.hrun[(ri * rh + ry) * nw..(ri * rh + ry + 1) * nw];
            for (i, d) in dst.iter_mut().enumerate() {
                let mut acc = 0u64;
                for dx in lo..=hi {
                    acc |= shifted(src, dx, i);
                }
                *d = acc;
            }
        }
    }
    sc.dil.clear();
    sc.dil.resize(rh * nw, 0);
    for ry in 0..rh {
        for (row_i, &(dy, _, _)) in kernel.rows.iter().enumerate() {
            let sy = ry as isize + dy;
            if sy < 0 || sy >= rh as isize {
                continue;
            }
            let ri = kernel.run_of[row_i];
            let base = (ri * rh + sy as usize) * nw;
            for i in 0..nw {
                sc.dil[ry * nw + i] |= sc.hrun[base + i];
            }
        }
    }
    // Outside the image: set (never cleared by the erosion).
    let mut outside_cols = vec![0u64; nw];
    for rx in 0..rw {
        let x = rx0 + rx as isize;
        if x < 0 || x >= w as isize {
            outside_cols[rx / 64] |= 1 << (rx % 64);
        }
    }
    for ry in 0..rh {
        let y = ry0 + ry as isize;
        let row = &mut sc.dil[ry * nw..(ry + 1) * nw];
        if y < 0 || y >= h as isize {
            row.fill(u64::MAX);
        } else {
            for (d, &o) in row.iter_mut().zip(&outside_cols) {
                *d |= o;
            }
        }
    }
    // Erosion: AND over horizontal runs, then AND of vertically shifted rows.
    for (ri, &(lo, hi)) in kernel.runs.iter().enumerate() {
        for ry in 0..rh {
            let src = &sc.dil[ry * nw..(ry + 1) * nw];
            let dst = &mut sc.hrun[(ri * rh + ry) * nw..(ri * rh + ry + 1) * nw];
            for (i, d) in dst.iter_mut().enumerate() {
                let mut acc = u64::MAX;
                for dx in lo..=hi {
                    acc &= shifted(src, dx, i);
                }
                *d = acc;
            }
        }
    }
    let m = kernel.reach;
    sc.ero.clear();
    sc.ero.resize(rh * nw, 0);
    for ry in m..rh.saturating_sub(m) {
        let out = &mut sc.ero[ry * nw..(ry + 1) * nw];
        out.fill(u64::MAX);
        for (row_i, &(dy, _, _)) in kernel.rows.iter().enumerate() {
            let sy = (ry as isize + dy) as usize;
            let ri = kernel.run_of[row_i];
            let base = (ri * rh + sy) * nw;
            for (i, o) in out.iter_mut().enumerate() {
                *o &= sc.hrun[base + i];
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow references: full-image closing with OpenCV border rules, and the refinement written
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

    #[test]
    fn class_map_argmax_and_nan() {
        let p = Array3::from_shape_vec((3, 1, 3), vec![0.5f32, 0.2, 0.1, 0.5, 0.7, 0.2, 0.0, 0.1, 0.7])
            .expect("shape");
        let mut c = Array2::<u16>::zeros((1, 3));
        class_map_into(&Semantic::Probabilities(p.view()), c.view_mut()).expect("ok");
        assert_eq!(c, ndarray::array![[0u16, 1, 2]]);
        let mut bad = p.clone();
        bad[[1, 0, 1]] = f32::NAN;
        assert!(class_map_into(&Semantic::Probabilities(bad.view()), c.view_mut()).is_err());
        let l = ndarray::array![[255u16, 0, 4]];
        class_map_into(&Semantic::Labels(l.view()), c.view_mut()).expect("ok");
        assert_eq!(c, ndarray::array![[0u16, 0, 4]]);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn matches_reference((l, c, p) in arb_case(), k in prop_oneof![Just(5usize), 0usize..8], min_area in 0u64..4) {
            check(&l, &c, Some(&p), k, min_area);
            check(&l, &c, None, k, min_area);
        }
    }
}
