//! Stage 2b of the MEP: exact Euclidean distance transform of the dilated boundary, and the seed
//! threshold (docs/mep.md#seeds; `scipy.ndimage.distance_transform_edt(D == 0)`, with `+inf`
//! everywhere when `D` is empty).
//!
//! Algorithm: the separable exact EDT of Meijster, Roerdink & Hesselink ("A general algorithm for
//! computing distance transforms in linear time", 2000), the integer form of the
//! Felzenszwalb–Huttenlocher lower envelope of parabolas:
//! 1. column pass: `g(y, x)` = distance along the column to the nearest set pixel, computed by a
//!    forward and a backward sweep over rows (vectorised across columns);
//! 2. row pass, row-parallel: `d2(y, x) = min_i (x - i)^2 + g(y, i)^2` by the lower envelope, with
//!    the integer `Sep` function (floor division), so every squared distance is exact.
//!
//! The MEP never needs the distances themselves: [`seeds_into`] thresholds the squared distances
//! against the smallest integer `k0` with `sqrt(k0) > t_d`, which is exactly `dist > t_d`. For the
//! usual small thresholds (`k0 <= 256`, i.e. `t_d < 16`) it computes no distance at all: a pixel
//! is within `t_d` of the boundary iff the boundary dilated by the disc `dx^2 + dy^2 < k0` covers
//! it, a few vectorised byte-wise ORs of whole rows per pixel, row-parallel
//! (docs/mep-performance.md#seeds).
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

/// Column pass: `g[y][x]` = rows to the nearest set pixel of column `x`, or `inf` (any value
/// `>= h + w` means none). `g` is stored as `i32` so the MEP can reuse its marker buffer.
fn column_pass(binary: ArrayView2<'_, u8>, mut g: ArrayViewMut2<'_, i32>, inf: i32) {
    let h = binary.nrows();
    // Forward sweep.
    let mut prev: Option<usize> = None;
    for y in 0..h {
        let brow = binary.row(y);
        if let Some(p) = prev {
            let (top, mut bottom) = g.view_mut().split_at(Axis(0), y);
            let prow = top.row(p);
            Zip::from(bottom.row_mut(0))
                .and(&brow)
                .and(&prow)
                .for_each(|d, &b, &up| {
                    *d = if b != 0 { 0 } else { up.saturating_add(1).min(inf) };
                });
        } else {
            Zip::from(g.row_mut(y))
                .and(&brow)
                .for_each(|d, &b| *d = if b != 0 { 0 } else { inf });
        }
        prev = Some(y);
    }
    // Backward sweep.
    for y in (0..h.saturating_sub(1)).rev() {
        let (mut top, bottom) = g.view_mut().split_at(Axis(0), y + 1);
        let below = bottom.row(0);
        Zip::from(top.row_mut(y)).and(&below).for_each(|d, &dn| {
            let c = dn.saturating_add(1).min(inf);
            if c < *d {
                *d = c;
            }
        });
    }
}

/// Row pass over one row: squared distances `d2[x] = min_i (x-i)^2 + g[i]^2` (Meijster's phase 2).
/// `f2`, `s` and `t` are scratch of length `g.len()`.
fn row_pass(g: &[i32], d2: &mut [i64], f2: &mut [i64], s: &mut [usize], t: &mut [i64]) {
    let m = g.len();
    if m == 0 {
        return;
    }
    for (f, &v) in f2.iter_mut().zip(g) {
        *f = i64::from(v) * i64::from(v);
    }
    let f2 = &*f2;
    let f = |x: i64, i: usize| (x - i as i64) * (x - i as i64) + f2[i];
    // Sep(i, u) = floor((u^2 - i^2 + g(u)^2 - g(i)^2) / (2 (u - i))).
    let sep = |i: usize, u: usize| {
        let (ii, uu) = (i as i64, u as i64);
        // Exact in f64: |numerator| < 2^45, so a non-integer quotient is at least 2^-45 (relative)
        // away from an integer, far more than the rounding of one division (2^-53).
        let q = (uu * uu - ii * ii + f2[u] - f2[i]) as f64 / (2 * (uu - ii)) as f64;
        let t = q as i64; // truncation; floor for negative non-integers is one less
        if (t as f64) > q { t - 1 } else { t }
    };
    let mut q: isize = 0;
    s[0] = 0;
    t[0] = 0;
    for u in 1..m {
        while q >= 0 && f(t[q as usize], s[q as usize]) > f(t[q as usize], u) {
            q -= 1;
        }
        if q < 0 {
            q = 0;
            s[0] = u;
        } else {
            let wv = 1 + sep(s[q as usize], u);
            if wv < m as i64 {
                q += 1;
                s[q as usize] = u;
                t[q as usize] = wv;
            }
        }
    }
    for u in (0..m).rev() {
        d2[u] = f(u as i64, s[q as usize]);
        if u as i64 == t[q as usize] {
            q -= 1;
        }
    }
}

