//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures").join(rel)
}

/// The small test model made by python-export (see fixtures/models/README.md).
pub fn tiny_model() -> PathBuf {
    fixture("models/tiny.onnx")
}

/// A `baiseg-rt` command.
pub fn baiseg() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baiseg-rt"));
    cmd.env("NO_COLOR", "1").env_remove("RUST_LOG");
    cmd
}

/// Runs a command and returns its output, printing it on failure to spawn.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Stdout and stderr as one string (for messages in assertions).
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the exit code, showing the output when it differs.
#[track_caller]
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit status; output:\n{}",
        text(out)
    );
}

/// A temporary directory removed at the end of the test.
pub struct TestDir(tempfile::TempDir);

impl TestDir {
    /// A new empty directory.
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// A path inside it.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }

    /// Writes a file (creating parents).
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    /// Copies a file in.
    pub fn copy(&self, from: &Path, rel: &str) -> PathBuf {
        let bytes = std::fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        self.write(rel, &bytes)
    }
}
