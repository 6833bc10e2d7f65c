//! Stage 2c of the MEP: 8-connected component labelling of the seeds, components numbered
//! `1..=n` in the raster (row-major) order of their first pixel (docs/mep.md#seeds; what
//! `scipy.ndimage.label(seeds, np.ones((3, 3)))` and `cv2.connectedComponents(seeds, 8)` produce).
//!
//! Algorithm: the classic two-pass labelling with union-find (Rosenfeld & Pfaltz 1966; Wu, Otoo &
//! Suzuki 2009 for the array-based union-find). Provisional labels are created in raster order and
//! equivalences always link to the smaller label, so each component's root is the provisional label
//! of its first pixel; numbering the roots in increasing order therefore gives the raster order of
//! first pixels.
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Finds the root of `x`, halving paths.
#[inline]
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Merges the sets of `a` and `b`, the smaller root becoming the root; returns it.
#[inline]
fn union(parent: &mut [u32], a: u32, b: u32) -> u32 {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra < rb {
        parent[rb as usize] = ra;
        ra
    } else {
        parent[ra as usize] = rb;
        rb
    }
}

/// First pass over row-major buffers: provisional labels (positive) into `o`. Uses the decision
/// tree of Wu, Otoo & Suzuki: when the pixel above is set it is already connected to the left and
/// upper-left neighbours, so at most one union is ever needed.
fn first_pass(b: &[u8], o: &mut [i32], w: usize, parent: &mut Vec<u32>) {
    let new_label = |parent: &mut Vec<u32>| {
        let l = parent.len() as u32;
        parent.push(l);
        l
    };
    for (y, (brow, orow_idx)) in b.chunks_exact(w).zip((0..).step_by(w)).enumerate() {
        let (done, rest) = o.split_at_mut(orow_idx);
        let orow = &mut rest[..w];
        let up: &[i32] = if y > 0 { &done[orow_idx - w..orow_idx] } else { &[] };
        for x in 0..w {
            if brow[x] == 0 {
                orow[x] = 0;
                continue;
            }
            let at = |r: &[i32], xx: Option<usize>| xx.and_then(|xx| r.get(xx)).copied().filter(|&v| v > 0);
            let u = at(up, Some(x));
            let lab = if let Some(u) = u {
                u as u32
            } else {
                let ur = at(up, Some(x + 1));
                let ul = at(up, x.checked_sub(1));
                let l = if x > 0 {
                    Some(orow[x - 1]).filter(|&v| v > 0)
                } else {
                    None
                };
                match (ur, ul, l) {
                    (Some(a), Some(c), _) | (Some(a), None, Some(c)) => union(parent, a as u32, c as u32),
                    (Some(a), None, None) => a as u32,
                    (None, Some(a), _) | (None, None, Some(a)) => a as u32,
                    (None, None, None) => new_label(parent),
                }
            };
            orow[x] = lab as i32;
        }
    }
}

/// Labels the 8-connected components of `binary` (nonzero = set); returns the label map (0 =
/// background) and the number of components.
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::label::label_8;
/// let seeds = array![
///     [0u8, 0, 0, 0, 1],
///     [1, 1, 0, 1, 0],
///     [0, 0, 0, 0, 0],
///     [0, 1, 0, 0, 1],
///     [1, 0, 0, 1, 1],
/// ];
/// let (labels, n) = label_8(seeds.view());
/// assert_eq!(n, 4);
/// // The diagonal pair at the top right is one component, numbered first (raster order).
/// assert_eq!(labels, array![
///     [0, 0, 0, 0, 1],
///     [2, 2, 0, 1, 0],
///     [0, 0, 0, 0, 0],
///     [0, 3, 0, 0, 4],
///     [3, 0, 0, 4, 4],
/// ]);
/// ```
#[must_use]
pub fn label_8(binary: ArrayView2<'_, u8>) -> (Array2<i32>, usize) {
    let mut out = Array2::<i32>::zeros(binary.dim());
    let mut parent = Vec::new();
    let n = label_8_into(binary, out.view_mut(), &mut parent);
    (out, n)
}

