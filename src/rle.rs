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
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len() / 2);
        let mut p = 0usize;
        while p < bytes.len() {
            let mut x: i64 = 0;
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
                if !more && (c & 0x10) != 0 {
                    x |= -1i64 << (5 * k);
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
    }
}
