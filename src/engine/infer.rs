//! The engine proper: a loaded model with its MEP settings, turning groups of decoded images into
//! instances (docs/engine.md#engine).
//!
//! [`Engine::forward`] runs one ONNX Runtime pass (plain, or tile by tile through `src/tile.rs`)
//! on the calling thread and returns one [`ImageJob`] per image; [`Finisher::finish`] turns a job
//! into maps and instances (the MEP) and may run on any thread, so that the streaming runner
//! overlaps the MEP of one batch with the forward pass of the next. [`Engine::infer_batch`] does
//! both for images already in memory (the Python bindings).
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::{Array2, ArrayView3};
use rayon::prelude::*;

use super::batcher::{Batcher, Group};
use super::mep_pool::MepPool;
use crate::error::{Error, Result};
use crate::input::Letterbox;
use crate::input::preprocess::make_batch;
use crate::instances::Instance;
use crate::maps::{self, Maps};
use crate::mep::{MepMode, MepParams};
use crate::model::{Model, RawOutputs};
use crate::tile::{SemanticKeep, SpillOptions, Stitched, TileOptions};
use crate::timing;

/// How the engine processes images (validated by [`Engine::new`] / [`Engine::set_options`]).
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// MEP parameters.
    pub mep: MepParams,
    /// Directory of semantic label PNGs (`<stem>.png`) used instead of the semantic branch.
    pub semantic_dir: Option<PathBuf>,
    /// Images larger than one tile run tile by tile (docs/tiling.md).
    pub tile: Option<TileOptions>,
    /// The folder of the scratch file that holds a large tiled image's foreground probability
    /// planes (`None`: `std::env::temp_dir()`; docs/tiling.md#plane-store).
    pub scratch_dir: Option<PathBuf>,
    /// Foreground planes of more bytes than this go to the scratch file (`None`:
    /// [`crate::tile::planes::SPILL_THRESHOLD_BYTES`]; docs/tiling.md#plane-store).
    pub spill_above: Option<u64>,
    /// Images (or tiles) per forward pass.
    pub batch: usize,
    /// Keep the class map and the boundary of tiled images on compact maps for the sink
    /// (`--save semantic,boundary`); otherwise the banded MEP frees them as it goes
    /// (docs/tiling.md#memory).
    pub keep_maps: bool,
}

/// The maps of one finished image, as far as they were kept.
#[derive(Debug)]
pub enum FinishedMaps {
    /// Full maps at image resolution.
    Full(Maps),
    /// A tiled image on compact maps (docs/tiling.md#memory): its class map and boundary when
    /// [`EngineOptions::keep_maps`] asked for them.
    Compact(Option<(Array2<u16>, Array2<f32>)>),
}

impl FinishedMaps {
    /// The per-pixel class map, when kept.
    ///
    /// # Errors
    /// As [`Maps::class_map`].
    pub fn class_map(&self) -> Result<Option<std::borrow::Cow<'_, Array2<u16>>>> {
        Ok(match self {
            Self::Full(maps) => Some(std::borrow::Cow::Owned(maps.class_map()?)),
            Self::Compact(kept) => kept.as_ref().map(|(c, _)| std::borrow::Cow::Borrowed(c)),
        })
    }

    /// The boundary map, when kept.
    #[must_use]
    pub fn boundary(&self) -> Option<ndarray::ArrayView2<'_, f32>> {
        match self {
            Self::Full(maps) => Some(maps.boundary.view()),
            Self::Compact(kept) => kept.as_ref().map(|(_, b)| b.view()),
        }
    }
}

/// Where an image's network outputs come from.
enum Outputs {
    /// One slot of a batch's outputs, with the letterbox that places the image in it.
    Batch(Arc<RawOutputs>, usize, Letterbox),
    /// Maps stitched from tiles (`src/tile.rs`).
    Tiled(Stitched),
}

/// One image after the forward pass, waiting for its maps and the MEP.
pub struct ImageJob {
    /// Its input index.
    pub index: usize,
    /// The decoded image.
    pub image: RgbImage,
    outputs: Outputs,
}

