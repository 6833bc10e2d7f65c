//! What produced an output folder: `run.json` in `--out`, written before any record, read by
//! resume and by `merge` (docs/reliability.md#provenance).
//!
//! Resume only keeps records made by the same model file (size + FNV-1a 64 hash of its bytes),
//! the same MEP parameters and the same `--semantic-dir`; otherwise it refuses and says what
//! differs. `merge` checks that its inputs are shards of one run (same provenance) and that the
//! shard set is complete.
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the provenance file in an output folder.
pub const RUN_FILE: &str = "run.json";

/// Identity of a model file: its size and the FNV-1a 64 hash of its bytes (stable across
/// versions and platforms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// The file name (for messages; not compared).
    pub file: String,
    /// Size in bytes.
    pub bytes: u64,
    /// FNV-1a 64 of the bytes, 16 hex digits.
    pub fnv1a64: String,
}

impl ModelIdentity {
    /// Hashes the model file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn of_file(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            for &b in &buf[..n] {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Ok(Self {
            file: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            bytes,
            fnv1a64: format!("{hash:016x}"),
        })
    }

    fn same_model(&self, other: &Self) -> bool {
        self.bytes == other.bytes && self.fnv1a64 == other.fnv1a64
    }
}

/// The content of `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The tool version that wrote it.
    pub version: String,
    /// The model.
    pub model: ModelIdentity,
    /// Every MEP parameter (their debug form: any new parameter takes part).
    pub mep: String,
    /// `--semantic-dir`, if given.
    pub semantic_dir: Option<String>,
    /// Images in the whole input set (all shards).
    pub inputs: usize,
    /// `[k, n]` with `--shard k/n`.
    pub shard: Option<[usize; 2]>,
}

impl Provenance {
    /// What differs between the records' provenance `self` and the current run's `now`, in words;
    /// `None` when the records can be reused.
    #[must_use]
    pub fn difference(&self, now: &Self) -> Option<String> {
        if !self.model.same_model(&now.model) {
            return Some(format!(
                "the model differs (records: {} {} bytes hash {}; now: {} {} bytes hash {})",
                self.model.file,
                self.model.bytes,
                self.model.fnv1a64,
                now.model.file,
                now.model.bytes,
                now.model.fnv1a64
            ));
        }
        if self.mep != now.mep {
            return Some(format!(
                "the MEP parameters differ (records: {}; now: {})",
                self.mep, now.mep
            ));
        }
        if self.semantic_dir != now.semantic_dir {
            return Some(format!(
                "the semantic label folder differs (records: {:?}; now: {:?})",
                self.semantic_dir, now.semantic_dir
            ));
        }
        None
    }

    /// Whether `other` comes from the same run setup (model, MEP, semantic dir, input count) as
    /// `self`, shards aside; else the difference in words.
    #[must_use]
    pub fn shard_mismatch(&self, other: &Self) -> Option<String> {
        if let Some(d) = self.difference(other) {
            return Some(d);
        }
        if self.inputs != other.inputs {
            return Some(format!(
                "the input sets differ ({} images, {} images)",
                self.inputs, other.inputs
            ));
        }
        None
    }

    /// Reads `dir/run.json`; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Json`] naming the file.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(RUN_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Json { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Writes `dir/run.json` atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(RUN_FILE);
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| Error::Json {
            path: path.clone(),
            source,
        })?;
        crate::output::write_bytes_atomic(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Provenance {
        Provenance {
            version: "0".into(),
            model: ModelIdentity {
                file: "m.onnx".into(),
                bytes: 10,
                fnv1a64: "00".into(),
            },
            mep: "p".into(),
            semantic_dir: None,
            inputs: 3,
            shard: None,
        }
    }

    #[test]
    fn resume_refuses_records_of_another_model_or_mep() {
        let a = sample();
        assert_eq!(a.difference(&a.clone()), None);
        let mut b = a.clone();
        b.model.fnv1a64 = "01".into();
        assert!(a.difference(&b).unwrap().contains("model differs"));
        let mut c = a.clone();
        c.mep = "q".into();
        assert!(a.difference(&c).unwrap().contains("MEP parameters differ"));
        let mut d = a.clone();
        d.model.file = "renamed.onnx".into();
        assert_eq!(a.difference(&d), None, "a renamed copy is the same model");
    }

    #[test]
    fn model_hash_is_fnv1a64() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        std::fs::write(&p, b"a").unwrap();
        // FNV-1a 64 of "a" (reference value of the FNV specification).
        assert_eq!(ModelIdentity::of_file(&p).unwrap().fnv1a64, "af63dc4c8601ec8c");
    }
}
