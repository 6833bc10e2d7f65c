//! The `K` foreground probability planes of a tiled image, in memory or spilled to a scratch file
//! (`docs/tiling.md#plane-store`).
//!
//! The paper MEP reads these planes only at its very end, for the scores (the mean of `P[c_k]`
//! over each mask, `tile::mep`), and only row by row. So a large image need not keep them in
//! memory: they are written while stitching, in bands of complete rows and in order (the tiles
//! come row-major, [`super::TilePlan`]), and read back once, sequentially, in bands of rows.
//!
//! - [`Backing::Memory`]: one `[K, H, W]` array, as before (small images).
//! - [`Backing::File`]: a scratch file made by `tempfile::tempfile_in` (unlinked at creation, so
//!   nothing is left behind, even after a crash or Ctrl-C), rows laid out as `[row][plane][col]`
//!   little-endian f32, and one rolling buffer for the rows of the current tile row
//!   (`K x rows x W`), flushed when the next tile row starts and at [`PlaneStore::finish`].
//!
//! [`SpillOptions`] picks the backing: planes larger than [`SPILL_THRESHOLD_BYTES`] go to a
//! scratch file in [`SpillOptions::dir`] (default: `std::env::temp_dir()`, which honours
//! `TMPDIR`).
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayViewMut3, Axis, s};

use crate::error::{Error, Result};

/// Planes larger than this (`4 K H W` bytes) are spilled to a scratch file: 256 MiB, e.g. an
/// image of about 4700 x 4700 px for the three classes of the demonstration model, or 1800 x 1800
/// px for an 80-class COCO model (`docs/tiling.md#plane-store`).
pub const SPILL_THRESHOLD_BYTES: u64 = 256 << 20;

/// Bytes of planes read per band of the score pass (the band is at least one row).
pub const READ_BAND_BYTES: usize = 32 << 20;

/// Where the foreground planes of a tiled image live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillOptions {
    /// Planes of more bytes than this go to a scratch file (0: always; `u64::MAX`: never).
    pub threshold: u64,
    /// The folder of the scratch file (`None`: `std::env::temp_dir()`).
    pub dir: Option<PathBuf>,
}

impl Default for SpillOptions {
    fn default() -> Self {
        Self {
            threshold: SPILL_THRESHOLD_BYTES,
            dir: None,
        }
    }
}

impl SpillOptions {
    /// Never spill (the planes stay in memory).
    #[must_use]
    pub fn in_memory() -> Self {
        Self {
            threshold: u64::MAX,
            dir: None,
        }
    }

    /// The default threshold with the scratch file in `dir` (`None`: the system temp folder).
    #[must_use]
    pub fn in_dir(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            ..Self::default()
        }
    }

    /// The scratch folder: [`SpillOptions::dir`] or `std::env::temp_dir()`.
    #[must_use]
    pub fn scratch_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(std::env::temp_dir)
    }

    /// Checks that the scratch folder is an existing directory (a setting checked once at start,
    /// so that a typo fails before the first large image).
    ///
    /// # Errors
    /// [`Error::Setting`] (`"scratch folder"`) naming the folder and the problem.
    pub fn check(&self) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::setting(
                "scratch folder",
                format!("{}: not a directory", dir.display()),
            )),
            Err(e) => Err(Error::setting(
                "scratch folder",
                format!("{}: {e}", dir.display()),
            )),
        }
    }
}

/// The storage behind a [`PlaneStore`].
#[derive(Debug)]
pub enum Backing {
    /// All planes in memory, `[K, H, W]`.
    Memory(Array3<f32>),
    /// A scratch file (see the module docs).
    File(Box<FilePlanes>),
}

/// The file backing of a [`PlaneStore`].
#[derive(Debug)]
pub struct FilePlanes {
    file: File,
    dir: PathBuf,
    /// The rows being stitched (`K x rows x W`), not yet written.
    pending: Array3<f32>,
    pending_rows: Range<usize>,
    /// Rows written to the file (all rows before `pending_rows`).
    written: usize,
    /// Reusable bytes of one row (`K W` f32).
    bytes: Vec<u8>,
}

/// The foreground probability planes `P[1..=K]` of an `H x W` image (plane `c - 1` holds class
/// `c`), written in bands of complete rows while stitching and read back in bands of rows.
#[derive(Debug)]
pub struct PlaneStore {
    k: usize,
    h: usize,
    w: usize,
    backing: Backing,
}

