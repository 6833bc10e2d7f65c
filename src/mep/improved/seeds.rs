//! Improved MEP, stage 2: the barrier map and nested distance seeds, see
//! `docs/mep-improved.md#seeds`.
//!
//! - **Barrier**: a pixel is a barrier when it is boundary (stage 1), background (class 0), or has
//!   a 4-neighbour of another class. Seeds never cross a barrier, so one seed never spans two
//!   classes (the class changes of the semantic map act as repulsion).
//! - **Nested seeds** (a few levels of the component tree of the distance to the barrier; the
//!   contour-aware seeding of DCAN, made adaptive per object): level 0 are the 8-connected
//!   components of the non-barrier pixels; at each level `t` of `levels` (increasing), a current
//!   region is replaced by its 8-connected components of `dist > t` when it holds at least two of
//!   them (two objects joined by a boundary gap narrower than about `2 t` separate), and is kept
//!   whole otherwise. So an object narrower than the paper's fixed `t_d` still gets a seed (the
//!   paper loses it), and a gap only merges objects when it is wider than the deepest level allows.
//!
//! Reuses the paper mode's exact distance threshold ([`crate::mep::distance::seeds_into`]) and
//! labelling ([`crate::mep::label::label_8_into`]).
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::mep::{distance, label};

/// Barrier = `edges | class == 0 | a 4-neighbour has another class`, into `out` (0/1).
///
/// # Panics
/// When a buffer's shape differs from `edges`'.
pub fn barrier_into(edges: ArrayView2<'_, u8>, classes: ArrayView2<'_, u16>, mut out: ArrayViewMut2<'_, u8>) {
    assert_eq!(edges.dim(), classes.dim(), "barrier: shape mismatch");
    assert_eq!(edges.dim(), out.dim(), "barrier: shape mismatch");
    let (h, w) = edges.dim();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut orow)| {
            for x in 0..w {
                let c = classes[[y, x]];
                let differs = (x > 0 && classes[[y, x - 1]] != c)
                    || (x + 1 < w && classes[[y, x + 1]] != c)
                    || (y > 0 && classes[[y - 1, x]] != c)
                    || (y + 1 < h && classes[[y + 1, x]] != c);
                orow[x] = u8::from(edges[[y, x]] != 0 || c == 0 || differs);
            }
        });
}

/// [`barrier_into`] with a fresh buffer.
#[must_use]
pub fn barrier(edges: ArrayView2<'_, u8>, classes: ArrayView2<'_, u16>) -> Array2<u8> {
    let mut out = Array2::<u8>::zeros(edges.dim());
    barrier_into(edges, classes, out.view_mut());
    out
}

/// Reusable buffers of [`nested_seeds_into`].
#[derive(Debug, Default)]
pub struct SeedScratch {
    level: Array2<i32>,
    bin: Array2<u8>,
    col: Array2<i32>,
    parent: Vec<u32>,
}

