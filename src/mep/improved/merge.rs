//! Improved MEP, stage 4: region-adjacency-graph merging by mean boundary strength (average
//! linkage), see `docs/mep-improved.md#merge`.
//!
//! Two regions are adjacent when some 4-neighbour pixel pair `(p, q)` has one in each; the
//! strength of that pair is `max(Q(p), Q(q))` (the quantised boundary map), and the strength of an
//! edge of the graph is the mean over all its pairs. Only regions of the same class are joined
//! (a class change is a cannot-link, as the repulsive edges of the mutex watershed). Greedily, the
//! weakest edge is merged while its mean is below `threshold` (in 0..=255); the merged region's
//! edges are the sums of both (exact integer sums, so the result does not depend on any
//! iteration order); ties go to the pair with the smaller ids. This undoes the over-seeding of
//! [`super::seeds`] (a region split where there is no boundary between the parts) and keeps
//! regions apart whose common border is mostly boundary, even with gaps in it.
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;

/// Sum and count of pair strengths of one graph edge.
type EdgeSum = (u64, u64);

/// Collects the graph's edges: `(a, b)` with `a < b` -> (sum, count), same-class pairs only.
fn edges(
    labels: ArrayView2<'_, i32>,
    relief: ArrayView2<'_, u8>,
    class_of: &[u16],
) -> BTreeMap<(u32, u32), EdgeSum> {
    let (h, w) = labels.dim();
    let rows: Vec<Vec<(u64, u8)>> = (0..h)
        .into_par_iter()
        .map(|y| {
            let mut out = Vec::new();
            let mut pair = |a: i32, b: i32, s: u8| {
                if a > 0 && b > 0 && a != b && class_of[a as usize] == class_of[b as usize] {
                    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                    out.push(((u64::from(lo as u32) << 32) | u64::from(hi as u32), s));
                }
            };
            for x in 0..w {
                let a = labels[[y, x]];
                if x + 1 < w {
                    pair(a, labels[[y, x + 1]], relief[[y, x]].max(relief[[y, x + 1]]));
                }
                if y + 1 < h {
                    pair(a, labels[[y + 1, x]], relief[[y, x]].max(relief[[y + 1, x]]));
                }
            }
            out
        })
        .collect();
    let mut map: BTreeMap<(u32, u32), EdgeSum> = BTreeMap::new();
    for (key, s) in rows.into_iter().flatten() {
        let e = map.entry(((key >> 32) as u32, key as u32)).or_insert((0, 0));
        e.0 += u64::from(s);
        e.1 += 1;
    }
    map
}

/// Heap key of an edge: its mean as a fraction compared exactly, then the ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    sum: u64,
    count: u64,
    a: u32,
    b: u32,
}

impl Ord for Key {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (u128::from(self.sum) * u128::from(o.count))
            .cmp(&(u128::from(o.sum) * u128::from(self.count)))
            .then((self.a, self.b).cmp(&(o.a, o.b)))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let p = parent[x as usize];
        parent[x as usize] = parent[p as usize];
        x = p;
    }
    x
}

