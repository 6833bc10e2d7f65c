//! Stage 2c of the MEP: 8-connected component labelling of the seeds, components numbered
//! `1..=n` in the raster (row-major) order of their first pixel (docs/mep.md#seeds; what
//! `scipy.ndimage.label(seeds, np.ones((3, 3)))` and `cv2.connectedComponents(seeds, 8)` produce).
//!
//! Algorithm: run-based two-pass labelling with union-find (Rosenfeld & Pfaltz 1966; He, Chao &
//! Suzuki 2008 for runs; Wu, Otoo & Suzuki 2009 for the array-based union-find), see
//! [`label_8_into`]. Provisional labels (runs) are created in raster order and equivalences always
//! link to the smaller label, so each component's root is the run holding its first pixel;
//! numbering the roots in increasing order therefore gives the raster order of first pixels.
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

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
/// Run-based (docs/mep-performance.md#label): each row is cut into runs of set pixels (8 bytes at
/// a time), a run is united with the runs of the row above that touch it (8-connectivity), and the
/// final ids are written run by run. Rows are processed in bands in parallel; the seams between
/// bands are united afterwards. Runs are numbered in raster order (bands in order), unions keep the
/// smaller run as the root, so each component's root is its first run and numbering the roots in
/// increasing order gives the raster order of first pixels, whatever the number of bands.
///
/// # Panics
/// When `out`'s shape differs from `binary`'s.
pub fn label_8_into(binary: ArrayView2<'_, u8>, out: ArrayViewMut2<'_, i32>, parent: &mut Vec<u32>) -> usize {
    assert_eq!(binary.dim(), out.dim(), "label: shape mismatch");
    let (h, w) = binary.dim();
    parent.clear();
    if h == 0 || w == 0 {
        return 0;
    }
    let bin = binary.as_standard_layout();
    let Some(b) = bin.as_slice() else {
        unreachable!("standard layout is contiguous")
    };
    let bands = find_runs(b, h, w);
    let bases = unite_bands(&bands, parent);
    let (final_id, n) = number_roots(parent);
    write_ids(&bands, &bases, &final_id, w, out);
    n as usize
}

/// Phase 1 of [`label_8_into`]: the rows cut into bands (one per thread pair, at least 32 rows),
/// each with its runs and band-local unions, in parallel.
fn find_runs(b: &[u8], h: usize, w: usize) -> Vec<Band> {
    let threads = rayon::current_num_threads();
    let nbands = if threads <= 1 {
        1
    } else {
        (2 * threads).min(h.div_ceil(32)).max(1)
    };
    let band_rows = h.div_ceil(nbands);
    (0..nbands)
        .into_par_iter()
        .map(|i| {
            let y0 = (i * band_rows).min(h);
            let y1 = ((i + 1) * band_rows).min(h);
            band_runs(b, w, y0, y1)
        })
        .collect()
}

/// Phase 2: global run ids (bands in order) in `parent`, and the seams united: the last row of
/// each band against the first row of the next. Returns each band's first global id.
fn unite_bands(bands: &[Band], parent: &mut Vec<u32>) -> Vec<u32> {
    let total: usize = bands.iter().map(|b| b.runs.len()).sum();
    parent.reserve(total);
    let mut bases = Vec::with_capacity(bands.len());
    for band in bands {
        let base = parent.len() as u32;
        bases.push(base);
        parent.extend(band.parent.iter().map(|&p| p + base));
    }
    for (i, pair) in bands.windows(2).enumerate() {
        let (up, down) = (&pair[0], &pair[1]);
        let (Some(ur), Some(dr)) = (up.last_row(), down.first_row()) else {
            continue;
        };
        let (ub, db) = (bases[i], bases[i + 1]);
        let (us, ds) = (ur.start, dr.start);
        for_each_touching(&up.runs[ur], &down.runs[dr], |a, c| {
            union(parent, ub + (us + a) as u32, db + (ds + c) as u32);
        });
    }
    bases
}

/// Phase 3: the roots numbered in increasing order (= raster order of first pixels); returns each
/// run's final id and the number of components.
fn number_roots(parent: &mut [u32]) -> (Vec<u32>, u32) {
    let total = parent.len();
    let mut final_id = vec![0u32; total];
    let mut next = 0u32;
    for g in 0..total {
        let r = find(parent, g as u32) as usize;
        if r == g {
            next += 1;
            final_id[g] = next;
        } else {
            final_id[g] = final_id[r];
        }
    }
    (final_id, next)
}

