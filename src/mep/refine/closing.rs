//! The morphological closing of one region's bit grid with `OpenCV`'s elliptical kernel
//! (`cv2.morphologyEx(mask, MORPH_CLOSE, getStructuringElement(MORPH_ELLIPSE, (k, k)))`, default
//! borders), docs/mep.md#refinement.
//!
//! Rows of the region's window are packed into 64-bit words and the kernel is applied as the OR
//! (dilation) or AND (erosion) of word-shifted rows, one shift per kernel column and one row
//! combination per kernel row (van Herk-style separability is not needed at these kernel sizes).
//! Pixels outside the image never set a pixel in the dilation and never clear one in the erosion,
//! as in `OpenCV`.
use ndarray::{Array2, Axis};

/// `OpenCV`'s `getStructuringElement(MORPH_ELLIPSE, (k, k))` as a 0/1 `k x k` array (anchor at
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
pub(super) struct KernelRows {
    pub(super) rows: Vec<(isize, isize, isize)>,
    /// Distinct horizontal runs, and for each row the index of its run.
    pub(super) runs: Vec<(isize, isize)>,
    pub(super) run_of: Vec<usize>,
    pub(super) reach: usize,
}

impl KernelRows {
    pub(super) fn new(k: usize) -> Self {
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

/// Reusable buffers of [`close_bits`].
#[derive(Debug, Default)]
pub(super) struct ClosingScratch {
    pub(super) src: Vec<u64>,
    hrun: Vec<u64>,
    dil: Vec<u64>,
    pub(super) ero: Vec<u64>,
}

/// Closing of the bit grid `sc.src` (`rh` rows of `nw` words, `rw` valid bits, origin `(ry0, rx0)`
/// in an `h x w` image) into `sc.ero`.
#[allow(clippy::too_many_arguments)] // internal helper over one window's geometry
pub(super) fn close_bits(
    sc: &mut ClosingScratch,
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
