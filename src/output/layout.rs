//! The layout of an `infer` output folder, in one place: `infer` writes it, resume reads it and
//! `merge` joins shards of it (docs/outputs.md, docs/engine.md#layout).
//!
//! ```text
//! OUT/run.json                  what made the folder (src/provenance.rs)
//! OUT/records/<stem>.json       per-image record, written last (resume key)
//! OUT/labels/<stem>.png         --save labels
//! OUT/semantic/<stem>.png       --save semantic
//! OUT/boundary/<stem>.png       --save boundary
//! OUT/overlays/<stem>.jpg       --save overlay
//! OUT/labelme/<stem>.json       --save polygons (with cvat/annotations/instances_default.json)
//! OUT/instances.json            COCO results, assembled from the records at the end
//! OUT/images.json               the ids used, when no COCO file gave them
//! ```
use std::path::{Path, PathBuf};

/// The paths of one output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLayout {
    root: PathBuf,
}

/// The per-image files of one input (see [`OutputLayout::image`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths {
    /// `records/<stem>.json`.
    pub record: PathBuf,
    /// `labels/<stem>.png`.
    pub labels: PathBuf,
    /// `semantic/<stem>.png`.
    pub semantic: PathBuf,
    /// `boundary/<stem>.png`.
    pub boundary: PathBuf,
    /// `overlays/<stem>.jpg`.
    pub overlay: PathBuf,
}

impl OutputLayout {
    /// Per-image output folders (what `merge` carries over and temporaries are swept from).
    pub const PER_IMAGE_DIRS: &'static [&'static str] =
        &["records", "labels", "semantic", "boundary", "overlays"];
    /// The COCO results file.
    pub const RESULTS: &'static str = "instances.json";
    /// The image header written when no COCO file gave the ids.
    pub const IMAGES: &'static str = "images.json";

    /// The layout of the folder `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The per-image files of the input whose output stem is `stem`.
    #[must_use]
    pub fn image(&self, stem: &str) -> ImagePaths {
        ImagePaths {
            record: self.root.join("records").join(format!("{stem}.json")),
            labels: self.root.join("labels").join(format!("{stem}.png")),
            semantic: self.root.join("semantic").join(format!("{stem}.png")),
            boundary: self.root.join("boundary").join(format!("{stem}.png")),
            overlay: self.root.join("overlays").join(format!("{stem}.jpg")),
        }
    }

    /// `labelme/<stem>.json`.
    #[must_use]
    pub fn labelme(&self, stem: &str) -> PathBuf {
        self.root.join("labelme").join(format!("{stem}.json"))
    }

    /// `instances.json`.
    #[must_use]
    pub fn results(&self) -> PathBuf {
        self.root.join(Self::RESULTS)
    }

    /// `images.json`.
    #[must_use]
    pub fn images(&self) -> PathBuf {
        self.root.join(Self::IMAGES)
    }

    /// `records/`.
    #[must_use]
    pub fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_image_paths_keep_the_input_subfolders() {
        let l = OutputLayout::new("out");
        let p = l.image("a/b");
        assert_eq!(p.record, Path::new("out/records/a/b.json"));
        assert_eq!(p.labels, Path::new("out/labels/a/b.png"));
        assert_eq!(p.overlay, Path::new("out/overlays/a/b.jpg"));
        assert_eq!(l.labelme("a/b"), Path::new("out/labelme/a/b.json"));
        assert_eq!(l.results(), Path::new("out/instances.json"));
        for dir in OutputLayout::PER_IMAGE_DIRS {
            assert!(
                [&p.record, &p.labels, &p.semantic, &p.boundary, &p.overlay]
                    .iter()
                    .any(|f| f.starts_with(Path::new("out").join(dir))),
                "{dir}"
            );
        }
    }
}
