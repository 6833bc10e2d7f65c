//! Boundary `IoU` (Cheng et al., CVPR 2021), as faster-coco-eval 1.8.0 `iouType="boundary"` and the
//! reference boundary-iou-api compute it; see `docs/evaluation.md#boundary-iou`.
//!
//! The boundary of a mask `M` is `M` minus its erosion by a `(2d+1) x (2d+1)` square, pixels
//! outside the image counting as background (so a mask cut by the image border has a boundary
//! there too). `d = max(1, round(ratio * sqrt(h^2 + w^2) - 1e-10))` with round half away from
//! zero, `h x w` the image size and `ratio` 0.02 by default. The Boundary `IoU` of a detection and a
//! non-crowd ground truth is `min(mask IoU, IoU of the two boundaries)`; for a crowd ground truth
//! it is the mask `IoU` (crowd rule), as faster-coco-eval does.
//!
//! The erosion is separable (a square is a column segment times a row segment) and runs on the
//! mask's bounding box only: the boundary lies inside the mask, and everything outside the box is
//! background anyway.
use crate::rle::Rle;

/// The reference dilation ratio (fraction of the image diagonal).
pub const DEFAULT_DILATION_RATIO: f64 = 0.02;

/// Erosion radius `d` in pixels for an `height x width` image.
#[must_use]
#[allow(clippy::cast_possible_truncation, reason = "small positive radius")]
pub fn dilation_radius(height: u32, width: u32, ratio: f64) -> u32 {
    let (h, w) = (u64::from(height), u64::from(width));
    #[allow(clippy::cast_precision_loss, reason = "exact below 2^53")]
    let diag = ((h * h + w * w) as f64).sqrt();
    // C's round(): half away from zero; the 1e-10 nudge makes an exact .5 round down.
    let d = (ratio * diag - 1e-10).round();
    if d < 1.0 { 1 } else { d as u32 }
}

