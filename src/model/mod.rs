//! Stage 1: the network, through ONNX Runtime.
//!
//! [`runtime`] finds and loads the ONNX Runtime shared library, [`contract`] checks a graph
//! against docs/model-contract.md and reads its metadata, [`session`] builds a session on the requested
//! execution provider (never falling back silently), and [`forward`] runs one batch.
pub mod contract;
pub mod forward;
pub mod runtime;
pub mod session;

pub use contract::ModelInfo;
pub use forward::RawOutputs;
pub use session::{Device, Model, SessionOptions};
