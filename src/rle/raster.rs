//! Polygon and box rasterisation exactly like maskApi.c's `rleFrPoly` / `rleFrBbox`, with the
//! clipping of far-away polygons (docs/reliability.md#polygon-clipping).
use super::{Bbox, Rle};

impl Rle {
    /// Rasterises one polygon `[x0, y0, x1, y1, ...]` exactly like `rleFrPoly`: the boundary is
    /// upsampled 5x, walked with a DDA, and the points where it crosses pixel-centre columns become
    /// run boundaries. A trailing odd coordinate is ignored, as in `frPoly` (`len // 2` points).
    ///
    /// The walk is streamed (no point arrays) and maskApi.c's floating-point tests on the
    /// upsampled coordinates are done in integers: with `xd = (u + 0.5) / 5 - 0.5`,
    /// `floor(xd) == xd` holds exactly when `u = 2 (mod 5)`, and then `xd = (u - 2) / 5`;
    /// `ceil(clamp((v + 0.5) / 5 - 0.5, 0, h))` is `clamp(ceil((v - 2) / 5), 0, h)` (the
    /// fractional parts are multiples of 0.2, far from rounding trouble for any i32 input).
    /// `from_polygon_reference` (tests only) is the line-by-line port this is checked against.
    #[must_use]
    pub fn from_polygon(xy: &[f64], height: u32, width: u32) -> Self {
        // Work grows with the coordinates, not the image: a polygon reaching far outside the
        // image is first clipped to a frame around it (docs/reliability.md#polygon-clipping).
        // Polygons within the frame (every real one) are rasterised unchanged.
        let pad = 2.0 * f64::from(height.max(width)) + CLIP_MARGIN;
        let (xmax, ymax) = (f64::from(width) + pad, f64::from(height) + pad);
        let inside = xy
            .chunks_exact(2)
            .all(|p| p[0] >= -pad && p[0] <= xmax && p[1] >= -pad && p[1] <= ymax);
        if inside {
            Self::from_polygon_unclipped(xy, height, width)
        } else {
            let clipped = clip_polygon(xy, -pad, -pad, xmax, ymax);
            Self::from_polygon_unclipped(&clipped, height, width)
        }
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::too_many_lines,
        reason = "maskApi.c's rleFrPoly in one piece: the segment walk of both branches shares the \
                  boundary list and the previous point, and reads line by line against the C and \
                  the reference port below, which the tests hold it to"
    )]
    fn from_polygon_unclipped(xy: &[f64], height: u32, width: u32) -> Self {
        const SCALE: f64 = 5.0;
        let k = xy.len() / 2;
        if k == 0 {
            return Self::empty(height, width);
        }
        let h = height;
        let (hi, wmax) = (
            i64::from(h),
            if width == 0 {
                i64::MAX
            } else {
                i64::from(width) - 1
            },
        );
        let px = |j: usize| {
            let j = j % k;
            (
                (SCALE * xy[2 * j] + 0.5) as i32,
                (SCALE * xy[2 * j + 1] + 0.5) as i32,
            )
        };
        let mut a: Vec<u32> = Vec::with_capacity(64);
        let mut prev: Option<(i32, i32)> = None;
        let visit = |a: &mut Vec<u32>, prev: &mut Option<(i32, i32)>, u: i32, v: i32| {
            if let Some((pu, pv)) = *prev
                && u != pu
            {
                let xd = i64::from(if u < pu { u } else { u - 1 });
                if (xd - 2).rem_euclid(5) == 0 {
                    let x = (xd - 2).div_euclid(5);
                    if x >= 0 && x <= wmax {
                        let vm = i64::from(v.min(pv)) - 2;
                        let y = if vm < 0 { 0 } else { ((vm + 4) / 5).min(hi) };
                        a.push((x as i32).wrapping_mul(h as i32).wrapping_add(y as i32) as u32);
                    }
                }
            }
            *prev = Some((u, v));
        };
        for j in 0..k {
            let ((mut xs, mut ys), (mut xe, mut ye)) = (px(j), px(j + 1));
            let dx = xe.wrapping_sub(xs).abs();
            let dy = ys.wrapping_sub(ye).abs();
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if flip {
                std::mem::swap(&mut xs, &mut xe);
                std::mem::swap(&mut ys, &mut ye);
            }
            if dx >= dy {
                let s = f64::from(ye - ys) / f64::from(dx);
                let v_at = |t: i32| (f64::from(ys) + s * f64::from(t) + 0.5) as i32;
                // Consecutive points of this segment differ by exactly 1 in u, so only the pairs
                // (t, t + 1) with t + xs = 2 (mod 5) cross a pixel-centre column: jump to them.
                // Boundary positions are sorted afterwards, so the visiting order is free.
                let (t_first, t_last) = if flip { (dx, 0) } else { (0, dx) };
                visit(&mut a, &mut prev, t_first + xs, v_at(t_first));
                let mut t = (2 - i64::from(xs)).rem_euclid(5) as i32;
                while t < dx {
                    let x = i64::from(t + xs - 2) / 5;
                    if x >= 0 && x <= wmax {
                        let vm = i64::from(v_at(t).min(v_at(t + 1))) - 2;
                        let y = if vm < 0 { 0 } else { ((vm + 4) / 5).min(hi) };
                        a.push((x as i32).wrapping_mul(h as i32).wrapping_add(y as i32) as u32);
                    }
                    t += 5;
                }
                prev = Some((t_last + xs, v_at(t_last)));
            } else {
                let s = f64::from(xe - xs) / f64::from(dy);
                for d in 0..=dy {
                    let t = if flip { dy - d } else { d };
                    visit(
                        &mut a,
                        &mut prev,
                        (f64::from(xs) + s * f64::from(t) + 0.5) as i32,
                        t + ys,
                    );
                }
            }
        }
        Self::runs_from_boundary(a, height, width)
    }

    /// The line-by-line port of `rleFrPoly` (floating-point boundary tests), kept as the
    /// reference the fast [`Rle::from_polygon`] is tested against.
    #[cfg(test)]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        clippy::cast_precision_loss,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    pub(crate) fn from_polygon_reference(xy: &[f64], height: u32, width: u32) -> Self {
        const SCALE: f64 = 5.0;
        let k = xy.len() / 2;
        if k == 0 {
            return Self::empty(height, width);
        }
        let (h, w) = (height, width);
        // Upsample and get discrete points densely along the entire boundary.
        let mut x: Vec<i32> = (0..k).map(|j| (SCALE * xy[2 * j] + 0.5) as i32).collect();
        let mut y: Vec<i32> = (0..k).map(|j| (SCALE * xy[2 * j + 1] + 0.5) as i32).collect();
        x.push(x[0]);
        y.push(y[0]);
        let mut m = 0usize;
        for j in 0..k {
            m += (x[j].wrapping_sub(x[j + 1]).unsigned_abs()).max(y[j].wrapping_sub(y[j + 1]).unsigned_abs())
                as usize
                + 1;
        }
        let mut u: Vec<i32> = Vec::with_capacity(m);
        let mut v: Vec<i32> = Vec::with_capacity(m);
        for j in 0..k {
            let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
            let dx = xe.wrapping_sub(xs).abs();
            let dy = ys.wrapping_sub(ye).abs();
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if flip {
                std::mem::swap(&mut xs, &mut xe);
                std::mem::swap(&mut ys, &mut ye);
            }
            let s = if dx >= dy {
                f64::from(ye - ys) / f64::from(dx)
            } else {
                f64::from(xe - xs) / f64::from(dy)
            };
            if dx >= dy {
                for d in 0..=dx {
                    let t = if flip { dx - d } else { d };
                    u.push(t + xs);
                    v.push((f64::from(ys) + s * f64::from(t) + 0.5) as i32);
                }
            } else {
                for d in 0..=dy {
                    let t = if flip { dy - d } else { d };
                    v.push(t + ys);
                    u.push((f64::from(xs) + s * f64::from(t) + 0.5) as i32);
                }
            }
        }
        // Get points along the y-boundary and downsample.
        let mut a: Vec<u32> = Vec::with_capacity(u.len() / 4 + 1);
        let (hf, wf) = (f64::from(h), f64::from(w));
        for j in 1..u.len() {
            if u[j] == u[j - 1] {
                continue;
            }
            let mut xd = f64::from(if u[j] < u[j - 1] { u[j] } else { u[j] - 1 });
            xd = (xd + 0.5) / SCALE - 0.5;
            // `w - 1` is unsigned in C: for w == 0 it wraps to SIZE_MAX.
            let wmax = if w == 0 { u64::MAX as f64 } else { wf - 1.0 };
            if xd.floor() != xd || xd < 0.0 || xd > wmax {
                continue;
            }
            let mut yd = f64::from(if v[j] < v[j - 1] { v[j] } else { v[j - 1] });
            yd = (yd + 0.5) / SCALE - 0.5;
            if yd < 0.0 {
                yd = 0.0;
            } else if yd > hf {
                yd = hf;
            }
            yd = yd.ceil();
            let (xi, yi) = (xd as i32, yd as i32);
            a.push(xi.wrapping_mul(h as i32).wrapping_add(yi) as u32);
        }
        Self::runs_from_boundary(a, height, width)
    }

    /// The last step of `rleFrPoly`: boundary positions (column-major pixel indexes) to runs.
    fn runs_from_boundary(mut a: Vec<u32>, height: u32, width: u32) -> Self {
        let (h, w) = (height, width);
        // Compute the RLE given the y-boundary points.
        a.push(h.wrapping_mul(w));
        a.sort_unstable();
        let mut p = 0u32;
        for c in &mut a {
            let t = *c;
            *c = c.wrapping_sub(p);
            p = t;
        }
        let mut b: Vec<u32> = Vec::with_capacity(a.len());
        let mut j = 0usize;
        b.push(a[j]);
        j += 1;
        while j < a.len() {
            if a[j] > 0 {
                b.push(a[j]);
                j += 1;
            } else {
                j += 1;
                if j < a.len() {
                    if let Some(last) = b.last_mut() {
                        *last = last.wrapping_add(a[j]);
                    }
                    j += 1;
                }
            }
        }
        Self {
            height,
            width,
            counts: b,
        }
    }

    /// Rasterises a box like `rleFrBbox` (a 4-point polygon through `rleFrPoly`).
    #[must_use]
    pub fn from_bbox(bb: &Bbox, height: u32, width: u32) -> Self {
        let (xs, ys) = (bb[0], bb[1]);
        let (xe, ye) = (xs + bb[2], ys + bb[3]);
        Self::from_polygon(&[xs, ys, xs, ye, xe, ye, xe, ys], height, width)
    }
}