impl std::fmt::Debug for ImageJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageJob")
            .field("index", &self.index)
            .field("size", &self.image.dimensions())
            .field("tiled", &matches!(self.outputs, Outputs::Tiled(_)))
            .finish()
    }
}

/// What one forward pass gave.
#[derive(Debug)]
pub enum Forward {
    /// Every image of the group, ready for [`Finisher::finish`].
    Ready(Vec<ImageJob>),
    /// ONNX Runtime refused a group of several images: run them again one by one
    /// ([`Batcher::singly`]).
    Retry(Group<RgbImage>),
    /// ONNX Runtime refused this one image: `(index, reason)`; only this image is skipped.
    Failed(usize, String),
    /// This one image could not be run for a reason of its own, e.g. its scratch file could not
    /// be written (no space left: [`Error::Io`] naming the scratch folder); only this image is
    /// skipped.
    Skipped(usize, Error),
}

/// The thread-safe part of the engine: maps and MEP of one image.
#[derive(Debug)]
pub struct Finisher {
    mep: MepParams,
    meps: MepPool,
    semantic_dir: Option<PathBuf>,
    keep_maps: bool,
    classes: Vec<String>,
}

impl Finisher {
    /// The model's class names (without background).
    #[must_use]
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The external semantic labels of the image named `stem`, when a label directory is set.
    fn labels(&self, stem: &str) -> Result<Option<(PathBuf, Array2<u16>)>> {
        let Some(dir) = &self.semantic_dir else {
            return Ok(None);
        };
        let path = dir.join(format!("{stem}.png"));
        let mut labels = crate::mep::io::read_labels(&path)?;
        crate::mep::io::apply_label_rule(&mut labels, Some(self.classes.len()), &path);
        Ok(Some((path, labels)))
    }

    /// The maps and instances (MEP) of one image; `stem` names its external semantic labels.
    ///
    /// # Errors
    /// Unreadable or mismatched semantic labels, and the MEP's errors.
    pub fn finish(&self, stem: &str, job: ImageJob) -> Result<(RgbImage, FinishedMaps, Vec<Instance>)> {
        let labels = self.labels(stem)?;
        let (w, h) = job.image.dimensions();
        let view = ArrayView3::from_shape((h as usize, w as usize, 3), job.image.as_raw())
            .map_err(|e| Error::invalid("image", e))?;
        let maps = match job.outputs {
            Outputs::Tiled(stitched)
                if stitched.is_compact() || labels.is_some() && self.mep.mode == MepMode::Paper =>
            {
                // The banded paper MEP on compact maps (docs/tiling.md#banded-mep).
                let compact = stitched.into_compact(labels.map(|(_, l)| l))?;
                let kept = self
                    .keep_maps
                    .then(|| (compact.classes.clone(), compact.boundary.clone()));
                let instances = crate::tile::mep::extract_compact(view, compact, &self.mep)?;
                return Ok((job.image, FinishedMaps::Compact(kept), instances));
            }
            Outputs::Tiled(stitched) => stitched.into_maps(labels.map(|(_, l)| l))?,
            Outputs::Batch(raw, slot, letterbox) => match labels {
                Some((path, labels)) => maps::from_outputs_with_labels(&raw, slot, &letterbox, labels)
                    .map_err(|e| Error::invalid(path.display(), e))?,
                None => maps::from_outputs(&raw, slot, &letterbox)?,
            },
        };
        let instances = self.meps.run(&self.mep, &maps.mep_input(view)?)?;
        Ok((job.image, FinishedMaps::Full(maps), instances))
    }
}

/// Time the engine spent, summed over its forward passes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineTimes {
    /// Building input tensors (and, tiled, cutting and stitching tiles).
    pub preprocess: Duration,
    /// Inside ONNX Runtime.
    pub ort: Duration,
}

/// A loaded model with its processing options; see the module documentation.
#[derive(Debug)]
pub struct Engine {
    model: Model,
    finisher: Arc<Finisher>,
    tile: Option<TileOptions>,
    spill: SpillOptions,
    batch: usize,
    times: EngineTimes,
}

