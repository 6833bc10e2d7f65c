//! Stage 1 of the MEP: boundary thinning by edge non-maximum suppression (docs/mep.md#thinning).
//!
//! The algorithm is the structured-edge NMS of Dollár & Zitnick (`edgesNmsMex` in Piotr's toolbox,
//! as used by HED/RCF/BAISeg): smooth the boundary map with a triangle filter, estimate the edge
//! normal from second derivatives of the smoothed map, and suppress a pixel when a bilinear sample
//! of the *original* map along the normal exceeds `margin` times its value.
//!
//! Implementation notes:
//! - the triangle smoothing (radius 4, `[1..5..1]/25`, reflect-101 borders) is separable and
//!   computed in `f64` into one buffer, in the reference's order (along x, then along y): the x pass
//!   row-parallel, the y pass in place on column strips in parallel;
//! - derivatives (numpy `gradient`: central differences, one-sided at the border, zero along an axis
//!   of length 1) are never stored: they are evaluated on the fly, in `f64`, only for the pixels that
//!   can end up in the thinned map (`B(p) >= edge_threshold > 0`); all other pixels are decided
//!   without them (see [`thin_nms`]);
//! - the NMS comparison is done in `f64` as docs/mep.md#thinning requires.
#![allow(
    unsafe_code,
    reason = "AVX2 kernels behind run-time feature detection (`is_x86_feature_detected!`); each block has its `// SAFETY:` argument"
)]
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Triangle kernel of radius 4 (`[1,2,3,4,5,4,3,2,1]`), to be divided by 25.
const TRI: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0];
/// Radius of the triangle kernel.
const TRI_R: usize = 4;

/// Parameters of the thinning stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsParams {
    /// Sampling radius `r`: offsets `d` in `-r..=r`, `d != 0`, along the normal.
    pub radius: usize,
    /// Margin `m`: a pixel is suppressed when a sample is strictly greater than `m * B(p)`.
    pub margin: f64,
    /// Threshold `t_e`: `thin = NMS(B) >= t_e`.
    pub threshold: f32,
}

impl Default for NmsParams {
    fn default() -> Self {
        Self {
            radius: 1,
            margin: 1.01,
            threshold: 0.5,
        }
    }
}

/// Reflect-101 index (`-1 -> 1`, `n -> n-2`), periodic for any offset; `0` when `n == 1`.
#[inline]
pub(crate) fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let j = i.rem_euclid(period);
    if j >= n as isize {
        (period - j) as usize
    } else {
        j as usize
    }
}

/// Rows of output per parallel band of the fused smoothing (each band recomputes the 8 x-smoothed
/// rows around it).
const BAND: usize = 64;