/// [`label_8`] into `out` (same shape), with `parent` as reusable union-find scratch. Returns the
/// number of components.
///
/// # Panics
/// When `out`'s shape differs from `binary`'s. (Provisional labels never exceed `H*W/2 + 1`, so
/// they fit `i32` for any image of fewer than 4 billion pixels.)
pub fn label_8_into(
    binary: ArrayView2<'_, u8>,
    mut out: ArrayViewMut2<'_, i32>,
    parent: &mut Vec<u32>,
) -> usize {
    assert_eq!(binary.dim(), out.dim(), "label: shape mismatch");
    let (h, w) = binary.dim();
    parent.clear();
    parent.push(0);
    if h == 0 || w == 0 {
        return 0;
    }
    let bin = binary.as_standard_layout();
    let Some(b) = bin.as_slice() else {
        unreachable!("standard layout is contiguous")
    };
    match out.as_slice_mut() {
        Some(o) => first_pass(b, o, w, parent),
        None => {
            let mut tmp = Array2::<i32>::zeros((h, w));
            if let Some(o) = tmp.as_slice_mut() {
                first_pass(b, o, w, parent);
            }
            out.assign(&tmp);
        }
    }
    // Number the roots in increasing provisional order = raster order of first pixels.
    let mut next = 0u32;
    let mut final_id = vec![0u32; parent.len()];
    for l in 1..parent.len() as u32 {
        let r = find(parent, l);
        if r == l {
            next += 1;
            final_id[l as usize] = next;
        } else {
            final_id[l as usize] = final_id[r as usize];
        }
    }
    out.mapv_inplace(|v| if v > 0 { final_id[v as usize] as i32 } else { 0 });
    next as usize
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: flood fill from each unlabelled pixel in raster order.
    use ndarray::Array2;

    pub(crate) fn label(b: &Array2<u8>) -> (Array2<i32>, usize) {
        let (h, w) = b.dim();
        let mut out = Array2::<i32>::zeros((h, w));
        let mut n = 0;
        for y in 0..h {
            for x in 0..w {
                if b[[y, x]] == 0 || out[[y, x]] != 0 {
                    continue;
                }
                n += 1;
                let mut stack = vec![(y, x)];
                out[[y, x]] = n;
                while let Some((cy, cx)) = stack.pop() {
                    for yy in cy.saturating_sub(1)..=(cy + 1).min(h - 1) {
                        for xx in cx.saturating_sub(1)..=(cx + 1).min(w - 1) {
                            if b[[yy, xx]] != 0 && out[[yy, xx]] == 0 {
                                out[[yy, xx]] = n;
                                stack.push((yy, xx));
                            }
                        }
                    }
                }
            }
        }
        (out, n as usize)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        assert_eq!(label_8(ndarray::array![[1u8]].view()), (ndarray::array![[1]], 1));
        assert_eq!(label_8(ndarray::array![[0u8]].view()), (ndarray::array![[0]], 0));
        let row = ndarray::array![[1u8, 0, 1, 1, 0, 1]];
        assert_eq!(label_8(row.view()).0, ndarray::array![[1, 0, 2, 2, 0, 3]]);
        let all = Array2::<u8>::ones((4, 5));
        assert_eq!(label_8(all.view()), (Array2::<i32>::ones((4, 5)), 1));
        // A "U" whose two arms meet only at the bottom: one component, numbered once.
        let u = ndarray::array![[1u8, 0, 1], [1, 0, 1], [1, 1, 1]];
        assert_eq!(label_8(u.view()), (u.mapv(i32::from), 1));
    }

    #[test]
    fn ten_thousand_components() {
        let b = Array2::from_shape_fn((200, 200), |(y, x)| u8::from(y % 2 == 0 && x % 2 == 0));
        let (l, n) = label_8(b.view());
        assert_eq!(n, 10_000);
        assert_eq!(l[[198, 198]], 10_000);
        assert_eq!(l[[0, 2]], 2);
    }

    fn arb_binary() -> impl Strategy<Value = Array2<u8>> {
        (1usize..24, 1usize..24, 0.0f64..0.7).prop_flat_map(|(h, w, p)| {
            prop::collection::vec(prop::bool::weighted(p), h * w).prop_map(move |v| {
                Array2::from_shape_vec((h, w), v.into_iter().map(u8::from).collect()).expect("shape")
            })
        })
    }

    proptest! {
        #[test]
        fn matches_reference(b in arb_binary()) {
            prop_assert_eq!(label_8(b.view()), reference::label(&b));
        }
    }
}
