//! COCO run-length encoding, a port of pycocotools' `maskApi.c` semantics.
//!
//! A mask of `height x width` pixels is flattened in **column-major** (Fortran) order and stored
//! as alternating run lengths, starting with a run of zeros (possibly of length 0). The compressed
//! string form is the LEB128-like 5-bit encoding of `rleToString`, with runs after the second one
//! stored as deltas to the run two places before.
//!
//! One concept per file: this module holds the type, the pixel-mask codecs and the run algebra
//! (`rleMerge`, `rleToBbox`, `rleArea`); `codec` the compressed string form, `raster` the
//! polygon and box rasteriser (`rleFrPoly`, `rleFrBbox`), `iou` the box and mask `IoUs`
//! (`bbIou`, `rleIou`); errors are [`RleError`].
use serde::{Deserialize, Serialize};

mod codec;
mod error;
mod iou;
mod raster;

pub use error::RleError;
pub use iou::{bbox_iou, rle_iou, rle_iou_with_boxes};

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
}

/// A bounding box `[x, y, width, height]` in pixels (pycocotools `BB`).
pub type Bbox = [f64; 4];
impl Rle {
    /// An empty (all-zero) mask of the given size.
    #[must_use]
    pub fn empty(height: u32, width: u32) -> Self {
        Self {
            height,
            width,
            counts: vec![height.wrapping_mul(width)],
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_major_round_trip() {
        let mask = [1u8, 0, 0, 1, 1, 0];
        let rle = Rle::from_row_major(&mask, 2, 3);
        assert_eq!(rle.to_row_major(), mask);
    }
}