/// Smooths `boundary` with the separable triangle kernel of radius 4 (`[1,2,3,4,5,4,3,2,1]/25`),
/// reflect-101 borders, in `f64`, into `out` (same shape): first along x, then along y. Each output
/// is the integer-weighted sum accumulated tap by tap (k = 0..8), divided by 25 once, exactly as
/// the Python reference; the vectorisation is across pixels, never across taps.
///
/// The two passes are fused (`docs/mep-performance.md#smoothing`): bands of output rows run in
/// parallel, each keeping the last 9 x-smoothed rows in a ring, so the x-smoothed map is never
/// stored. The kernels are compiled for AVX2 as well and picked at run time.
///
/// ```
/// use ndarray::{array, Array2};
/// use baiseg_rt::mep::nms::smooth_triangle;
/// // A constant map stays constant.
/// let b = Array2::<f32>::from_elem((5, 5), 0.25);
/// let mut s = Array2::<f64>::zeros((5, 5));
/// smooth_triangle(b.view(), s.view_mut());
/// assert!(s.iter().all(|&v| (v - 0.25).abs() < 1e-15));
/// ```
///
/// # Panics
/// When `out`'s shape differs from `boundary`'s (a programming error, not an input error).
pub fn smooth_triangle(boundary: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f64>) {
    assert_eq!(boundary.dim(), out.dim(), "smooth_triangle: shape mismatch");
    let (h, w) = boundary.dim();
    if h == 0 || w == 0 {
        return;
    }
    let cols: Vec<usize> = (-(TRI_R as isize)..(w + TRI_R) as isize)
        .map(|i| reflect101(i, w))
        .collect();
    let rows: Vec<usize> = (-(TRI_R as isize)..(h + TRI_R) as isize)
        .map(|i| reflect101(i, h))
        .collect();
    let kern = simd::Kernels::detect();
    out.axis_chunks_iter_mut(Axis(0), BAND)
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || (vec![0.0f64; w + 2 * TRI_R], vec![0.0f64; 9 * w], vec![0.0f64; w]),
            |(padded, ring, orow_buf), (band, mut oband)| {
                let y0 = band * BAND;
                // x-smoothed source rows are computed in increasing order into ring slot r % 9.
                let mut next_src = y0.saturating_sub(TRI_R);
                for (dy, mut orow) in oband.axis_iter_mut(Axis(0)).enumerate() {
                    let y = y0 + dy;
                    let last = (y + TRI_R).min(h - 1);
                    while next_src <= last {
                        let brow = boundary.row(next_src);
                        match brow.as_slice() {
                            Some(b) => {
                                for (d, &v) in padded[TRI_R..TRI_R + w].iter_mut().zip(b) {
                                    *d = f64::from(v);
                                }
                                for i in (0..TRI_R).chain(w + TRI_R..w + 2 * TRI_R) {
                                    padded[i] = f64::from(b[cols[i]]);
                                }
                            }
                            None => {
                                for (d, &c) in padded.iter_mut().zip(&cols) {
                                    *d = f64::from(brow[c]);
                                }
                            }
                        }
                        let slot = next_src % 9;
                        kern.horizontal(padded, &mut ring[slot * w..(slot + 1) * w]);
                        next_src += 1;
                    }
                    let src: [&[f64]; 9] = std::array::from_fn(|k| {
                        let r = rows[y + k] % 9;
                        &ring[r * w..(r + 1) * w]
                    });
                    if let Some(o) = orow.as_slice_mut() {
                        kern.vertical(&src, o);
                    } else {
                        kern.vertical(&src, orow_buf);
                        orow.iter_mut().zip(orow_buf.iter()).for_each(|(o, &v)| *o = v);
                    }
                }
            },
        );
}

/// The smoothing kernels, portable and (on x86-64) compiled for AVX2 too, chosen at run time.
mod simd {
    use super::TRI;

    /// Lanes per block: enough independent sums to fill the vector units (32 f64 = 8 AVX2
    /// vectors, so the 9-add dependency chain of each sum does not bound the throughput;
    /// docs/mep-performance.md#smoothing).
    const L: usize = 32;

    /// `out[x] = (sum_k TRI[k] * p[x + k]) / 25`, tap order k = 0..8 per output.
    #[inline(always)]
    fn horizontal_body(p: &[f64], out: &mut [f64]) {
        let w = out.len();
        assert!(p.len() >= w + 8);
        let mut x = 0;
        while x + L <= w {
            let mut a = [0.0f64; L];
            for (k, &wk) in TRI.iter().enumerate() {
                for (a, &v) in a.iter_mut().zip(&p[x + k..x + k + L]) {
                    *a += wk * v;
                }
            }
            for (o, &a) in out[x..x + L].iter_mut().zip(&a) {
                *o = a / 25.0;
            }
            x += L;
        }
        for xx in x..w {
            let mut a = 0.0f64;
            for (k, &wk) in TRI.iter().enumerate() {
                a += wk * p[xx + k];
            }
            out[xx] = a / 25.0;
        }
    }

