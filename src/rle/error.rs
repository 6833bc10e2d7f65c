//! Why an RLE could not be built from its file form.

/// A malformed compressed string or counts that do not cover the mask.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RleError {
    /// The string ends while a run still has its continuation bit set.
    #[error("compressed RLE string ends inside a run")]
    Truncated,
    /// A byte outside the encoding's alphabet (`'0'..='o'`).
    #[error("invalid byte {0:#04x} in compressed RLE string")]
    InvalidByte(u8),
    /// A run takes more than 13 characters.
    #[error("run length overflows in compressed RLE string")]
    Overflow,
    /// A run decodes to a negative length or one of 2^32 or more.
    #[error("run {index} decodes to {value}, outside 0..2^32")]
    RunOutOfRange {
        /// Position of the run in `counts`.
        index: usize,
        /// The decoded value.
        value: i64,
    },
    /// The runs do not sum to `height * width`.
    #[error("RLE size mismatch: runs cover {total} pixels but size {height}x{width} has {expected}")]
    SizeMismatch {
        /// Sum of the runs.
        total: u64,
        /// Mask height.
        height: u32,
        /// Mask width.
        width: u32,
        /// `height * width`.
        expected: u64,
    },
}
