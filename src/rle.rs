//! COCO run-length encoding, a port of pycocotools' `maskApi.c` semantics.
//!
//! A mask of `height x width` pixels is flattened in **column-major** (Fortran) order and stored
//! as alternating run lengths, starting with a run of zeros (possibly of length 0). The compressed
//! string form is the LEB128-like 5-bit encoding of `rleToString`, with runs after the second one
//! stored as deltas to the run two places before.
use serde::{Deserialize, Serialize};

/// A run-length encoded binary mask (pycocotools `RLE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rle {
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// Alternating runs of 0s and 1s in column-major order, starting with 0s.
    pub counts: Vec<u32>,
}

impl Rle {
    /// Encodes a column-major mask (`mask[x * height + y]`, nonzero = foreground), like `rleEncode`.
    ///
    /// # Panics
    /// Never for well-formed input; a `mask` whose length is not `height * width` is truncated or
    /// padded with zeros logically (only the first `height * width` pixels are read).
    #[must_use]
    pub fn from_column_major(mask: &[u8], height: u32, width: u32) -> Self {
        let n = (height as usize) * (width as usize);
        let mut counts = Vec::new();
        let mut current = 0u8;
        let mut run = 0u32;
        for &value in mask
            .iter()
            .take(n)
            .chain(std::iter::repeat_n(&0u8, n.saturating_sub(mask.len())))
        {
            let bit = u8::from(value != 0);
            if bit != current {
                counts.push(run);
                run = 0;
                current = bit;
            }
            run += 1;
        }
        counts.push(run);
        Self {
            height,
            width,
            counts,
        }
    }

    /// Encodes a row-major mask (`mask[y * width + x]`, nonzero = foreground).
    #[must_use]
    pub fn from_row_major(mask: &[u8], height: u32, width: u32) -> Self {
        let (h, w) = (height as usize, width as usize);
        let mut col = vec![0u8; h * w];
        for y in 0..h {
            for x in 0..w {
                if mask.get(y * w + x).is_some_and(|&v| v != 0) {
                    col[x * h + y] = 1;
                }
            }
        }
        Self::from_column_major(&col, height, width)
    }

    /// Decodes into a column-major 0/1 mask (`rleDecode`).
    #[must_use]
    pub fn to_column_major(&self) -> Vec<u8> {
        let n = (self.height as usize) * (self.width as usize);
        let mut out = vec![0u8; n];
        let mut pos = 0usize;
        let mut bit = 0u8;
        for &c in &self.counts {
            let end = (pos + c as usize).min(n);
            if bit == 1 {
                out[pos..end].fill(1);
            }
            pos = end;
            bit ^= 1;
        }
        out
    }

    /// Decodes into a row-major 0/1 mask.
    #[must_use]
    pub fn to_row_major(&self) -> Vec<u8> {
        let (h, w) = (self.height as usize, self.width as usize);
        let col = self.to_column_major();
        let mut out = vec![0u8; h * w];
        for x in 0..w {
            for y in 0..h {
                out[y * w + x] = col[x * h + y];
            }
        }
        out
    }

    /// Number of foreground pixels (`rleArea`).
    #[must_use]
    pub fn area(&self) -> u64 {
        self.counts.iter().skip(1).step_by(2).map(|&c| u64::from(c)).sum()
    }