    /// `out[x] = (sum_k TRI[k] * src[k][x]) / 25`, tap order k = 0..8 per output.
    #[inline(always)]
    fn vertical_body(src: &[&[f64]; 9], out: &mut [f64]) {
        let w = out.len();
        for s in src {
            assert!(s.len() >= w);
        }
        let mut x = 0;
        while x + L <= w {
            let mut a = [0.0f64; L];
            for (k, &wk) in TRI.iter().enumerate() {
                for (a, &v) in a.iter_mut().zip(&src[k][x..x + L]) {
                    *a += wk * v;
                }
            }
            for (o, &a) in out[x..x + L].iter_mut().zip(&a) {
                *o = a / 25.0;
            }
            x += L;
        }
        for xx in x..w {
            let mut a = 0.0f64;
            for (k, &wk) in TRI.iter().enumerate() {
                a += wk * src[k][xx];
            }
            out[xx] = a / 25.0;
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn horizontal_avx2(p: &[f64], out: &mut [f64]) {
        horizontal_body(p, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn vertical_avx2(src: &[&[f64]; 9], out: &mut [f64]) {
        vertical_body(src, out);
    }

    /// The kernels chosen for this CPU. Rust never contracts `a + b * c` into an FMA, so every
    /// variant rounds exactly as the portable code.
    #[derive(Debug, Clone, Copy)]
    pub(super) struct Kernels {
        #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
        avx2: bool,
    }

    impl Kernels {
        pub(super) fn detect() -> Self {
            #[cfg(target_arch = "x86_64")]
            {
                Self {
                    avx2: std::arch::is_x86_feature_detected!("avx2"),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                Self { avx2: false }
            }
        }

        #[inline]
        pub(super) fn horizontal(self, p: &[f64], out: &mut [f64]) {
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: AVX2 support was detected at run time.
                return unsafe { horizontal_avx2(p, out) };
            }
            horizontal_body(p, out);
        }

        #[inline]
        pub(super) fn vertical(self, src: &[&[f64]; 9], out: &mut [f64]) {
            #[cfg(target_arch = "x86_64")]
            if self.avx2 {
                // SAFETY: AVX2 support was detected at run time.
                return unsafe { vertical_avx2(src, out) };
            }
            vertical_body(src, out);
        }
    }
}

/// numpy-`gradient` derivative of a sequence at `i` given an accessor (`n` = length).
#[inline]
fn grad1(n: usize, i: usize, f: impl Fn(usize) -> f64) -> f64 {
    if n < 2 {
        0.0
    } else if i == 0 {
        f(1) - f(0)
    } else if i == n - 1 {
        f(n - 1) - f(n - 2)
    } else {
        (f(i + 1) - f(i - 1)) / 2.0
    }
}

/// Edge-normal orientation `theta` in `[0, pi)` at `(y, x)` of the smoothed map `s`
/// (NaN when undefined): `atan(Oyy * sign(-Oxy) / (Oxx + 1e-5)) mod pi`.
#[must_use]
pub fn orientation(s: ArrayView2<'_, f64>, y: usize, x: usize) -> f64 {
    let (h, w) = s.dim();
    orientation_at(h, w, y, x, |yy, xx| s[[yy, xx]])
}

/// [`orientation`] over any accessor `at(row, col)` of an `h x w` smoothed map.
#[inline(always)]
fn orientation_at(h: usize, w: usize, y: usize, x: usize, at: impl Fn(usize, usize) -> f64) -> f64 {
    theta_of(tangent_at(h, w, y, x, at))
}

/// The argument of the `atan` of [`orientation`]: `Oyy * sign(-Oxy) / (Oxx + 1e-5)` at `(y, x)`.
#[inline(always)]
fn tangent_at(h: usize, w: usize, y: usize, x: usize, at: impl Fn(usize, usize) -> f64) -> f64 {
    if y >= 2 && x >= 2 && y + 2 < h && x + 2 < w {
        // Interior: every derivative is a central difference; same operations and order as
        // numpy (first derivatives rounded, then differenced).
        let a = |dy: isize, dx: isize| at((y as isize + dy) as usize, (x as isize + dx) as usize);
        let ox = |dy: isize, dx: isize| (a(dy, dx + 1) - a(dy, dx - 1)) / 2.0;
        let oy = |dy: isize| (a(dy + 1, 0) - a(dy - 1, 0)) / 2.0;
        let oxx = (ox(0, 1) - ox(0, -1)) / 2.0;
        let oxy = (ox(1, 0) - ox(-1, 0)) / 2.0;
        let oyy = (oy(1) - oy(-1)) / 2.0;
        return tangent_from(oxx, oxy, oyy);
    }
    let ox = |yy: usize, xx: usize| grad1(w, xx, |c| at(yy, c));
    let oy = |yy: usize, xx: usize| grad1(h, yy, |r| at(r, xx));
    let oxx = grad1(w, x, |c| ox(y, c));
    let oxy = grad1(h, y, |r| ox(r, x));
    let oyy = grad1(h, y, |r| oy(r, x));
    tangent_from(oxx, oxy, oyy)
}

/// `oyy * sign(-oxy) / (oxx + 1e-5)` with numpy's `sign`.
#[inline]
fn tangent_from(oxx: f64, oxy: f64, oyy: f64) -> f64 {
    let sgn = if oxy < 0.0 {
        1.0
    } else if oxy > 0.0 {
        -1.0
    } else {
        0.0
    };
    oyy * sgn / (oxx + 1e-5)
}

/// `atan(t) mod pi` with numpy's `mod` semantics: in `[0, pi)`, `-0 -> +0`, NaN stays NaN.
#[inline]
fn theta_of(t: f64) -> f64 {
    let t = t.atan();
    // numpy mod with a positive divisor: result in [0, pi), -0 -> +0.
    if t < 0.0 {
        t + std::f64::consts::PI
    } else if t == 0.0 {
        0.0
    } else {
        t
    }
}

/// Bilinear sample at `(x, y)` (column, row) of an `h x w` map read through `at(row, col)`,
/// coordinates clamped to the image.
#[inline(always)]
fn bilinear(h: usize, w: usize, x: f64, y: f64, at: impl Fn(usize, usize) -> f64) -> f64 {
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    // Both are >= 0 after the clamp, so truncation is `floor` (and avoids a libm call).
    let x0 = (x as usize).min(w - 1);
    let y0 = (y as usize).min(h - 1);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let fx = x - x0 as f64;
    let fy = y - y0 as f64;
    let (gx, gy) = (1.0 - fx, 1.0 - fy);
    // Same terms and order as the Python reference (left to right).
    at(y0, x0) * gx * gy + at(y0, x1) * fx * gy + at(y1, x0) * gx * fy + at(y1, x1) * fx * fy
}

/// Whether pixel `(y, x)` (with `B > 0`) of an `h x w` map read through `at` is suppressed,
/// given its orientation.
#[inline(always)]
fn suppressed(
    (h, w): (usize, usize),
    y: usize,
    x: usize,
    theta: f64,
    params: &NmsParams,
    at: impl Fn(usize, usize) -> f64 + Copy,
) -> bool {
    if theta.is_nan() {
        return false;
    }
    let limit = params.margin * at(y, x);
    let (sin, cos) = theta.sin_cos();
    let r = params.radius as isize;
    (-r..=r).filter(|&d| d != 0).any(|d| {
        let d = d as f64;
        bilinear(h, w, x as f64 + d * cos, y as f64 + d * sin, at) > limit
    })
}

/// The maximum and the maximum absolute value of the `(2r+1)^2` box around `(y, x)` (clipped to
/// the image).
#[inline(always)]
fn box_max(
    (h, w): (usize, usize),
    y: usize,
    x: usize,
    r: usize,
    at: impl Fn(usize, usize) -> f64,
) -> (f64, f64) {
    let (ya, yb) = (y.saturating_sub(r), (y + r).min(h - 1));
    let (xa, xb) = (x.saturating_sub(r), (x + r).min(w - 1));
    let (mut mx, mut mabs) = (f64::NEG_INFINITY, 0.0f64);
    for yy in ya..=yb {
        for xx in xa..=xb {
            let v = at(yy, xx);
            mx = mx.max(v);
            mabs = mabs.max(v.abs());
        }
    }
    (mx, mabs)
}

/// Whether pixel `(y, x)` is kept by the NMS whatever its orientation, given the box's
/// [`box_max`]: every bilinear sample at distance `<= r` is a convex combination of pixels of the
/// `(2r+1)^2` box around it (a pixel beyond the box only ever gets the weight 0), so it cannot
/// exceed the box's maximum by more than a few ulps; when `margin * B(p)` clears that maximum by a
/// relative 1e-12 (far more than the rounding of the 4-term bilinear sum), no sample is strictly
/// greater and the orientation is not needed (`docs/mep-performance.md#nms-early-out`).
#[inline(always)]
fn surely_kept(limit: f64, (mx, mabs): (f64, f64)) -> bool {
    limit > mx + mabs * 1e-12 + 1e-300
}

/// [`suppressed`] without `atan` and `sin_cos` when the answer is certain
/// (`docs/mep-performance.md#nms-certified-normal`): the normal of `theta = atan(t) mod pi` is
/// `+-(1, t) / sqrt(1 + t^2)`, which differs from the `sin_cos` of the rounded `theta` by a few
/// ulps; the samples along it then differ from the reference's by at most `tol`
/// (a Lipschitz bound of the bilinear interpolant over the box times the position error, plus the
/// rounding of both evaluations). A sample more than `tol` above the limit suppresses, all samples
/// more than `tol` below keep; anything closer runs the exact test.
#[inline(always)]
fn suppressed_certified(
    hw: (usize, usize),
    y: usize,
    x: usize,
    t: f64,
    params: &NmsParams,
    mabs: f64,
    at: impl Fn(usize, usize) -> f64 + Copy,
) -> bool {
    if t.is_nan() {
        // `theta` is NaN exactly when `t` is (`atan(+-inf)` is finite): never suppressed.
        return false;
    }
    let (h, w) = hw;
    if t.abs() > 1e100 {
        return suppressed(hw, y, x, theta_of(t), params, at);
    }
    let q = (1.0 + t * t).sqrt();
    // `theta = atan(t)` for `t >= 0` (cos > 0, sin = t cos); `atan(t) + pi` for `t < 0`.
    let (c, s) = if t < 0.0 {
        (-(1.0 / q).min(1.0), (-t / q).min(1.0))
    } else {
        ((1.0 / q).min(1.0), (t / q).min(1.0))
    };
    let r = params.radius;
    // Position error bound (a few ulps of the unit normal times r, plus the rounding of the
    // coordinates, ulp(max(h, w))), with a wide margin.
    let delta = 1e-13 * (r + h + w + 1) as f64;
    let tol = mabs * (4.0 * delta + 1e-13) + 1e-300;
    let limit = params.margin * at(y, x);
    let mut unsure = false;
    let r = r as isize;
    for d in (-r..=r).filter(|&d| d != 0) {
        let d = d as f64;
        let v = bilinear(h, w, x as f64 + d * c, y as f64 + d * s, at);
        if v > limit + tol {
            return true;
        }
        unsure |= v >= limit - tol;
    }
    unsure && suppressed(hw, y, x, theta_of(t), params, at)
}

/// The NMS decision for a pixel with `B(p) >= threshold > 0`.
#[inline(always)]
fn kept(
    hw: (usize, usize),
    y: usize,
    x: usize,
    params: &NmsParams,
    at_s: impl Fn(usize, usize) -> f64 + Copy,
    at_b: impl Fn(usize, usize) -> f64 + Copy,
) -> bool {
    let (h, w) = hw;
    let bx = box_max(hw, y, x, params.radius, at_b);
    surely_kept(params.margin * at_b(y, x), bx)
        || !suppressed_certified(hw, y, x, tangent_at(h, w, y, x, at_s), params, bx.1, at_b)
}

/// Thins `boundary` by edge NMS and thresholds it: returns the binary map (0/1)
/// `NMS(B) >= threshold` (docs/mep.md#thinning).
///
/// Example (5x5): a vertical ridge two pixels wide keeps only the stronger column.
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::nms::{thin_nms, NmsParams};
/// let b = array![
///     [0.0f32, 0.6, 0.9, 0.0, 0.0],
///     [0.0, 0.6, 0.9, 0.0, 0.0],
///     [0.0, 0.6, 0.9, 0.0, 0.0],
///     [0.0, 0.6, 0.9, 0.0, 0.0],
///     [0.0, 0.6, 0.9, 0.0, 0.0],
/// ];
/// let thin = thin_nms(b.view(), &NmsParams::default());
/// assert_eq!(thin, array![
///     [0u8, 0, 1, 0, 0],
///     [0, 0, 1, 0, 0],
///     [0, 0, 1, 0, 0],
///     [0, 0, 1, 0, 0],
///     [0, 0, 1, 0, 0],
/// ]);
/// ```
#[must_use]
pub fn thin_nms(boundary: ArrayView2<'_, f32>, params: &NmsParams) -> Array2<u8> {
    let mut smooth = Array2::<f64>::zeros(boundary.dim());
    let mut out = Array2::<u8>::zeros(boundary.dim());
    thin_nms_into(boundary, params, smooth.view_mut(), out.view_mut());
    out
}

/// [`thin_nms`] into caller-provided buffers: `smooth` (scratch for the smoothed map) and `out`
/// (the binary result), both of `boundary`'s shape.
///
/// Only pixels with `B(p) >= threshold > 0` need the NMS test: a suppressed pixel becomes 0, which
/// passes the threshold only when `threshold <= 0`, and then every pixel with `B > 0` passes either
/// way.
///
/// # Panics
/// When a buffer's shape differs from `boundary`'s.
#[allow(
    clippy::single_match_else,
    reason = "the two arms are the contiguous fast path and the strided fallback, side by side"
)]
pub fn thin_nms_into(
    boundary: ArrayView2<'_, f32>,
    params: &NmsParams,
    mut smooth: ArrayViewMut2<'_, f64>,
    mut out: ArrayViewMut2<'_, u8>,
) {
    assert_eq!(boundary.dim(), out.dim(), "thin_nms: shape mismatch");
    let t = params.threshold;
    if t <= 0.0 || t.is_nan() {
        // No pixel needs the orientation: see the function docs.
        out.zip_mut_with(&boundary, |o, &v| *o = u8::from(v > 0.0 || v >= t));
        return;
    }
    smooth_triangle(boundary, smooth.view_mut());
    let s = smooth.view();
    let (h, w) = boundary.dim();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut orow)| {
            let brow = boundary.row(y);
            match (s.as_slice(), boundary.as_slice(), orow.as_slice_mut()) {
                // Contiguous buffers: plain slice indexing in the per-candidate work.
                (Some(ss), Some(bs), Some(o)) => {
                    let at_s = |yy: usize, xx: usize| ss[yy * w + xx];
                    let at_b = |yy: usize, xx: usize| f64::from(bs[yy * w + xx]);
                    let b = &bs[y * w..(y + 1) * w];
                    // Candidates (`B >= t`) are a small part of the map: find them 8 at a time
                    // (a branch-free mask) and decide only those (docs/mep-performance.md#nms-scan).
                    o.fill(0);
                    for (c, bc) in b.chunks(8).enumerate() {
                        let mask = bc
                            .iter()
                            .enumerate()
                            .fold(0u32, |m, (k, &v)| m | (u32::from(v >= t) << k));
                        let mut bits = mask;
                        while bits != 0 {
                            let x = c * 8 + bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            o[x] = u8::from(kept((h, w), y, x, params, at_s, at_b));
                        }
                    }
                }
                _ => {
                    let at_s = |yy: usize, xx: usize| s[[yy, xx]];
                    let at_b = |yy: usize, xx: usize| f64::from(boundary[[yy, xx]]);
                    for (x, (o, &v)) in orow.iter_mut().zip(brow.iter()).enumerate() {
                        *o = u8::from(v >= t && kept((h, w), y, x, params, at_s, at_b));
                    }
                }
            }
        });
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: the numpy formulation over whole arrays.
    use ndarray::Array2;

