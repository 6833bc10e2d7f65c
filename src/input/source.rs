//! Enumerates inputs: single files, directories (recursive, sorted) and `.zip` archives.
//!
//! Every input becomes an [`InputItem`] with a stable *name*: the path relative to the directory
//! or archive it came from (or the file name for a single file). Names key the outputs
//! (`labels/<name>.png`), resume, and the matching with a COCO file's `file_name`.
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// File extensions treated as images when walking directories and archives (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "webp", "bmp"];

/// Where an input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// A member of a zip archive.
    Zip {
        /// The archive.
        archive: PathBuf,
        /// The member's name inside the archive.
        member: String,
    },
}

/// One input image, not yet read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputItem {
    /// Stable name, relative to its directory or archive, with `/` separators.
    pub name: String,
    /// Where to read it.
    pub origin: Origin,
}

impl InputItem {
    /// A path-like description for messages (`archive.zip!member` for zip members).
    #[must_use]
    pub fn display_path(&self) -> PathBuf {
        match &self.origin {
            Origin::File(p) => p.clone(),
            Origin::Zip { archive, member } => PathBuf::from(format!("{}!{member}", archive.display())),
        }
    }

    /// The file name part of `name` (what COCO `file_name` fields usually hold).
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// `name` without its extension (used to name per-image outputs).
    #[must_use]
    pub fn stem(&self) -> &str {
        match self.name.rfind('.') {
            Some(dot) if dot > self.name.rfind('/').map_or(0, |s| s + 1) => &self.name[..dot],
            _ => &self.name,
        }
    }

    /// Reads the raw bytes.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Decode`] (for unreadable zip members), naming the input.
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        match &self.origin {
            Origin::File(path) => {
                let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
                let meta = file.metadata().map_err(|e| Error::io(path, e))?;
                if !meta.is_file() {
                    return Err(Error::decode(path, "not a regular file"));
                }
                if meta.len() > MAX_INPUT_BYTES {
                    return Err(Error::decode(
                        path,
                        format!(
                            "file is {} bytes, more than the {MAX_INPUT_BYTES}-byte limit for one input",
                            meta.len()
                        ),
                    ));
                }
                let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
                file.take(MAX_INPUT_BYTES)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::io(path, e))?;
                Ok(bytes)
            }
            Origin::Zip { archive, member } => {
                let file = fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
                let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                    .map_err(|e| Error::decode(archive, format!("not a zip archive: {e}")))?;
                let entry = zip
                    .by_name(member)
                    .map_err(|e| Error::decode(self.display_path(), e))?;
                let declared = entry.size();
                if declared > MAX_INPUT_BYTES {
                    return Err(Error::decode(
                        self.display_path(),
                        format!(
                            "archive member declares {declared} bytes, more than the {MAX_INPUT_BYTES}-byte limit"
                        ),
                    ));
                }
                // The declared size only sizes the buffer up to a small cap; the read itself is
                // bounded, so a member whose data is larger than declared cannot grow without end.
                let mut bytes = Vec::with_capacity(usize::try_from(declared.min(64 << 20)).unwrap_or(0));
                entry
                    .take(MAX_INPUT_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::decode(self.display_path(), e))?;
                if bytes.len() as u64 > MAX_INPUT_BYTES {
                    return Err(Error::decode(
                        self.display_path(),
                        "archive member is larger than the limit for one input",
                    ));
                }
                Ok(bytes)
            }
        }
    }
}