/// Merges regions of `labels` (`1..=n`) in place and renumbers them `1..=m` in the raster order of
/// their first pixel; returns `m`. `threshold` is compared with the mean strength in 0..=255
/// (merged when `mean < threshold`); the class of a region is that of its first pixel.
///
/// ```
/// use ndarray::array;
/// use baiseg_rt::mep::improved::merge::merge_regions;
/// // Regions 1 | 2 split where the boundary is weak (10), 2 | 3 on a strong one (250).
/// let mut labels = array![[1, 1, 2, 2, 3, 3]];
/// let relief = array![[0u8, 10, 10, 250, 250, 0]];
/// let classes = array![[1u16, 1, 1, 1, 1, 1]];
/// let m = merge_regions(labels.view_mut(), 3, relief.view(), classes.view(), 100.0);
/// assert_eq!(m, 2);
/// assert_eq!(labels, array![[1, 1, 1, 1, 2, 2]]);
/// ```
///
/// # Panics
/// When the shapes differ or a label exceeds `n`.
#[must_use]
pub fn merge_regions(
    mut labels: ArrayViewMut2<'_, i32>,
    n: usize,
    relief: ArrayView2<'_, u8>,
    classes: ArrayView2<'_, u16>,
    threshold: f64,
) -> usize {
    assert_eq!(labels.dim(), relief.dim(), "merge: shape mismatch");
    assert_eq!(labels.dim(), classes.dim(), "merge: shape mismatch");
    let mut class_of = vec![0u16; n + 1];
    let mut have = vec![false; n + 1];
    Zip::from(&labels).and(&classes).for_each(|&v, &c| {
        if v > 0 && !have[v as usize] {
            have[v as usize] = true;
            class_of[v as usize] = c;
        }
    });
    let mut parent: Vec<u32> = (0..=n as u32).collect();
    if threshold > 0.0 {
        let all = edges(labels.view(), relief, &class_of);
        let mut adj: Vec<BTreeMap<u32, EdgeSum>> = vec![BTreeMap::new(); n + 1];
        let mut heap = BinaryHeap::new();
        for (&(a, b), &(sum, count)) in &all {
            adj[a as usize].insert(b, (sum, count));
            adj[b as usize].insert(a, (sum, count));
            heap.push(Reverse(Key { sum, count, a, b }));
        }
        let below = |sum: u64, count: u64| (sum as f64) < threshold * count as f64;
        while let Some(Reverse(k)) = heap.pop() {
            if !below(k.sum, k.count) {
                break;
            }
            let (ra, rb) = (find(&mut parent, k.a), find(&mut parent, k.b));
            if ra != k.a || rb != k.b || adj[k.a as usize].get(&k.b) != Some(&(k.sum, k.count)) {
                continue; // stale
            }
            // Merge b into a (a < b): a's edges absorb b's.
            parent[k.b as usize] = k.a;
            let moved = std::mem::take(&mut adj[k.b as usize]);
            adj[k.a as usize].remove(&k.b);
            for (nb, (s, c)) in moved {
                if nb == k.a {
                    continue;
                }
                adj[nb as usize].remove(&k.b);
                let e = adj[k.a as usize].entry(nb).or_insert((0, 0));
                e.0 += s;
                e.1 += c;
                let e = *e;
                adj[nb as usize].insert(k.a, e);
            }
            // Every edge of the merged region has a new mean.
            for (&nb, &(sum, count)) in &adj[k.a as usize] {
                let (a, b) = if k.a < nb { (k.a, nb) } else { (nb, k.a) };
                heap.push(Reverse(Key { sum, count, a, b }));
            }
        }
    }
    let roots: Vec<u32> = (0..=n as u32).map(|i| find(&mut parent, i)).collect();
    Zip::from(&mut labels).par_for_each(|v| {
        if *v > 0 {
            *v = roots[*v as usize] as i32;
        }
    });
    super::seeds::renumber(labels, n)
}

