//! Joins the output directories of sharded `infer` runs (`--shard k/n`) into one, as if a single
//! run had produced it: `instances.json` sorted by image id, one `images.json`, and the per-image
//! files (records, label/semantic/boundary PNGs, overlays) linked or copied over.
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::coco_json::{ResultRecord, write_results_json};
use crate::error::{CocoError, Error, Result};

/// Per-image output folders carried over by [`merge_runs`] (the output layout's).
pub const PER_IMAGE_DIRS: &[&str] = super::OutputLayout::PER_IMAGE_DIRS;

/// What [`merge_runs`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    /// Shard directories read.
    pub shards: usize,
    /// Images in the merged `images.json` (0 when the runs used `--coco`).
    pub images: usize,
    /// Records in the merged `instances.json`.
    pub instances: usize,
    /// Per-image files linked or copied.
    pub files: usize,
}

/// One entry of `images.json` (field order as `infer` writes it).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageEntry {
    id: i64,
    file_name: String,
    height: u32,
    width: u32,
}

#[derive(Serialize)]
struct MergedHeader<'a> {
    images: Vec<&'a ImageEntry>,
    categories: Value,
    annotations: [(); 0],
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(super::atomic::TMP_SUFFIX))
        {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    if to.exists() {
        fs::remove_file(to).map_err(|e| Error::io(to, e))?;
    }
    if fs::hard_link(from, to).is_err() {
        let bytes = fs::read(from).map_err(|e| Error::io(from, e))?;
        super::write_bytes_atomic(to, &bytes)?;
    }
    Ok(())
}

/// `path` made absolute and resolved as far as it exists (the rest appended), so that paths that do
/// not exist yet compare with existing ones.
fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = fs::canonicalize(existing) {
            let mut p = real;
            for part in rest.iter().rev() {
                p.push(part);
            }
            return p;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses an output folder that is one of the inputs, inside one, or contains one: writing it
/// would replace or mix with the shards' own files.
fn check_out_apart(inputs: &[PathBuf], out: &Path) -> Result<()> {
    let o = resolve(out);
    for dir in inputs {
        let d = resolve(dir);
        let why = if d == o {
            "is the same folder as"
        } else if o.starts_with(&d) {
            "is inside"
        } else if d.starts_with(&o) {
            "contains"
        } else {
            continue;
        };
        return Err(Error::invalid(
            out.display(),
            format!(
                "the output folder {why} the shard {}: merging there would overwrite or mix with the shard's files; choose another output folder",
                dir.display()
            ),
        )
        .for_setting("output folder"));
    }
    Ok(())
}

/// Checks that the inputs are the complete shard set of one run: each has a `run.json` with the
/// same model, MEP parameters and input set, and their `k/n` cover `0..n` exactly once.
fn check_shard_set(inputs: &[PathBuf]) -> Result<Option<crate::provenance::Provenance>> {
    use crate::provenance::{Provenance, RUN_FILE};
    let mut first: Option<(Provenance, &PathBuf)> = None;
    let mut seen: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    let mut count = None;
    for dir in inputs {
        let Some(p) = Provenance::read(dir)? else {
            return Err(Error::invalid(
                dir.display(),
                format!(
                    "no {RUN_FILE}: not the output of a sharded run of this version (cannot check model and shard)"
                ),
            ));
        };
        let [k, n] = p.shard.unwrap_or([0, 1]);
        match &first {
            Some((f, from)) => {
                if let Some(diff) = f.shard_mismatch(&p) {
                    return Err(Error::invalid(
                        dir.display(),
                        format!("not a shard of the same run as {}: {diff}", from.display()),
                    ));
                }
            }
            None => first = Some((p.clone(), dir)),
        }
        match count {
            Some(c) if c != n => {
                return Err(Error::invalid(
                    dir.display(),
                    format!("is shard {k}/{n} but the other shards are of {c}"),
                ));
            }
            _ => count = Some(n),
        }
        if let Some(other) = seen.insert(k, dir) {
            return Err(Error::invalid(
                dir.display(),
                format!("is shard {k}/{n}, as is {}", other.display()),
            ));
        }
    }
    if let Some(n) = count {
        let missing: Vec<String> = (0..n)
            .filter(|k| !seen.contains_key(k))
            .map(|k| format!("{k}/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(
                "merge",
                format!("incomplete shard set: missing shard {}", missing.join(", ")),
            ));
        }
    }
    Ok(first.map(|(p, _)| p))
}

/// Merges shard output directories `inputs` into `out`: checks (the output folder apart, one
/// complete shard set), then each shard's results, image list and per-image files
/// (`Merged`), then the merged folder.
///
/// # Errors
/// [`Error::Io`]/[`Error::Json`] for unreadable inputs, [`Error::Coco`] when the shards overlap
/// (an image or per-image file in two shards), disagree (one id with two file names, different
/// categories), or a directory is not an `infer` output.
pub fn merge_runs(inputs: &[PathBuf], out: &Path) -> Result<MergeSummary> {
    check_out_apart(inputs, out)?;
    let provenance = check_shard_set(inputs)?;
    let mut merged = Merged::default();
    for (shard, dir) in inputs.iter().enumerate() {
        merged.add_results(inputs, shard)?;
        merged.add_image_list(dir)?;
        merged.add_files(dir)?;
    }
    merged.write(out, provenance, inputs.len())
}

