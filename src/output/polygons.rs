//! Polygon outputs (`docs/outputs.md#polygons`): `instances.json` with COCO polygons
//! (`--mask-format polygon`), and `--save polygons`: a COCO 1.0 dataset for CVAT
//! (`cvat/annotations/instances_default.json`) and one labelme JSON per image
//! (`labelme/<name>.json`).
//!
//! Polygons are made from the stored RLE of each instance, decoded inside its box only
//! ([`crate::polygon::crop_from_rle`]), so this needs no full-frame mask per instance and works on
//! records of earlier (resumed) runs.
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::coco_json::{CategoryMap, ImageRecords, ResultRecord, StoredInstance};
use crate::error::{Error, Result};
use crate::polygon::{crop_from_rle, crop_polygons};
use crate::rle::Rle;

/// How `instances.json` stores masks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MaskFormat {
    /// pycocotools compressed RLE (the default, docs/outputs.md#rle).
    #[default]
    Rle,
    /// COCO polygons, every part of a mask, holes bridged.
    Polygon,
}

impl std::str::FromStr for MaskFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rle" => Ok(Self::Rle),
            "polygon" | "polygons" => Ok(Self::Polygon),
            other => Err(format!("unknown mask format `{other}` (expected rle or polygon)")),
        }
    }
}

/// The polygons of a stored instance of an `height x width` image.
///
/// # Errors
/// [`Error::Invalid`] when the stored RLE does not decode.
pub fn instance_polygons(inst: &StoredInstance, height: u32, width: u32) -> Result<Vec<Vec<f64>>> {
    let rle =
        Rle::from_compressed_string(&inst.counts, height, width).map_err(|e| Error::invalid("record", e))?;
    Ok(crop_polygons(&crop_from_rle(&rle, inst.bbox)))
}

/// One line of `instances.json` with polygon masks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolygonRecord {
    /// COCO image id.
    pub image_id: i64,
    /// The image's name.
    pub file_name: String,
    /// COCO category id.
    pub category_id: i64,
    /// Polygons `[[x0, y0, x1, y1, ...], ...]`.
    pub segmentation: Vec<Vec<f64>>,
    /// Tight `[x, y, w, h]`.
    pub bbox: [f64; 4],
    /// Mask area in pixels (that of the RLE; the polygons rasterise to the same mask).
    pub area: f64,
    /// Confidence.
    pub score: f64,
}

/// Converts RLE result records to polygon records (in parallel, order kept).
///
/// # Errors
/// [`Error::Invalid`] when a record's RLE does not decode.
pub fn to_polygon_records(records: &[ResultRecord]) -> Result<Vec<PolygonRecord>> {
    records
        .par_iter()
        .map(|r| {
            let [h, w] = r.segmentation.size;
            let rle = Rle::from_compressed_string(&r.segmentation.counts, h, w)
                .map_err(|e| Error::invalid(&r.file_name, e))?;
            Ok(PolygonRecord {
                image_id: r.image_id,
                file_name: r.file_name.clone(),
                category_id: r.category_id,
                segmentation: crop_polygons(&crop_from_rle(&rle, r.bbox)),
                bbox: r.bbox,
                area: r.area,
                score: r.score,
            })
        })
        .collect()
}

/// Writes `instances.json` with polygon masks.
///
/// # Errors
/// [`Error::Io`] naming `path`, or [`Error::Invalid`] for an undecodable record.
pub fn write_polygon_results_json(path: &Path, records: &[ResultRecord]) -> Result<()> {
    let polys = to_polygon_records(records)?;
    super::write_atomic(path, |w| {
        w.write_all(b"[")?;
        for (i, r) in polys.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"\n")?;
            serde_json::to_writer(&mut *w, r).map_err(std::io::Error::other)?;
        }
        w.write_all(b"\n]\n")
    })
}

#[derive(Serialize)]
struct CvatLicense {
    name: &'static str,
    id: u32,
    url: &'static str,
}

#[derive(Serialize)]
struct CvatInfo {
    contributor: &'static str,
    date_created: &'static str,
    description: &'static str,
    url: &'static str,
    version: &'static str,
    year: &'static str,
}

#[derive(Serialize)]
struct CvatCategory<'a> {
    id: i64,
    name: &'a str,
    supercategory: &'static str,
}

