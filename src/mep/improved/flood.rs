//! Improved MEP, stage 3: class-constrained priority flooding on the boundary map, then the
//! leftover components, see `docs/mep-improved.md#flood`.
//!
//! Meyer's flooding (the watershed by flooding) with the quantised boundary map `Q = round(255 B)`
//! as the relief instead of the image's colour differences: seeds grow through low boundary
//! values first, so neighbouring regions meet on the boundary ridge, and a weak or broken edge
//! still separates two seeds. A region only grows into pixels of its seed's class (class 0 is
//! never flooded), so different classes never mix. There are no watershed lines: every reachable
//! pixel gets the label of the first region that reaches it (256 FIFO queues, raster-order start,
//! neighbours left, right, up, down: deterministic).
//!
//! Pixels of a class that no seed of that class reaches (an object too thin to hold any
//! non-boundary pixel) are then labelled as their own regions: 4-connected components of equal
//! class, in raster order, those smaller than `min_leftover` pixels left unlabelled.
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

/// Number of priority levels.
const NQ: usize = 256;

/// Reusable FIFO queues of the flooding.
#[derive(Debug)]
pub struct FloodQueues {
    items: Box<[Vec<u32>; NQ]>,
    heads: [usize; NQ],
}

impl Default for FloodQueues {
    fn default() -> Self {
        Self {
            items: Box::new(std::array::from_fn(|_| Vec::new())),
            heads: [0; NQ],
        }
    }
}

impl FloodQueues {
    fn clear(&mut self) {
        for q in self.items.iter_mut() {
            q.clear();
        }
        self.heads = [0; NQ];
    }
}

/// The relief: `round(255 * clamp(B, 0, 1))` (NaN -> 255, a barrier).
///
/// # Panics
/// When the shapes differ.
pub fn quantize_into(boundary: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, u8>) {
    assert_eq!(boundary.dim(), out.dim(), "quantize: shape mismatch");
    Zip::from(&mut out).and(&boundary).par_for_each(|o, &b| {
        *o = if b.is_nan() {
            255
        } else {
            (b.clamp(0.0, 1.0) * 255.0).round() as u8
        };
    });
}

/// Floods `markers` (`1..=n` seeds, 0 = unlabelled) over `relief`, each region only into pixels of
/// its seed's class (`classes`, 0 = never), then labels the leftover components (`n+1..`). Returns
/// the new number of regions.
///
/// ```
/// use ndarray::{array, Array2};
/// use baiseg_rt::mep::improved::flood::flood;
/// // Two seeds, a boundary ridge in column 2: each side goes to its own seed; the
/// // class-2 pixel at the bottom right is unreachable for class 1 and becomes region 3.
/// let relief = array![[0u8, 0, 200, 0, 0], [0, 0, 200, 0, 0], [0, 0, 200, 0, 0]];
/// let classes = array![[1u16, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 2]];
/// let mut markers = Array2::<i32>::zeros((3, 5));
/// markers[[1, 0]] = 1;
/// markers[[1, 4]] = 2;
/// let n = flood(relief.view(), classes.view(), &mut markers, 2, 1);
/// assert_eq!(n, 3);
/// assert_eq!(markers, array![[1, 1, 1, 2, 2], [1, 1, 1, 2, 2], [1, 1, 1, 2, 3]]);
/// ```
///
/// # Panics
/// When the shapes differ or `markers` holds labels above `n`.
#[allow(
    clippy::too_many_lines,
    reason = "the priority flood in one loop: queues, marker map and leftover counts change together per pixel"
)]
pub fn flood_into(
    relief: ArrayView2<'_, u8>,
    classes: ArrayView2<'_, u16>,
    mut markers: ArrayViewMut2<'_, i32>,
    n: usize,
    min_leftover: u64,
    q: &mut FloodQueues,
) -> usize {
    assert_eq!(relief.dim(), classes.dim(), "flood: shape mismatch");
    assert_eq!(relief.dim(), markers.dim(), "flood: shape mismatch");
    let (h, w) = relief.dim();
    if h == 0 || w == 0 {
        return 0;
    }
    let relief = relief.as_standard_layout();
    let classes = classes.as_standard_layout();
    let (Some(r), Some(c)) = (relief.as_slice(), classes.as_slice()) else {
        unreachable!("standard layout is contiguous")
    };
    if !markers.is_standard_layout() {
        let mut owned = markers.to_owned();
        let k = flood_into(
            relief.view(),
            classes.view(),
            owned.view_mut(),
            n,
            min_leftover,
            q,
        );
        markers.assign(&owned);
        return k;
    }
    let Some(m) = markers.as_slice_mut() else {
        unreachable!("standard layout is contiguous")
    };
    // Class of each region: the class of its first (raster-order) seed pixel.
    let mut region_class = vec![0u16; n + 1];
    let mut have = vec![false; n + 1];
    for (i, &v) in m.iter().enumerate() {
        if v > 0 {
            let k = v as usize;
            assert!(k <= n, "flood: marker {v} above n = {n}");
            if !have[k] {
                have[k] = true;
                region_class[k] = c[i];
            }
        }
    }
    q.clear();
    // Seed pixels next to an unlabelled pixel, in raster order, at their own relief level.
    let open = |i: usize, m: &[i32]| {
        let (y, x) = (i / w, i % w);
        (x > 0 && m[i - 1] == 0)
            || (x + 1 < w && m[i + 1] == 0)
            || (y > 0 && m[i - w] == 0)
            || (y + 1 < h && m[i + w] == 0)
    };
    let mut active = NQ;
    for i in 0..m.len() {
        if m[i] > 0 && region_class[m[i] as usize] != 0 && open(i, &*m) {
            let p = usize::from(r[i]);
            q.items[p].push(i as u32);
            active = active.min(p);
        }
    }
    while active < NQ {
        if q.heads[active] == q.items[active].len() {
            q.items[active].clear();
            q.heads[active] = 0;
            active += 1;
            continue;
        }
        let i = q.items[active][q.heads[active]] as usize;
        q.heads[active] += 1;
        let lab = m[i];
        let cls = region_class[lab as usize];
        let (y, x) = (i / w, i % w);
        let visit = |j: usize, m: &mut [i32], q: &mut FloodQueues, active: &mut usize| {
            if m[j] == 0 && c[j] == cls {
                m[j] = lab;
                let p = usize::from(r[j]);
                q.items[p].push(j as u32);
                if p < *active {
                    *active = p;
                }
            }
        };
        if x > 0 {
            visit(i - 1, m, q, &mut active);
        }
        if x + 1 < w {
            visit(i + 1, m, q, &mut active);
        }
        if y > 0 {
            visit(i - w, m, q, &mut active);
        }
        if y + 1 < h {
            visit(i + w, m, q, &mut active);
        }
    }
    leftover(c, m, w, n, min_leftover)
}

