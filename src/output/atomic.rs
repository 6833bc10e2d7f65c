//! Atomic file writes: write `.<name>.<pid>.baiseg.tmp` beside the target, flush, then rename.
//!
//! A reader never sees a partial file, and an interrupted run leaves only such temporaries, which
//! the next run removes: only names of exactly this scheme, only in the folders `infer` writes,
//! never through a symlink, and never those of a process that is still running
//! (docs/reliability.md#temporary-files).
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Suffix of temporary files (never a final output).
pub const TMP_SUFFIX: &str = ".baiseg.tmp";

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}{TMP_SUFFIX}", std::process::id()))
}

/// Writes `path` atomically with `write`, creating parent directories.
///
/// # Errors
/// [`Error::Io`] naming `path` (or its temporary) when any step fails; the temporary is removed.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = tmp_path(path);
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        // No fsync: the rename makes the file appear whole or not at all if the process dies; a
        // power loss may still lose recent files, which a re-run (resume) recomputes.
        w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// The writer's process id when `name` is one of this tool's temporaries
/// (`.<name>.<pid>.baiseg.tmp`), else `None`.
#[must_use]
pub fn temporary_owner(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let (target, pid) = inner.rsplit_once('.')?;
    if target.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

fn process_is_running(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes temporaries left by an earlier run that was killed: in `dir` itself and, recursively,
/// in its subfolders named in `subdirs` (the folders `infer` writes). Only files named by this
/// tool's scheme ([`temporary_owner`]) whose writer is no longer running are removed; symlinks
/// (to files or folders) are never followed or removed. Returns how many were removed.
#[must_use]
pub fn remove_stale_temporaries(dir: &Path, subdirs: &[&str]) -> usize {
    let mut removed = remove_in(dir, false);
    for sub in subdirs {
        removed += remove_in(&dir.join(sub), true);
    }
    removed
}

fn remove_in(dir: &Path, recursive: bool) -> usize {
    // Never enter a symlinked folder: it may lead out of --out.
    if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(ty) = entry.file_type() else { continue };
        let path = entry.path();
        if ty.is_dir() {
            if recursive {
                removed += remove_in(&path, true);
            }
        } else if ty.is_file()
            && temporary_owner(&entry.file_name().to_string_lossy())
                .is_some_and(|pid| !process_is_running(pid))
            && fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.json");
        write_bytes_atomic(&path, b"one").unwrap();
        write_bytes_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let err = write_atomic(&path, |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert!(err.to_string().contains("out.json"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cleanup_removes_only_own_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(out.join("labels/sub")).unwrap();
        // A pid that cannot be running (above the kernel's pid_max limit of 2^22).
        let dead = 4_999_999;
        fs::write(out.join(format!("labels/.x.png.{dead}.baiseg.tmp")), b"").unwrap();
        fs::write(out.join(format!("labels/sub/.y.png.{dead}.baiseg.tmp")), b"").unwrap();
        fs::write(out.join(format!(".instances.json.{dead}.baiseg.tmp")), b"").unwrap();
        // Not ours: other tools' temporaries, a live writer (this process), an unknown folder.
        fs::write(out.join("labels/.x.png.123.tmp"), b"").unwrap();
        fs::write(out.join("labels/.editor.swp.tmp"), b"").unwrap();
        fs::write(
            out.join(format!("labels/.z.png.{}.baiseg.tmp", std::process::id())),
            b"",
        )
        .unwrap();
        fs::create_dir_all(out.join("mine")).unwrap();
        fs::write(out.join(format!("mine/.k.{dead}.baiseg.tmp")), b"").unwrap();
        // A symlink out of --out is not followed.
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join(format!(".v.png.{dead}.baiseg.tmp")), b"").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, out.join("labels/link")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, out.join("semantic")).unwrap();
        fs::write(out.join("labels/x.png"), b"").unwrap();
        assert_eq!(remove_stale_temporaries(&out, &["labels", "semantic"]), 3);
        assert!(out.join("labels/x.png").exists());
        assert!(out.join("labels/.x.png.123.tmp").exists());
        assert!(out.join("labels/.editor.swp.tmp").exists());
        assert!(out.join(format!("mine/.k.{dead}.baiseg.tmp")).exists());
        assert!(outside.join(format!(".v.png.{dead}.baiseg.tmp")).exists());
    }

    #[test]
    fn temporary_names_follow_the_scheme() {
        let tmp = tmp_path(Path::new("a/b.png"));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temporary_owner(&name), Some(std::process::id()));
        assert_eq!(temporary_owner(".b.png.tmp"), None);
        assert_eq!(temporary_owner("..12.baiseg.tmp"), None);
        assert_eq!(temporary_owner(".b.png.12x.baiseg.tmp"), None);
    }
}