/// One band of rows of a [`PlaneStore`], as [`PlaneStore::for_each_band`] gives it.
#[derive(Debug)]
pub enum Band<'a> {
    /// The in-memory planes (all rows; the band is `rows`).
    Memory(ndarray::ArrayView3<'a, f32>),
    /// Rows `y0..` read from the file, `[row][plane][col]`.
    File {
        /// The first row.
        y0: usize,
        /// Planes.
        k: usize,
        /// Width.
        w: usize,
        /// The values.
        data: &'a [f32],
    },
}

impl Band<'_> {
    /// Columns `cols` of row `y` (image coordinates, inside this band) of plane `c` (class
    /// `c + 1`).
    #[must_use]
    pub fn row(&self, c: usize, y: usize, cols: Range<usize>) -> &[f32] {
        match self {
            Band::Memory(p) => {
                let row = p.slice(s![c, y, ..]).to_slice();
                // Planes are standard-layout arrays, so every row is contiguous.
                row.map_or(&[][..], |r| &r[cols])
            }
            Band::File { y0, k, w, data } => {
                let start = ((y - y0) * k + c) * w;
                &data[start + cols.start..start + cols.end]
            }
        }
    }
}

impl PlaneStore {
    /// An in-memory store of `k` planes of `h x w`.
    #[must_use]
    pub fn in_memory(k: usize, h: usize, w: usize) -> Self {
        Self {
            k,
            h,
            w,
            backing: Backing::Memory(Array3::zeros((k, h, w))),
        }
    }

    /// In-memory planes given whole (`[K, H, W]`).
    #[must_use]
    pub fn from_array(planes: Array3<f32>) -> Self {
        let (k, h, w) = planes.dim();
        Self {
            k,
            h,
            w,
            backing: Backing::Memory(planes.as_standard_layout().into_owned()),
        }
    }

    /// A store of `k` planes of `h x w`, in memory or in a scratch file as `spill` says.
    ///
    /// # Errors
    /// [`Error::Io`] naming the scratch folder when the file cannot be made (no such folder, no
    /// permission).
    pub fn new(k: usize, h: usize, w: usize, spill: &SpillOptions) -> Result<Self> {
        let bytes = (k as u64)
            .saturating_mul(h as u64)
            .saturating_mul(w as u64)
            .saturating_mul(4);
        if k == 0 || h == 0 || w == 0 || bytes <= spill.threshold {
            return Ok(Self::in_memory(k, h, w));
        }
        let dir = spill.scratch_dir();
        let file = tempfile::tempfile_in(&dir)
            .map_err(|e| scratch_error(&dir, "cannot create the scratch file", e))?;
        tracing::debug!(
            "foreground planes ({bytes} bytes) spilled to an unlinked scratch file in {}",
            dir.display()
        );
        Ok(Self {
            k,
            h,
            w,
            backing: Backing::File(Box::new(FilePlanes {
                file,
                dir,
                pending: Array3::zeros((k, 0, w)),
                pending_rows: 0..0,
                written: 0,
                bytes: Vec::new(),
            })),
        })
    }

    /// Number of planes.
    #[must_use]
    pub fn planes(&self) -> usize {
        self.k
    }

    /// `(height, width)` of a plane.
    #[must_use]
    pub fn dim(&self) -> (usize, usize) {
        (self.h, self.w)
    }

    /// Whether the planes live in a scratch file.
    #[must_use]
    pub fn is_spilled(&self) -> bool {
        matches!(self.backing, Backing::File(_))
    }

    /// The planes, when in memory.
    #[must_use]
    pub fn as_array(&self) -> Option<&Array3<f32>> {
        match &self.backing {
            Backing::Memory(a) => Some(a),
            Backing::File(_) => None,
        }
    }