    use super::{NmsParams, TRI, reflect101};

    fn smooth(b: &Array2<f32>) -> Array2<f64> {
        let (h, w) = b.dim();
        let mut v = Array2::<f64>::zeros((h, w));
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, &wk) in TRI.iter().enumerate() {
                    acc += wk * f64::from(b[[y, reflect101(x as isize + k as isize - 4, w)]]);
                }
                v[[y, x]] = acc / 25.0;
            }
        }
        let mut out = Array2::<f64>::zeros((h, w));
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, &wk) in TRI.iter().enumerate() {
                    acc += wk * v[[reflect101(y as isize + k as isize - 4, h), x]];
                }
                out[[y, x]] = acc / 25.0;
            }
        }
        out
    }

    fn gradient(a: &Array2<f64>, axis: usize) -> Array2<f64> {
        let (h, w) = a.dim();
        let n = if axis == 0 { h } else { w };
        Array2::from_shape_fn((h, w), |(y, x)| {
            let i = if axis == 0 { y } else { x };
            let at = |j: usize| if axis == 0 { a[[j, x]] } else { a[[y, j]] };
            if n < 2 {
                0.0
            } else if i == 0 {
                at(1) - at(0)
            } else if i == n - 1 {
                at(n - 1) - at(n - 2)
            } else {
                (at(i + 1) - at(i - 1)) / 2.0
            }
        })
    }

    /// Full-array NMS, then threshold.
    pub(crate) fn thin(b: &Array2<f32>, p: &NmsParams) -> Array2<u8> {
        let (h, w) = b.dim();
        let s = smooth(b);
        let oy = gradient(&s, 0);
        let ox = gradient(&s, 1);
        let oxx = gradient(&ox, 1);
        let oxy = gradient(&ox, 0);
        let oyy = gradient(&oy, 0);
        let mut e = b.mapv(f64::from);
        for y in 0..h {
            for x in 0..w {
                let bv = f64::from(b[[y, x]]);
                if bv <= 0.0 {
                    continue;
                }
                let sg = -oxy[[y, x]];
                let sg = if sg > 0.0 {
                    1.0
                } else if sg < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                let th = (oyy[[y, x]] * sg / (oxx[[y, x]] + 1e-5))
                    .atan()
                    .rem_euclid(std::f64::consts::PI);
                if th.is_nan() {
                    continue;
                }
                for d in -(p.radius as isize)..=p.radius as isize {
                    if d == 0 {
                        continue;
                    }
                    let xs = (x as f64 + d as f64 * th.cos()).clamp(0.0, (w - 1) as f64);
                    let ys = (y as f64 + d as f64 * th.sin()).clamp(0.0, (h - 1) as f64);
                    let (x0, y0) = (xs.floor() as usize, ys.floor() as usize);
                    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                    let (fx, fy) = (xs - x0 as f64, ys - y0 as f64);
                    let g = |yy: usize, xx: usize| f64::from(b[[yy, xx]]);
                    let v = g(y0, x0) * (1.0 - fx) * (1.0 - fy)
                        + g(y0, x1) * fx * (1.0 - fy)
                        + g(y1, x0) * (1.0 - fx) * fy
                        + g(y1, x1) * fx * fy;
                    if v > p.margin * bv {
                        e[[y, x]] = 0.0;
                    }
                }
            }
        }
        e.mapv(|v| u8::from(v >= f64::from(p.threshold)))
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    fn map(h: usize, w: usize, v: Vec<f32>) -> Array2<f32> {
        Array2::from_shape_vec((h, w), v).expect("shape")
    }

    #[test]
    fn reflect101_matches_spec() {
        assert_eq!(reflect101(-1, 5), 1);
        assert_eq!(reflect101(-2, 5), 2);
        assert_eq!(reflect101(5, 5), 3);
        assert_eq!(reflect101(6, 5), 2);
        assert_eq!(reflect101(-3, 2), 1);
        assert_eq!(reflect101(7, 1), 0);
        assert_eq!(reflect101(-9, 3), 1);
    }

    #[test]
    fn tiny_shapes() {
        let p = NmsParams::default();
        assert_eq!(thin_nms(map(1, 1, vec![0.7]).view(), &p), ndarray::array![[1u8]]);
        assert_eq!(thin_nms(map(1, 1, vec![0.2]).view(), &p), ndarray::array![[0u8]]);
        let row = map(1, 5, vec![0.6, 0.9, 0.6, 0.0, 0.8]);
        assert_eq!(thin_nms(row.view(), &p), reference::thin(&row, &p));
        let col = map(5, 1, vec![0.6, 0.9, 0.6, 0.0, 0.8]);
        assert_eq!(thin_nms(col.view(), &p), reference::thin(&col, &p));
        let empty = Array2::<f32>::zeros((0, 3));
        assert_eq!(thin_nms(empty.view(), &p).dim(), (0, 3));
    }

    #[test]
    fn all_and_no_boundary() {
        let p = NmsParams::default();
        let ones = Array2::<f32>::ones((7, 9));
        assert!(thin_nms(ones.view(), &p).iter().all(|&v| v == 1));
        let zeros = Array2::<f32>::zeros((7, 9));
        assert!(thin_nms(zeros.view(), &p).iter().all(|&v| v == 0));
    }

    #[test]
    fn nonpositive_threshold() {
        let b = map(2, 3, vec![0.0, 0.5, 1.0, 0.2, 0.0, 0.9]);
        let p = NmsParams {
            threshold: 0.0,
            ..NmsParams::default()
        };
        assert_eq!(thin_nms(b.view(), &p), reference::thin(&b, &p));
        let p = NmsParams {
            threshold: -1.0,
            ..NmsParams::default()
        };
        assert!(thin_nms(b.view(), &p).iter().all(|&v| v == 1));
    }

    fn arb_map() -> impl Strategy<Value = Array2<f32>> {
        (1usize..14, 1usize..14).prop_flat_map(|(h, w)| {
            prop::collection::vec(prop_oneof![Just(0.0f32), 0.0f32..1.0, Just(1.0f32)], h * w)
                .prop_map(move |v| Array2::from_shape_vec((h, w), v).expect("shape"))
        })
    }

    /// Tangents that stress the certified normal: zeros of both signs, tiny and huge values,
    /// the overflow cut-off, infinities and NaN.
    fn arb_tangent() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e3f64..1e3,
            -1.0f64..1.0,
            Just(0.0),
            Just(-0.0),
            Just(1e-300),
            Just(1e100),
            Just(-1e101),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            prop::num::f64::ANY,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The atan/sin_cos-free decision equals the exact one for every pixel of a random map and
        /// any tangent, including plateaus and exact ties (`docs/mep-performance.md#nms-certified-normal`).
        #[test]
        fn certified_normal_matches_exact(
            b in arb_map(),
            r in 1usize..4,
            t in arb_tangent(),
            margin in prop_oneof![Just(1.01f64), Just(1.0), 0.9f64..1.2],
        ) {
            let (h, w) = b.dim();
            let p = NmsParams { radius: r, margin, threshold: 0.5 };
            let at = |yy: usize, xx: usize| f64::from(b[[yy, xx]]);
            for y in 0..h {
                for x in 0..w {
                    let (_, mabs) = box_max((h, w), y, x, r, at);
                    prop_assert_eq!(
                        suppressed_certified((h, w), y, x, t, &p, mabs, at),
                        suppressed((h, w), y, x, theta_of(t), &p, at),
                        "y {} x {} t {}", y, x, t
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn matches_reference(b in arb_map(), r in 1usize..3, t in prop_oneof![Just(0.5f32), 0.05f32..0.95]) {
            let p = NmsParams { radius: r, margin: 1.01, threshold: t };
            prop_assert_eq!(thin_nms(b.view(), &p), reference::thin(&b, &p));
        }
    }
}
