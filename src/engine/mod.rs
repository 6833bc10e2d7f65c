//! The engine every front end uses (the CLI's `infer` and one-pass `eval`, the Python package and
//! its Ray pipeline); the design is in docs/engine.md.
//!
//! Data flow: [`plan()`] (todo / resumed / skipped inputs) -> decode -> [`Batcher`] (grouping by
//! padded size, flushing) -> [`Engine::forward`] (ONNX Runtime, plain or tiled) ->
//! [`Finisher::finish`] (maps, MEP) -> a [`Sink`] (files, evaluator, callback) -> the results
//! assembler ([`results::assemble`]). [`run()`] streams all of it over a worker pool;
//! [`Engine::infer_batch`] does the middle part for images already in memory.
pub mod batcher;
pub mod config;
pub mod infer;
pub mod mep_pool;
pub mod plan;
pub mod results;
pub mod run;
pub mod sink;

pub use batcher::{Batcher, Group};
pub use config::{Event, InferConfig, InferSummary, SaveSet};
pub use infer::{Engine, EngineOptions, EngineTimes, Finisher, Forward, ImageJob};
pub use mep_pool::MepPool;
pub use plan::{Plan, image_ids, plan};
pub use results::{RunResults, Written};
pub use run::run;
pub use sink::{Accepted, CallbackSink, EvalSink, FileSink, FinishedImage, OutputOptions, Sink};