fn has_image_extension(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Largest input file read into memory (bytes). Bigger files (or zip members declaring more) are
/// skipped before anything is allocated; the pixel budget ([`super::budget`]) bounds the decoded
/// size separately.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// What [`enumerate_inputs`] found: the images, and the inputs it skipped with the reason.
#[derive(Debug, Clone, Default)]
pub struct Enumerated {
    /// The images, in enumeration order.
    pub items: Vec<InputItem>,
    /// Inputs that were not taken: `(path, reason)` (unreadable directories, corrupt archives,
    /// unsafe archive member names, non-regular files, ...).
    pub skipped: Vec<(String, String)>,
}

/// Enumerates the images of every input, in the order given, each directory and archive sorted.
///
/// A file named explicitly is always an input (a non-image is reported when it fails to decode);
/// inside directories and archives only files with an image extension are taken, hidden files
/// (starting with `.`) are ignored. Only regular files are taken, each real path once (symlinks
/// are followed, but a file or directory reached twice is taken once, so symlink loops end). The
/// directories in `exclude` (e.g. the run's own `--out`) are not entered. Names must be unique
/// across all inputs.
///
/// Problems below the top level (an unreadable subdirectory, a corrupt archive, an archive member
/// whose name would escape the output folder, a FIFO) skip that entry and are listed in
/// [`Enumerated::skipped`]; see docs/reliability.md#inputs.
///
/// # Errors
/// [`Error::Io`] for a missing path given on the command line, [`Error::Invalid`] for two inputs
/// with the same output name.
pub fn enumerate_inputs(inputs: &[PathBuf], exclude: &[PathBuf]) -> Result<Enumerated> {
    let exclude: Vec<PathBuf> = exclude.iter().filter_map(|p| fs::canonicalize(p).ok()).collect();
    let mut out = Enumerated::default();
    let mut seen_files = std::collections::HashSet::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            let mut seen_dirs = std::collections::HashSet::new();
            let mut walk = Walk {
                exclude: &exclude,
                seen_dirs: &mut seen_dirs,
                files: &mut files,
                skipped: &mut out.skipped,
            };
            walk.dir(input);
            files.sort();
            for file in files {
                if !take_once(&mut seen_files, &file) {
                    continue;
                }
                let rel = file.strip_prefix(input).unwrap_or(&file);
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.items.push(InputItem {
                    name,
                    origin: Origin::File(file),
                });
            }
        } else if !meta.is_file() {
            out.skipped.push((
                input.display().to_string(),
                "not a regular file (FIFO, socket or device): skipped".into(),
            ));
        } else if is_zip(input) {
            if !take_once(&mut seen_files, input) {
                continue;
            }
            match zip_members(input, &mut out.skipped) {
                Ok(items) => out.items.extend(items),
                Err(e) => out.skipped.push((input.display().to_string(), e.to_string())),
            }
        } else {
            if !take_once(&mut seen_files, input) {
                continue;
            }
            let name = input
                .file_name()
                .map_or_else(|| input.to_string_lossy(), |n| n.to_string_lossy())
                .into_owned();
            out.items.push(InputItem {
                name,
                origin: Origin::File(input.clone()),
            });
        }
    }
    check_unique_names(&out.items)?;
    Ok(out)
}

/// `true` the first time the real (canonical) path of `path` is seen.
fn take_once(seen: &mut std::collections::HashSet<PathBuf>, path: &Path) -> bool {
    seen.insert(fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

fn check_unique_names(items: &[InputItem]) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, &InputItem> = std::collections::HashMap::new();
    for item in items {
        if let Some(previous) = seen.insert(item.stem(), item) {
            let advice = if previous.name != item.name && previous.stem() == item.stem() {
                // Same folder, different extension: no choice of input folder separates them.
                format!(
                    "`{}` and `{}` differ only in their extension; rename one",
                    previous.name, item.name
                )
            } else {
                "names are relative to the folder or archive given; give inputs whose relative paths \
                 differ (e.g. their common parent folder), or rename one"
                    .to_owned()
            };
            return Err(Error::invalid(
                item.display_path().display(),
                format!(
                    "would write the same outputs (`{}`) as {}; {advice}",
                    item.stem(),
                    previous.display_path().display()
                ),
            ));
        }
    }
    Ok(())
}

struct Walk<'a> {
    exclude: &'a [PathBuf],
    seen_dirs: &'a mut std::collections::HashSet<PathBuf>,
    files: &'a mut Vec<PathBuf>,
    skipped: &'a mut Vec<(String, String)>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path) {
        let Ok(real) = fs::canonicalize(dir) else {
            self.skipped
                .push((dir.display().to_string(), "cannot resolve the directory".into()));
            return;
        };
        if self.exclude.contains(&real) {
            tracing::info!("not reading {}: it is this run's output folder", dir.display());
            return;
        }
        if !self.seen_dirs.insert(real) {
            return; // reached again through a symlink: taken once
        }
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.skipped
                    .push((dir.display().to_string(), format!("cannot read directory: {e}")));
                return;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.skipped
                        .push((dir.display().to_string(), format!("cannot read directory: {e}")));
                    continue;
                }
            };
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            // Follows symlinks; a dangling link is reported.
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    if has_image_extension(&name.to_string_lossy()) {
                        self.skipped.push((path.display().to_string(), e.to_string()));
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                self.dir(&path);
            } else if has_image_extension(&name.to_string_lossy()) {
                if meta.is_file() {
                    self.files.push(path);
                } else {
                    self.skipped.push((
                        path.display().to_string(),
                        "not a regular file (FIFO, socket or device): skipped".into(),
                    ));
                }
            }
        }
    }
}

