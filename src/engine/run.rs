//! The streaming runner (docs/engine.md#data-flow): inputs -> plan -> decode (feeder thread, on
//! the worker pool) -> [`Batcher`] -> [`Engine::forward`] (this thread) -> maps + MEP + the
//! sink's per-image writes (worker pool) -> [`Sink::accept`] (this thread) -> [`Sink::finish`].
//!
//! Channels are bounded and at most `2 * threads + batch` images are in flight after the forward
//! pass, so memory stays flat however many images there are.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use image::RgbImage;
use rayon::prelude::*;

use super::batcher::{Batcher, Group};
use super::config::{Event, InferConfig, InferSummary};
use super::infer::{Engine, EngineOptions, Finisher, Forward, ImageJob};
use super::plan::{self, Plan};
use super::results::RunResults;
use super::sink::{Accepted, FinishedImage, Sink};
use crate::error::{CocoError, Error, Result};
use crate::input::{DecodeOptions, Enumerated, InputItem, enumerate_inputs};
use crate::instances::Instance;
use crate::model::Model;
use crate::output::coco_json::CocoHeader;
use crate::output::{CategoryMap, ImageRecords, OutputLayout};
use crate::timing;

/// Sees every event of a run (progress bars); called from the coordinating thread.
pub type Observer<'a> = &'a (dyn Fn(Event<'_>) + Sync);

/// Runs the engine over `cfg.inputs` into `sink` (about 80 lines: the steps of
/// docs/engine.md#data-flow in order, each a call). `cancel` stops the run between images (images
/// in flight are finished and handed to the sink).
///
/// # Errors
/// Fatal problems only: missing inputs, a model that cannot be loaded, an unwritable output
/// folder, or [`Error::Interrupted`]. Per-image problems are reported through `observer` and
/// listed in the summary.
pub fn run(
    cfg: &InferConfig,
    sink: &dyn Sink,
    observer: Observer<'_>,
    cancel: &AtomicBool,
) -> Result<InferSummary> {
    timing::reset();
    let folder = sink.folder();
    let Setup {
        enumerated,
        model,
        header,
        categories,
    } = setup(cfg, folder.map(|(l, _)| l))?;
    let items = enumerated.items;
    if let Some((layout, _)) = folder {
        plan::check_provenance(cfg, layout, items.len())?;
    }
    let plan = plan::plan(&items, header.as_ref(), cfg.shard, folder.filter(|_| !cfg.force));
    if plan.resumed > 0 {
        tracing::info!(
            setting = "existing records",
            "resuming: {} of {} images are already done (forcing recomputes them)",
            plan.resumed,
            items.len()
        );
    }
    observer(Event::Planned {
        todo: plan.todo.len(),
        already_done: plan.resumed,
    });
    let (pool, threads) = worker_pool(cfg)?;
    let keep_maps = folder.is_some_and(|(_, save)| save.semantic || save.boundary);
    let mut engine = engine(cfg, model, keep_maps)?;
    let max_inflight = threads * 2 + engine.batch();
    let mut runner = Runner::new(
        &items,
        &plan,
        sink,
        observer,
        &categories,
        engine.finisher(),
        max_inflight,
    );
    runner.report_skipped(enumerated.skipped, cfg.coco.as_deref());
    let start = Instant::now();
    let fatal = std::thread::scope(|scope| {
        let (dec_tx, dec_rx) = mpsc::sync_channel(engine.batch() * 2 + threads);
        let opts = decode_options(cfg);
        let (todo, items, pool_ref) = (&plan.todo, &items, &pool);
        let chunk = (threads * 2).max(engine.batch());
        scope.spawn(move || feed(todo, items, pool_ref, &opts, chunk, &dec_tx, cancel));
        pool.in_place_scope(|s| {
            let fatal = runner.consume(s, &mut engine, dec_rx, cancel).err();
            runner.drain(0);
            fatal
        })
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let wall = start.elapsed();
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let classes = engine.finisher();
    let written = sink.finish(&RunResults {
        items: &items,
        plan: &plan,
        categories: &categories,
        classes: classes.classes(),
        coco: header.is_some(),
    })?;
    Ok(InferSummary {
        total: (0..items.len()).filter(|&i| plan::in_shard(cfg.shard, i)).count(),
        processed: runner.processed,
        resumed: plan.resumed,
        failed: runner.failed,
        instances: runner.instances,
        wall,
        ort_time: engine.times().ort,
        stages: timing::snapshot(),
        device: engine.model().device.to_string(),
        results_path: written.as_ref().map(|w| w.path.clone()),
        results_written: written.map_or(0, |w| w.records),
    })
}

/// The worker pool (decoding, MEP, per-image writes) and its size: `cfg.threads` or every core.
fn worker_pool(cfg: &InferConfig) -> Result<(rayon::ThreadPool, usize)> {
    let threads = cfg
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("baiseg-worker-{i}"))
        .build()
        .map_err(|e| Error::setting("worker threads", e))?;
    Ok((pool, threads))
}

/// What a run needs before planning.
struct Setup {
    enumerated: Enumerated,
    model: Model,
    header: Option<CocoHeader>,
    categories: CategoryMap,
}

/// Checks the output folder, lists the inputs, loads the model and the COCO header, and prepares
/// the folder; in this order, so that the cheap checks fail first.
fn setup(cfg: &InferConfig, folder: Option<&OutputLayout>) -> Result<Setup> {
    if let Some(layout) = folder
        && layout.root().exists()
        && !layout.root().is_dir()
    {
        return Err(Error::setting(
            "output folder",
            format!("{}: exists and is not a directory", layout.root().display()),
        ));
    }
    let enumerated = enumerate(cfg, folder)?;
    let model = Model::load(&cfg.model, &cfg.session)?;
    if !model.info.has_semantic && cfg.semantic_dir.is_none() {
        return Err(Error::setting(
            "semantic labels",
            format!(
                "{}: single-branch model (no `semantic` output): give a directory of semantic label PNGs",
                cfg.model.display()
            ),
        ));
    }
    let header = cfg.coco.as_deref().map(CocoHeader::read).transpose()?;
    let categories = category_map(cfg, &model.info.classes, header.as_ref())?;
    if let Some(layout) = folder {
        prepare_folder(layout)?;
    }
    Ok(Setup {
        enumerated,
        model,
        header,
        categories,
    })
}

/// The inputs (the output folder left out), refusing a run without a usable image.
fn enumerate(cfg: &InferConfig, out: Option<&OutputLayout>) -> Result<Enumerated> {
    let exclude: Vec<_> = out.map(|l| l.root().to_path_buf()).into_iter().collect();
    let enumerated = enumerate_inputs(&cfg.inputs, &exclude)?;
    for (path, reason) in &enumerated.skipped {
        tracing::warn!("skipped: {path}: {reason}");
    }
    if enumerated.items.is_empty() {
        let inputs: Vec<String> = cfg.inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::invalid(
            inputs.join(", "),
            if enumerated.skipped.is_empty() {
                "no images found (looked for .jpg .jpeg .png .tif .tiff .webp .bmp)".to_owned()
            } else {
                format!(
                    "no usable images ({} inputs skipped, see above)",
                    enumerated.skipped.len()
                )
            },
        ));
    }
    Ok(enumerated)
}

/// Model classes -> COCO categories: by name with a COCO file, else the identity.
fn category_map(cfg: &InferConfig, classes: &[String], header: Option<&CocoHeader>) -> Result<CategoryMap> {
    let Some(h) = header else {
        return Ok(CategoryMap::identity(classes));
    };
    let (map, unmatched) = CategoryMap::by_name(classes, &h.categories);
    if unmatched.len() == classes.len() {
        return Err(Error::coco(
            cfg.coco.clone().unwrap_or_default(),
            CocoError::NoCommonCategory {
                classes: classes.to_vec(),
            },
        ));
    }
    if !unmatched.is_empty() {
        tracing::warn!(
            "classes without a category in the COCO file are left out of instances.json: {}",
            unmatched.join(", ")
        );
    }
    Ok(map)
}

/// Creates the output folder and sweeps temporaries of an interrupted run
/// (docs/reliability.md#temporary-files).
fn prepare_folder(layout: &OutputLayout) -> Result<()> {
    let root = layout.root();
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let removed = crate::output::atomic::remove_stale_temporaries(root, OutputLayout::PER_IMAGE_DIRS);
    if removed > 0 {
        tracing::info!("removed {removed} temporary files left by an interrupted run");
    }
    Ok(())
}

/// The engine for `cfg`, checking the tile options and that one tiled forward pass fits the pixel
/// budget (docs/tiling.md#budget); `keep_maps`: the sink saves the class map or the boundary.
fn engine(cfg: &InferConfig, model: Model, keep_maps: bool) -> Result<Engine> {
    let batch = cfg.batch.max(1);
    if let Some(t) = &cfg.tile {
        let size_divisor = model.info.size_divisor;
        t.validate(size_divisor)?;
        let pass = t.pass_pixels(batch, size_divisor);
        if pass > cfg.max_pixels {
            return Err(Error::setting(
                "pixel budget",
                format!(
                    "one forward pass of {batch} tile(s) is {pass} pixels, more than the pixel \
                     budget of {}: use smaller tiles, a smaller batch or a larger budget",
                    cfg.max_pixels
                ),
            ));
        }
    }
    Engine::new(
        model,
        EngineOptions {
            mep: cfg.mep.clone(),
            semantic_dir: cfg.semantic_dir.clone(),
            tile: cfg.tile,
            scratch_dir: cfg.scratch_dir.clone(),
            spill_above: cfg.spill_above,
            batch,
            keep_maps,
        },
    )
}

fn decode_options(cfg: &InferConfig) -> DecodeOptions {
    DecodeOptions {
        // Untiled, the budget bounds the whole image; tiled, it bounds one pass (checked in
        // `engine`) and the image is bounded by the memory its full-frame maps need.
        max_pixels: if cfg.tile.is_some() {
            crate::input::max_tiled_pixels().max(cfg.max_pixels)
        } else {
            cfg.max_pixels
        },
        allow_truncated: cfg.allow_truncated,
    }
}

/// The feeder thread: decodes the inputs to do, `chunk` at a time in parallel on `pool`, and
/// sends them in order.
fn feed(
    todo: &[usize],
    items: &[InputItem],
    pool: &rayon::ThreadPool,
    opts: &DecodeOptions,
    chunk: usize,
    tx: &mpsc::SyncSender<(usize, Result<RgbImage>)>,
    cancel: &AtomicBool,
) {
    for indices in todo.chunks(chunk) {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let decoded: Vec<(usize, Result<RgbImage>)> = pool.install(|| {
            indices
                .par_iter()
                .map(|&i| {
                    let _span = timing::span("input::decode");
                    let item = &items[i];
                    let image = crate::input::decode::decode_item_with(item, opts);
                    (i, image)
                })
                .collect()
        });
        for d in decoded {
            if tx.send(d).is_err() {
                return;
            }
        }
    }
}

/// One finished (or failed) image, from a worker.
struct Outcome {
    index: usize,
    result: Result<(ImageRecords, Vec<Instance>)>,
}

/// The coordinating thread's state: in-flight images, counts, failures.
struct Runner<'a> {
    items: &'a [InputItem],
    plan: &'a Plan,
    sink: &'a dyn Sink,
    observer: Observer<'a>,
    categories: &'a CategoryMap,
    finisher: Arc<Finisher>,
    max_inflight: usize,
    outstanding: usize,
    tx: mpsc::Sender<Outcome>,
    rx: mpsc::Receiver<Outcome>,
    processed: usize,
    instances: u64,
    failed: Vec<(String, String)>,
}

impl<'a> Runner<'a> {
    fn new(
        items: &'a [InputItem],
        plan: &'a Plan,
        sink: &'a dyn Sink,
        observer: Observer<'a>,
        categories: &'a CategoryMap,
        finisher: Arc<Finisher>,
        max_inflight: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            items,
            plan,
            sink,
            observer,
            categories,
            max_inflight,
            finisher,
            outstanding: 0,
            tx,
            rx,
            processed: 0,
            instances: 0,
            failed: Vec::new(),
        }
    }

    /// Lists the inputs skipped before processing: unusable entries of the enumeration, and
    /// inputs the COCO file gives no id (reported as failures, through the observer too).
    fn report_skipped(&mut self, skipped: Vec<(String, String)>, coco: Option<&std::path::Path>) {
        self.failed.extend(skipped);
        for (i, reason) in &self.plan.unlisted {
            let item = &self.items[*i];
            let error = Error::coco(
                coco.unwrap_or(std::path::Path::new("")),
                CocoError::Unlisted {
                    reason: reason.clone(),
                    input: item.display_path().display().to_string(),
                },
            );
            (self.observer)(Event::ImageFailed {
                name: &item.name,
                error: &error,
            });
            self.failed
                .push((item.display_path().display().to_string(), error.to_string()));
        }
    }

    /// Takes decoded images until the feeder is done, batching and running them.
    fn consume<'s>(
        &mut self,
        s: &rayon::Scope<'s>,
        engine: &mut Engine,
        decoded: mpsc::Receiver<(usize, Result<RgbImage>)>,
        cancel: &AtomicBool,
    ) -> Result<()>
    where
        'a: 's,
    {
        let mut batcher: Batcher<RgbImage> = engine.batcher();
        for (index, image) in &decoded {
            while let Ok(o) = self.rx.try_recv() {
                self.outstanding -= 1;
                self.handle(o);
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(());
            }
            let image = match image {
                Ok(img) => img,
                Err(error) => {
                    self.handle(Outcome {
                        index,
                        result: Err(error),
                    });
                    continue;
                }
            };
            let size = (image.height() as usize, image.width() as usize);
            if engine.needs_tiles(size) {
                self.run_group(s, engine, vec![(index, image)])?;
            } else if let Some(group) = batcher.push(index, size, image) {
                self.run_group(s, engine, group)?;
            }
        }
        if !cancel.load(Ordering::Relaxed) {
            for group in batcher.finish() {
                self.run_group(s, engine, group)?;
            }
        }
        Ok(())
    }

    /// One forward pass; a group ONNX Runtime refuses is run again image by image.
    fn run_group<'s>(
        &mut self,
        s: &rayon::Scope<'s>,
        engine: &mut Engine,
        group: Group<RgbImage>,
    ) -> Result<()>
    where
        'a: 's,
    {
        match engine.forward(group)? {
            Forward::Ready(jobs) => {
                for job in jobs {
                    self.drain(self.max_inflight - 1);
                    self.spawn(s, job);
                }
            }
            Forward::Retry(group) => {
                for one in Batcher::singly(group) {
                    self.run_group(s, engine, one)?;
                }
            }
            Forward::Failed(index, reason) => {
                let path = self.items[index].display_path().display().to_string();
                self.handle(Outcome {
                    index,
                    result: Err(Error::ort(format!("{path}: {reason}"))),
                });
            }
            Forward::Skipped(index, error) => self.handle(Outcome {
                index,
                result: Err(error),
            }),
        }
        Ok(())
    }

    /// Hands one image to the worker pool: maps, MEP, the sink's per-image writes.
    fn spawn<'s>(&mut self, s: &rayon::Scope<'s>, job: ImageJob)
    where
        'a: 's,
    {
        let (items, sink, finisher, tx) =
            (self.items, self.sink, Arc::clone(&self.finisher), self.tx.clone());
        self.outstanding += 1;
        s.spawn(move |_| {
            let index = job.index;
            let result = finish_guarded(&finisher, sink, &items[index], job);
            let _ = tx.send(Outcome { index, result });
        });
    }

    /// Waits until at most `limit` images are in flight.
    fn drain(&mut self, limit: usize) {
        while self.outstanding > limit {
            match self.rx.recv() {
                Ok(o) => {
                    self.outstanding -= 1;
                    self.handle(o);
                }
                Err(_) => break,
            }
        }
    }

    fn handle(&mut self, outcome: Outcome) {
        let item = &self.items[outcome.index];
        match outcome.result {
            Ok((record, instances)) => {
                self.processed += 1;
                self.instances += instances.len() as u64;
                (self.observer)(Event::ImageDone {
                    name: &item.name,
                    instances: instances.len(),
                });
                if let Some(image_id) = self.plan.image_id(outcome.index) {
                    self.sink.accept(&Accepted {
                        item,
                        image_id,
                        record: &record,
                        instances: &instances,
                        categories: self.categories,
                        classes: self.finisher.classes(),
                    });
                }
            }
            Err(error) => {
                (self.observer)(Event::ImageFailed {
                    name: &item.name,
                    error: &error,
                });
                self.failed
                    .push((item.display_path().display().to_string(), error.to_string()));
            }
        }
    }
}