    /// The compressed string form of `counts` (`rleToString`).
    #[must_use]
    pub fn to_compressed_string(&self) -> String {
        let mut s = Vec::with_capacity(self.counts.len() * 2);
        for (i, &c) in self.counts.iter().enumerate() {
            let mut x = i64::from(c);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            let mut more = true;
            while more {
                let mut ch = (x & 0x1f) as u8;
                x >>= 5;
                more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    ch |= 0x20;
                }
                s.push(ch + 48);
            }
        }
        // Every byte is in 48..=111, i.e. printable ASCII.
        s.into_iter().map(char::from).collect()
    }

    /// Parses the compressed string form (`rleFrString`).
    ///
    /// # Errors
    /// Returns a description of the problem when the string holds bytes outside the encoding's
    /// alphabet, ends in the middle of a number, or decodes to negative runs.
    pub fn from_compressed_string(s: &str, height: u32, width: u32) -> Result<Self, String> {
        let bytes = s.as_bytes();
        // Every run takes at least one character.
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len());
        let mut p = 0usize;
        while p < bytes.len() {
            let c0 = bytes[p].wrapping_sub(48);
            let mut x: i64;
            if c0 < 0x20 {
                // Fast path: a one-character run (no continuation bit).
                x = i64::from(c0 & 0x1f);
                if c0 & 0x10 != 0 {
                    x |= -1i64 << 5;
                }
                p += 1;
            } else {
                x = 0;
                let mut k = 0u32;
                let mut more = true;
                while more {
                    let Some(&b) = bytes.get(p) else {
                        return Err("compressed RLE string ends inside a run".into());
                    };
                    if !(48..=111).contains(&b) {
                        return Err(format!("invalid byte {b:#04x} in compressed RLE string"));
                    }
                    if k > 12 {
                        return Err("run length overflows in compressed RLE string".into());
                    }
                    let c = i64::from(b - 48);
                    x |= (c & 0x1f) << (5 * k);
                    more = c & 0x20 != 0;
                    p += 1;
                    k += 1;
                    if !more && (c & 0x10) != 0 && k < 13 {
                        x |= -1i64 << (5 * k);
                    }
                }
            }
            let m = counts.len();
            if m > 2 {
                x += i64::from(counts[m - 2]);
            }
            let run = u32::try_from(x).map_err(|_| format!("run {m} decodes to {x}, outside 0..2^32"))?;
            counts.push(run);
        }
        Ok(Self {
            height,
            width,
            counts,
        })
    }
}

/// A bounding box `[x, y, width, height]` in pixels (pycocotools `BB`).
pub type Bbox = [f64; 4];

impl Rle {
    /// Builds an RLE from uncompressed counts (`frUncompressedRLE`), checking that the runs cover
    /// exactly `height * width` pixels.
    ///
    /// # Errors
    /// Returns a description when the runs do not sum to `height * width`.
    pub fn from_counts(counts: Vec<u32>, height: u32, width: u32) -> Result<Self, String> {
        let rle = Self {
            height,
            width,
            counts,
        };
        rle.check_size()?;
        Ok(rle)
    }

