//! COCO results JSON (docs/outputs.md#coco-results): one record per instance with a compressed RLE mask that
//! pycocotools decodes identically, plus the per-image record files that make runs resumable.
use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::instances::Instance;

/// A COCO RLE segmentation with its compressed `counts` string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RleJson {
    /// `[height, width]`.
    pub size: [u32; 2],
    /// pycocotools compressed counts.
    pub counts: String,
}

/// One line of `instances.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// COCO image id.
    pub image_id: i64,
    /// The image's name (relative to its input directory or archive).
    pub file_name: String,
    /// COCO category id.
    pub category_id: i64,
    /// Compressed RLE mask.
    pub segmentation: RleJson,
    /// Tight `[x, y, w, h]` of the mask.
    pub bbox: [f64; 4],
    /// Mask area in pixels.
    pub area: f64,
    /// Confidence.
    pub score: f64,
}

/// One instance as stored in a per-image record file (model class index, no ids yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredInstance {
    /// Model class index (1..=K).
    pub class: u32,
    /// Confidence.
    pub score: f64,
    /// Tight bbox.
    pub bbox: [f64; 4],
    /// Pixel area.
    pub area: u64,
    /// Compressed RLE counts.
    pub counts: String,
}

/// Everything `infer` keeps about one finished image (`records/<name>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecords {
    /// Input name.
    pub name: String,
    /// Image height.
    pub height: u32,
    /// Image width.
    pub width: u32,
    /// Instances in MEP order.
    pub instances: Vec<StoredInstance>,
}

impl ImageRecords {
    /// Builds the record of one image from its instances.
    #[must_use]
    pub fn new(name: &str, height: u32, width: u32, instances: &[Instance]) -> Self {
        let instances = instances
            .iter()
            .map(|inst| {
                let enc = inst.mask.encode();
                StoredInstance {
                    class: inst.category,
                    score: inst.score,
                    bbox: enc.bbox,
                    area: enc.area,
                    counts: enc.rle.to_compressed_string(),
                }
            })
            .collect();
        Self {
            name: name.to_owned(),
            height,
            width,
            instances,
        }
    }

    /// Reads a record file.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Json`] naming `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the record file atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        super::write_bytes_atomic(path, &bytes)
    }

    /// The COCO result records of this image, with ids from `categories`; instances of classes
    /// without a category are left out.
    #[must_use]
    pub fn to_results(&self, image_id: i64, categories: &CategoryMap) -> Vec<ResultRecord> {
        self.instances
            .iter()
            .filter_map(|inst| {
                let category_id = categories.category_id(inst.class)?;
                Some(ResultRecord {
                    image_id,
                    file_name: self.name.clone(),
                    category_id,
                    segmentation: RleJson {
                        size: [self.height, self.width],
                        counts: inst.counts.clone(),
                    },
                    bbox: inst.bbox,
                    area: inst.area as f64,
                    score: inst.score,
                })
            })
            .collect()
    }
}

/// Maps model class indices (1..=K) to COCO category ids.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryMap {
    ids: Vec<Option<i64>>,
    /// `(id, name)` of every category written in `images.json` (or taken from the GT file).
    pub categories: Vec<(i64, String)>,
}

fn normalise_name(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace(['_', '-'], " ")
}

impl CategoryMap {
    /// Identity mapping: class `k` is category `k`.
    #[must_use]
    pub fn identity(classes: &[String]) -> Self {
        Self {
            ids: std::iter::once(None)
                .chain((1..=classes.len()).map(|k| Some(k as i64)))
                .collect(),
            categories: classes
                .iter()
                .enumerate()
                .map(|(i, n)| (i as i64 + 1, n.clone()))
                .collect(),
        }
    }

    /// The map giving class `k` the category `ids[k]` (`ids[0]` is background); no category
    /// names (for results of callers that matched classes themselves, e.g. the bindings).
    #[must_use]
    pub fn from_ids(ids: Vec<Option<i64>>) -> Self {
        Self {
            ids,
            categories: Vec::new(),
        }
    }

    /// Maps classes to the GT categories with the same name (case, `_` and `-` ignored).
    /// Returns the map and the names of classes with no matching category.
    #[must_use]
    pub fn by_name(classes: &[String], gt_categories: &[(i64, String)]) -> (Self, Vec<String>) {
        let index: HashMap<String, i64> = gt_categories
            .iter()
            .map(|(id, n)| (normalise_name(n), *id))
            .collect();
        let mut unmatched = Vec::new();
        let mut ids = vec![None];
        for class in classes {
            let id = index.get(&normalise_name(class)).copied();
            if id.is_none() {
                unmatched.push(class.clone());
            }
            ids.push(id);
        }
        (
            Self {
                ids,
                categories: gt_categories.to_vec(),
            },
            unmatched,
        )
    }

    /// The category id of model class `class`.
    #[must_use]
    pub fn category_id(&self, class: u32) -> Option<i64> {
        self.ids.get(class as usize).copied().flatten()
    }
}