    /// The `[K, rows, cols]` window to stitch into. With a file, `rows` must be the rows of the
    /// band being stitched or start where it ends (the next tile row): the band before is then
    /// written out, complete.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a window outside the planes or rows out of order (file backing),
    /// [`Error::Io`] naming the scratch folder when writing fails (e.g. no space left).
    pub fn window_mut(&mut self, rows: Range<usize>, cols: Range<usize>) -> Result<ArrayViewMut3<'_, f32>> {
        if rows.start > rows.end || rows.end > self.h || cols.start > cols.end || cols.end > self.w {
            return Err(Error::invalid(
                "probability planes",
                format!(
                    "window rows {rows:?}, columns {cols:?} outside the {}x{} planes",
                    self.h, self.w
                ),
            ));
        }
        match &mut self.backing {
            Backing::Memory(a) => Ok(a.slice_mut(s![.., rows, cols])),
            Backing::File(f) => {
                if rows != f.pending_rows {
                    if rows.start != f.pending_rows.end {
                        return Err(Error::invalid(
                            "probability planes",
                            format!(
                                "rows {rows:?} stitched after rows {:?}: a scratch file takes tiles in plan order",
                                f.pending_rows
                            ),
                        ));
                    }
                    f.flush()?;
                    f.pending_rows = rows.clone();
                    f.pending = Array3::zeros((self.k, rows.len(), self.w));
                }
                let r0 = f.pending_rows.start;
                Ok(f.pending.slice_mut(s![.., rows.start - r0..rows.end - r0, cols]))
            }
        }
    }

    /// Writes out the last band (file backing) and any rows never stitched (as zeros, what the
    /// in-memory planes hold there), so that the file holds every row.
    ///
    /// # Errors
    /// [`Error::Io`] naming the scratch folder when writing fails.
    pub fn finish(&mut self) -> Result<()> {
        let (k, h, w) = (self.k, self.h, self.w);
        if let Backing::File(f) = &mut self.backing {
            f.flush()?;
            if f.written < h {
                f.pending_rows = f.written..h;
                f.pending = Array3::zeros((k, h - f.written, w));
                f.flush()?;
            }
            f.pending = Array3::zeros((k, 0, w));
            f.bytes = Vec::new();
        }
        Ok(())
    }

    /// Calls `each` with the bands of at most `band_rows` rows (`rows`, image coordinates) in
    /// order, from the first row to the last: one sequential read of a scratch file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the scratch folder when reading fails, and `each`'s errors.
    pub fn for_each_band<F>(&mut self, band_rows: usize, mut each: F) -> Result<()>
    where
        F: FnMut(Range<usize>, &Band<'_>) -> Result<()>,
    {
        self.finish()?;
        let (k, h, w) = (self.k, self.h, self.w);
        let band_rows = band_rows.max(1);
        match &mut self.backing {
            Backing::Memory(a) => {
                let band = Band::Memory(a.view());
                let mut y0 = 0;
                while y0 < h {
                    let y1 = (y0 + band_rows).min(h);
                    each(y0..y1, &band)?;
                    y0 = y1;
                }
            }
            Backing::File(f) => {
                let dir = f.dir.clone();
                f.file
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| scratch_error(&dir, "cannot rewind the scratch file", e))?;
                let mut bytes = Vec::new();
                let mut values = Vec::new();
                let mut y0 = 0;
                while y0 < h {
                    let y1 = (y0 + band_rows).min(h);
                    let n = (y1 - y0) * k * w;
                    bytes.resize(n * 4, 0);
                    f.file
                        .read_exact(&mut bytes)
                        .map_err(|e| scratch_error(&dir, "cannot read the scratch file", e))?;
                    values.clear();
                    values.extend(
                        bytes
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    );
                    let band = Band::File {
                        y0,
                        k,
                        w,
                        data: &values,
                    };
                    each(y0..y1, &band)?;
                    y0 = y1;
                }
            }
        }
        Ok(())
    }

    /// Rows per band of the score pass: about [`READ_BAND_BYTES`], at least one.
    #[must_use]
    pub fn default_band_rows(&self) -> usize {
        (READ_BAND_BYTES / (4 * self.k * self.w).max(1)).max(1)
    }
}