/// The boundary mask of `rle` for erosion radius `d` (see the module docs).
#[must_use]
#[allow(clippy::many_single_char_names, reason = "image coordinates")]
#[allow(
    clippy::too_many_lines,
    reason = "one erosion walk over the RLE, as faster-coco-eval's; split, its state would be passed around"
)]
pub fn boundary(rle: &Rle, d: u32) -> Rle {
    let h = rle.height as usize;
    let w = rle.width as usize;
    // Bounding box of the foreground in pixel columns/rows.
    let (mut x0, mut x1, mut y0, mut y1) = (usize::MAX, 0usize, usize::MAX, 0usize);
    let mut pos = 0usize;
    let mut fg = false;
    for &c in &rle.counts {
        let c = c as usize;
        if fg && c > 0 && h > 0 {
            let (s, e) = (pos, pos + c - 1);
            let (xs, xe) = (s / h, e / h);
            x0 = x0.min(xs);
            x1 = x1.max(xe + 1);
            if xs == xe {
                y0 = y0.min(s % h);
                y1 = y1.max(e % h + 1);
            } else {
                // Column xs runs to the last row, column xe starts at row 0.
                y0 = 0;
                y1 = h;
            }
        }
        pos += c;
        fg = !fg;
    }
    if x0 >= x1 || y0 >= y1 {
        return Rle::empty(rle.height, rle.width);
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    // The mask inside the crop, column-major.
    let mut mask = vec![0u8; cw * ch];
    let mut pos = 0usize;
    let mut fg = false;
    for &c in &rle.counts {
        let c = c as usize;
        if fg && c > 0 {
            let mut s = pos;
            let e = pos + c;
            while s < e {
                let x = s / h;
                let y = s % h;
                let run = (h - y).min(e - s);
                let base = (x - x0) * ch + (y - y0);
                mask[base..base + run].fill(1);
                s += run;
            }
        }
        pos += c;
        fg = !fg;
    }
    let d = d as usize;
    // Vertical erosion: in each column, a run [a, b) keeps [a + d, b - d).
    let mut vert = vec![0u8; cw * ch];
    for x in 0..cw {
        let col = &mask[x * ch..(x + 1) * ch];
        let out = &mut vert[x * ch..(x + 1) * ch];
        let mut y = 0;
        while y < ch {
            if col[y] == 0 {
                y += 1;
                continue;
            }
            let a = y;
            while y < ch && col[y] != 0 {
                y += 1;
            }
            if y - a > 2 * d {
                out[a + d..y - d].fill(1);
            }
        }
    }
    // Horizontal erosion, and boundary = mask & !eroded. `run[y]` counts consecutive set pixels
    // of `vert` in row y up to the current column; column x survives once column x + d is read
    // with a run of at least 2d + 1.
    let mut bnd = mask;
    let mut run = vec![0u32; ch];
    let need = u32::try_from(2 * d + 1).unwrap_or(u32::MAX);
    for xr in 0..cw + d {
        if xr < cw {
            let col = &vert[xr * ch..(xr + 1) * ch];
            for (r, &v) in run.iter_mut().zip(col) {
                *r = if v != 0 { *r + 1 } else { 0 };
            }
        } else {
            run.fill(0);
        }
        if xr >= d {
            let x = xr - d;
            let out = &mut bnd[x * ch..(x + 1) * ch];
            for (o, &r) in out.iter_mut().zip(&run) {
                if r >= need {
                    *o = 0;
                }
            }
        }
    }
    // Re-encode over the whole image.
    let mut enc = Encoder {
        counts: Vec::new(),
        cur: 0,
        n: (x0 * h) as u64,
    };
    for x in 0..cw {
        enc.push(0, y0 as u64);
        let col = &bnd[x * ch..(x + 1) * ch];
        let mut y = 0;
        while y < ch {
            let v = col[y];
            let start = y;
            while y < ch && col[y] == v {
                y += 1;
            }
            enc.push(v, (y - start) as u64);
        }
        enc.push(0, (h - y1) as u64);
    }
    enc.push(0, ((w - x1) * h) as u64);
    let mut counts = enc.counts;
    counts.push(u32::try_from(enc.n).unwrap_or(u32::MAX));
    Rle {
        height: rle.height,
        width: rle.width,
        counts,
    }
}

/// Run-length encoder (runs alternate 0, 1, 0, ..., starting with 0).
struct Encoder {
    counts: Vec<u32>,
    cur: u8,
    n: u64,
}

impl Encoder {
    fn push(&mut self, v: u8, len: u64) {
        if len == 0 {
            return;
        }
        if v == self.cur {
            self.n += len;
        } else {
            self.counts.push(u32::try_from(self.n).unwrap_or(u32::MAX));
            self.cur = v;
            self.n = len;
        }
    }
}

/// Slow reference: the erosion tested pixel by pixel on the whole image.
#[cfg(test)]
fn boundary_slow(rle: &Rle, d: u32) -> Rle {
    let (h, w) = (i64::from(rle.height), i64::from(rle.width));
    let m = rle.to_column_major();
    let d = i64::from(d);
    let at = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && m[(x * h + y) as usize] != 0;
    let mut out = vec![0u8; m.len()];
    for x in 0..w {
        for y in 0..h {
            if !at(x, y) {
                continue;
            }
            let eroded = (-d..=d).all(|dx| (-d..=d).all(|dy| at(x + dx, y + dy)));
            if !eroded {
                out[(x * h + y) as usize] = 1;
            }
        }
    }
    Rle::from_column_major(&out, rle.height, rle.width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn radius_follows_the_reference_rounding() {
        // 640x480: diagonal 800, 0.02 * 800 = 16.
        assert_eq!(dilation_radius(480, 640, 0.02), 16);
        // 25x0 -> 0.5 exactly: rounds down because of the 1e-10 nudge.
        assert_eq!(dilation_radius(25, 0, 0.02), 1);
        assert_eq!(dilation_radius(125, 0, 0.02), 2); // 2.5 -> 2
        assert_eq!(dilation_radius(130, 0, 0.02), 3); // 2.6 -> 3
        assert_eq!(dilation_radius(10, 10, 0.02), 1); // minimum 1
    }

    #[test]
    fn filled_square_keeps_a_ring() {
        // 10x10 image, square at rows/cols 2..8 (6x6), d = 1: the ring is 36 - 16 = 20 pixels.
        let mut m = vec![0u8; 100];
        for x in 2..8 {
            for y in 2..8 {
                m[x * 10 + y] = 1;
            }
        }
        let r = Rle::from_column_major(&m, 10, 10);
        let b = boundary(&r, 1);
        assert_eq!(b.area(), 20);
        assert_eq!(b, boundary_slow(&r, 1));
        // The image border counts as background: a full image keeps a frame of width d.
        let full = Rle::from_column_major(&[1u8; 100], 10, 10);
        assert_eq!(boundary(&full, 2).area(), 100 - 36);
    }

    proptest! {
        #[test]
        fn matches_the_slow_reference(
            h in 1u32..24, w in 1u32..24, d in 1u32..5,
            bits in proptest::collection::vec(0u8..3, 24 * 24),
        ) {
            let n = (h * w) as usize;
            let m: Vec<u8> = bits[..n].iter().map(|&b| u8::from(b != 0)).collect();
            let r = Rle::from_column_major(&m, h, w);
            prop_assert_eq!(boundary(&r, d), boundary_slow(&r, d));
        }
    }
}
