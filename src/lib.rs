//! # baiseg-rt
//!
//! Runtime for `BAISeg` (Boundary-Assisted weakly supervised Instance Segmentation): run an exported
//! `BAISeg` ONNX graph with ONNX Runtime, turn its boundary and semantic maps into instance masks with
//! the paper's Mask Extraction Pipeline (MEP), write COCO results, and evaluate them with
//! pycocotools-identical COCO metrics and the paper's VOC-style mAP.
//!
//! The modules in the order data flows through them:
//! image in -> model -> maps -> MEP -> instances -> outputs / evaluation.
//!
//! - Stage 0, [`input`]: input enumeration (files, directories, zip archives), decoding and
//!   preprocessing.
//! - Stage 1, [`model`]: ONNX Runtime sessions, the model I/O contract, and the forward pass;
//!   [`tile`]: tiled inference (the tile plan, tile batches, and stitching tile maps at the seams).
//! - Stage 2, [`maps`]: typed network outputs at image resolution (boundary and semantic maps);
//!   stage 2b, [`class_map`]: the per-pixel class map (argmax of the probabilities, or the
//!   labels), one policy.
//! - Stage 3, [`mep`]: the Mask Extraction Pipeline (docs/mep.md), one module per stage.
//! - Stage 4, [`instances`]: instances (cropped binary masks with class and score) and label maps;
//!   [`rle`]: COCO run-length encoding, bit-compatible with pycocotools' `maskApi.c`;
//!   [`polygon`]: masks as COCO polygons (crack contours, every part, holes bridged,
//!   `docs/outputs.md`).
//! - Stage 5a, [`output`]: output sinks (COCO results JSON, PNG maps, overlays) written
//!   atomically; [`provenance`]: what produced an output folder (`run.json`), for resume and merge
//!   checks.
//! - Stage 5b, [`eval`]: COCO and VOC instance-segmentation evaluation (pycocotools-identical).
//! - Across the stages: [`engine`], the one engine under every front end (plan, batcher, forward
//!   pass + MEP, sinks, results, `docs/engine.md`); [`timing`], per-stage timing spans and the
//!   end-of-run summary table; [`error`], the crate's error type.
//!
//! (The one-line summaries live here and not as outer docs on the `mod` items: rustdoc resolves
//! the intra-doc links of a module's own `//!` docs in the parent's scope when the item has outer
//! docs too.)
#![deny(missing_docs)]

pub mod class_map;
pub mod engine;
pub mod error;
pub mod eval;
pub mod input;
pub mod instances;
pub mod maps;
pub mod mep;
pub mod model;
pub mod output;
pub mod polygon;
pub mod provenance;
pub mod rle;
pub mod tile;
pub mod timing;

pub use error::{CocoError, Error, Result};