    /// Checks that the runs sum to `height * width` (pycocotools does not check; a mismatch there
    /// silently yields wrong IoUs).
    ///
    /// # Errors
    /// Returns a description of the mismatch.
    pub fn check_size(&self) -> Result<(), String> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        let expected = u64::from(self.height) * u64::from(self.width);
        if total == expected {
            Ok(())
        } else {
            Err(format!(
                "RLE size mismatch: runs cover {total} pixels but size {}x{} has {expected}",
                self.height, self.width
            ))
        }
    }

    /// An empty (all-zero) mask of the given size.
    #[must_use]
    pub fn empty(height: u32, width: u32) -> Self {
        Self {
            height,
            width,
            counts: vec![height.wrapping_mul(width)],
        }
    }

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
    #[allow(
        clippy::cast_possible_truncation,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_sign_loss,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_possible_wrap,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
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
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_sign_loss,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_possible_wrap,
        reason = "C casts of maskApi.c, reproduced on purpose"
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
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_sign_loss,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
        clippy::cast_possible_wrap,
        reason = "C casts of maskApi.c, reproduced on purpose"
    )]
    #[allow(
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

    /// Union (or intersection) of several masks, exactly like `rleMerge`: no RLEs gives a 0x0 mask,
    /// one RLE is copied, and masks of different sizes give a 0x0 mask with no runs.
    #[must_use]
    pub fn merge(rles: &[Self], intersect: bool) -> Self {
        let Some(first) = rles.first() else {
            return Self {
                height: 0,
                width: 0,
                counts: Vec::new(),
            };
        };
        if rles.len() == 1 {
            return first.clone();
        }
        let (h, w) = (first.height, first.width);
        let mut cnts = first.counts.clone();
        for b_rle in &rles[1..] {
            if b_rle.height != h || b_rle.width != w {
                return Self {
                    height: 0,
                    width: 0,
                    counts: Vec::new(),
                };
            }
            let a_rle = std::mem::take(&mut cnts);
            let (am, bm) = (a_rle.len(), b_rle.counts.len());
            let mut ca = a_rle.first().copied().unwrap_or(0);
            let mut cb = b_rle.counts.first().copied().unwrap_or(0);
            let (mut v, mut va, mut vb) = (false, false, false);
            let (mut a, mut b) = (1usize, 1usize);
            let mut cc = 0u32;
            let mut ct = 1u32;
            while ct > 0 {
                let c = ca.min(cb);
                cc = cc.wrapping_add(c);
                ct = 0;
                ca -= c;
                if ca == 0 && a < am {
                    ca = a_rle[a];
                    a += 1;
                    va = !va;
                }
                ct = ct.wrapping_add(ca);
                cb -= c;
                if cb == 0 && b < bm {
                    cb = b_rle.counts[b];
                    b += 1;
                    vb = !vb;
                }
                ct = ct.wrapping_add(cb);
                let vp = v;
                v = if intersect { va && vb } else { va || vb };
                if v != vp || ct == 0 {
                    cnts.push(cc);
                    cc = 0;
                }
            }
        }
        Self {
            height: h,
            width: w,
            counts: cnts,
        }
    }

    /// The pixel bounding box `[x, y, w, h]` of the foreground, exactly like `rleToBbox`
    /// (a mask whose foreground touches two columns spans the full height, as in maskApi.c).
    #[must_use]
    pub fn to_bbox(&self) -> Bbox {
        let (h, w) = (self.height, self.width);
        let m = (self.counts.len() / 2) * 2;
        if m == 0 || h == 0 {
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (w, h, 0u32, 0u32);
        let mut cc = 0u32;
        let mut xp = 0u32;
        let (mut col, mut col_start) = (0u32, 0u32);
        for j in 0..m {
            cc = cc.wrapping_add(self.counts[j]);
            let t = cc.wrapping_sub(u32::from(j % 2 == 1));
            // `y = t % h; x = t / h`, without a division while t stays in a known column.
            if t < col_start || t - col_start >= h {
                col = t / h;
                col_start = col * h;
            }
            let (xx, yy) = (col, t - col_start);
            if j % 2 == 0 {
                xp = xx;
            } else if xp < xx {
                ys = 0;
                ye = h - 1;
            }
            xs = xs.min(xx);
            xe = xe.max(xx);
            ys = ys.min(yy);
            ye = ye.max(yy);
        }
        [
            f64::from(xs),
            f64::from(ys),
            f64::from(xe.wrapping_sub(xs).wrapping_add(1)),
            f64::from(ye.wrapping_sub(ys).wrapping_add(1)),
        ]
    }

    /// Foreground pixel count as maskApi.c's `uint` (wrapping at 2^32 like `rleArea`).
    #[must_use]
    pub fn area_u32(&self) -> u32 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .fold(0u32, |s, &c| s.wrapping_add(c))
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

/// Box IoU exactly like `bbIou`: for a crowd ground truth the union is the detection's area.
#[must_use]
pub fn bbox_iou(dt: &Bbox, gt: &Bbox, crowd: bool) -> f64 {
    let w = (dt[2] + dt[0]).min(gt[2] + gt[0]) - dt[0].max(gt[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (dt[3] + dt[1]).min(gt[3] + gt[1]) - dt[1].max(gt[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let da = dt[2] * dt[3];
    let u = if crowd { da } else { da + gt[2] * gt[3] - i };
    i / u
}

/// Mask IoU exactly like one cell of `rleIou`, given both masks' boxes from [`Rle::to_bbox`]
/// (the box test comes first, as in maskApi.c): `-1` for masks of different sizes whose boxes
/// overlap, and for a crowd ground truth the union is the detection's area.
#[must_use]
pub fn rle_iou_with_boxes(dt: &Rle, dt_box: &Bbox, gt: &Rle, gt_box: &Bbox, crowd: bool) -> f64 {
    if bbox_iou(dt_box, gt_box, crowd) <= 0.0 {
        return 0.0;
    }
    if dt.height != gt.height || dt.width != gt.width {
        return -1.0;
    }
    let (da, ga) = (&dt.counts, &gt.counts);
    let (ka, kb) = (da.len(), ga.len());
    let mut ca = da.first().copied().unwrap_or(0);
    let mut cb = ga.first().copied().unwrap_or(0);
    let (mut va, mut vb) = (false, false);
    let (mut a, mut b) = (1usize, 1usize);
    let (mut i, mut u) = (0u32, 0u32);
    let mut ct = 1u32;
    while ct > 0 {
        let c = ca.min(cb);
        if va || vb {
            u = u.wrapping_add(c);
            if va && vb {
                i = i.wrapping_add(c);
            }
        }
        ct = 0;
        ca -= c;
        if ca == 0 && a < ka {
            ca = da[a];
            a += 1;
            va = !va;
        }
        ct = ct.wrapping_add(ca);
        cb -= c;
        if cb == 0 && b < kb {
            cb = ga[b];
            b += 1;
            vb = !vb;
        }
        ct = ct.wrapping_add(cb);
    }
    if i == 0 {
        u = 1;
    } else if crowd {
        u = dt.area_u32();
    }
    f64::from(i) / f64::from(u)
}

/// Mask IoU like `maskUtils.iou` for one pair (boxes computed on the fly).
#[must_use]
pub fn rle_iou(dt: &Rle, gt: &Rle, crowd: bool) -> f64 {
    rle_iou_with_boxes(dt, &dt.to_bbox(), gt, &gt.to_bbox(), crowd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_round_trip_matches_pycocotools() {
        // The 3x2 mask [[0,1],[1,1],[0,0]] flattened column-major is 0,1,0,1,1,0.
        let mask = [0u8, 1, 0, 1, 1, 0]; // column-major 3x2
        let rle = Rle::from_column_major(&mask, 3, 2);
        assert_eq!(rle.counts, vec![1, 1, 1, 2, 1]);
        let s = rle.to_compressed_string();
        assert_eq!(Rle::from_compressed_string(&s, 3, 2).unwrap(), rle);
        assert_eq!(rle.area(), 3);
        assert_eq!(rle.to_column_major(), mask);
    }

    #[test]
    fn large_and_delta_runs_round_trip() {
        let rle = Rle {
            height: 1000,
            width: 1000,
            counts: vec![0, 500_000, 3, 7, 499_990],
        };
        let s = rle.to_compressed_string();
        assert_eq!(Rle::from_compressed_string(&s, 1000, 1000).unwrap(), rle);
    }

    #[test]
    fn row_major_round_trip() {
        let mask = [1u8, 0, 0, 1, 1, 0];
        let rle = Rle::from_row_major(&mask, 2, 3);
        assert_eq!(rle.to_row_major(), mask);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Rle::from_compressed_string("\u{7f}", 1, 1).is_err());
        assert!(Rle::from_compressed_string("P", 1, 1).is_err()); // 'P' = 32 + 48: continuation, then end
        // 13 characters: the longest run; a sign bit on the last one must not overflow the shift.
        assert!(Rle::from_compressed_string("ooooooooooooO", 1, 1).is_err());
        assert!(Rle::from_compressed_string("oooooooooooooo", 1, 1).is_err());
    }

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