impl FilePlanes {
    /// Writes the pending rows, `[row][plane][col]`.
    fn flush(&mut self) -> Result<()> {
        let (k, rows, w) = self.pending.dim();
        if rows == 0 {
            return Ok(());
        }
        self.bytes.clear();
        self.bytes.reserve(k * w * 4);
        for r in 0..rows {
            self.bytes.clear();
            for plane in self.pending.axis_iter(Axis(0)) {
                for &v in plane.row(r) {
                    self.bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
            self.file
                .write_all(&self.bytes)
                .map_err(|e| scratch_error(&self.dir, "cannot write the scratch file", e))?;
        }
        self.written = self.pending_rows.end;
        self.pending = Array3::zeros((k, 0, w));
        self.pending_rows = self.written..self.written;
        Ok(())
    }
}

/// An I/O error of the scratch file in `dir` (the file is unlinked, so the folder names it).
fn scratch_error(dir: &Path, doing: &str, e: std::io::Error) -> Error {
    Error::io(
        dir,
        std::io::Error::new(e.kind(), format!("{doing} for the probability planes: {e}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(store: &mut PlaneStore, plan_rows: &[Range<usize>], col_cuts: &[usize]) {
        let (k, (_, w)) = (store.planes(), store.dim());
        for rows in plan_rows {
            let mut x0 = 0;
            for &x1 in col_cuts.iter().chain(std::iter::once(&w)) {
                let mut win = store.window_mut(rows.clone(), x0..x1).unwrap();
                for c in 0..k {
                    for (r, y) in rows.clone().enumerate() {
                        for (i, x) in (x0..x1).enumerate() {
                            win[[c, r, i]] = (c * 1_000_000 + y * 1000 + x) as f32 + 0.25;
                        }
                    }
                }
                x0 = x1;
            }
        }
    }

    fn read_all(store: &mut PlaneStore, band: usize) -> Array3<f32> {
        let (k, (h, w)) = (store.planes(), store.dim());
        let mut out = Array3::<f32>::from_elem((k, h, w), f32::NAN);
        let mut next = 0;
        store
            .for_each_band(band, |rows, b| {
                assert_eq!(rows.start, next, "bands in order");
                assert!(rows.len() <= band.max(1));
                next = rows.end;
                for y in rows {
                    for c in 0..k {
                        out.slice_mut(s![c, y, ..])
                            .assign(&ndarray::ArrayView1::from(b.row(c, y, 0..w)));
                    }
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(next, h);
        out
    }

    #[test]
    fn file_and_memory_stores_hold_the_same_planes() {
        let (k, h, w) = (3, 37, 23);
        // Tile rows of different kept heights, three tiles per row.
        let rows = [0..9, 9..21, 21..22, 22..37];
        let cuts = [7, 15];
        let mut mem = PlaneStore::new(k, h, w, &SpillOptions::in_memory()).unwrap();
        fill(&mut mem, &rows, &cuts);
        assert!(!mem.is_spilled());
        let spill = SpillOptions {
            threshold: 0,
            dir: Some(std::env::temp_dir()),
        };
        let mut file = PlaneStore::new(k, h, w, &spill).unwrap();
        assert!(file.is_spilled());
        fill(&mut file, &rows, &cuts);
        let expected = mem.as_array().unwrap().clone();
        assert!(expected.iter().all(|&v| v > 0.0), "every pixel stitched");
        for band in [1, 5, 16, 37, 100] {
            assert_eq!(read_all(&mut mem, band), expected, "memory, bands of {band}");
            assert_eq!(read_all(&mut file, band), expected, "file, bands of {band}");
        }
    }

    #[test]
    fn rows_never_stitched_read_as_zero() {
        let spill = SpillOptions {
            threshold: 0,
            dir: None,
        };
        let mut file = PlaneStore::new(2, 10, 4, &spill).unwrap();
        fill(&mut file, std::slice::from_ref(&(0..3)), &[]);
        let got = read_all(&mut file, 4);
        assert!(got.slice(s![.., 3.., ..]).iter().all(|&v| v == 0.0));
        assert_eq!(got[[1, 2, 3]], (1_000_000 + 2003) as f32 + 0.25);
    }

    #[test]
    fn rows_out_of_order_are_an_error_for_a_file() {
        let spill = SpillOptions {
            threshold: 0,
            dir: None,
        };
        let mut file = PlaneStore::new(1, 10, 4, &spill).unwrap();
        file.window_mut(0..4, 0..4).unwrap();
        let e = file.window_mut(5..8, 0..4).unwrap_err().to_string();
        assert!(e.contains("plan order"), "{e}");
        assert!(file.window_mut(0..11, 0..4).is_err());
    }

    #[test]
    fn a_missing_scratch_folder_is_a_typed_error_naming_it() {
        let dir = std::env::temp_dir()
            .join("baiseg-rt-no-such-scratch-folder")
            .join("sub");
        let spill = SpillOptions {
            threshold: 0,
            dir: Some(dir.clone()),
        };
        let e = PlaneStore::new(3, 10, 10, &spill).unwrap_err();
        match &e {
            Error::Io { path, source } => {
                assert_eq!(path, &dir);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("not an I/O error: {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains(&dir.display().to_string()) && text.contains("scratch file"),
            "{text}"
        );
        let e = spill.check().unwrap_err();
        assert_eq!(e.setting_name(), Some("scratch folder"));
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        // Small planes stay in memory and need no folder.
        let small = SpillOptions {
            threshold: 1 << 20,
            dir: Some(dir),
        };
        assert!(!PlaneStore::new(3, 10, 10, &small).unwrap().is_spilled());
    }

    #[test]
    fn no_file_is_left_in_the_scratch_folder() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillOptions {
            threshold: 0,
            dir: Some(dir.path().to_owned()),
        };
        let mut file = PlaneStore::new(2, 8, 8, &spill).unwrap();
        fill(&mut file, std::slice::from_ref(&(0..8)), &[3]);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "unlinked at creation"
        );
        let _ = read_all(&mut file, 3);
    }
}