#[derive(Serialize)]
struct CvatImage<'a> {
    id: i64,
    width: u32,
    height: u32,
    file_name: &'a str,
    license: u32,
    flickr_url: &'static str,
    coco_url: &'static str,
    date_captured: u32,
}

#[derive(Serialize)]
struct CvatAttributes {
    occluded: bool,
}

#[derive(Serialize)]
struct CvatAnnotation {
    id: u64,
    image_id: i64,
    category_id: i64,
    segmentation: Vec<Vec<f64>>,
    area: f64,
    bbox: [f64; 4],
    iscrowd: u8,
    score: f64,
    attributes: CvatAttributes,
}

#[derive(Serialize)]
struct CvatDataset<'a> {
    licenses: [CvatLicense; 1],
    info: CvatInfo,
    categories: Vec<CvatCategory<'a>>,
    images: Vec<CvatImage<'a>>,
    annotations: Vec<CvatAnnotation>,
}

/// Writes a COCO 1.0 dataset as CVAT exports it (and its importer reads it: `licenses`, `info`,
/// `categories` with `supercategory`, `images`, `annotations` with `iscrowd` 0 and polygons), to
/// be uploaded as "COCO 1.0" annotations. Annotation ids are 1-based in image-id order.
///
/// # Errors
/// [`Error::Io`] naming `path`, or [`Error::Invalid`] for an undecodable record.
pub fn write_cvat_coco(path: &Path, images: &[(i64, &ImageRecords)], categories: &CategoryMap) -> Result<()> {
    let mut annotations = Vec::new();
    for &(image_id, rec) in images {
        let converted: Vec<Option<CvatAnnotation>> = rec
            .instances
            .par_iter()
            .map(|inst| -> Result<Option<CvatAnnotation>> {
                let Some(category_id) = categories.category_id(inst.class) else {
                    return Ok(None);
                };
                Ok(Some(CvatAnnotation {
                    id: 0,
                    image_id,
                    category_id,
                    segmentation: instance_polygons(inst, rec.height, rec.width)?,
                    area: inst.area as f64,
                    bbox: inst.bbox,
                    iscrowd: 0,
                    score: inst.score,
                    attributes: CvatAttributes { occluded: false },
                }))
            })
            .collect::<Result<_>>()?;
        annotations.extend(converted.into_iter().flatten());
    }
    for (i, a) in annotations.iter_mut().enumerate() {
        a.id = i as u64 + 1;
    }
    let dataset = CvatDataset {
        licenses: [CvatLicense {
            name: "",
            id: 0,
            url: "",
        }],
        info: CvatInfo {
            contributor: "",
            date_created: "",
            description: "baiseg-rt infer",
            url: "",
            version: "",
            year: "",
        },
        categories: categories
            .categories
            .iter()
            .map(|(id, name)| CvatCategory {
                id: *id,
                name,
                supercategory: "",
            })
            .collect(),
        images: images
            .iter()
            .map(|(id, rec)| CvatImage {
                id: *id,
                width: rec.width,
                height: rec.height,
                file_name: &rec.name,
                license: 0,
                flickr_url: "",
                coco_url: "",
                date_captured: 0,
            })
            .collect(),
        annotations,
    };
    let bytes = serde_json::to_vec(&dataset).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    super::write_bytes_atomic(path, &bytes)
}

