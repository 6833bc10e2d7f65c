//! Improved MEP, stage 1: hysteresis thresholding of the boundary map (Canny 1986), see
//! `docs/mep-improved.md#hysteresis`.
//!
//! A pixel is boundary when `B >= low` and it is 8-connected, through pixels with `B >= low`, to a
//! pixel with `B >= high`. Weak responses (the network's uneven boundary strength) are kept where
//! they continue a strong edge; isolated weak noise is dropped. Implemented with the paper mode's
//! 8-connected labelling ([`crate::mep::label`]) of the weak mask: a component is kept when it
//! holds a strong pixel. NaN is never boundary.
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

use crate::mep::label;

/// `(B >= low) & connected to (B >= high)` into `out` (0/1). `labels` and `parent` are scratch.
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::improved::hysteresis::hysteresis;
/// let b = array![
///     [0.9f32, 0.3, 0.3, 0.0, 0.3],
///     [0.0, 0.0, 0.3, 0.0, 0.3],
/// ];
/// // The weak run touching the strong pixel is kept, the isolated weak column is not.
/// assert_eq!(hysteresis(b.view(), 0.2, 0.5), array![[1u8, 1, 1, 0, 0], [0, 0, 1, 0, 0]]);
/// ```
///
/// # Panics
/// When a buffer's shape differs from `boundary`'s.
pub fn hysteresis_into(
    boundary: ArrayView2<'_, f32>,
    low: f32,
    high: f32,
    mut labels: ArrayViewMut2<'_, i32>,
    parent: &mut Vec<u32>,
    mut out: ArrayViewMut2<'_, u8>,
) {
    assert_eq!(boundary.dim(), out.dim(), "hysteresis: shape mismatch");
    Zip::from(&mut out)
        .and(&boundary)
        .par_for_each(|o, &b| *o = u8::from(b >= low));
    let n = label::label_8_into(out.view(), labels.view_mut(), parent);
    let mut strong = vec![false; n + 1];
    Zip::from(&labels).and(&boundary).for_each(|&l, &b| {
        if l > 0 && b >= high {
            strong[l as usize] = true;
        }
    });
    Zip::from(&mut out)
        .and(&labels)
        .par_for_each(|o, &l| *o = u8::from(l > 0 && strong[l as usize]));
}

/// [`hysteresis_into`] with fresh buffers.
#[must_use]
pub fn hysteresis(boundary: ArrayView2<'_, f32>, low: f32, high: f32) -> Array2<u8> {
    let mut labels = Array2::<i32>::zeros(boundary.dim());
    let mut out = Array2::<u8>::zeros(boundary.dim());
    hysteresis_into(
        boundary,
        low,
        high,
        labels.view_mut(),
        &mut Vec::new(),
        out.view_mut(),
    );
    out
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: breadth-first growth from every strong pixel through weak 8-neighbours.
    use ndarray::Array2;

    pub(crate) fn hysteresis(b: &Array2<f32>, low: f32, high: f32) -> Array2<u8> {
        let (h, w) = b.dim();
        let mut out = Array2::<u8>::zeros((h, w));
        let mut stack: Vec<(usize, usize)> = b
            .indexed_iter()
            .filter(|(_, v)| **v >= high && **v >= low)
            .map(|(p, _)| p)
            .collect();
        for &p in &stack {
            out[p] = 1;
        }
        while let Some((y, x)) = stack.pop() {
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                    if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                        continue;
                    }
                    let q = (ny as usize, nx as usize);
                    if out[q] == 0 && b[q] >= low {
                        out[q] = 1;
                        stack.push(q);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        let empty = Array2::<f32>::zeros((0, 3));
        assert_eq!(hysteresis(empty.view(), 0.2, 0.5).dim(), (0, 3));
        let one = ndarray::array![[0.7f32]];
        assert_eq!(hysteresis(one.view(), 0.2, 0.5), ndarray::array![[1u8]]);
        let nan = ndarray::array![[f32::NAN, 0.9, f32::NAN]];
        assert_eq!(hysteresis(nan.view(), 0.2, 0.5), ndarray::array![[0u8, 1, 0]]);
        let ones = Array2::<f32>::ones((5, 4));
        assert!(hysteresis(ones.view(), 0.2, 0.5).iter().all(|&v| v == 1));
    }

    fn arb_map() -> impl Strategy<Value = Array2<f32>> {
        (1usize..20, 1usize..20).prop_flat_map(|(h, w)| {
            prop::collection::vec(prop_oneof![Just(0.0f32), Just(0.3), 0.0f32..1.0], h * w)
                .prop_map(move |v| Array2::from_shape_vec((h, w), v).expect("shape"))
        })
    }

    proptest! {
        #[test]
        fn matches_reference(b in arb_map(), low in 0.0f32..0.6, high in 0.2f32..1.0) {
            prop_assert_eq!(hysteresis(b.view(), low, high), reference::hysteresis(&b, low, high));
        }
    }
}