/// Phase 4: every row written run by run (0 between runs), bands in parallel.
fn write_ids(bands: &[Band], bases: &[u32], final_id: &[u32], w: usize, mut out: ArrayViewMut2<'_, i32>) {
    let fill = |orow: &mut [i32], runs: &[Run], ids: &[u32]| {
        let mut x = 0usize;
        for (run, &id) in runs.iter().zip(ids) {
            let (x0, x1) = (run.x0 as usize, run.x1 as usize);
            orow[x..x0].fill(0);
            orow[x0..x1].fill(id as i32);
            x = x1;
        }
        orow[x..].fill(0);
    };
    let write_band = |band: &Band, base: u32, orows: &mut [i32]| {
        for (r, orow) in orows.chunks_exact_mut(w).enumerate() {
            let (lo, hi) = (band.row_start[r], band.row_start[r + 1]);
            let ids = &final_id[base as usize + lo..base as usize + hi];
            fill(orow, &band.runs[lo..hi], ids);
        }
    };
    if let Some(o) = out.as_slice_mut() {
        let mut chunks: Vec<(&Band, u32, &mut [i32])> = Vec::with_capacity(bands.len());
        let mut rest = o;
        for (band, &base) in bands.iter().zip(bases) {
            let (this, tail) = rest.split_at_mut(band.rows() * w);
            chunks.push((band, base, this));
            rest = tail;
        }
        chunks
            .into_par_iter()
            .for_each(|(band, base, rows)| write_band(band, base, rows));
    } else {
        let mut tmp = vec![0i32; out.len()];
        let mut rest = tmp.as_mut_slice();
        for (band, &base) in bands.iter().zip(bases) {
            let (this, tail) = rest.split_at_mut(band.rows() * w);
            write_band(band, base, this);
            rest = tail;
        }
        for (o, &v) in out.iter_mut().zip(&tmp) {
            *o = v;
        }
    }
}

/// A horizontal run `[x0, x1)` of set pixels.
#[derive(Debug, Clone, Copy)]
struct Run {
    x0: u32,
    x1: u32,
}

/// The runs of rows `y0..y1`, their band-local union-find, and where each row's runs start.
#[derive(Debug, Default)]
struct Band {
    runs: Vec<Run>,
    parent: Vec<u32>,
    /// `row_start[r]..row_start[r + 1]`: the runs of row `y0 + r`.
    row_start: Vec<usize>,
}

impl Band {
    fn rows(&self) -> usize {
        self.row_start.len().saturating_sub(1)
    }
    fn first_row(&self) -> Option<std::ops::Range<usize>> {
        (self.rows() > 0).then(|| self.row_start[0]..self.row_start[1])
    }
    fn last_row(&self) -> Option<std::ops::Range<usize>> {
        let n = self.rows();
        (n > 0).then(|| self.row_start[n - 1]..self.row_start[n])
    }
}

/// Calls `f(i, j)` for every run `up[i]` touching `down[j]` (8-connectivity: the column ranges,
/// each grown by one pixel on the right, overlap), both lists sorted by column.
#[inline]
fn for_each_touching(up: &[Run], down: &[Run], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    for (j, d) in down.iter().enumerate() {
        // Skip runs of the row above that end left of d's reach.
        while i < up.len() && up[i].x1 < d.x0 {
            i += 1;
        }
        let mut k = i;
        while k < up.len() && up[k].x0 <= d.x1 {
            f(k, j);
            k += 1;
        }
    }
}

/// Words of 8 bytes with no zero byte / with only zero bytes (byte-wise, any nonzero byte is set).
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn word(row: &[u8], x: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&row[x..x + 8]);
    u64::from_le_bytes(b)
}

/// First `x' >= x` with `row[x'] != 0`, or `row.len()`.
#[inline]
fn next_set(row: &[u8], mut x: usize) -> usize {
    while x + 8 <= row.len() && word(row, x) == 0 {
        x += 8;
    }
    while x < row.len() && row[x] == 0 {
        x += 1;
    }
    x
}

/// First `x' >= x` with `row[x'] == 0`, or `row.len()`.
#[inline]
fn next_clear(row: &[u8], mut x: usize) -> usize {
    while x + 8 <= row.len() {
        let v = word(row, x);
        if v.wrapping_sub(ONES) & !v & HIGHS != 0 {
            break; // a zero byte in this word
        }
        x += 8;
    }
    while x < row.len() && row[x] != 0 {
        x += 1;
    }
    x
}

/// Runs and band-local unions of rows `y0..y1` of the row-major `b` (width `w`).
fn band_runs(b: &[u8], w: usize, y0: usize, y1: usize) -> Band {
    let mut band = Band::default();
    band.row_start.push(0);
    let mut prev = 0..0;
    for y in y0..y1 {
        let row = &b[y * w..(y + 1) * w];
        let start = band.runs.len();
        let mut x = next_set(row, 0);
        while x < w {
            let e = next_clear(row, x);
            band.runs.push(Run {
                x0: x as u32,
                x1: e as u32,
            });
            x = next_set(row, e);
        }
        let cur = start..band.runs.len();
        // Each new run starts as its own set; unite with the touching runs above.
        for g in cur.clone() {
            band.parent.push(g as u32);
        }
        let (above, here) = band.runs.split_at(start);
        let parent = &mut band.parent;
        for_each_touching(&above[prev.clone()], here, |a, c| {
            union(parent, (prev.start + a) as u32, (start + c) as u32);
        });
        band.row_start.push(band.runs.len());
        prev = cur;
    }
    band
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

        /// Tall maps on several threads: many bands, components crossing the seams.
        #[test]
        fn bands_match_reference(h in 33usize..300, w in 1usize..40, p in 0.2f64..0.8, seed in any::<u64>(), threads in 1usize..5) {
            let mut x = seed | 1;
            let b = Array2::from_shape_fn((h, w), |_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                u8::from(((x % 1000) as f64) < p * 1000.0)
            });
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            prop_assert_eq!(pool.install(|| label_8(b.view())), reference::label(&b));
        }
    }
}
