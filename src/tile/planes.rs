//! The `K` foreground probability planes of a tiled image, in memory or spilled to a scratch file
//! (`docs/tiling.md#plane-store`).
//!
//! The paper MEP reads these planes only at its very end, for the scores (the mean of `P[c_k]`
//! over each mask, `tile::mep`), and only row by row. So a large image need not keep them in
//! memory: each tile's kept window of each plane is written straight to its place in the file
//! while stitching ([`PlaneStore::write_plane`], positioned writes, any tile order, no buffer
//! that grows with the width), and the planes are read back once, sequentially, in bands of rows.
//!
//! - [`Backing::Memory`]: one `[K, H, W]` array, as before (small images).
//! - [`Backing::File`]: a scratch file made by `tempfile::tempfile_in` (unlinked at creation, so
//!   nothing is left behind, even after a crash or Ctrl-C), rows laid out as `[row][plane][col]`
//!   little-endian f32; one write per row of a tile's window of one plane (`std::os::unix::fs::FileExt::write_all_at`
//!   on Unix, a seek and a write elsewhere), and rows never written read as zero.
//!
//! [`SpillOptions`] picks the backing: planes larger than [`SPILL_THRESHOLD_BYTES`] go to a
//! scratch file in [`SpillOptions::dir`] (default: `std::env::temp_dir()`, which honours
//! `TMPDIR`).
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView2, s};

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
    /// Planes of more bytes than this go to a scratch file (0: always; `u64::MAX`: never;
    /// `infer --spill-above`).
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

    /// The scratch file in `dir` (`None`: the system temp folder) for planes of more than
    /// `threshold` bytes (`None`: [`SPILL_THRESHOLD_BYTES`]).
    #[must_use]
    pub fn new(dir: Option<PathBuf>, threshold: Option<u64>) -> Self {
        Self {
            dir,
            threshold: threshold.unwrap_or(SPILL_THRESHOLD_BYTES),
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
    /// Reusable bytes of one row of a window (at most `W` f32).
    bytes: Vec<u8>,
}

/// The foreground probability planes `P[1..=K]` of an `H x W` image (plane `c - 1` holds class
/// `c`), written window by window while stitching and read back in bands of rows.
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
        Ok(Self::with_file(k, h, w, file, dir))
    }

    /// A file-backed store of `k` planes of `h x w` in `file` (empty, opened for reading and
    /// writing), whose errors name `dir`. A seam for tests (a file that cannot be written).
    fn with_file(k: usize, h: usize, w: usize, file: File, dir: PathBuf) -> Self {
        Self {
            k,
            h,
            w,
            backing: Backing::File(Box::new(FilePlanes {
                file,
                dir,
                bytes: Vec::new(),
            })),
        }
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

    /// Writes `values` (`rows.len() x cols.len()`) into plane `c` (class `c + 1`) at rows
    /// `rows`, columns `cols`. With a file, each row of the window goes straight to its place
    /// (`[row][plane][col]`), so tiles may come in any order and nothing of width `W` is buffered.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a plane or window outside the planes or values of another shape,
    /// [`Error::Io`] naming the scratch folder when writing fails (e.g. no space left).
    pub fn write_plane(
        &mut self,
        c: usize,
        rows: Range<usize>,
        cols: Range<usize>,
        values: ArrayView2<'_, f32>,
    ) -> Result<()> {
        if c >= self.k
            || rows.start > rows.end
            || rows.end > self.h
            || cols.start > cols.end
            || cols.end > self.w
            || values.dim() != (rows.len(), cols.len())
        {
            return Err(Error::invalid(
                "probability planes",
                format!(
                    "window of plane {c}, rows {rows:?}, columns {cols:?} ({}x{} values) outside the {} planes of {}x{}",
                    values.nrows(),
                    values.ncols(),
                    self.k,
                    self.h,
                    self.w
                ),
            ));
        }
        let (k, w) = (self.k, self.w);
        match &mut self.backing {
            Backing::Memory(a) => a.slice_mut(s![c, rows, cols]).assign(&values),
            Backing::File(f) => {
                for (row, y) in values.rows().into_iter().zip(rows) {
                    f.bytes.clear();
                    f.bytes.extend(row.iter().flat_map(|v| v.to_le_bytes()));
                    let offset = (((y * k + c) * w + cols.start) * 4) as u64;
                    write_all_at(&f.file, &f.bytes, offset)
                        .map_err(|e| scratch_error(&f.dir, "cannot write the scratch file", e))?;
                }
            }
        }
        Ok(())
    }

    /// Makes the file hold every row (rows never written read as zero, what the in-memory planes
    /// hold there) and frees the write buffer.
    ///
    /// # Errors
    /// [`Error::Io`] naming the scratch folder when the file cannot be extended.
    pub fn finish(&mut self) -> Result<()> {
        let bytes = (self.k * self.h * self.w * 4) as u64;
        if let Backing::File(f) = &mut self.backing {
            f.file
                .set_len(bytes)
                .map_err(|e| scratch_error(&f.dir, "cannot write the scratch file", e))?;
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

/// Writes all of `buf` at `offset` of `file` (a positioned write; the file's cursor is not used).
#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

/// Writes all of `buf` at `offset` of `file` (a seek and a write: the reading pass seeks to the
/// start before it reads).
#[cfg(not(unix))]
fn write_all_at(mut file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    use std::io::Write;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)
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

    fn value(c: usize, y: usize, x: usize) -> f32 {
        (c * 1_000_000 + y * 1000 + x) as f32 + 0.25
    }

    /// Writes every window of the tile rows `plan_rows` x the columns cut at `col_cuts`, tile
    /// row by tile row, or (`reverse`) from the last tile to the first.
    fn fill_in(store: &mut PlaneStore, plan_rows: &[Range<usize>], col_cuts: &[usize], reverse: bool) {
        let (k, (_, w)) = (store.planes(), store.dim());
        let mut windows = Vec::new();
        for rows in plan_rows {
            let mut x0 = 0;
            for &x1 in col_cuts.iter().chain(std::iter::once(&w)) {
                windows.push((rows.clone(), x0..x1));
                x0 = x1;
            }
        }
        if reverse {
            windows.reverse();
        }
        for (rows, cols) in windows {
            for c in 0..k {
                let win = ndarray::Array2::from_shape_fn((rows.len(), cols.len()), |(r, i)| {
                    value(c, rows.start + r, cols.start + i)
                });
                store
                    .write_plane(c, rows.clone(), cols.clone(), win.view())
                    .unwrap();
            }
        }
    }

    fn fill(store: &mut PlaneStore, plan_rows: &[Range<usize>], col_cuts: &[usize]) {
        fill_in(store, plan_rows, col_cuts, false);
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
    fn a_file_takes_windows_in_any_order() {
        let (k, h, w) = (2, 19, 13);
        let rows = [0..4, 4..11, 11..19];
        let spill = SpillOptions {
            threshold: 0,
            dir: None,
        };
        let mut forward = PlaneStore::new(k, h, w, &spill).unwrap();
        fill_in(&mut forward, &rows, &[5], false);
        let mut backward = PlaneStore::new(k, h, w, &spill).unwrap();
        fill_in(&mut backward, &rows, &[5], true);
        let expected = Array3::from_shape_fn((k, h, w), |(c, y, x)| value(c, y, x));
        assert_eq!(read_all(&mut forward, 4), expected);
        assert_eq!(read_all(&mut backward, 7), expected);
    }

    #[test]
    fn windows_outside_the_planes_are_an_error() {
        for spill in [
            SpillOptions::in_memory(),
            SpillOptions {
                threshold: 0,
                dir: None,
            },
        ] {
            let mut store = PlaneStore::new(2, 10, 4, &spill).unwrap();
            let ok = ndarray::Array2::<f32>::zeros((3, 4));
            store.write_plane(1, 7..10, 0..4, ok.view()).unwrap();
            assert!(store.write_plane(2, 0..3, 0..4, ok.view()).is_err(), "no plane 2");
            assert!(store.write_plane(0, 8..11, 0..4, ok.view()).is_err(), "row 10");
            assert!(store.write_plane(0, 0..3, 1..5, ok.view()).is_err(), "column 4");
            let e = store.write_plane(0, 0..2, 0..4, ok.view()).unwrap_err();
            assert!(e.to_string().contains("probability planes"), "{e}");
        }
    }

    /// A write that fails (here: `/dev/full`, "no space left on device") is the typed I/O error
    /// naming the scratch folder, not a panic.
    #[test]
    fn a_failed_write_is_a_typed_error_naming_the_scratch_folder() {
        let full = Path::new("/dev/full");
        let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open(full) else {
            eprintln!("skipped: no writable /dev/full on this system");
            return;
        };
        let dir = PathBuf::from("scratch-folder-of-this-test");
        let mut store = PlaneStore::with_file(2, 6, 5, file, dir.clone());
        let win = ndarray::Array2::<f32>::ones((2, 5));
        let e = store.write_plane(1, 2..4, 0..5, win.view()).unwrap_err();
        match &e {
            Error::Io { path, source } => {
                assert_eq!(path, &dir);
                assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{source}");
            }
            other => panic!("not an I/O error: {other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains("No space left on device"), "{text}");
        assert!(
            text.starts_with(
                "scratch-folder-of-this-test: cannot write the scratch file for the probability planes"
            ),
            "{text}"
        );
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