/// The "infinite" column distance for an `h x w` map: larger than any real distance.
fn inf_for(h: usize, w: usize) -> i32 {
    // (h + w + 1) <= 2^21 keeps every squared term below 2^45 (see `row_pass`).
    i32::try_from(h + w + 1).unwrap_or(i32::MAX).min(1 << 21)
}

/// Runs the row pass over every row in parallel, handing each row's squared distances (`None`
/// where there is no set pixel at all) to `emit`.
fn for_each_row_d2<T: Send + Sync>(
    g: ArrayView2<'_, i32>,
    inf: i32,
    mut out: ArrayViewMut2<'_, T>,
    emit: impl Fn(Option<i64>) -> T + Sync,
) {
    let w = g.ncols();
    let inf2 = i64::from(inf) * i64::from(inf);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || {
                (
                    vec![0i32; w],
                    vec![0i64; w],
                    vec![0i64; w],
                    vec![0usize; w],
                    vec![0i64; w],
                )
            },
            |(grow, d2, f2, s, t), (y, mut orow)| {
                for (d, &v) in grow.iter_mut().zip(g.row(y).iter()) {
                    *d = v;
                }
                row_pass(grow, d2, f2, s, t);
                for (o, &v) in orow.iter_mut().zip(d2.iter()) {
                    *o = emit(if v >= inf2 { None } else { Some(v) });
                }
            },
        );
}

/// Exact Euclidean distance from every pixel to the nearest nonzero pixel of `binary` (0 on set
/// pixels, `+inf` everywhere when none is set).
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::distance::euclidean_distance;
/// let d = array![
///     [1u8, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
/// ];
/// let dist = euclidean_distance(d.view());
/// assert_eq!(dist[[0, 0]], 0.0);
/// assert_eq!(dist[[0, 4]], 4.0);
/// assert_eq!(dist[[3, 4]], 5.0);
/// assert_eq!(dist[[4, 4]], 32f64.sqrt());
/// ```
#[must_use]
pub fn euclidean_distance(binary: ArrayView2<'_, u8>) -> Array2<f64> {
    let (h, w) = binary.dim();
    let inf = inf_for(h, w);
    let mut g = Array2::<i32>::zeros((h, w));
    column_pass(binary, g.view_mut(), inf);
    let mut out = Array2::<f64>::zeros((h, w));
    for_each_row_d2(g.view(), inf, out.view_mut(), |d| {
        d.map_or(f64::INFINITY, |v| (v as f64).sqrt())
    });
    out
}

/// The smallest squared distance `k` with `sqrt(k) > t_d` (`None`: no finite distance passes).
#[must_use]
pub fn seed_threshold(seed_distance: f64) -> Option<i64> {
    if seed_distance.is_nan() {
        return None;
    }
    if seed_distance < 0.0 {
        return Some(0);
    }
    let sq = seed_distance * seed_distance;
    if sq > 1e15 {
        return None;
    }
    let mut k = (sq.floor() as i64 - 2).max(0);
    while (k as f64).sqrt() <= seed_distance {
        k += 1;
    }
    Some(k)
}

/// Seeds: `dist > seed_distance` for every pixel (1) or not (0), where `dist` is the
/// [`euclidean_distance`] to the set pixels of `dilated`.
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::distance::seeds;
/// let d = array![
///     [1u8, 1, 1, 1, 1],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
/// ];
/// // dist of row 4 is exactly 4, of row 3 exactly 3 (not > 3).
/// assert_eq!(seeds(d.view(), 3.0), array![
///     [0u8, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [1, 1, 1, 1, 1],
/// ]);
/// ```
#[must_use]
pub fn seeds(dilated: ArrayView2<'_, u8>, seed_distance: f64) -> Array2<u8> {
    let mut g = Array2::<i32>::zeros(dilated.dim());
    let mut out = Array2::<u8>::zeros(dilated.dim());
    seeds_into(dilated, seed_distance, g.view_mut(), out.view_mut());
    out
}

