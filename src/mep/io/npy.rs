//! `.npy` reading for the MEP's float maps: the file is memory-mapped and, when its layout is the
//! machine's (native-endian, aligned, exactly the declared size), viewed in place without a copy;
//! otherwise it is parsed by `ndarray-npy` from the same bytes, with the errors it always gave
//! (docs/mep-performance.md#npy).
#![allow(
    unsafe_code,
    reason = "memory-maps .npy files and builds array views over the mapped bytes"
)]

use std::path::Path;

use ndarray::{Array, ArrayView, Dimension, ShapeBuilder as _};
use ndarray_npy::{ReadNpyError, ReadNpyExt as _, ReadableElement, ViewElement, ViewNpyExt as _};

use crate::error::{Error, Result};

/// Largest header the check reads (`check_npy_header`): as before, the first MiB.
const HEAD: usize = 1 << 20;

/// The bytes of a `.npy` file: memory-mapped, or read into memory where the file cannot be
/// mapped.
enum Bytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Read(v) => v,
        }
    }
}

/// Opens `path`, maps it (or reads it) and checks its header with [`super::check_npy_header`]
/// before any data is touched.
fn open(path: &Path) -> Result<Bytes> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    // SAFETY: the mapping is read-only and private to this process; the input files must not be
    // truncated or rewritten while the command runs (as for any memory-mapped input, e.g. numpy's
    // `mmap_mode`): a concurrent truncation would end the process with SIGBUS
    // (docs/mep-performance.md#npy). `populate` reads the pages in at once.
    let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) };
    let bytes = match mapped {
        Ok(m) if m.len() as u64 == len => Bytes::Mapped(m),
        // Not mappable (a pipe, a special file) or changed under us: read it as before.
        _ => {
            let mut head = Vec::with_capacity(4096);
            (&mut file)
                .take(HEAD as u64)
                .read_to_end(&mut head)
                .map_err(|e| Error::io(path, e))?;
            super::check_npy_header(path, &head, len)?;
            file.read_to_end(&mut head).map_err(|e| Error::io(path, e))?;
            return Ok(Bytes::Read(head));
        }
    };
    super::check_npy_header(path, &bytes[..bytes.len().min(HEAD)], len)?;
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

/// A `.npy` array: a view into the mapped file, or an owned array.
pub struct NpyArray<T, D> {
    repr: Repr<T, D>,
}

enum Repr<T, D> {
    /// `map[offset..]` holds `dim.size()` aligned, native-endian `T` in C (or, with `fortran`,
    /// Fortran) order: checked by `ndarray-npy`'s `view_npy` when the value was made.
    Mapped {
        map: memmap2::Mmap,
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
        let bytes = match open(path)? {
            Bytes::Mapped(map) => {
                // A view made by `view_npy` is in C or Fortran order (a 1-long axis can make both
                // true; then the two orders address the same elements).
                let layout = ArrayView::<T, D>::view_npy(&map).map(|v| {
                    let offset = v.as_ptr().addr().wrapping_sub(map.as_ptr().addr());
                    (offset, v.raw_dim(), !v.is_standard_layout())
                });
                match layout {
                    Ok((offset, dim, fortran)) => {
                        return Ok(Self {
                            repr: Repr::Mapped {
                                map,
                                offset,
                                dim,
                                fortran,
                            },
                        });
                    }
                    Err(_) => Bytes::Mapped(map),
                }
            }
            read @ Bytes::Read(_) => read,
        };
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
            Repr::Mapped {
                map,
                offset,
                dim,
                fortran,
            } => {
                // SAFETY: `read` built this value from a successful `view_npy` over `map`, which
                // checked that `map[offset..]` holds exactly `dim.size()` elements of `T`, aligned
                // for `T` and valid for every bit pattern (`ViewElement` for native-endian numbers),
                // in C order, or Fortran order when `fortran`; `map` is not modified and lives as
                // long as the returned view borrows `self`.
                unsafe {
                    ArrayView::from_shape_ptr(
                        dim.clone().set_f(*fortran),
                        map.as_ptr().add(*offset).cast::<T>(),
                    )
                }
            }
        }
    }

    /// The array as an owned value (a copy of a mapped file).
    #[must_use]
    pub fn into_owned(self) -> Array<T, D> {
        match self.repr {
            Repr::Owned(a) => a,
            Repr::Mapped { .. } => self.view().to_owned(),
        }
    }

    /// Whether the array is viewed in place in the mapped file.
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self.repr, Repr::Mapped { .. })
    }
}

impl<T, D: Dimension> std::fmt::Debug for NpyArray<T, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, dim) = match &self.repr {
            Repr::Mapped { dim, .. } => ("mapped", dim.slice().to_vec()),
            Repr::Owned(a) => ("owned", a.shape().to_vec()),
        };
        write!(f, "NpyArray({kind}, {dim:?})")
    }
}