/// Mean relief over the pixels of each region that touch (4-neighbourhood) another label, the
/// unlabelled area or the image border, in 0..=1 (1.0 for a region without such pixels); index
/// 0 is unused. A region outlined by a strong boundary scores near 1, a fragment cut off by
/// weak or spurious edges lower.
#[must_use]
pub fn border_strength(labels: ArrayView2<'_, i32>, relief: ArrayView2<'_, u8>, n: usize) -> Vec<f64> {
    let (h, w) = labels.dim();
    let mut sums = vec![(0u64, 0u64); n + 1];
    for y in 0..h {
        for x in 0..w {
            let v = labels[[y, x]];
            if v <= 0 {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || labels[[y, x - 1]] != v
                || labels[[y, x + 1]] != v
                || labels[[y - 1, x]] != v
                || labels[[y + 1, x]] != v;
            if edge {
                let e = &mut sums[v as usize];
                e.0 += u64::from(relief[[y, x]]);
                e.1 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(s, c)| {
            if c == 0 {
                1.0
            } else {
                s as f64 / (255.0 * c as f64)
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod reference {
    //! Slow reference: recompute every edge mean from the pixels after each merge.
    use ndarray::Array2;

    pub(crate) fn merge(
        labels: &Array2<i32>,
        relief: &Array2<u8>,
        classes: &Array2<u16>,
        threshold: f64,
    ) -> Array2<i32> {
        let (h, w) = labels.dim();
        let mut l = labels.clone();
        let mut class_of = std::collections::HashMap::new();
        for (p, &v) in labels.indexed_iter() {
            if v > 0 {
                class_of.entry(v).or_insert(classes[p]);
            }
        }
        loop {
            let mut e: std::collections::BTreeMap<(i32, i32), (u64, u64)> =
                std::collections::BTreeMap::default();
            for y in 0..h {
                for x in 0..w {
                    for (ny, nx) in [(y, x + 1), (y + 1, x)] {
                        if ny >= h || nx >= w {
                            continue;
                        }
                        let (a, b) = (l[[y, x]], l[[ny, nx]]);
                        if a > 0 && b > 0 && a != b && class_of[&a] == class_of[&b] {
                            let s = u64::from(relief[[y, x]].max(relief[[ny, nx]]));
                            let k = (a.min(b), a.max(b));
                            let v = e.entry(k).or_insert((0, 0));
                            v.0 += s;
                            v.1 += 1;
                        }
                    }
                }
            }
            let best = e
                .iter()
                .filter(|(_, (s, c))| (*s as f64) < threshold * *c as f64)
                .min_by(|x, y| {
                    (u128::from(x.1.0) * u128::from(y.1.1))
                        .cmp(&(u128::from(y.1.0) * u128::from(x.1.1)))
                        .then(x.0.cmp(y.0))
                });
            let Some((&(a, b), _)) = best else { break };
            l.mapv_inplace(|v| if v == b { a } else { v });
        }
        let mut map = std::collections::HashMap::new();
        l.mapv(|v| {
            if v > 0 {
                let k = map.len() as i32 + 1;
                *map.entry(v).or_insert(k)
            } else {
                v
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn edge_cases() {
        let mut z = Array2::<i32>::zeros((0, 2));
        assert_eq!(
            merge_regions(
                z.view_mut(),
                0,
                Array2::<u8>::zeros((0, 2)).view(),
                Array2::<u16>::zeros((0, 2)).view(),
                100.0
            ),
            0
        );
        let mut one = ndarray::array![[1i32]];
        assert_eq!(
            merge_regions(
                one.view_mut(),
                1,
                ndarray::array![[0u8]].view(),
                ndarray::array![[1u16]].view(),
                100.0
            ),
            1
        );
        // Different classes never merge, however weak the edge.
        let mut l = ndarray::array![[1i32, 2]];
        assert_eq!(
            merge_regions(
                l.view_mut(),
                2,
                ndarray::array![[0u8, 0]].view(),
                ndarray::array![[1u16, 2]].view(),
                255.0
            ),
            2
        );
        assert_eq!(
            border_strength(
                ndarray::array![[1, 1], [1, 2]].view(),
                ndarray::array![[255u8, 0], [51, 0]].view(),
                2
            ),
            vec![1.0, 102.0 / 255.0, 0.0]
        );
    }

    fn arb_case() -> impl Strategy<Value = (Array2<i32>, Array2<u8>, Array2<u16>)> {
        (1usize..12, 1usize..12).prop_flat_map(|(h, w)| {
            (
                prop::collection::vec(prop_oneof![1 => Just(0i32), 6 => 1i32..7], h * w),
                prop::collection::vec(0u8..=255, h * w),
                prop::collection::vec(1u16..3, h * w),
            )
                .prop_map(move |(l, r, c)| {
                    let l = Array2::from_shape_vec((h, w), l).expect("shape");
                    let r = Array2::from_shape_vec((h, w), r).expect("shape");
                    let c0 = Array2::from_shape_vec((h, w), c).expect("shape");
                    // Class per label (a region has one class, as after the flooding).
                    let c =
                        Array2::from_shape_fn(
                            (h, w),
                            |p| if l[p] > 0 { 1 + (l[p] % 2) as u16 } else { c0[p] },
                        );
                    (l, r, c)
                })
        })
    }

    proptest! {
        #[test]
        fn matches_reference((l, r, c) in arb_case(), t in 0.0f64..256.0) {
            let mut fast = l.clone();
            let _ = merge_regions(fast.view_mut(), 6, r.view(), c.view(), t);
            prop_assert_eq!(fast, reference::merge(&l, &r, &c, t));
        }
    }
}
