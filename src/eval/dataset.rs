//! COCO annotation and results files (pycocotools `COCO`, `COCO.loadRes`).
//!
//! The serde types are tolerant of extra keys (LVIS, panoptic, sahi files load unchanged) and
//! strict about what evaluation needs: every annotation names a known image and category,
//! polygons have at least 3 points, RLE sizes match their image. Segmentations stay in their
//! file form (compressed RLE strings are small) and are decoded per image, in parallel, during
//! evaluation.
//!
//! Documented defaults where pycocotools would crash: a missing `iscrowd` means 0 (LVIS files
//! omit it); an annotation without `area` is an error (pycocotools uses the JSON value for the
//! area ranges, so there is nothing to fall back on that would give its numbers).
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::CocoError;
pub use crate::error::SegmentationError;
use crate::rle::{Bbox, Rle, RleError};
use crate::{Error, Result};

/// A segmentation as written in COCO JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Segmentation {
    /// One or more polygons `[x0, y0, x1, y1, ...]` (their union is the mask).
    Polygons(Vec<Vec<f64>>),
    /// Uncompressed RLE: `{"size": [h, w], "counts": [..]}` (column-major runs).
    Uncompressed {
        /// `[height, width]`.
        size: [u32; 2],
        /// Runs, starting with zeros.
        counts: Vec<u32>,
    },
    /// Compressed RLE: `{"size": [h, w], "counts": "..."}` (`rleToString` form).
    Compressed {
        /// `[height, width]`.
        size: [u32; 2],
        /// The compressed counts string.
        counts: String,
    },
}

