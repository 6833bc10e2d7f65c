//! Stage 2a of the MEP: binary dilation of the thinned boundary with a 3x3 square, iterated
//! (docs/mep.md#seeds; `cv2.dilate(thin, np.ones((3, 3)), iterations=n)` with pixels outside the
//! image never setting a pixel).
//!
//! `n` iterations of a 3x3 square equal one dilation with the `(2n+1) x (2n+1)` square, also at the
//! image border (the image is convex, so every intermediate pixel of a path lies inside it). The
//! square is separable: a horizontal pass (OR over `2n+1` columns) and a vertical pass (OR over
//! `2n+1` rows), each a handful of byte-wise ORs over whole rows that the compiler vectorises, done
//! row-parallel. Radii above [`MAX_STEP`] are split into several passes.
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

/// Largest radius done in one separable pass; larger radii are composed of several.
pub const MAX_STEP: usize = 32;

/// Dilates `binary` (nonzero = set) `iterations` times with a 3x3 square; returns a 0/1 map.
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::dilate::dilate_square;
/// let thin = array![
///     [0u8, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [1, 0, 0, 0, 0],
/// ];
/// assert_eq!(dilate_square(thin.view(), 2), array![
///     [0u8, 0, 0, 0, 0],
///     [0, 0, 0, 0, 0],
///     [1, 1, 1, 0, 0],
///     [1, 1, 1, 0, 0],
///     [1, 1, 1, 0, 0],
/// ]);
/// ```
#[must_use]
pub fn dilate_square(binary: ArrayView2<'_, u8>, iterations: usize) -> Array2<u8> {
    let mut out = binary.mapv(|v| u8::from(v != 0));
    let mut scratch = Array2::<u8>::zeros(binary.dim());
    dilate_square_mut(out.view_mut(), iterations, scratch.view_mut());
    out
}

/// In-place [`dilate_square`]: `map` (nonzero = set) becomes the 0/1 dilation; `scratch` (same
/// shape) is overwritten.
///
/// # Panics
/// When `scratch`'s shape differs from `map`'s.
pub fn dilate_square_mut(
    mut map: ArrayViewMut2<'_, u8>,
    iterations: usize,
    mut scratch: ArrayViewMut2<'_, u8>,
) {
    assert_eq!(map.dim(), scratch.dim(), "dilate: shape mismatch");
    let (h, w) = map.dim();
    if h == 0 || w == 0 {
        return;
    }
    if iterations == 0 {
        map.mapv_inplace(|v| u8::from(v != 0));
        return;
    }
    // Beyond max(h, w) - 1 every pixel is reached from every other one.
    let mut left = iterations.min(h.max(w));
    while left > 0 {
        let r = left.min(MAX_STEP);
        left -= r;
        horizontal(map.view(), scratch.view_mut(), r);
        vertical(scratch.view(), map.view_mut(), r);
    }
}

/// `out[y][x] = OR in[y][x-r..=x+r]` (raw bytes `ORed`; normalised by [`vertical`]).
fn horizontal(input: ArrayView2<'_, u8>, mut out: ArrayViewMut2<'_, u8>, r: usize) {
    let w = input.ncols();
    let r = r.min(w - 1);
    Zip::from(out.axis_iter_mut(Axis(0)))
        .and(input.axis_iter(Axis(0)))
        .par_for_each(|mut orow, irow| {
            orow.assign(&irow);
            let (Some(o), Some(i)) = (orow.as_slice_mut(), irow.as_slice()) else {
                for x in 0..w {
                    let lo = x.saturating_sub(r);
                    let hi = (x + r).min(w - 1);
                    orow[x] = (lo..=hi).fold(0, |a, c| a | irow[c]);
                }
                return;
            };
            for d in 1..=r {
                for (a, &b) in o[..w - d].iter_mut().zip(&i[d..]) {
                    *a |= b;
                }
                for (a, &b) in o[d..].iter_mut().zip(&i[..w - d]) {
                    *a |= b;
                }
            }
        });
}

/// `out[y][x] = (OR in[y-r..=y+r][x]) != 0`.
fn vertical(input: ArrayView2<'_, u8>, mut out: ArrayViewMut2<'_, u8>, r: usize) {
    let h = input.nrows();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut orow)| {
            let lo = y.saturating_sub(r);
            let hi = (y + r).min(h - 1);
            orow.assign(&input.row(lo));
            for yy in lo + 1..=hi {
                let irow = input.row(yy);
                match (orow.as_slice_mut(), irow.as_slice()) {
                    (Some(o), Some(i)) => {
                        for (a, &b) in o.iter_mut().zip(i) {
                            *a |= b;
                        }
                    }
                    _ => orow.zip_mut_with(&irow, |a, &b| *a |= b),
                }
            }
            orow.mapv_inplace(|v| u8::from(v != 0));
        });
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: 3x3 dilation applied `n` times.
    use ndarray::Array2;

    pub(crate) fn dilate(b: &Array2<u8>, n: usize) -> Array2<u8> {
        let (h, w) = b.dim();
        let mut cur = b.mapv(|v| u8::from(v != 0));
        for _ in 0..n {
            let prev = cur.clone();
            for y in 0..h {
                for x in 0..w {
                    let mut any = 0;
                    for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                        for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                            any |= prev[[yy, xx]];
                        }
                    }
                    cur[[y, x]] = any;
                }
            }
        }
        cur
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        let one = ndarray::array![[1u8]];
        assert_eq!(dilate_square(one.view(), 3), one);
        let row = ndarray::array![[0u8, 0, 0, 1, 0, 0, 0, 0]];
        assert_eq!(
            dilate_square(row.view(), 2),
            ndarray::array![[0u8, 1, 1, 1, 1, 1, 0, 0]]
        );
        let empty = Array2::<u8>::zeros((0, 4));
        assert_eq!(dilate_square(empty.view(), 2).dim(), (0, 4));
        let big = Array2::<u8>::from_shape_fn((70, 3), |(y, x)| u8::from(y == 0 && x == 0));
        assert_eq!(dilate_square(big.view(), 40), reference::dilate(&big, 40));
    }

    fn arb_binary() -> impl Strategy<Value = Array2<u8>> {
        (1usize..20, 1usize..20).prop_flat_map(|(h, w)| {
            prop::collection::vec(prop::bool::weighted(0.1), h * w).prop_map(move |v| {
                Array2::from_shape_vec((h, w), v.into_iter().map(u8::from).collect()).expect("shape")
            })
        })
    }

    proptest! {
        #[test]
        fn matches_reference(b in arb_binary(), n in 0usize..5) {
            prop_assert_eq!(dilate_square(b.view(), n), reference::dilate(&b, n));
        }
    }
}