/// Nested seeds of `barrier` (0/1) into `markers`: regions numbered `1..=n` in the raster order of
/// their first pixel, 0 elsewhere. Returns `n`. `levels` are distances in pixels, used in
/// increasing order (NaN levels are skipped).
///
/// ```
/// use ndarray::Array2;
/// use baiseg_rt::mep::improved::seeds::nested_seeds;
/// // Two 9x9 squares joined by a 3-pixel gap in the barrier column between them.
/// let barrier = Array2::from_shape_fn((11, 21), |(y, x)| {
///     u8::from(y == 0 || y == 10 || x == 0 || x == 20 || (x == 10 && !(4..7).contains(&y)))
/// });
/// let (markers, n) = nested_seeds(barrier.view(), &[1.0, 2.0]);
/// assert_eq!(n, 2);
/// assert_ne!(markers[[5, 5]], markers[[5, 15]]);
/// ```
///
/// # Panics
/// When `markers`' shape differs from `barrier`'s.
pub fn nested_seeds_into(
    barrier: ArrayView2<'_, u8>,
    levels: &[f64],
    mut markers: ArrayViewMut2<'_, i32>,
    sc: &mut SeedScratch,
) -> usize {
    assert_eq!(barrier.dim(), markers.dim(), "seeds: shape mismatch");
    let (h, w) = barrier.dim();
    if sc.level.dim() != (h, w) {
        sc.level = Array2::zeros((h, w));
        sc.bin = Array2::zeros((h, w));
        sc.col = Array2::zeros((h, w));
    }
    Zip::from(&mut sc.bin)
        .and(&barrier)
        .par_for_each(|o, &b| *o = u8::from(b == 0));
    let mut n = label::label_8_into(sc.bin.view(), markers.view_mut(), &mut sc.parent);
    let mut levels: Vec<f64> = levels.iter().copied().filter(|t| !t.is_nan()).collect();
    levels.sort_by(f64::total_cmp);
    for &t in &levels {
        if n == 0 {
            break;
        }
        distance::seeds_into(barrier, t, sc.col.view_mut(), sc.bin.view_mut());
        let m = label::label_8_into(sc.bin.view(), sc.level.view_mut(), &mut sc.parent);
        if m == 0 {
            break;
        }
        // Children per current region; a child lies inside exactly one current region.
        let mut children = vec![0u32; n + 1];
        let mut seen = vec![false; m + 1];
        Zip::from(&sc.level).and(&markers).for_each(|&c, &r| {
            if c > 0 && !seen[c as usize] {
                seen[c as usize] = true;
                if r > 0 {
                    children[r as usize] += 1;
                }
            }
        });
        if children.iter().all(|&k| k < 2) {
            continue;
        }
        // Split regions become their children (labels n+1..n+m), the others stay.
        let n_i32 = n as i32;
        Zip::from(&mut markers).and(&sc.level).par_for_each(|r, &c| {
            if *r > 0 && children[*r as usize] >= 2 {
                *r = if c > 0 { n_i32 + c } else { 0 };
            }
        });
        n = renumber(markers.view_mut(), n + m);
    }
    n
}

/// [`nested_seeds_into`] with fresh buffers; returns the markers and their number.
#[must_use]
pub fn nested_seeds(barrier: ArrayView2<'_, u8>, levels: &[f64]) -> (Array2<i32>, usize) {
    let mut markers = Array2::<i32>::zeros(barrier.dim());
    let n = nested_seeds_into(barrier, levels, markers.view_mut(), &mut SeedScratch::default());
    (markers, n)
}

