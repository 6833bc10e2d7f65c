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
    /// A COCO dataset or results file is malformed (unknown ids, bad polygons, RLE size
    /// mismatch...), or output folders do not fit together as COCO results (shards that overlap).
    #[error("{path}: {source}")]
    Coco {
        /// The COCO JSON file (or the folder) at fault.
        path: PathBuf,
        /// What is wrong, naming the annotation, result or image.
        #[source]
        source: CocoError,
    },
    /// The run was interrupted (Ctrl-C); finished outputs are kept.
    #[error("interrupted")]
    Interrupted,
}

/// What is wrong in a COCO dataset or results file ([`Error::Coco`] names the file). The texts
/// name the annotation, result or image at fault, in pycocotools' terms.
#[derive(Debug, thiserror::Error)]
pub enum CocoError {
    /// Two images share an id.
    #[error("duplicate image id {0}")]
    DuplicateImageId(i64),
    /// Two categories share an id.
    #[error("duplicate category id {0}")]
    DuplicateCategoryId(i64),
    /// The dataset lists no category.
    #[error("no categories")]
    NoCategories,
    /// An annotation names an image the dataset does not list.
    #[error("annotation id {annotation} refers to unknown image id {image_id}")]
    UnknownImage {
        /// The annotation id.
        annotation: i64,
        /// The image id it names.
        image_id: i64,
    },
    /// An annotation names a category the dataset does not list.
    #[error("annotation id {annotation} refers to unknown category id {category_id}")]
    UnknownCategory {
        /// The annotation id.
        annotation: i64,
        /// The category id it names.
        category_id: i64,
    },
    /// An annotation without `area` (the area ranges need it).
    #[error("annotation id {0} has no \"area\"")]
    MissingArea(i64),
    /// An annotation's bbox is not 4 numbers.
    #[error("annotation id {annotation} has a bbox with {len} numbers, not 4")]
    BboxLength {
        /// The annotation id.
        annotation: i64,
        /// How many numbers it has.
        len: usize,
    },
    /// An annotation lacks the bbox the `IoU` type needs.
    #[error("annotation id {0} has no bbox")]
    MissingBbox(i64),
    /// An annotation lacks the segmentation the `IoU` type needs.
    #[error("annotation id {0} has no segmentation")]
    MissingSegmentation(i64),
    /// An annotation's segmentation breaks the structural rules.
    #[error("annotation id {annotation}: {source}")]
    Segmentation {
        /// The annotation id.
        annotation: i64,
        /// The problem.
        #[source]
        source: SegmentationError,
    },
    /// An annotation's mask does not decode.
    #[error("annotation id {annotation}: {source}")]
    Mask {
        /// The annotation id.
        annotation: i64,
        /// The decoding error.
        #[source]
        source: crate::rle::RleError,
    },
    /// More annotations than the index type holds.
    #[error("more than 2^32 annotations")]
    TooManyAnnotations,
    /// A results file row whose bbox is not 4 numbers (`index`: its position in the file).
    #[error("result {index} (image id {image_id}): bbox has {len} numbers, not 4")]
    ResultBboxLength {
        /// Position in the file.
        index: usize,
        /// Its image id.
        image_id: i64,
        /// How many numbers it has.
        len: usize,
    },
    /// A result (numbered from 1, as `loadRes` does) that cannot be evaluated against the ground
    /// truth.
    #[error("result {id}{} {problem}", image_id.map(|i| format!(" (image id {i})")).unwrap_or_default())]
    Result {
        /// The result id.
        id: u64,
        /// Its image id, when the problem is not that very id.
        image_id: Option<i64>,
        /// The problem.
        problem: ResultProblem,
    },
    /// A result's segmentation breaks the structural rules.
    #[error("result {id} (image id {image_id}): {source}")]
    ResultSegmentation {
        /// The result id.
        id: u64,
        /// Its image id.
        image_id: i64,
        /// The problem.
        #[source]
        source: SegmentationError,
    },
    /// A result's mask or box under `loadRes` rules cannot be made.
    #[error("result id {id} (category {category_id}): {problem}")]
    ResultShape {
        /// The result id.
        id: u64,
        /// Its category id.
        category_id: i64,
        /// The problem.
        problem: ShapeProblem,
    },
    /// None of the model's classes is a category of the dataset (`classes`: their names).
    #[error("none of the model's classes ({}) is a category of this file", classes.join(", "))]
    NoCommonCategory {
        /// The model's class names.
        classes: Vec<String>,
    },
    /// An input the dataset gives no image id (`reason`: why, from the id assignment).
    #[error("{reason} (input {input})")]
    Unlisted {
        /// Why the input has no id.
        reason: String,
        /// The input.
        input: String,
    },
    /// A folder holds no finished results.
    #[error("not a finished `baiseg-rt infer` output (no instances.json)")]
    NotAnInferOutput,
    /// An image id is in the results of two shards.
    #[error("image id {image_id} ({file_name}) is also in {}: the shards overlap", other.display())]
    ImageInTwoShards {
        /// The image id.
        image_id: i64,
        /// Its file name.
        file_name: String,
        /// The other shard.
        other: PathBuf,
    },
    /// An image id is listed by two shards' image lists.
    #[error("image id {image_id} ({file_name}) is in two shards: the shards overlap")]
    ListedTwice {
        /// The image id.
        image_id: i64,
        /// Its file name.
        file_name: String,
    },
    /// One image id with two file names.
    #[error("image id {image_id} names two files: {first} and {second}")]
    TwoFileNames {
        /// The image id.
        image_id: i64,
        /// The file name seen first.
        first: String,
        /// The other.
        second: String,
    },
    /// Shards with different categories.
    #[error("categories differ from those of {}: not shards of one run", other.display())]
    CategoriesDiffer {
        /// The shard whose categories came first.
        other: PathBuf,
    },
    /// A per-image file in two shards.
    #[error("{} is also in {}: the shards overlap", file.display(), other.display())]
    FileInTwoShards {
        /// The file, relative to its shard.
        file: PathBuf,
        /// The other shard's copy.
        other: PathBuf,
    },
}