/// What the shards hold together, checked for overlaps as each shard is added.
#[derive(Default)]
struct Merged {
    /// `(shard, record)`, in shard order.
    records: Vec<(usize, ResultRecord)>,
    /// The image lists (`images.json`), by id.
    images: BTreeMap<i64, ImageEntry>,
    /// Which shard's results hold each image id.
    image_owner: HashMap<i64, usize>,
    /// The categories of the first image list, and that list.
    categories: Option<(Value, PathBuf)>,
    /// Whether any shard has an image list.
    any_header: bool,
    /// Per-image files: path relative to the shard -> the file.
    files: BTreeMap<PathBuf, PathBuf>,
}

impl Merged {
    /// The results (`instances.json`) of shard `inputs[shard]`; an image id in two shards'
    /// results is an overlap.
    fn add_results(&mut self, inputs: &[PathBuf], shard: usize) -> Result<()> {
        let dir = &inputs[shard];
        let results_path = super::OutputLayout::new(dir).results();
        if !results_path.is_file() {
            return Err(Error::coco(dir, CocoError::NotAnInferOutput));
        }
        let shard_records: Vec<ResultRecord> =
            serde_json::from_slice(&fs::read(&results_path).map_err(|e| Error::io(&results_path, e))?)
                .map_err(|source| Error::Json {
                    path: results_path.clone(),
                    source,
                })?;
        for r in &shard_records {
            if let Some(&other) = self.image_owner.get(&r.image_id).filter(|&&o| o != shard) {
                return Err(Error::coco(
                    &results_path,
                    CocoError::ImageInTwoShards {
                        image_id: r.image_id,
                        file_name: r.file_name.clone(),
                        other: inputs[other].clone(),
                    },
                ));
            }
            self.image_owner.insert(r.image_id, shard);
        }
        self.records.extend(shard_records.into_iter().map(|r| (shard, r)));
        Ok(())
    }

    /// The shard's image list (`images.json`, when it has one): the same categories as the
    /// others, no image id listed twice.
    fn add_image_list(&mut self, dir: &Path) -> Result<()> {
        let header_path = super::OutputLayout::new(dir).images();
        if !header_path.is_file() {
            return Ok(());
        }
        self.any_header = true;
        let header = read_json(&header_path)?;
        let cats = header.get("categories").cloned().unwrap_or(Value::Null);
        match &self.categories {
            Some((known, from)) if *known != cats => {
                return Err(Error::coco(
                    &header_path,
                    CocoError::CategoriesDiffer { other: from.clone() },
                ));
            }
            Some(_) => {}
            None => self.categories = Some((cats, header_path.clone())),
        }
        let listed: Vec<ImageEntry> = serde_json::from_value(
            header.get("images").cloned().unwrap_or(Value::Array(vec![])),
        )
        .map_err(|source| Error::Json {
            path: header_path.clone(),
            source,
        })?;
        for img in listed {
            if let Some(prev) = self.images.get(&img.id) {
                let source = if prev.file_name == img.file_name {
                    CocoError::ListedTwice {
                        image_id: img.id,
                        file_name: img.file_name,
                    }
                } else {
                    CocoError::TwoFileNames {
                        image_id: img.id,
                        first: prev.file_name.clone(),
                        second: img.file_name,
                    }
                };
                return Err(Error::coco(&header_path, source));
            }
            self.images.insert(img.id, img);
        }
        Ok(())
    }

    /// The shard's per-image files; a file in two shards is an overlap.
    fn add_files(&mut self, dir: &Path) -> Result<()> {
        for sub in PER_IMAGE_DIRS {
            let root = dir.join(sub);
            if !root.is_dir() {
                continue;
            }
            let mut rel = Vec::new();
            collect_files(dir, &root, &mut rel)?;
            for r in rel {
                let source = dir.join(&r);
                if let Some(first) = self.files.insert(r.clone(), source.clone()) {
                    return Err(Error::coco(
                        source,
                        CocoError::FileInTwoShards {
                            file: r,
                            other: first,
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the merged folder: the per-image files, `instances.json` (records by image id,
    /// stable), `images.json` when the shards have image lists, and the run's provenance.
    fn write(
        self,
        out: &Path,
        provenance: Option<crate::provenance::Provenance>,
        shards: usize,
    ) -> Result<MergeSummary> {
        let Self {
            mut records,
            images,
            categories,
            any_header,
            files,
            ..
        } = self;
        // Stable: shard order, then each shard's own (image id, MEP) order.
        records.sort_by_key(|(_, r)| r.image_id);
        let records: Vec<ResultRecord> = records.into_iter().map(|(_, r)| r).collect();
        fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        for (rel, source) in &files {
            link_or_copy(source, &out.join(rel))?;
        }
        let layout = super::OutputLayout::new(out);
        write_results_json(&layout.results(), &records)?;
        if any_header {
            let header = MergedHeader {
                images: images.values().collect(),
                categories: categories.map_or(Value::Null, |(c, _)| c),
                annotations: [],
            };
            let path = layout.images();
            let bytes = serde_json::to_vec_pretty(&header).map_err(|source| Error::Json {
                path: path.clone(),
                source,
            })?;
            super::write_bytes_atomic(&path, &bytes)?;
        }
        if let Some(mut p) = provenance {
            p.shard = None;
            p.write(out)?;
        }
        Ok(MergeSummary {
            shards,
            images: images.len(),
            instances: records.len(),
            files: files.len(),
        })
    }
}