/// Polygons reaching farther than `2 * max(h, w) + CLIP_MARGIN` pixels outside the image are
/// clipped before rasterising (docs/reliability.md#polygon-clipping).
const CLIP_MARGIN: f64 = 65536.0;

/// Sutherland-Hodgman clipping of the polygon `[x0, y0, x1, y1, ...]` to the box
/// `[x0, x1] x [y0, y1]`; points with NaN coordinates are dropped.
fn clip_polygon(xy: &[f64], x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<f64> {
    let mut pts: Vec<(f64, f64)> = xy
        .chunks_exact(2)
        .map(|p| (p[0], p[1]))
        .filter(|p| !p.0.is_nan() && !p.1.is_nan())
        .collect();
    // (keep the side >= lim?, axis: 0 = x / 1 = y, lim) for the four edges.
    let edges = [(true, 0, x0), (false, 0, x1), (true, 1, y0), (false, 1, y1)];
    for (keep_above, axis, lim) in edges {
        let inside = |v: f64| if keep_above { v >= lim } else { v <= lim };
        if pts.is_empty() {
            break;
        }
        let coord = |p: (f64, f64)| if axis == 0 { p.0 } else { p.1 };
        let cut = |a: (f64, f64), b: (f64, f64)| {
            let t = (lim - coord(a)) / (coord(b) - coord(a));
            if axis == 0 {
                (lim, a.1 + t * (b.1 - a.1))
            } else {
                (a.0 + t * (b.0 - a.0), lim)
            }
        };
        let mut out = Vec::with_capacity(pts.len() + 4);
        for i in 0..pts.len() {
            let cur = pts[i];
            let prev = pts[(i + pts.len() - 1) % pts.len()];
            let (ci, pi) = (inside(coord(cur)), inside(coord(prev)));
            if ci {
                if !pi {
                    out.push(cut(prev, cur));
                }
                out.push(cur);
            } else if pi {
                out.push(cut(prev, cur));
            }
        }
        pts = out;
    }
    pts.into_iter().flat_map(|(x, y)| [x, y]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The integer-arithmetic rasteriser equals the line-by-line port of `rleFrPoly`.
        #[test]
        fn fast_polygon_equals_reference(
            h in 0u32..300, w in 0u32..300,
            pts in proptest::collection::vec((-50.0f64..350.0, -50.0f64..350.0), 1..12),
            round in proptest::bool::ANY,
        ) {
            let xy: Vec<f64> = pts
                .iter()
                .flat_map(|&(x, y)| if round { [x.round(), y.round()] } else { [x, y] })
                .collect();
            proptest::prop_assert_eq!(Rle::from_polygon(&xy, h, w), Rle::from_polygon_reference(&xy, h, w));
        }
    }

    #[test]
    fn huge_polygon_coordinates_are_clipped_to_the_image() {
        // A triangle with a vertex at 1e9: without clipping the walk would take ~1e10 steps.
        let tri = [1.0, 1.0, 1e9, 2.0, 1.0, 1e9];
        let rle = Rle::from_polygon(&tri, 20, 30);
        // Inside the image it is the region right of x = 1 and below y = 1 (the far vertices make
        // the two long edges nearly axis-parallel there).
        let m = rle.to_row_major();
        assert_eq!(m[5 * 30 + 5], 1);
        assert_eq!(m[0], 0);
        // The same result as an explicit pre-clipped polygon, and unchanged for polygons that stay
        // within the frame.
        let small = [2.0, 3.0, 17.5, 4.0, 9.0, 15.0];
        assert_eq!(
            Rle::from_polygon(&small, 20, 30),
            Rle::from_polygon_reference(&small, 20, 30)
        );
        let nan = [1.0, f64::NAN, 1e12, -1e12, 5.0, 5.0, -1e15, 3.0];
        let _ = Rle::from_polygon(&nan, 20, 30);
    }
}