/// Why a COCO segmentation cannot be used with its image (re-exported by `eval::dataset`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentationError {
    /// A polygon with fewer than 3 points.
    #[error("polygon {index} has {len} coordinates; a polygon needs at least 3 points (6 numbers)")]
    TooFewPoints {
        /// Position of the polygon in the list.
        index: usize,
        /// Number of coordinates.
        len: usize,
    },
    /// A polygon with an odd number of coordinates.
    #[error("polygon {index} has an odd number of coordinates ({len})")]
    OddLength {
        /// Position of the polygon in the list.
        index: usize,
        /// Number of coordinates.
        len: usize,
    },
    /// A polygon with a NaN or infinite coordinate.
    #[error("polygon {index} has a non-finite coordinate")]
    NonFinite {
        /// Position of the polygon in the list.
        index: usize,
    },
    /// An RLE whose `size` is not the image's.
    #[error(
        "RLE size mismatch: segmentation size is {rle_height}x{rle_width} but the image is {height}x{width}"
    )]
    SizeMismatch {
        /// `size[0]` of the RLE.
        rle_height: u32,
        /// `size[1]` of the RLE.
        rle_width: u32,
        /// Image height.
        height: u32,
        /// Image width.
        width: u32,
    },
    /// A corrupt compressed string or counts that do not cover the mask.
    #[error(transparent)]
    Rle(#[from] crate::rle::RleError),
}

/// Why a result cannot be evaluated ([`CocoError::Result`]).
#[derive(Debug, thiserror::Error)]
pub enum ResultProblem {
    /// Its image id is not in the ground truth.
    #[error("refers to image id {0}, which is not in the ground truth")]
    UnknownImage(i64),
    /// Its category id is not in the ground truth.
    #[error("refers to category id {0}, which is not in the ground truth")]
    UnknownCategory(i64),
    /// A NaN or infinite score.
    #[error("has a non-finite score")]
    NonFiniteScore,
    /// Neither box nor mask.
    #[error("has neither bbox nor segmentation")]
    NoShape,
    /// No box, after a first result with one.
    #[error("has no bbox, but the first result has one (loadRes takes areas from boxes)")]
    MissingBbox,
    /// No mask, after a first result without a box.
    #[error("has no segmentation, but the first result has no bbox")]
    MissingSegmentation,
}

/// Why a result's mask or box cannot be made ([`CocoError::ResultShape`]).
#[derive(Debug, thiserror::Error)]
pub enum ShapeProblem {
    /// No box, after a first result with one.
    #[error("has no bbox (the first result has one)")]
    MissingBbox,
    /// No mask where the `IoU` type needs one.
    #[error("has no segmentation")]
    MissingSegmentation,
    /// The mask does not decode.
    #[error("{0}")]
    Mask(#[source] crate::rle::RleError),
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

    /// Shorthand for [`Error::Coco`].
    pub fn coco(path: impl Into<PathBuf>, source: CocoError) -> Self {
        Self::Coco {
            path: path.into(),
            source,
        }
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
