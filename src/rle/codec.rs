//! The compressed string form of COCO RLE counts (`rleToString`, `rleFrString`) and the checked
//! constructors from uncompressed counts.
use super::{Rle, RleError};

impl Rle {
    /// The compressed string form of `counts` (`rleToString`).
    #[must_use]
    pub fn to_compressed_string(&self) -> String {
        // Most runs take one or two characters; a u32 delta at most 7.
        let mut s = String::with_capacity(self.counts.len() * 2);
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
                // Every character is in 48..=111, i.e. printable ASCII.
                s.push(char::from(ch + 48));
            }
        }
        s
    }

    /// Parses the compressed string form (`rleFrString`).
    ///
    /// # Errors
    /// [`RleError`] when the string holds bytes outside the encoding's
    /// alphabet, ends in the middle of a number, or decodes to negative runs.
    pub fn from_compressed_string(s: &str, height: u32, width: u32) -> Result<Self, RleError> {
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
                        return Err(RleError::Truncated);
                    };
                    if !(48..=111).contains(&b) {
                        return Err(RleError::InvalidByte(b));
                    }
                    if k > 12 {
                        return Err(RleError::Overflow);
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
            let run = u32::try_from(x).map_err(|_| RleError::RunOutOfRange { index: m, value: x })?;
            counts.push(run);
        }
        Ok(Self {
            height,
            width,
            counts,
        })
    }

    /// Builds an RLE from uncompressed counts (`frUncompressedRLE`), checking that the runs cover
    /// exactly `height * width` pixels.
    ///
    /// # Errors
    /// [`RleError::SizeMismatch`] when the runs do not sum to `height * width`.
    pub fn from_counts(counts: Vec<u32>, height: u32, width: u32) -> Result<Self, RleError> {
        let rle = Self {
            height,
            width,
            counts,
        };
        rle.check_size()?;
        Ok(rle)
    }

    /// Checks that the runs sum to `height * width` (pycocotools does not check; a mismatch there
    /// silently yields wrong `IoUs`).
    ///
    /// # Errors
    /// [`RleError::SizeMismatch`] naming both sizes.
    pub fn check_size(&self) -> Result<(), RleError> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        let expected = u64::from(self.height) * u64::from(self.width);
        if total == expected {
            Ok(())
        } else {
            Err(RleError::SizeMismatch {
                total,
                height: self.height,
                width: self.width,
                expected,
            })
        }
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
    fn rejects_garbage() {
        assert!(Rle::from_compressed_string("\u{7f}", 1, 1).is_err());
        assert!(Rle::from_compressed_string("P", 1, 1).is_err()); // 'P' = 32 + 48: continuation, then end
        // 13 characters: the longest run; a sign bit on the last one must not overflow the shift.
        assert!(Rle::from_compressed_string("ooooooooooooO", 1, 1).is_err());
        assert!(Rle::from_compressed_string("oooooooooooooo", 1, 1).is_err());
    }
}