/// [`seeds`] into caller buffers: `scratch` (i32, the column distances of the general path) and
/// `out` (0/1).
///
/// # Panics
/// When a buffer's shape differs from `dilated`'s.
pub fn seeds_into(
    dilated: ArrayView2<'_, u8>,
    seed_distance: f64,
    mut scratch: ArrayViewMut2<'_, i32>,
    out: ArrayViewMut2<'_, u8>,
) {
    assert_eq!(dilated.dim(), scratch.dim(), "seeds: shape mismatch");
    assert_eq!(dilated.dim(), out.dim(), "seeds: shape mismatch");
    let (h, w) = dilated.dim();
    if h == 0 || w == 0 {
        return;
    }
    let k0 = seed_threshold(seed_distance);
    if let Some(k0) = k0.filter(|&k| k <= MAX_WINDOW_K0) {
        seeds_window(dilated, k0, out);
        return;
    }
    let inf = inf_for(h, w);
    column_pass(dilated, scratch.view_mut(), inf);
    let inf_passes = f64::INFINITY > seed_distance;
    for_each_row_d2(scratch.view(), inf, out, |d| match d {
        None => u8::from(inf_passes),
        Some(v) => u8::from(k0.is_some_and(|k| v >= k)),
    });
}

/// Largest `k0` handled by [`seeds_window`] (window half-width 15).
const MAX_WINDOW_K0: i64 = 256;

/// The taps of the seed window for `k0`: `(dx, e)` for every `dx >= 0` with `dx^2 < k0`, where
/// `e` is the largest `|dy|` with `dx^2 + dy^2 < k0`.
fn window_taps(k0: i64) -> Vec<(usize, usize)> {
    let mut taps = Vec::new();
    let mut dx = 0i64;
    while dx * dx < k0 {
        let mut e = 0i64;
        while dx * dx + (e + 1) * (e + 1) < k0 {
            e += 1;
        }
        taps.push((dx as usize, e as usize));
        dx += 1;
    }
    taps
}