#[derive(Serialize)]
struct ImageEntry<'a> {
    id: i64,
    file_name: &'a str,
    height: u32,
    width: u32,
}

#[derive(Serialize)]
struct CategoryEntry<'a> {
    id: i64,
    name: &'a str,
}

#[derive(Serialize)]
struct ImagesHeader<'a> {
    images: Vec<ImageEntry<'a>>,
    categories: Vec<CategoryEntry<'a>>,
    annotations: [(); 0],
}

/// Writes the minimal COCO header (`images`, `categories`, empty `annotations`) for results whose
/// ids were assigned by `infer`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_images_json(
    path: &Path,
    images: &[(i64, &ImageRecords)],
    categories: &CategoryMap,
) -> Result<()> {
    let header = ImagesHeader {
        images: images
            .iter()
            .map(|(id, r)| ImageEntry {
                id: *id,
                file_name: &r.name,
                height: r.height,
                width: r.width,
            })
            .collect(),
        categories: categories
            .categories
            .iter()
            .map(|(id, name)| CategoryEntry { id: *id, name })
            .collect(),
        annotations: [],
    };
    let bytes = serde_json::to_vec_pretty(&header).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    super::write_bytes_atomic(path, &bytes)
}

/// Writes `instances.json`.
///
/// # Errors
/// [`Error::Io`] naming `path`.
pub fn write_results_json(path: &Path, records: &[ResultRecord]) -> Result<()> {
    super::write_atomic(path, |w| {
        w.write_all(b"[")?;
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"\n")?;
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
        }
        w.write_all(b"\n]\n")
    })
}

/// The `images` and `categories` of a COCO annotation file, for `infer --coco`.
#[derive(Debug, Clone)]
pub struct CocoHeader {
    /// `file_name` -> image id (also indexed by the file name's last path component).
    pub images: HashMap<String, i64>,
    /// `(id, name)` of every category.
    pub categories: Vec<(i64, String)>,
    /// Last path components shared by several `file_name`s: matching by them is refused.
    pub ambiguous_bases: std::collections::HashSet<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    images: Vec<RawImage>,
    categories: Vec<RawCategory>,
}

#[derive(Deserialize)]
struct RawImage {
    id: i64,
    file_name: String,
}

#[derive(Deserialize)]
struct RawCategory {
    id: i64,
    name: String,
}

impl CocoHeader {
    /// Reads the header of a COCO annotation file (annotations are skipped).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`] or [`Error::Coco`] naming `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let mut images = HashMap::new();
        let mut bases: HashMap<&str, usize> = HashMap::new();
        for img in &raw.images {
            images.insert(img.file_name.clone(), img.id);
            if let Some(base) = img.file_name.rsplit('/').next() {
                *bases.entry(base).or_default() += 1;
            }
        }
        let mut ambiguous_bases = std::collections::HashSet::new();
        for (base, count) in bases {
            if count > 1 && !images.contains_key(base) {
                ambiguous_bases.insert(base.to_owned());
            } else if count == 1 {
                images.entry(base.to_owned()).or_insert_with(|| {
                    raw.images
                        .iter()
                        .find(|i| i.file_name.rsplit('/').next() == Some(base))
                        .map_or(0, |i| i.id)
                });
            }
        }
        if raw.categories.is_empty() {
            return Err(Error::coco(path, crate::error::CocoError::NoCategories));
        }
        Ok(Self {
            images,
            categories: raw.categories.into_iter().map(|c| (c.id, c.name)).collect(),
            ambiguous_bases,
        })
    }

    /// The image id for an input: matched by its relative path `name` first, then by its file
    /// name when exactly one `file_name` of the COCO file has it as last component.
    #[must_use]
    pub fn image_id(&self, name: &str, file_name: &str) -> Option<i64> {
        self.match_image(name, file_name).ok()
    }

    /// As [`CocoHeader::image_id`], saying why there is no match.
    ///
    /// # Errors
    /// A message: no `file_name` matches, or several do (only by their last component).
    pub fn match_image(&self, name: &str, file_name: &str) -> std::result::Result<i64, String> {
        if let Some(&id) = self.images.get(name) {
            return Ok(id);
        }
        if self.ambiguous_bases.contains(file_name) {
            return Err(format!(
                "several images have a file_name ending in `{file_name}` and none is `{name}`: ambiguous, \
                 give the inputs so that their relative paths equal the file_names"
            ));
        }
        self.images
            .get(file_name)
            .copied()
            .ok_or_else(|| format!("no image with file_name `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_map_by_name_ignores_case_and_separators() {
        let classes = vec!["Traffic_Light".to_string(), "unicorn".to_string()];
        let (map, unmatched) =
            CategoryMap::by_name(&classes, &[(10, "traffic light".into()), (3, "cat".into())]);
        assert_eq!(map.category_id(1), Some(10));
        assert_eq!(map.category_id(2), None);
        assert_eq!(map.category_id(0), None);
        assert_eq!(unmatched, ["unicorn"]);
        assert_eq!(CategoryMap::identity(&classes).category_id(2), Some(2));
    }
}
