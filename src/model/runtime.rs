//! Locating and loading the ONNX Runtime shared library (`ort` with `load-dynamic`).
//!
//! Search order: `$ORT_DYLIB_PATH` (a file), then the project-local install made by
//! `bash scripts/demo.sh` (`.ort/onnxruntime/capi/` next to the current directory or the executable's
//! repository), then a Python virtual environment `.venv` there, then `$BAISEG_ORT_DIR`.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// How to install the library, shown when it cannot be found.
pub const INSTALL_HINT: &str = "install it from the repository with `bash scripts/demo.sh` (or just \
`python3 -m pip install --no-deps --target .ort onnxruntime==1.32.0`), or set ORT_DYLIB_PATH to a libonnxruntime.so \
(>= 1.24), e.g. the one inside `pip install onnxruntime` (CPU) or `onnxruntime-gpu` (CUDA/TensorRT)";

/// The `ort` crate version this build uses (Cargo.toml pins it).
pub const ORT_CRATE: &str = "2.0.0-rc.15";

/// Oldest ONNX Runtime release the `ort` crate's API level (`api-24`) works with.
pub const MIN_ORT_VERSION: (u32, u32) = (1, 24);

/// The version in a library file name such as `libonnxruntime.so.1.32.0` or
/// `libonnxruntime.1.20.1.dylib` (following a symlink to its target's name), if any.
#[must_use]
pub fn library_version(lib: &Path) -> Option<(u32, u32, u32)> {
    let mut names = vec![lib.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(lib) {
        names.push(real);
    }
    names.iter().find_map(|p| {
        let name = p.file_name()?.to_str()?;
        let digits: Vec<u32> = name
            .split('.')
            .skip_while(|part| part.parse::<u32>().is_err())
            .map_while(|part| part.parse().ok())
            .collect();
        (digits.len() >= 2).then(|| (digits[0], digits[1], digits.get(2).copied().unwrap_or(0)))
    })
}

/// Refuses a library whose file name says it is older than [`MIN_ORT_VERSION`], naming both
/// versions (before loading it: an old library may crash the `ort` bindings).
///
/// # Errors
/// The message.
pub fn check_library_version(lib: &Path) -> std::result::Result<(), String> {
    if let Some((major, minor, patch)) = library_version(lib)
        && (major, minor) < MIN_ORT_VERSION
    {
        return Err(format!(
            "{}: ONNX Runtime {major}.{minor}.{patch} is too old: this build uses `ort` {ORT_CRATE}, which needs ONNX Runtime >= {}.{}; {INSTALL_HINT}",
            lib.display(),
            MIN_ORT_VERSION.0,
            MIN_ORT_VERSION.1
        ));
    }
    Ok(())
}

static ENVIRONMENT: OnceLock<std::result::Result<(ort::environment::Environment, PathBuf), String>> =
    OnceLock::new();

fn library_in(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib" || n == "onnxruntime.dll")
                    && !n.contains("providers")
            })
        })
        .collect();
    found.sort();
    found.pop()
}

fn venv_capi_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.join(".ort/onnxruntime/capi")];
    for venv in [".venv", "venv"] {
        let lib = root.join(venv).join("lib");
        if let Ok(entries) = std::fs::read_dir(&lib) {
            let mut pys: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            pys.sort();
            for py in pys {
                dirs.push(py.join("site-packages/onnxruntime/capi"));
            }
        }
    }
    dirs
}

/// Finds the ONNX Runtime library without loading it.
///
/// # Errors
/// [`Error::Ort`] with installation instructions when no library is found, or when
/// `ORT_DYLIB_PATH` names a file that does not exist.
pub fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Error::ort(format!(
            "ORT_DYLIB_PATH={} does not exist; {INSTALL_HINT}",
            path.display()
        )));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().take(4).map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/{debug,release}/baiseg-rt (or target/*/deps/...) -> repository root
        roots.extend(exe.ancestors().skip(1).take(5).map(Path::to_path_buf));
    }
    let mut searched = Vec::new();
    for root in roots {
        for dir in venv_capi_dirs(&root) {
            if let Some(lib) = library_in(&dir) {
                return Ok(lib);
            }
            searched.push(dir);
        }
    }
    if let Some(lib) = std::env::var_os("BAISEG_ORT_DIR").and_then(|dir| library_in(Path::new(&dir))) {
        return Ok(lib);
    }
    Err(Error::ort(format!(
        "the ONNX Runtime shared library (libonnxruntime.so) was not found (looked in ORT_DYLIB_PATH, BAISEG_ORT_DIR and {} project directories such as {}); {INSTALL_HINT}",
        searched.len(),
        searched
            .first()
            .map_or_else(|| ".ort/onnxruntime/capi".into(), |p| p.display().to_string())
    )))
}

/// Loads ONNX Runtime once per process and returns the shared environment and the library path.
///
/// # Errors
/// [`Error::Ort`] when the library is missing, cannot be loaded, or is too old.
pub fn environment() -> Result<(&'static ort::environment::Environment, &'static Path)> {
    let loaded = ENVIRONMENT.get_or_init(|| {
        let lib = find_library().map_err(|e| match e {
            Error::Ort { message, .. } => message,
            other => other.to_string(),
        })?;
        check_library_version(&lib)?;
        let builder = std::panic::catch_unwind(|| ort::init_from(&lib))
            .map_err(|_| {
                format!(
                    "{}: loading ONNX Runtime panicked (incompatible library?)",
                    lib.display()
                )
            })?
            .map_err(|e| {
                format!(
                    "{}: cannot load ONNX Runtime: {e} (this build uses `ort` {ORT_CRATE}, which needs ONNX Runtime >= {}.{}); {INSTALL_HINT}",
                    lib.display(),
                    MIN_ORT_VERSION.0,
                    MIN_ORT_VERSION.1
                )
            })?;
        let env = builder.with_name("baiseg-rt").build().map_err(|e| {
            format!(
                "{}: cannot create the ONNX Runtime environment: {e}",
                lib.display()
            )
        })?;
        Ok((env, lib))
    });
    match loaded {
        Ok((env, lib)) => Ok((env, lib.as_path())),
        Err(msg) => Err(Error::ort(msg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_onnx_runtime_is_refused_naming_both_versions() {
        assert_eq!(
            library_version(Path::new("/x/libonnxruntime.so.1.32.0")),
            Some((1, 32, 0))
        );
        assert_eq!(
            library_version(Path::new("/x/libonnxruntime.1.20.1.dylib")),
            Some((1, 20, 1))
        );
        assert!(check_library_version(Path::new("/x/libonnxruntime.so.1.32.0")).is_ok());
        let e = check_library_version(Path::new("/x/libonnxruntime.so.1.16.3")).unwrap_err();
        assert!(
            e.contains("1.16.3") && e.contains(">= 1.24") && e.contains(ORT_CRATE),
            "{e}"
        );
    }
}