/// [`finish_image`] on a worker thread: a panic in one image's job would abort the whole process
/// (rayon), so it becomes that image's error instead.
fn finish_guarded(
    finisher: &Finisher,
    sink: &dyn Sink,
    item: &InputItem,
    job: ImageJob,
) -> Result<(ImageRecords, Vec<Instance>)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finish_image(finisher, sink, item, job)
    }))
    .unwrap_or_else(|_| {
        Err(Error::invalid(
            item.display_path().display(),
            "internal error (panic) while processing this image; please report it",
        ))
    })
}

/// Maps, MEP, record and the sink's per-image outputs of one image.
fn finish_image(
    finisher: &Finisher,
    sink: &dyn Sink,
    item: &InputItem,
    job: ImageJob,
) -> Result<(ImageRecords, Vec<Instance>)> {
    if crate::input::source::safe_member_name(item.stem()).as_deref() != Ok(item.stem()) {
        return Err(Error::invalid(
            item.display_path().display(),
            "its name would place outputs outside the output folder",
        ));
    }
    let (image, maps, instances) = finisher.finish(item.stem(), job)?;
    let (w, h) = image.dimensions();
    let record = ImageRecords::new(&item.name, h, w, &instances);
    sink.write_image(&FinishedImage {
        item,
        image: &image,
        maps: &maps,
        instances: &instances,
        record: &record,
        classes: finisher.classes(),
    })?;
    Ok((record, instances))
}
