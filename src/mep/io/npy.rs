//! `.npy` reading for the MEP's float maps: the file is read once into a buffer aligned for any
//! element type and, when its layout is the machine's (native-endian, aligned, exactly the declared
//! size), viewed in place without a conversion; otherwise it is parsed by `ndarray-npy` from the
//! same bytes, with the errors it always gave (docs/mep-performance.md#npy).
#![allow(
    unsafe_code,
    reason = "views the bytes of an aligned buffer as bytes and as array elements"
)]

use std::path::Path;

use ndarray::{Array, ArrayView, Dimension, ShapeBuilder as _};
use ndarray_npy::{ReadNpyError, ReadNpyExt as _, ReadableElement, ViewElement, ViewNpyExt as _};

use crate::error::{Error, Result};

/// Largest header the check reads (`check_npy_header`): as before, the first MiB.
const HEAD: usize = 1 << 20;

/// The bytes of a `.npy` file, in 8-byte words so that the data (at a header-padded offset) is
/// aligned for every numeric element type.
struct Bytes {
    words: Vec<u64>,
    len: usize,
}

impl Bytes {
    fn zeroed(len: usize) -> Self {
        Self {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }

    fn as_mut_bytes(&mut self) -> &mut [u8] {
        // SAFETY: `words` holds at least `len` bytes (`div_ceil(8)` words), any byte pattern is a
        // valid `u8` and `u64`, and the slice borrows `self` mutably for its lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: as in `as_mut_bytes`, shared.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

/// Reads `path` whole, after checking its header with [`super::check_npy_header`] (against the
/// file's length and the pixel budget) before the data is read. A plain read, not a memory map: a
/// file truncated by another process while the command runs is then an I/O error naming it, never
/// a signal.
fn open(path: &Path) -> Result<Bytes> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut head = Vec::with_capacity(4096);
    (&mut file)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    super::check_npy_header(path, &head, len)?;
    let total = usize::try_from(len).map_err(|_| Error::invalid(path.display(), "file too large"))?;
    let mut bytes = Bytes::zeroed(total.max(head.len()));
    let buf = bytes.as_mut_bytes();
    buf[..head.len()].copy_from_slice(&head);
    file.read_exact(&mut buf[head.len()..])
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Maps `ndarray-npy`'s read errors to ours, naming the file.
fn npy_error(path: &Path, e: ReadNpyError, expect_dtype: &str, expect_shape: &str) -> Error {
    match e {
        ReadNpyError::Io(io) => Error::io(path, io),
        ReadNpyError::WrongDescriptor(d) => Error::invalid(
            path.display(),
            format!("wrong dtype {d}, expected {expect_dtype}"),
        ),
        ReadNpyError::WrongNdim(_, n) => Error::invalid(
            path.display(),
            format!("{n}-dimensional array, expected {expect_shape}"),
        ),
        other => Error::decode(path, other),
    }
}

/// A `.npy` array: a view into the file's bytes, or an owned array.
pub struct NpyArray<T, D> {
    repr: Repr<T, D>,
}

enum Repr<T, D> {
    /// `bytes[offset..]` holds `dim.size()` aligned, native-endian `T` in C (or, with `fortran`,
    /// Fortran) order: checked by `ndarray-npy`'s `view_npy` when the value was made.
    InPlace {
        bytes: Bytes,
        offset: usize,
        dim: D,
        fortran: bool,
    },
    Owned(Array<T, D>),
}

impl<T, D: Dimension> From<Array<T, D>> for NpyArray<T, D> {
    fn from(a: Array<T, D>) -> Self {
        Self { repr: Repr::Owned(a) }
    }
}

impl<T: Clone, D: Dimension> NpyArray<T, D> {
    /// Reads `path`: in place when the file's layout allows, else parsed and converted (other
    /// byte order, misaligned data); `dtype` and `shape` name what is expected in error messages.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Decode`] (malformed file, size the file does not hold, trailing
    /// bytes), [`Error::Invalid`] (wrong dtype or rank), each naming `path`.
    pub fn read(path: &Path, dtype: &str, shape: &str) -> Result<Self>
    where
        T: ReadableElement + ViewElement,
    {
        let bytes = open(path)?;
        // A view made by `view_npy` is in C or Fortran order (a 1-long axis can make both true;
        // then the two orders address the same elements).
        let layout = ArrayView::<T, D>::view_npy(&bytes).map(|v| {
            let offset = v.as_ptr().addr().wrapping_sub(bytes.as_ptr().addr());
            (offset, v.raw_dim(), !v.is_standard_layout())
        });
        if let Ok((offset, dim, fortran)) = layout {
            return Ok(Self {
                repr: Repr::InPlace {
                    bytes,
                    offset,
                    dim,
                    fortran,
                },
            });
        }
        // Every other case, errors included, goes through the reader as before.
        Array::<T, D>::read_npy(&bytes[..])
            .map(Self::from)
            .map_err(|e| npy_error(path, e, dtype, shape))
    }

    /// The array.
    #[must_use]
    pub fn view(&self) -> ArrayView<'_, T, D> {
        match &self.repr {
            Repr::Owned(a) => a.view(),
            Repr::InPlace {
                bytes,
                offset,
                dim,
                fortran,
            } => {
                // SAFETY: `read` built this value from a successful `view_npy` over `bytes`, which
                // checked that `bytes[offset..]` holds exactly `dim.size()` elements of `T`, aligned
                // for `T` and valid for every bit pattern (`ViewElement` for native-endian numbers),
                // in C order, or Fortran order when `fortran`; `bytes` is not modified after `read`
                // and lives as long as the returned view borrows `self`.
                unsafe {
                    ArrayView::from_shape_ptr(
                        dim.clone().set_f(*fortran),
                        bytes.as_ptr().add(*offset).cast::<T>(),
                    )
                }
            }
        }
    }

    /// The array as an owned value (a copy when it is viewed in place).
    #[must_use]
    pub fn into_owned(self) -> Array<T, D> {
        match self.repr {
            Repr::Owned(a) => a,
            Repr::InPlace { .. } => self.view().to_owned(),
        }
    }

    /// Whether the array is viewed in place in the file's bytes (no conversion).
    #[must_use]
    pub fn is_in_place(&self) -> bool {
        matches!(self.repr, Repr::InPlace { .. })
    }
}

impl<T, D: Dimension> std::fmt::Debug for NpyArray<T, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, dim) = match &self.repr {
            Repr::InPlace { dim, .. } => ("in place", dim.slice().to_vec()),
            Repr::Owned(a) => ("owned", a.shape().to_vec()),
        };
        write!(f, "NpyArray({kind}, {dim:?})")
    }
}