impl Segmentation {
    /// Checks the cheap structural rules (polygon lengths, RLE size against the image).
    ///
    /// # Errors
    /// [`SegmentationError`] for the first problem.
    pub fn validate(&self, height: u32, width: u32) -> std::result::Result<(), SegmentationError> {
        match self {
            Self::Polygons(polys) => {
                for (i, p) in polys.iter().enumerate() {
                    if p.len() < 6 {
                        return Err(SegmentationError::TooFewPoints {
                            index: i,
                            len: p.len(),
                        });
                    }
                    if p.len() % 2 != 0 {
                        return Err(SegmentationError::OddLength {
                            index: i,
                            len: p.len(),
                        });
                    }
                    if p.iter().any(|v| !v.is_finite()) {
                        return Err(SegmentationError::NonFinite { index: i });
                    }
                }
                Ok(())
            }
            Self::Uncompressed { size, .. } | Self::Compressed { size, .. } => {
                if size[0] != height || size[1] != width {
                    Err(SegmentationError::SizeMismatch {
                        rle_height: size[0],
                        rle_width: size[1],
                        height,
                        width,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Converts to an RLE like pycocotools `annToRLE`: polygons are rasterised at the image size
    /// and merged, RLEs keep their own size.
    ///
    /// # Errors
    /// [`RleError`] when a compressed string is corrupt or runs do not sum to h*w.
    pub fn to_rle(&self, height: u32, width: u32) -> std::result::Result<Rle, RleError> {
        match self {
            Self::Polygons(polys) => {
                if polys.is_empty() {
                    return Ok(Rle::empty(height, width));
                }
                let rles: Vec<Rle> = polys
                    .iter()
                    .map(|p| Rle::from_polygon(p, height, width))
                    .collect();
                Ok(Rle::merge(&rles, false))
            }
            Self::Uncompressed { size, counts } => Rle::from_counts(counts.clone(), size[0], size[1]),
            Self::Compressed { size, counts } => {
                let rle = Rle::from_compressed_string(counts, size[0], size[1])?;
                rle.check_size()?;
                Ok(rle)
            }
        }
    }

    /// `true` for an empty polygon list (`"segmentation": []`, as in bbox-only files).
    #[must_use]
    pub fn is_empty_polygons(&self) -> bool {
        matches!(self, Self::Polygons(p) if p.is_empty())
    }
}

impl<'de> Deserialize<'de> for Segmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(SegVisitor)
    }
}

struct SegVisitor;

impl<'de> Visitor<'de> for SegVisitor {
    type Value = Segmentation;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of polygons or an RLE object {\"size\", \"counts\"}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Segmentation, A::Error> {
        let mut polys = Vec::new();
        while let Some(p) = seq.next_element::<Vec<f64>>()? {
            polys.push(p);
        }
        Ok(Segmentation::Polygons(polys))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Segmentation, A::Error> {
        let mut size: Option<[u32; 2]> = None;
        let mut counts: Option<Counts> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "size" => size = Some(map.next_value()?),
                "counts" => counts = Some(map.next_value()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let size = size.ok_or_else(|| de::Error::missing_field("size"))?;
        match counts.ok_or_else(|| de::Error::missing_field("counts"))? {
            Counts::Runs(counts) => Ok(Segmentation::Uncompressed { size, counts }),
            Counts::Compressed(counts) => Ok(Segmentation::Compressed { size, counts }),
        }
    }
}

enum Counts {
    Runs(Vec<u32>),
    Compressed(String),
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("RLE counts (a string or a list of run lengths)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Counts, E> {
                Ok(Counts::Compressed(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Counts, E> {
                Ok(Counts::Compressed(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Counts, A::Error> {
                let mut runs = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(c) = seq.next_element::<u32>()? {
                    runs.push(c);
                }
                Ok(Counts::Runs(runs))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Segmentation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Polygons(p) => p.serialize(s),
            Self::Uncompressed { size, counts } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("size", size)?;
                m.serialize_entry("counts", counts)?;
                m.end()
            }
            Self::Compressed { size, counts } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("size", size)?;
                m.serialize_entry("counts", counts)?;
                m.end()
            }
        }
    }
}

/// `iscrowd` as 0/1 or `false`/`true`.
fn de_flag<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<bool>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("0, 1, true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Option<bool>, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Option<bool>, E> {
            Ok(Some(v != 0))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Option<bool>, E> {
            Ok(Some(v != 0))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Option<bool>, E> {
            Ok(Some(v != 0.0))
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<bool>, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// An image entry (`images[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Image id (may be 0).
    pub id: i64,
    /// Height in pixels.
    pub height: u32,
    /// Width in pixels.
    pub width: u32,
    /// File name, when given.
    #[serde(default)]
    pub file_name: Option<String>,
}

/// A category entry (`categories[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    /// Category id (may be 0).
    pub id: i64,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// A ground-truth annotation (`annotations[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Annotation {
    /// Annotation id (0 is legal; see `Params::fix_zero_ids`).
    pub id: i64,
    /// The image it belongs to.
    pub image_id: i64,
    /// Its category.
    pub category_id: i64,
    /// Its mask, when given.
    #[serde(default)]
    pub segmentation: Option<Segmentation>,
    /// Area used for the area ranges (the JSON value, as pycocotools).
    #[serde(default)]
    pub area: Option<f64>,
    /// `[x, y, w, h]`, used by bbox evaluation.
    #[serde(default)]
    pub bbox: Option<Vec<f64>>,
    /// Crowd flag; missing means 0 (documented default; pycocotools raises `KeyError`).
    #[serde(default, deserialize_with = "de_flag")]
    pub iscrowd: Option<bool>,
}

/// An annotation read without its segmentation (bbox evaluation never needs it, and skipping
/// the polygons' numbers makes loading faster).
#[derive(Deserialize)]
struct BoxAnnotation {
    id: i64,
    image_id: i64,
    category_id: i64,
    #[serde(default)]
    area: Option<f64>,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "de_flag")]
    iscrowd: Option<bool>,
}

#[derive(Deserialize)]
struct RawBoxDataset {
    #[serde(default)]
    images: Vec<ImageInfo>,
    #[serde(default)]
    annotations: Vec<BoxAnnotation>,
    #[serde(default)]
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct RawDataset {
    #[serde(default)]
    images: Vec<ImageInfo>,
    #[serde(default)]
    annotations: Vec<Annotation>,
    #[serde(default)]
    categories: Vec<Category>,
}

/// A loaded, validated COCO ground-truth dataset with its indexes.
#[derive(Debug, Clone)]
pub struct CocoDataset {
    /// Where it came from (for error messages).
    pub path: PathBuf,
    /// `images[]` in file order.
    pub images: Vec<ImageInfo>,
    /// `annotations[]` in file order.
    pub annotations: Vec<Annotation>,
    /// `categories[]` in file order.
    pub categories: Vec<Category>,
    image_index: HashMap<i64, usize>,
    category_index: HashMap<i64, usize>,
    /// Annotation indexes per image index, in file order (pycocotools `imgToAnns`).
    image_anns: Vec<Vec<u32>>,
}

impl CocoDataset {
    /// Reads and validates a COCO annotation file.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`] (with line and column), or [`Error::Coco`] naming the
    /// offending annotation.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_slice(&bytes, path)
    }

    /// Reads a COCO annotation file without segmentations (for bbox evaluation): every
    /// annotation's `segmentation` is `None`.
    ///
    /// # Errors
    /// As [`CocoDataset::from_path`].
    pub fn from_path_boxes_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let raw: RawBoxDataset = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        drop(bytes);
        let annotations = raw
            .annotations
            .into_iter()
            .map(|a| Annotation {
                id: a.id,
                image_id: a.image_id,
                category_id: a.category_id,
                segmentation: None,
                area: a.area,
                bbox: a.bbox,
                iscrowd: a.iscrowd,
            })
            .collect();
        Self::new(raw.images, annotations, raw.categories, path)
    }

    /// Parses and validates a COCO annotation file held in memory; `path` names it in errors.
    ///
    /// # Errors
    /// As [`CocoDataset::from_path`].
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Self> {
        let raw: RawDataset = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(raw.images, raw.annotations, raw.categories, path)
    }

    /// Builds a dataset from its parts, validating it.
    ///
    /// # Errors
    /// [`Error::Coco`] for duplicate image or category ids, annotations naming unknown images or
    /// categories, missing `area`, malformed polygons or RLE size mismatches.
    pub fn new(
        images: Vec<ImageInfo>,
        annotations: Vec<Annotation>,
        categories: Vec<Category>,
        path: &Path,
    ) -> Result<Self> {
        let bad = |source: CocoError| Error::coco(path, source);
        let mut image_index = HashMap::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            if image_index.insert(img.id, i).is_some() {
                return Err(bad(CocoError::DuplicateImageId(img.id)));
            }
        }
        let mut category_index = HashMap::with_capacity(categories.len());
        for (i, c) in categories.iter().enumerate() {
            if category_index.insert(c.id, i).is_some() {
                return Err(bad(CocoError::DuplicateCategoryId(c.id)));
            }
        }
        let mut image_anns = vec![Vec::new(); images.len()];
        for (i, a) in annotations.iter().enumerate() {
            let Some(&ii) = image_index.get(&a.image_id) else {
                return Err(bad(CocoError::UnknownImage {
                    annotation: a.id,
                    image_id: a.image_id,
                }));
            };
            if !category_index.contains_key(&a.category_id) {
                return Err(bad(CocoError::UnknownCategory {
                    annotation: a.id,
                    category_id: a.category_id,
                }));
            }
            if a.area.is_none() {
                return Err(bad(CocoError::MissingArea(a.id)));
            }
            if let Some(bb) = &a.bbox
                && bb.len() != 4
            {
                return Err(bad(CocoError::BboxLength {
                    annotation: a.id,
                    len: bb.len(),
                }));
            }
            if let Some(seg) = &a.segmentation {
                let img = &images[ii];
                seg.validate(img.height, img.width).map_err(|source| {
                    bad(CocoError::Segmentation {
                        annotation: a.id,
                        source,
                    })
                })?;
            }
            let idx = u32::try_from(i).map_err(|_| bad(CocoError::TooManyAnnotations))?;
            image_anns[ii].push(idx);
        }
        Ok(Self {
            path: path.to_path_buf(),
            images,
            annotations,
            categories,
            image_index,
            category_index,
            image_anns,
        })
    }

    /// Index of an image id in `images`.
    #[must_use]
    pub fn image_position(&self, id: i64) -> Option<usize> {
        self.image_index.get(&id).copied()
    }

    /// Index of a category id in `categories`.
    #[must_use]
    pub fn category_position(&self, id: i64) -> Option<usize> {
        self.category_index.get(&id).copied()
    }

    /// Annotation indexes of the image at `position`, in file order.
    #[must_use]
    pub fn annotations_of(&self, position: usize) -> &[u32] {
        self.image_anns.get(position).map_or(&[], Vec::as_slice)
    }

    /// Sorted image ids (pycocotools `sorted(getImgIds())`).
    #[must_use]
    pub fn sorted_image_ids(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.images.iter().map(|i| i.id).collect();
        v.sort_unstable();
        v
    }

    /// Sorted category ids (pycocotools `sorted(getCatIds())`).
    #[must_use]
    pub fn sorted_category_ids(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.categories.iter().map(|c| c.id).collect();
        v.sort_unstable();
        v
    }

    /// Category name for an id ("" when unknown).
    #[must_use]
    pub fn category_name(&self, id: i64) -> &str {
        self.category_position(id)
            .map_or("", |i| self.categories[i].name.as_str())
    }
}

/// One detection (a row of a COCO results file, without its image id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Predicted category.
    pub category_id: i64,
    /// Confidence.
    pub score: f64,
    /// `[x, y, w, h]`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Bbox>,
    /// The mask, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
}

/// How result areas and boxes are derived, decided by the first result like `COCO.loadRes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultMode {
    /// The first result had a non-empty `bbox`: every area is `w * h`, a missing segmentation is
    /// the box as a polygon.
    Bbox,
    /// The first result had only a `segmentation`: area is the mask area, a missing box is the
    /// mask's box.
    Segm,
}

/// A detection with the id `loadRes` gives it (1-based, in insertion order).
#[derive(Debug, Clone)]
pub struct DetEntry {
    /// Result id (`ann['id'] = index + 1`).
    pub id: u64,
    /// The detection.
    pub det: Detection,
}

#[derive(Deserialize)]
struct RawResult {
    image_id: i64,
    category_id: i64,
    score: f64,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    segmentation: Option<Segmentation>,
}

/// A results file: `(image_id, detection)` in file order.
pub type Results = Vec<(i64, Detection)>;

/// Reads a COCO results file (a JSON list of detections; extra keys are ignored).
///
/// # Errors
/// [`Error::Io`], [`Error::Json`] (with line and column), or [`Error::Coco`] for a bbox that does
/// not have 4 numbers.
pub fn load_results(path: impl AsRef<Path>) -> Result<Results> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_results(&bytes, path)
}

/// Parses a COCO results file held in memory; `path` names it in errors.
///
/// # Errors
/// As [`load_results`].
pub fn parse_results(bytes: &[u8], path: &Path) -> Result<Results> {
    let raw: Vec<RawResult> = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            let bbox = match r.bbox {
                None => None,
                Some(b) if b.is_empty() => None,
                Some(b) => Some(<[f64; 4]>::try_from(b.as_slice()).map_err(|_| {
                    Error::coco(
                        path,
                        CocoError::ResultBboxLength {
                            index: i,
                            image_id: r.image_id,
                            len: b.len(),
                        },
                    )
                })?),
            };
            Ok((
                r.image_id,
                Detection {
                    category_id: r.category_id,
                    score: r.score,
                    bbox,
                    segmentation: r.segmentation,
                },
            ))
        })
        .collect()
}