#[derive(Serialize)]
struct LabelmeShape {
    label: String,
    points: Vec<[f64; 2]>,
    group_id: Option<u64>,
    description: String,
    shape_type: &'static str,
    flags: serde_json::Map<String, serde_json::Value>,
    mask: Option<()>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LabelmeFile {
    version: &'static str,
    flags: serde_json::Map<String, serde_json::Value>,
    shapes: Vec<LabelmeShape>,
    image_path: String,
    image_data: Option<()>,
    image_height: u32,
    image_width: u32,
}

/// The labelme version written in `version` (labelme warns only when the major version differs).
pub const LABELME_VERSION: &str = "5.5.0";

/// Writes one image's labelme JSON: one `polygon` shape per part of each instance (the parts of
/// one instance share its `group_id`, 1-based in record order), `label` = the class name,
/// `description` = the score, `imagePath` = `image_path` (relative to the JSON file's folder, as
/// labelme resolves it), `imageData` null.
///
/// # Errors
/// [`Error::Io`] naming `path`, or [`Error::Invalid`] for an undecodable record.
pub fn write_labelme(path: &Path, rec: &ImageRecords, image_path: &str, classes: &[String]) -> Result<()> {
    let mut shapes = Vec::new();
    for (i, inst) in rec.instances.iter().enumerate() {
        let label = classes
            .get((inst.class as usize).wrapping_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("class_{}", inst.class));
        for poly in instance_polygons(inst, rec.height, rec.width)? {
            shapes.push(LabelmeShape {
                label: label.clone(),
                points: poly.chunks_exact(2).map(|p| [p[0], p[1]]).collect(),
                group_id: Some(i as u64 + 1),
                description: format!("score={:.6}", inst.score),
                shape_type: "polygon",
                flags: serde_json::Map::new(),
                mask: None,
            });
        }
    }
    let file = LabelmeFile {
        version: LABELME_VERSION,
        flags: serde_json::Map::new(),
        shapes,
        image_path: image_path.to_owned(),
        image_data: None,
        image_height: rec.height,
        image_width: rec.width,
    };
    let bytes = serde_json::to_vec_pretty(&file).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    super::write_bytes_atomic(path, &bytes)
}

/// Where `--save polygons` writes the CVAT COCO 1.0 file, relative to `--out`.
pub const CVAT_PATH: &str = "cvat/annotations/instances_default.json";

/// Writes the `--save polygons` outputs of a run: [`CVAT_PATH`] for all images and
/// `labelme/<stem>.json` per image, whose `imagePath` points at the input file (relative to the
/// JSON file; for a member of a zip archive, its name, for when the archive is unpacked next to
/// the JSON files).
///
/// # Errors
/// [`Error::Io`] or [`Error::Invalid`] as the writers.
pub fn write_run(
    out_dir: &Path,
    items: &[crate::input::InputItem],
    images: &[(i64, ImageRecords)],
    categories: &CategoryMap,
    classes: &[String],
) -> Result<()> {
    let refs: Vec<(i64, &ImageRecords)> = images.iter().map(|(id, r)| (*id, r)).collect();
    write_cvat_coco(&out_dir.join(CVAT_PATH), &refs, categories)?;
    let by_name: std::collections::HashMap<&str, &crate::input::InputItem> =
        items.iter().map(|i| (i.name.as_str(), i)).collect();
    images.par_iter().try_for_each(|(_, rec)| {
        let Some(item) = by_name.get(rec.name.as_str()) else {
            return Ok(());
        };
        let path = out_dir.join("labelme").join(format!("{}.json", item.stem()));
        let dir = path.parent().unwrap_or(out_dir);
        let image_path = match &item.origin {
            crate::input::Origin::File(p) => relative_path(dir, p),
            crate::input::Origin::Zip { .. } => None,
        }
        .unwrap_or_else(|| item.file_name().to_owned());
        write_labelme(&path, rec, &image_path, classes)
    })
}

/// `target` relative to the directory `from` (both made absolute first), with `/` separators;
/// `None` when no relative path exists (different drives).
#[must_use]
pub fn relative_path(from: &Path, target: &Path) -> Option<String> {
    let abs = |p: &Path| -> Option<PathBuf> {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        Some(out)
    };
    let (from, target) = (abs(from)?, abs(target)?);
    let f: Vec<Component<'_>> = from.components().collect();
    let t: Vec<Component<'_>> = target.components().collect();
    if f.first() != t.first() {
        return None;
    }
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/out/labelme/sub"), Path::new("/a/images/sub/x.jpg")).as_deref(),
            Some("../../../images/sub/x.jpg")
        );
        assert_eq!(
            relative_path(Path::new("/a/b"), Path::new("/a/b/c.png")).as_deref(),
            Some("c.png")
        );
    }

    #[test]
    fn mask_format_parses() {
        assert_eq!("RLE".parse::<MaskFormat>(), Ok(MaskFormat::Rle));
        assert_eq!("polygon".parse::<MaskFormat>(), Ok(MaskFormat::Polygon));
        assert!("png".parse::<MaskFormat>().is_err());
    }
}
