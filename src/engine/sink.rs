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
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::eval::{Detection, Evaluator, Segmentation};
use crate::input::InputItem;
use crate::instances::Instance;
use crate::maps::Maps;
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
    /// Its maps at image resolution.
    pub maps: &'a Maps,
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

/// The whole run, for [`Sink::finish`].
#[derive(Debug)]
pub struct RunResults<'a> {
    /// Every input, in enumeration order.
    pub items: &'a [InputItem],
    /// The plan (image ids of this shard's inputs).
    pub plan: &'a Plan,
    /// Model classes -> COCO category ids.
    pub categories: &'a CategoryMap,
    /// The model's class names.
    pub classes: &'a [String],
    /// Whether a COCO file gave the ids (no `images.json` then).
    pub coco: bool,
}

/// A results file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file (`instances.json`).
    pub path: PathBuf,
    /// Records in it.
    pub records: usize,
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
        if self.save.semantic {
            png::write_class_png(&paths.semantic, done.maps.class_map().view())?;
        }
        if self.save.boundary {
            png::write_boundary_png(&paths.boundary, done.maps.boundary.view())?;
        }
        if self.save.overlay {
            let _span = timing::span("output::overlay");
            let picture = crate::output::overlay::render_overlay(
                done.image,
                done.instances,
                done.classes,
                &Default::default(),
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