/// The archive member name `name` as a safe relative output name, or why it is refused: absolute
/// paths, `..` components, backslashes, drive letters and NUL bytes would place outputs outside
/// `--out` (docs/reliability.md#zip-member-names).
///
/// # Errors
/// A message saying what is wrong with the name.
pub fn safe_member_name(name: &str) -> std::result::Result<String, String> {
    if name.contains('\0') {
        return Err("member name holds a NUL byte".into());
    }
    if name.contains('\\') {
        return Err("member name holds a backslash (not portable, could escape the output folder)".into());
    }
    if name.starts_with('/') {
        return Err("absolute member name would write outside the output folder".into());
    }
    let first = name.split('/').next().unwrap_or("");
    if first.len() >= 2 && first.as_bytes()[1] == b':' {
        return Err("member name starts with a drive letter".into());
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("member name with `..` would write outside the output folder".into()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("empty member name".into());
    }
    Ok(parts.join("/"))
}

fn zip_members(archive: &Path, skipped: &mut Vec<(String, String)>) -> Result<Vec<InputItem>> {
    let file = fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::decode(archive, format!("not a zip archive: {e}")))?;
    let mut members: Vec<(String, String)> = Vec::new();
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(i) else {
            skipped.push((
                format!("{}!#{i}", archive.display()),
                "unreadable archive entry".into(),
            ));
            continue;
        };
        let raw = entry.name().to_owned();
        if entry.is_dir() || raw.ends_with('/') || !has_image_extension(&raw) {
            continue;
        }
        if raw.rsplit('/').next().unwrap_or(&raw).starts_with('.') || raw.starts_with("__MACOSX/") {
            continue;
        }
        let display = format!("{}!{raw}", archive.display());
        if entry.size() > MAX_INPUT_BYTES {
            skipped.push((
                display,
                format!(
                    "archive member declares {} bytes, more than the {MAX_INPUT_BYTES}-byte limit for one input",
                    entry.size()
                ),
            ));
            continue;
        }
        match safe_member_name(&raw) {
            Ok(name) => members.push((name, raw)),
            Err(reason) => skipped.push((display, format!("{reason}: skipped"))),
        }
    }
    members.sort();
    Ok(members
        .into_iter()
        .map(|(name, member)| InputItem {
            name,
            origin: Origin::Zip {
                archive: archive.to_path_buf(),
                member,
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stem_and_file_name() {
        let item = InputItem {
            name: "a/b.c/img.v1.jpg".into(),
            origin: Origin::File("x".into()),
        };
        assert_eq!(item.stem(), "a/b.c/img.v1");
        assert_eq!(item.file_name(), "img.v1.jpg");
        let bare = InputItem {
            name: "a.d/noext".into(),
            origin: Origin::File("x".into()),
        };
        assert_eq!(bare.stem(), "a.d/noext");
    }

    #[test]
    fn walks_directories_sorted_and_recursive() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.png", "a.JPG", "sub/c.tif", "notes.txt", ".hidden.png"] {
            let p = dir.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"x").unwrap();
        }
        let items = enumerate_inputs(&[dir.path().to_path_buf()], &[]).unwrap().items;
        let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a.JPG", "b.png", "sub/c.tif"]);
    }

    #[test]
    fn missing_input_is_an_error_naming_it() {
        let err = enumerate_inputs(&[PathBuf::from("/no/such/dir")], &[]).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"));
    }
}
