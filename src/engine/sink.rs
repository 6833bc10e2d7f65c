//! Where finished images go (docs/engine.md#sink): an output folder ([`FileSink`]), a streaming
//! evaluator ([`EvalSink`], the one-pass `eval --model`), or a callback ([`CallbackSink`]).
//!
//! The runner calls [`Sink::write_image`] on a worker thread right after an image's MEP (the
//! heavy writers: PNGs, overlays), [`Sink::accept`] on the coordinating thread once per finished
//! image, in completion order, and [`Sink::finish`] once after the last image (not when
//! interrupted).
use std::path::PathBuf;
use std::sync::Mutex;

use image::RgbImage;

use super::config::SaveSet;
use super::infer::FinishedMaps;
use super::results::{RunResults, Written};
use crate::error::{Error, Result};
use crate::eval::{Detection, Evaluator, Segmentation};
use crate::input::InputItem;
use crate::instances::Instance;
use crate::output::coco_json::ResultRecord;
use crate::output::polygons::MaskFormat;
use crate::output::{CategoryMap, ImageRecords, OutputLayout, png};
use crate::timing;

/// One image right after its MEP (on a worker thread).
#[derive(Debug)]
pub struct FinishedImage<'a> {
    /// The input.
    pub item: &'a InputItem,
    /// The decoded image.
    pub image: &'a RgbImage,
    /// Its maps at image resolution, as far as they were kept.
    pub maps: &'a FinishedMaps,
    /// Its instances, in MEP order.
    pub instances: &'a [Instance],
    /// Its record (what resume keeps).
    pub record: &'a ImageRecords,
    /// The model's class names.
    pub classes: &'a [String],
}

/// One finished image, on the coordinating thread.
#[derive(Debug)]
pub struct Accepted<'a> {
    /// The input.
    pub item: &'a InputItem,
    /// Its image id (docs/engine.md#image-ids).
    pub image_id: i64,
    /// Its record.
    pub record: &'a ImageRecords,
    /// Its instances, in MEP order.
    pub instances: &'a [Instance],
    /// Model classes -> COCO category ids.
    pub categories: &'a CategoryMap,
    /// The model's class names.
    pub classes: &'a [String],
}

/// Receives finished images; see the module documentation.
pub trait Sink: Sync {
    /// The output folder and the per-image files a finished image has, when this sink writes a
    /// folder: enables resume and provenance, and keeps the folder out of the inputs.
    fn folder(&self) -> Option<(&OutputLayout, SaveSet)> {
        None
    }

    /// Writes one image's own outputs (worker thread). An error skips that image.
    ///
    /// # Errors
    /// As the writers.
    fn write_image(&self, _image: &FinishedImage<'_>) -> Result<()> {
        Ok(())
    }

    /// Sees one finished image (coordinating thread).
    fn accept(&self, _image: &Accepted<'_>) {}

    /// Called once after the last image.
    ///
    /// # Errors
    /// As the writers.
    fn finish(&self, _run: &RunResults<'_>) -> Result<Option<Written>> {
        Ok(None)
    }
}

/// What [`FileSink`] writes.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// The output folder.
    pub out_dir: PathBuf,
    /// Optional per-image outputs.
    pub save: SaveSet,
    /// How `instances.json` stores masks.
    pub mask_format: MaskFormat,
}

/// Writes an `infer` output folder: per-image files atomically, the record last, then
/// `instances.json` assembled from the records ([`super::results`]).
#[derive(Debug, Clone)]
pub struct FileSink {
    layout: OutputLayout,
    save: SaveSet,
    mask_format: MaskFormat,
}

impl FileSink {
    /// A sink writing `options.out_dir`.
    #[must_use]
    pub fn new(options: OutputOptions) -> Self {
        Self {
            layout: OutputLayout::new(options.out_dir),
            save: options.save,
            mask_format: options.mask_format,
        }
    }
}

impl Sink for FileSink {
    fn folder(&self) -> Option<(&OutputLayout, SaveSet)> {
        Some((&self.layout, self.save))
    }

    fn write_image(&self, done: &FinishedImage<'_>) -> Result<()> {
        let _span = timing::span("output::write");
        let paths = self.layout.image(done.item.stem());
        let (w, h) = done.image.dimensions();
        if self.save.labels {
            png::write_label_png(
                &paths.labels,
                crate::instances::paint_label_map(done.instances, h, w).view(),
            )?;
        }
        if self.save.semantic
            && let Some(classes) = done.maps.class_map()?
        {
            png::write_class_png(&paths.semantic, classes.view())?;
        }
        if self.save.boundary
            && let Some(boundary) = done.maps.boundary()
        {
            png::write_boundary_png(&paths.boundary, boundary)?;
        }
        if self.save.overlay {
            let _span = timing::span("output::overlay");
            let picture = crate::output::overlay::render_overlay(
                done.image,
                done.instances,
                done.classes,
                &crate::output::overlay::OverlayOptions::default(),
            );
            png::write_jpeg(&paths.overlay, &picture)?;
        }
        // Last: a record means the image is done (resume).
        done.record.write(&paths.record)
    }

    fn finish(&self, run: &RunResults<'_>) -> Result<Option<Written>> {
        super::results::assemble(&self.layout, self.save, self.mask_format, run).map(Some)
    }
}

