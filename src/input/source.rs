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
            Origin::File(path) => fs::read(path).map_err(|e| Error::io(path, e)),
            Origin::Zip { archive, member } => {
                let file = fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
                let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
                    .map_err(|e| Error::decode(archive, format!("not a zip archive: {e}")))?;
                let mut entry = zip
                    .by_name(member)
                    .map_err(|e| Error::decode(self.display_path(), e))?;
                let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::decode(self.display_path(), e))?;
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

/// Enumerates the images of every input, in the order given, each directory and archive sorted.
///
/// A file named explicitly is always an input (a non-image is reported when it fails to decode);
/// inside directories and archives only files with an image extension are taken, hidden files
/// (starting with `.`) are ignored. Names must be unique across all inputs.
///
/// # Errors
/// [`Error::Io`] for a missing path or unreadable directory, [`Error::Decode`] for a bad archive,
/// [`Error::Invalid`] for two inputs with the same name.
pub fn enumerate_inputs(inputs: &[PathBuf]) -> Result<Vec<InputItem>> {
    let mut items = Vec::new();
    for input in inputs {
        let meta = fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk_dir(input, &mut files)?;
            files.sort();
            for file in files {
                let rel = file.strip_prefix(input).unwrap_or(&file);
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                items.push(InputItem {
                    name,
                    origin: Origin::File(file),
                });
            }
        } else if is_zip(input) {
            items.extend(zip_members(input)?);
        } else {
            let name = input
                .file_name()
                .map_or_else(|| input.to_string_lossy(), |n| n.to_string_lossy())
                .into_owned();
            items.push(InputItem {
                name,
                origin: Origin::File(input.clone()),
            });
        }
    }
    let mut seen = std::collections::HashMap::new();
    for item in &items {
        if let Some(previous) = seen.insert(item.stem().to_owned(), item.display_path()) {
            return Err(Error::invalid(
                item.display_path().display(),
                format!(
                    "output name `{}` is also used by {}; pass the directory that contains both, or rename one",
                    item.stem(),
                    previous.display()
                ),
            ));
        }
    }
    Ok(items)
}

fn walk_dir(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ty.is_dir() || (ty.is_symlink() && path.is_dir()) {
            walk_dir(&path, out)?;
        } else if has_image_extension(&name.to_string_lossy()) {
            out.push(path);
        }
    }
    Ok(())
}

fn zip_members(archive: &Path) -> Result<Vec<InputItem>> {
    let file = fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::decode(archive, format!("not a zip archive: {e}")))?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| !n.ends_with('/') && has_image_extension(n))
        .filter(|n| !n.rsplit('/').next().unwrap_or(n).starts_with('.') && !n.starts_with("__MACOSX/"))
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names
        .into_iter()
        .map(|member| InputItem {
            name: member.clone(),
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
        let items = enumerate_inputs(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a.JPG", "b.png", "sub/c.tif"]);
    }

    #[test]
    fn missing_input_is_an_error_naming_it() {
        let err = enumerate_inputs(&[PathBuf::from("/no/such/dir")]).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"));
    }
}