impl Engine {
    /// The engine of `model` with `options`.
    ///
    /// # Errors
    /// Bad tile options ([`TileOptions::validate`]).
    pub fn new(model: Model, options: EngineOptions) -> Result<Self> {
        let classes = model.info.classes.clone();
        let mut engine = Self {
            model,
            finisher: Arc::new(Finisher {
                mep: MepParams::default(),
                meps: MepPool::default(),
                semantic_dir: None,
                keep_maps: false,
                classes,
            }),
            tile: None,
            spill: SpillOptions::default(),
            batch: 1,
            times: EngineTimes::default(),
        };
        engine.set_options(options)?;
        Ok(engine)
    }

    /// Changes the processing options (the MEP runners are kept while the parameters are).
    ///
    /// # Errors
    /// Bad tile options ([`TileOptions::validate`]), a scratch folder that is not a directory
    /// ([`SpillOptions::check`]).
    pub fn set_options(&mut self, options: EngineOptions) -> Result<()> {
        let spill = SpillOptions::new(options.scratch_dir.clone(), options.spill_above);
        if let Some(t) = &options.tile {
            t.validate(self.model.info.size_divisor)?;
            spill.check()?;
        }
        self.spill = spill;
        let same = self.finisher.mep == options.mep
            && self.finisher.semantic_dir == options.semantic_dir
            && self.finisher.keep_maps == options.keep_maps;
        if !same {
            self.finisher = Arc::new(Finisher {
                mep: options.mep,
                meps: MepPool::default(),
                semantic_dir: options.semantic_dir,
                keep_maps: options.keep_maps,
                classes: self.model.info.classes.clone(),
            });
        }
        self.tile = options.tile;
        self.batch = options.batch.max(1);
        Ok(())
    }

    /// The model.
    #[must_use]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The shareable maps + MEP part.
    #[must_use]
    pub fn finisher(&self) -> Arc<Finisher> {
        Arc::clone(&self.finisher)
    }

    /// Images per forward pass.
    #[must_use]
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Time spent so far.
    #[must_use]
    pub fn times(&self) -> EngineTimes {
        self.times
    }

    /// A batcher for this engine's batch size and model.
    #[must_use]
    pub fn batcher<T>(&self) -> Batcher<T> {
        Batcher::new(self.batch, self.model.info.size_divisor)
    }

    /// Whether an image of `(height, width)` runs tile by tile (alone, never batched).
    #[must_use]
    pub fn needs_tiles(&self, (height, width): (usize, usize)) -> bool {
        self.tile
            .is_some_and(|t| t.needs_tiling(height, width, self.model.info.size_divisor))
    }

    /// One forward pass on `group` (a single image when it [`needs_tiles`](Self::needs_tiles)).
    ///
    /// # Errors
    /// Fatal problems only: a model that breaks its contract. ONNX Runtime failures are reported
    /// in [`Forward`] (e.g. out of memory on one large image).
    pub fn forward(&mut self, group: Group<RgbImage>) -> Result<Forward> {
        if let [(_, image)] = group.as_slice()
            && self.needs_tiles((image.height() as usize, image.width() as usize))
            && let Some(opts) = self.tile
        {
            return self.forward_tiled(group, &opts);
        }
        let images: Vec<&RgbImage> = group.iter().map(|(_, img)| img).collect();
        let t0 = Instant::now();
        let batch = {
            let _span = timing::span("input::preprocess");
            make_batch(
                &images,
                &self.model.info.normalization(),
                self.model.info.size_divisor,
            )
        };
        let t1 = Instant::now();
        let forwarded = self.model.forward(batch.tensor.view());
        self.times.preprocess += t1 - t0;
        self.times.ort += t1.elapsed();
        let raw = match forwarded {
            Ok(raw) => Arc::new(raw),
            Err(Error::Ort { message: reason, .. }) => {
                return Ok(match <[_; 1]>::try_from(group) {
                    Ok([(index, _)]) => Forward::Failed(index, reason),
                    Err(group) => {
                        tracing::warn!(
                            "ONNX Runtime failed on a batch of {} images ({reason}): retrying them one by one",
                            group.len()
                        );
                        Forward::Retry(group)
                    }
                });
            }
            Err(e) => return Err(e),
        };
        let jobs = group
            .into_iter()
            .zip(batch.letterboxes)
            .enumerate()
            .map(|(slot, ((index, image), letterbox))| ImageJob {
                index,
                image,
                outputs: Outputs::Batch(Arc::clone(&raw), slot, letterbox),
            })
            .collect();
        Ok(Forward::Ready(jobs))
    }