/// Renumbers positive labels (at most `max`) to `1..=n` in the raster order of their first pixel;
/// returns `n`.
pub(crate) fn renumber(mut labels: ArrayViewMut2<'_, i32>, max: usize) -> usize {
    let mut map = vec![0i32; max + 1];
    let mut n = 0i32;
    for v in &labels {
        if *v > 0 && map[*v as usize] == 0 {
            n += 1;
            map[*v as usize] = n;
        }
    }
    Zip::from(&mut labels).par_for_each(|v| {
        if *v > 0 {
            *v = map[*v as usize];
        }
    });
    n as usize
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: flood-fill components, brute-force distances, the nesting rule as prose.
    use ndarray::Array2;

    /// 8-connected components of `mask`, numbered in raster order of first pixel.
    pub(crate) fn components(mask: &Array2<bool>) -> (Array2<i32>, usize) {
        let (h, w) = mask.dim();
        let mut out = Array2::<i32>::zeros((h, w));
        let mut n = 0;
        for y in 0..h {
            for x in 0..w {
                if !mask[[y, x]] || out[[y, x]] != 0 {
                    continue;
                }
                n += 1;
                let mut stack = vec![(y, x)];
                out[[y, x]] = n;
                while let Some((cy, cx)) = stack.pop() {
                    for dy in -1i64..=1 {
                        for dx in -1i64..=1 {
                            let (ny, nx) = (cy as i64 + dy, cx as i64 + dx);
                            if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                                continue;
                            }
                            let q = (ny as usize, nx as usize);
                            if mask[q] && out[q] == 0 {
                                out[q] = n;
                                stack.push(q);
                            }
                        }
                    }
                }
            }
        }
        (out, n as usize)
    }

    pub(crate) fn barrier(edges: &Array2<u8>, classes: &Array2<u16>) -> Array2<u8> {
        let (h, w) = edges.dim();
        Array2::from_shape_fn((h, w), |(y, x)| {
            let c = classes[[y, x]];
            let mut b = edges[[y, x]] != 0 || c == 0;
            for (dy, dx) in [(0i64, -1i64), (0, 1), (-1, 0), (1, 0)] {
                let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                if ny >= 0
                    && nx >= 0
                    && ny < h as i64
                    && nx < w as i64
                    && classes[[ny as usize, nx as usize]] != c
                {
                    b = true;
                }
            }
            u8::from(b)
        })
    }

    pub(crate) fn nested(barrier: &Array2<u8>, levels: &[f64]) -> (Array2<i32>, usize) {
        let dist = crate::mep::distance::reference::distance(barrier);
        let (mut cur, _) = components(&barrier.mapv(|b| b == 0));
        let mut levels = levels.to_vec();
        levels.retain(|t| !t.is_nan());
        levels.sort_by(f64::total_cmp);
        let mut fresh = 1 + cur.iter().copied().max().unwrap_or(0);
        for t in levels {
            let (kids, _) = components(&dist.mapv(|d| d > t));
            let regions: std::collections::BTreeSet<i32> = cur.iter().copied().filter(|&v| v > 0).collect();
            let mut next = cur.clone();
            for r in regions {
                let mine: std::collections::BTreeSet<i32> = cur
                    .indexed_iter()
                    .filter(|(p, v)| **v == r && kids[*p] > 0)
                    .map(|(p, _)| kids[p])
                    .collect();
                if mine.len() >= 2 {
                    let ids: std::collections::HashMap<i32, i32> = mine
                        .iter()
                        .map(|&k| {
                            fresh += 1;
                            (k, fresh)
                        })
                        .collect();
                    for (p, v) in next.indexed_iter_mut() {
                        if cur[p] == r {
                            *v = if kids[p] > 0 { ids[&kids[p]] } else { 0 };
                        }
                    }
                }
            }
            cur = next;
        }
        // Raster-order numbering.
        let mut map = std::collections::HashMap::new();
        let mut out = Array2::<i32>::zeros(cur.dim());
        for (p, &v) in cur.indexed_iter() {
            if v > 0 {
                let k = map.len() as i32 + 1;
                out[p] = *map.entry(v).or_insert(k);
            }
        }
        let n = map.len();
        (out, n)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        let empty = Array2::<u8>::zeros((0, 4));
        assert_eq!(nested_seeds(empty.view(), &[1.0]).1, 0);
        let all = Array2::<u8>::ones((6, 6));
        assert_eq!(nested_seeds(all.view(), &[1.0, 2.0]).1, 0);
        let one = ndarray::array![[0u8]];
        let (m, n) = nested_seeds(one.view(), &[1.0, f64::NAN]);
        assert_eq!((m[[0, 0]], n), (1, 1));
        // No barrier: one region, however deep the levels.
        let none = Array2::<u8>::zeros((9, 7));
        assert_eq!(nested_seeds(none.view(), &[1.0, 50.0]).1, 1);
    }

    #[test]
    fn barrier_marks_classes_and_background() {
        let edges = ndarray::array![[0u8, 0, 0, 1]];
        let classes = ndarray::array![[0u16, 2, 2, 2]];
        assert_eq!(
            barrier(edges.view(), classes.view()),
            ndarray::array![[1u8, 1, 0, 1]]
        );
    }

    fn arb_binary() -> impl Strategy<Value = Array2<u8>> {
        (1usize..20, 1usize..20, 0.0f64..0.4).prop_flat_map(|(h, w, p)| {
            prop::collection::vec(prop::bool::weighted(p), h * w).prop_map(move |v| {
                Array2::from_shape_vec((h, w), v.into_iter().map(u8::from).collect()).expect("shape")
            })
        })
    }

    proptest! {
        #[test]
        fn matches_reference(b in arb_binary(), l1 in 0.0f64..2.0, l2 in 1.0f64..4.0) {
            let levels = [l2, l1];
            prop_assert_eq!(nested_seeds(b.view(), &levels), reference::nested(&b, &levels));
        }

        #[test]
        fn barrier_matches_reference(
            e in arb_binary(),
            seed in 0u64..1000,
        ) {
            let (h, w) = e.dim();
            let classes = Array2::from_shape_fn((h, w), |(y, x)| ((seed + (y / 3 * 7 + x / 4) as u64 * 31) % 3) as u16);
            prop_assert_eq!(barrier(e.view(), classes.view()), reference::barrier(&e, &classes));
        }
    }
}