/// The evaluator's detection for one COCO result record.
#[must_use]
pub fn detection(record: &ResultRecord) -> Detection {
    Detection {
        category_id: record.category_id,
        score: record.score,
        bbox: Some(record.bbox),
        segmentation: Some(Segmentation::Compressed {
            size: record.segmentation.size,
            counts: record.segmentation.counts.clone(),
        }),
    }
}

/// Feeds every finished image into a streaming evaluator (one-pass evaluation: nothing written).
#[derive(Debug)]
pub struct EvalSink {
    state: Mutex<(Evaluator, Option<Error>)>,
}

impl EvalSink {
    /// A sink feeding `evaluator`.
    #[must_use]
    pub fn new(evaluator: Evaluator) -> Self {
        Self {
            state: Mutex::new((evaluator, None)),
        }
    }

    /// The evaluator with every image added.
    ///
    /// # Errors
    /// The first error adding an image's results.
    pub fn into_evaluator(self) -> Result<Evaluator> {
        let (evaluator, error) = self
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match error {
            Some(e) => Err(e),
            None => Ok(evaluator),
        }
    }
}

impl Sink for EvalSink {
    fn accept(&self, done: &Accepted<'_>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (evaluator, error) = &mut *state;
        if error.is_some() {
            return;
        }
        let dets: Vec<Detection> = done
            .record
            .to_results(done.image_id, done.categories)
            .iter()
            .map(detection)
            .collect();
        if let Err(e) = evaluator.add_image_results(done.image_id, &dets) {
            *error = Some(e);
        }
    }
}

/// Calls a function with every finished image (library users, bindings).
pub struct CallbackSink<F> {
    callback: Mutex<F>,
}

impl<F: FnMut(&Accepted<'_>) + Send> CallbackSink<F> {
    /// A sink calling `callback`.
    pub fn new(callback: F) -> Self {
        Self {
            callback: Mutex::new(callback),
        }
    }
}

impl<F> std::fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSink")
    }
}

impl<F: FnMut(&Accepted<'_>) + Send> Sink for CallbackSink<F> {
    fn accept(&self, done: &Accepted<'_>) {
        let mut callback = self
            .callback
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (*callback)(done);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ndarray::Array2;

    use super::*;
    use crate::input::Origin;
    use crate::instances::CropMask;
    use crate::maps::{Maps, SemanticMap};

    fn item(name: &str) -> InputItem {
        InputItem {
            name: name.to_owned(),
            origin: Origin::File(PathBuf::from(name)),
        }
    }

    fn instance() -> Instance {
        Instance {
            category: 1,
            score: 0.75,
            mask: CropMask {
                image_height: 8,
                image_width: 10,
                x: 2,
                y: 1,
                width: 3,
                height: 2,
                data: vec![1; 6],
            },
        }
    }

    fn maps() -> FinishedMaps {
        FinishedMaps::Full(Maps {
            boundary: Array2::from_elem((8, 10), 0.25),
            semantic: SemanticMap::Labels(Array2::from_elem((8, 10), 1)),
        })
    }

    #[test]
    fn file_sink_writes_what_save_asks_and_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(OutputOptions {
            out_dir: dir.path().to_path_buf(),
            save: SaveSet {
                labels: true,
                boundary: true,
                ..SaveSet::default()
            },
            mask_format: MaskFormat::Rle,
        });
        let (it, image, maps, instances) =
            (item("sub/a.png"), RgbImage::new(10, 8), maps(), vec![instance()]);
        let record = ImageRecords::new(&it.name, 8, 10, &instances);
        let classes = vec!["cat".to_owned()];
        sink.write_image(&FinishedImage {
            item: &it,
            image: &image,
            maps: &maps,
            instances: &instances,
            record: &record,
            classes: &classes,
        })
        .unwrap();
        let layout = OutputLayout::new(dir.path());
        let p = layout.image("sub/a");
        assert_eq!(ImageRecords::read(&p.record).unwrap(), record);
        assert!(p.labels.is_file() && p.boundary.is_file());
        assert!(!p.semantic.exists() && !p.overlay.exists());
        assert_eq!(
            sink.folder().map(|(l, s)| (l.root().to_path_buf(), s.labels)),
            Some((dir.path().to_path_buf(), true))
        );
    }

    #[test]
    fn callback_and_default_sinks_write_nothing() {
        let mut seen = Vec::new();
        {
            let sink =
                CallbackSink::new(|a: &Accepted<'_>| seen.push((a.image_id, a.record.instances.len())));
            assert!(sink.folder().is_none());
            let (it, instances) = (item("a.png"), vec![instance()]);
            let record = ImageRecords::new(&it.name, 8, 10, &instances);
            let categories = CategoryMap::identity(&["cat".to_owned()]);
            sink.accept(&Accepted {
                item: &it,
                image_id: 7,
                record: &record,
                instances: &instances,
                categories: &categories,
                classes: &[],
            });
        }
        assert_eq!(seen, [(7, 1)]);
    }

    #[test]
    fn detections_are_the_result_records() {
        let instances = vec![instance()];
        let record = ImageRecords::new("a.png", 8, 10, &instances);
        let results = record.to_results(3, &CategoryMap::from_ids(vec![None, Some(42)]));
        let d = detection(&results[0]);
        assert_eq!(
            (d.category_id, d.score, d.bbox),
            (42, 0.75, Some([2.0, 1.0, 3.0, 2.0]))
        );
        assert!(matches!(
            d.segmentation,
            Some(Segmentation::Compressed { size: [8, 10], .. })
        ));
    }
}
