//! # baiseg-rt
//!
//! Runtime for `BAISeg` (Boundary-Assisted weakly supervised Instance Segmentation): run an exported
//! `BAISeg` ONNX graph with ONNX Runtime, turn its boundary and semantic maps into instance masks with
//! the paper's Mask Extraction Pipeline (MEP), write COCO results, and evaluate them with
//! pycocotools-identical COCO metrics and the paper's VOC-style mAP.
//!
//! The modules below are listed in the order data flows through them:
//! image in -> model -> maps -> MEP -> instances -> outputs / evaluation.
#![deny(missing_docs)]

/// Stage 2b: the per-pixel class map (argmax of the probabilities, or the labels), one policy.
pub mod class_map;
/// The engine: plan, batcher, forward pass + MEP, sinks, results (`docs/engine.md`).
pub mod engine;
pub mod error;

/// Stage 5b: COCO and VOC instance-segmentation evaluation (pycocotools-identical).
pub mod eval;
/// Stage 0: input enumeration (files, directories, zip archives), decoding and preprocessing.
pub mod input;
/// Stage 4: instances (cropped binary masks with class and score) and label maps.
pub mod instances;
/// Stage 2: typed network outputs at image resolution (boundary and semantic maps).
pub mod maps;
/// Stage 3: the Mask Extraction Pipeline (docs/mep.md), one module per stage.
pub mod mep;
/// Stage 1: ONNX Runtime sessions, the model I/O contract, and the forward pass.
pub mod model;
/// Stage 5a: output sinks (COCO results JSON, PNG maps, overlays) written atomically.
pub mod output;
/// Masks as COCO polygons: crack contours, every part, holes bridged (`docs/outputs.md`).
pub mod polygon;
/// What produced an output folder (`run.json`): resume and merge checks.
pub mod provenance;
/// COCO run-length encoding, bit-compatible with pycocotools' `maskApi.c`.
pub mod rle;
/// Tiled inference: the tile plan, tile batches, and stitching tile maps at the seams.
pub mod tile;
/// Per-stage timing spans and the end-of-run summary table.
pub mod timing;

pub use error::{CocoError, Error, Result};