/// The seed threshold without any distance, for small `k0` (docs/mep-performance.md#seeds): a
/// pixel is *not* a seed iff a set pixel of `dilated` lies at an offset `(dx, dy)` with
/// `dx^2 + dy^2 < k0`, i.e. iff the binary dilation of `dilated` by that disc covers it. The disc
/// is applied as, per output row, vertical ORs of `2e+1` input rows (one per distinct half-height
/// `e`, built incrementally) and then ORs of those rows shifted by `+-dx`: byte-wise ORs over
/// whole rows that the compiler vectorises. Pixels outside the image are never set, as in the
/// distance transform. With no set pixel at all every distance is `+inf > t_d` and every pixel
/// is a seed, which is what the dilation gives too (`k0` is finite here).
fn seeds_window(dilated: ArrayView2<'_, u8>, k0: i64, mut out: ArrayViewMut2<'_, u8>) {
    let (h, w) = dilated.dim();
    let taps = window_taps(k0);
    let emax = taps.iter().map(|&(_, e)| e).max().unwrap_or(0);
    // Slot of each half-height in the per-row buffers (distinct heights only).
    let mut heights: Vec<usize> = taps.iter().map(|&(_, e)| e).collect();
    heights.sort_unstable();
    heights.dedup();
    let d = dilated.as_standard_layout();
    let Some(d) = d.as_slice() else {
        unreachable!("standard layout is contiguous")
    };
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .with_min_len(16)
        .for_each_init(
            || (vec![0u8; w], vec![0u8; heights.len() * w], vec![0u8; w]),
            |(acc, slots, near), (y, mut orow)| {
                let row = |r: usize| &d[r * w..(r + 1) * w];
                acc.copy_from_slice(row(y));
                let mut slot = 0;
                for e in 0..=emax {
                    if e > 0 {
                        if y >= e {
                            for (a, &v) in acc.iter_mut().zip(row(y - e)) {
                                *a |= v;
                            }
                        }
                        if y + e < h {
                            for (a, &v) in acc.iter_mut().zip(row(y + e)) {
                                *a |= v;
                            }
                        }
                    }
                    if heights.get(slot) == Some(&e) {
                        slots[slot * w..(slot + 1) * w].copy_from_slice(acc);
                        slot += 1;
                    }
                }
                near.fill(0);
                for &(dx, e) in &taps {
                    if dx >= w {
                        break;
                    }
                    let s = heights.partition_point(|&v| v < e);
                    let v = &slots[s * w..(s + 1) * w];
                    // Set pixel on the right (x + dx) and on the left (x - dx).
                    for (n, &b) in near[..w - dx].iter_mut().zip(&v[dx..]) {
                        *n |= b;
                    }
                    if dx > 0 {
                        for (n, &b) in near[dx..].iter_mut().zip(&v[..w - dx]) {
                            *n |= b;
                        }
                    }
                }
                match orow.as_slice_mut() {
                    Some(o) => {
                        for (o, &n) in o.iter_mut().zip(near.iter()) {
                            *o = u8::from(n == 0);
                        }
                    }
                    None => {
                        for (o, &n) in orow.iter_mut().zip(near.iter()) {
                            *o = u8::from(n == 0);
                        }
                    }
                }
            },
        );
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: brute force over all set pixels.
    use ndarray::Array2;

    pub(crate) fn distance(b: &Array2<u8>) -> Array2<f64> {
        let set: Vec<(usize, usize)> = b
            .indexed_iter()
            .filter(|(_, v)| **v != 0)
            .map(|(p, _)| p)
            .collect();
        Array2::from_shape_fn(b.dim(), |(y, x)| {
            set.iter()
                .map(|&(sy, sx)| {
                    let (dy, dx) = (sy as f64 - y as f64, sx as f64 - x as f64);
                    (dy * dy + dx * dx).sqrt()
                })
                .fold(f64::INFINITY, f64::min)
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn threshold() {
        assert_eq!(seed_threshold(3.0), Some(10));
        assert_eq!(seed_threshold(0.0), Some(1));
        assert_eq!(seed_threshold(-1.0), Some(0));
        assert_eq!(seed_threshold(2.5), Some(7));
        assert_eq!(seed_threshold(f64::NAN), None);
        assert_eq!(seed_threshold(f64::INFINITY), None);
    }

    #[test]
    fn empty_and_full() {
        let none = Array2::<u8>::zeros((3, 4));
        assert!(euclidean_distance(none.view()).iter().all(|v| v.is_infinite()));
        assert!(seeds(none.view(), 3.0).iter().all(|&v| v == 1));
        let all = Array2::<u8>::ones((3, 4));
        assert!(euclidean_distance(all.view()).iter().all(|&v| v == 0.0));
        assert!(seeds(all.view(), 3.0).iter().all(|&v| v == 0));
        let one = ndarray::array![[0u8]];
        assert!(seeds(one.view(), 3.0)[[0, 0]] == 1);
        let z = Array2::<u8>::zeros((0, 5));
        assert_eq!(seeds(z.view(), 3.0).dim(), (0, 5));
    }

    fn arb_binary() -> impl Strategy<Value = Array2<u8>> {
        (1usize..24, 1usize..24, 0.0f64..0.3).prop_flat_map(|(h, w, p)| {
            prop::collection::vec(prop::bool::weighted(p), h * w).prop_map(move |v| {
                Array2::from_shape_vec((h, w), v.into_iter().map(u8::from).collect()).expect("shape")
            })
        })
    }

    proptest! {
        #[test]
        fn matches_reference(b in arb_binary(), t in prop_oneof![Just(3.0f64), -1.0f64..6.0, 14.0f64..20.0]) {
            let fast = euclidean_distance(b.view());
            let slow = reference::distance(&b);
            prop_assert_eq!(&fast, &slow);
            let s = seeds(b.view(), t);
            prop_assert_eq!(s, slow.mapv(|d| u8::from(d > t)));
        }

        /// The windowed threshold (no distance) agrees with the exact row pass on larger maps.
        #[test]
        fn window_matches_row_pass(
            (h, w) in (1usize..70, 1usize..70),
            p in 0.0f64..0.05,
            t in -1.0f64..16.0,
            seed in any::<u64>(),
        ) {
            let mut x = seed | 1;
            let b = Array2::from_shape_fn((h, w), |_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                u8::from((x % 10_000) as f64 / 10_000.0 < p) * 3
            });
            let k0 = seed_threshold(t).expect("finite");
            prop_assert!(k0 <= MAX_WINDOW_K0);
            let mut fast = Array2::<u8>::zeros((h, w));
            seeds_window(b.view(), k0, fast.view_mut());
            let inf = inf_for(h, w);
            let mut g = Array2::<i32>::zeros((h, w));
            column_pass(b.view(), g.view_mut(), inf);
            let mut slow = Array2::<u8>::zeros((h, w));
            for_each_row_d2(g.view(), inf, slow.view_mut(), |d| u8::from(d.is_none_or(|v| v >= k0)));
            prop_assert_eq!(fast, slow);
        }
    }
}