/// Labels the 4-connected equal-class components of unlabelled foreground pixels as `n+1..`;
/// components under `min_leftover` pixels stay 0. Returns the new number of regions.
fn leftover(c: &[u16], m: &mut [i32], w: usize, n: usize, min_leftover: u64) -> usize {
    let h = m.len() / w;
    let mut next = n as i32;
    let mut stack = Vec::new();
    let mut comp = Vec::new();
    for s in 0..m.len() {
        if m[s] != 0 || c[s] == 0 {
            continue;
        }
        let cls = c[s];
        next += 1;
        comp.clear();
        m[s] = next;
        stack.push(s);
        while let Some(i) = stack.pop() {
            comp.push(i);
            let (y, x) = (i / w, i % w);
            let mut go = |j: usize| {
                if m[j] == 0 && c[j] == cls {
                    m[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                go(i - 1);
            }
            if x + 1 < w {
                go(i + 1);
            }
            if y > 0 {
                go(i - w);
            }
            if y + 1 < h {
                go(i + w);
            }
        }
        if (comp.len() as u64) < min_leftover {
            // Too small: unlabelled, and marked so that the scan does not start here again.
            for &i in &comp {
                m[i] = -1;
            }
            next -= 1;
        }
    }
    for v in m.iter_mut() {
        if *v < 0 {
            *v = 0;
        }
    }
    next as usize
}

/// [`flood_into`] on an owned marker array with fresh queues.
pub fn flood(
    relief: ArrayView2<'_, u8>,
    classes: ArrayView2<'_, u16>,
    markers: &mut Array2<i32>,
    n: usize,
    min_leftover: u64,
) -> usize {
    flood_into(
        relief,
        classes,
        markers.view_mut(),
        n,
        min_leftover,
        &mut FloodQueues::default(),
    )
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: the flooding as prose, one pixel at a time from a sorted open list: the
    //! unlabelled neighbour pushed earliest among those at the lowest level is taken next.
    use ndarray::Array2;

    pub(crate) fn flood(
        relief: &Array2<u8>,
        classes: &Array2<u16>,
        markers: &Array2<i32>,
        n: usize,
        min_leftover: u64,
    ) -> (Array2<i32>, usize) {
        let (h, w) = relief.dim();
        let mut m = markers.clone();
        let mut class_of = vec![None; n + 1];
        for (p, &v) in markers.indexed_iter() {
            if v > 0 && class_of[v as usize].is_none() {
                class_of[v as usize] = Some(classes[p]);
            }
        }
        // (level, push order, pixel)
        let mut open: std::collections::BTreeSet<(u8, u64, (usize, usize))> =
            std::collections::BTreeSet::default();
        let mut order = 0u64;
        let nb = |(y, x): (usize, usize)| {
            let mut v = Vec::new();
            if x > 0 {
                v.push((y, x - 1));
            }
            if x + 1 < w {
                v.push((y, x + 1));
            }
            if y > 0 {
                v.push((y - 1, x));
            }
            if y + 1 < h {
                v.push((y + 1, x));
            }
            v
        };
        for y in 0..h {
            for x in 0..w {
                let v = m[[y, x]];
                if v > 0 && class_of[v as usize] != Some(0) && nb((y, x)).iter().any(|&q| m[q] == 0) {
                    open.insert((relief[[y, x]], order, (y, x)));
                    order += 1;
                }
            }
        }
        while let Some(first) = open.iter().next().copied() {
            open.remove(&first);
            let p = first.2;
            let lab = m[p];
            let cls = class_of[lab as usize].unwrap_or(0);
            for q in nb(p) {
                if m[q] == 0 && classes[q] == cls {
                    m[q] = lab;
                    open.insert((relief[q], order, q));
                    order += 1;
                }
            }
        }
        let mut next = n;
        let mut seen = Array2::<bool>::from_elem((h, w), false);
        for y in 0..h {
            for x in 0..w {
                if m[[y, x]] != 0 || classes[[y, x]] == 0 || seen[[y, x]] {
                    continue;
                }
                let cls = classes[[y, x]];
                let mut comp = vec![(y, x)];
                seen[[y, x]] = true;
                let mut k = 0;
                while k < comp.len() {
                    for q in nb(comp[k]) {
                        if !seen[q] && m[q] == 0 && classes[q] == cls {
                            seen[q] = true;
                            comp.push(q);
                        }
                    }
                    k += 1;
                }
                if comp.len() as u64 >= min_leftover {
                    next += 1;
                    for &p in &comp {
                        m[p] = next as i32;
                    }
                }
            }
        }
        (m, next)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        let z = Array2::<u8>::zeros((0, 3));
        let mut m = Array2::<i32>::zeros((0, 3));
        assert_eq!(
            flood(z.view(), Array2::<u16>::zeros((0, 3)).view(), &mut m, 0, 1),
            0
        );
        // One pixel of class 1 without a seed: a leftover region.
        let mut m = ndarray::array![[0i32]];
        assert_eq!(
            flood(
                ndarray::array![[9u8]].view(),
                ndarray::array![[1u16]].view(),
                &mut m,
                0,
                1
            ),
            1
        );
        assert_eq!(m[[0, 0]], 1);
        // All background: nothing.
        let mut m = Array2::<i32>::zeros((4, 4));
        assert_eq!(
            flood(
                Array2::<u8>::zeros((4, 4)).view(),
                Array2::<u16>::zeros((4, 4)).view(),
                &mut m,
                0,
                1
            ),
            0
        );
        let q = ndarray::array![[f32::NAN, 2.0, -1.0, 0.5]];
        let mut out = Array2::<u8>::zeros((1, 4));
        quantize_into(q.view(), out.view_mut());
        assert_eq!(out, ndarray::array![[255u8, 255, 0, 128]]);
    }

    fn arb_case() -> impl Strategy<Value = (Array2<u8>, Array2<u16>, Array2<i32>, usize)> {
        (1usize..14, 1usize..14).prop_flat_map(|(h, w)| {
            (
                prop::collection::vec(prop_oneof![Just(0u8), Just(255u8), 0u8..=255], h * w),
                prop::collection::vec(
                    prop_oneof![3 => Just(1u16), 1 => Just(0u16), 1 => Just(2u16)],
                    h * w,
                ),
                prop::collection::vec(prop_oneof![8 => Just(0i32), 1 => 1i32..4], h * w),
            )
                .prop_map(move |(r, c, m)| {
                    let r = Array2::from_shape_vec((h, w), r).expect("shape");
                    let c = Array2::from_shape_vec((h, w), c).expect("shape");
                    let m = Array2::from_shape_vec((h, w), m).expect("shape");
                    (r, c, m, 3)
                })
        })
    }

    proptest! {
        #[test]
        fn matches_reference((r, c, m, n) in arb_case(), min_leftover in 0u64..4) {
            let mut fast = m.clone();
            let k = flood(r.view(), c.view(), &mut fast, n, min_leftover);
            let (slow, ks) = reference::flood(&r, &c, &m, n, min_leftover);
            prop_assert_eq!(k, ks);
            prop_assert_eq!(fast, slow);
        }
    }
}
