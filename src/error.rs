//! The crate's error type: one variant per layer, each naming the file or item at fault.
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library. The binary adds context and reports it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be decoded as an image (or array).
    #[error("{path}: cannot decode: {reason}")]
    Decode {
        /// The offending file (for zip members: `archive.zip!member`).
        path: PathBuf,
        /// Why decoding failed.
        reason: String,
        /// The setting that would let the file through (`"pixel budget"`, `"truncated JPEGs"`),
        /// when one would; see [`Error::setting_name`].
        setting: Option<&'static str>,
    },
    /// An input is well-formed but unusable (size mismatch, wrong dtype, NaN, ...).
    #[error("{what}: {reason}")]
    Invalid {
        /// What was invalid (usually a file path or an argument name).
        what: String,
        /// Why.
        reason: String,
        /// The setting that would resolve it (`"existing records"`, `"output folder"`), when one
        /// would; see [`Error::setting_name`].
        setting: Option<&'static str>,
    },
    /// A setting is out of range or unusable here (a device this build or library lacks, tile
    /// options, a pixel budget too small for one pass). Named in neutral words (`"device"`,
    /// `"tile size"`); front ends map the name to their own flag (docs/engine.md#errors).
    #[error("{setting}: {reason}")]
    Setting {
        /// The setting, e.g. `"device"`, `"tile size"`, `"pixel budget"`.
        setting: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// ONNX Runtime could not be loaded or failed.
    #[error("ONNX Runtime: {message}")]
    Ort {
        /// What failed, naming the model or input (includes the ONNX Runtime message).
        message: String,
        /// ONNX Runtime's own error, when it gave one.
        #[source]
        source: Option<ort::Error>,
    },
    /// The ONNX graph does not follow the `BAISeg` model contract (docs/model-contract.md).
    #[error("{path}: not a BAISeg model: {reason}")]
    ModelContract {
        /// The model file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// JSON could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// A COCO dataset or results file is malformed (unknown ids, bad polygons, RLE size mismatch...).
    #[error("{path}: {reason}")]
    Coco {
        /// The COCO JSON file.
        path: PathBuf,
        /// What is wrong, naming the annotation.
        reason: String,
    },
    /// The run was interrupted (Ctrl-C); finished outputs are kept.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            what: what.to_string(),
            reason: reason.to_string(),
            setting: None,
        }
    }

    /// Shorthand for [`Error::Setting`].
    pub fn setting(setting: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Setting {
            setting,
            reason: reason.to_string(),
        }
    }

    /// [`Error::Ort`] without an ONNX Runtime error (missing library, unavailable provider).
    pub fn ort(message: impl std::fmt::Display) -> Self {
        Self::Ort {
            message: message.to_string(),
            source: None,
        }
    }

    /// [`Error::Ort`] for ONNX Runtime's `source` while doing `context`.
    pub fn ort_with(context: impl std::fmt::Display, source: ort::Error) -> Self {
        Self::Ort {
            message: format!("{context}: {source}"),
            source: Some(source),
        }
    }

    /// The setting this error is about ([`Error::Setting`]), or the one that would avoid it
    /// ([`Error::Decode`] and [`Error::Invalid`] marked with [`Error::for_setting`]), for front
    /// ends to name their flag (docs/engine.md#errors).
    #[must_use]
    pub fn setting_name(&self) -> Option<&'static str> {
        match self {
            Self::Setting { setting, .. } => Some(setting),
            Self::Decode { setting, .. } | Self::Invalid { setting, .. } => *setting,
            _ => None,
        }
    }

    /// This [`Error::Decode`] or [`Error::Invalid`], marked as one that changing `setting` (a
    /// neutral name, as in [`Error::Setting`]) would avoid; other variants are returned as they
    /// are. The text is unchanged: front ends add their own hint from [`Error::setting_name`].
    #[must_use]
    pub fn for_setting(mut self, name: &'static str) -> Self {
        if let Self::Decode { setting, .. } | Self::Invalid { setting, .. } = &mut self {
            *setting = Some(name);
        }
        self
    }

    /// Shorthand for [`Error::Decode`].
    pub fn decode(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::Decode {
            path: path.into(),
            reason: reason.to_string(),
            setting: None,
        }
    }
}

impl From<ort::Error> for Error {
    fn from(e: ort::Error) -> Self {
        Self::Ort {
            message: e.to_string(),
            source: Some(e),
        }
    }
}