    /// `--tile`: the image runs tile by tile; its stitched maps go to the MEP whole.
    fn forward_tiled(&mut self, group: Group<RgbImage>, opts: &TileOptions) -> Result<Forward> {
        let Some((index, image)) = group.into_iter().next() else {
            return Ok(Forward::Ready(Vec::new()));
        };
        let t0 = Instant::now();
        let keep = SemanticKeep::for_run(&self.finisher.mep, self.finisher.semantic_dir.is_some());
        let (stitched, ort) =
            match crate::tile::infer_tiled_with(&mut self.model, &image, opts, self.batch, keep, &self.spill)
            {
                Ok(done) => done,
                // As for a one-image batch: an ONNX Runtime failure skips this image only.
                Err(Error::Ort { message: reason, .. }) => return Ok(Forward::Failed(index, reason)),
                // The scratch file of this image's planes (the only file the tiled pass writes)
                // could not be made or written, e.g. no space left: this image only.
                Err(e @ Error::Io { .. }) => return Ok(Forward::Skipped(index, e)),
                Err(e) => return Err(e),
            };
        self.times.ort += ort;
        self.times.preprocess += t0.elapsed().saturating_sub(ort);
        Ok(Forward::Ready(vec![ImageJob {
            index,
            image,
            outputs: Outputs::Tiled(stitched),
        }]))
    }

    /// Segments images already in memory: grouped by the [`Batcher`], forward passes on this
    /// thread, the MEP of each batch in parallel on the current rayon pool. Returns one list of
    /// instances per image, in input order. No external semantic labels (`semantic_dir` is for
    /// named inputs).
    ///
    /// # Errors
    /// The first error of any image (an ONNX Runtime failure names the image's position).
    pub fn infer_batch(&mut self, images: Vec<RgbImage>) -> Result<Vec<Vec<Instance>>> {
        let mut out: Vec<Vec<Instance>> = vec![Vec::new(); images.len()];
        let mut batcher = self.batcher();
        let mut ready: Vec<Group<RgbImage>> = Vec::new();
        for (index, image) in images.into_iter().enumerate() {
            let size = (image.height() as usize, image.width() as usize);
            if self.needs_tiles(size) {
                ready.push(vec![(index, image)]);
            } else if let Some(group) = batcher.push(index, size, image) {
                ready.push(group);
            }
            for group in ready.drain(..) {
                self.run_group(group, &mut out)?;
            }
        }
        for group in batcher.finish() {
            self.run_group(group, &mut out)?;
        }
        Ok(out)
    }

    /// Forward pass and MEP of one group for [`Engine::infer_batch`].
    fn run_group(&mut self, group: Group<RgbImage>, out: &mut [Vec<Instance>]) -> Result<()> {
        let jobs = match self.forward(group)? {
            Forward::Ready(jobs) => jobs,
            Forward::Retry(group) => {
                for one in Batcher::singly(group) {
                    self.run_group(one, out)?;
                }
                return Ok(());
            }
            Forward::Failed(index, reason) => return Err(Error::ort(format!("image {index}: {reason}"))),
            Forward::Skipped(_, error) => return Err(error),
        };
        let finisher = &self.finisher;
        let done: Vec<(usize, Result<Vec<Instance>>)> = jobs
            .into_par_iter()
            .map(|job| (job.index, finisher.finish("", job).map(|(_, _, inst)| inst)))
            .collect();
        for (index, result) in done {
            out[index] = result?;
        }
        Ok(())
    }
}
