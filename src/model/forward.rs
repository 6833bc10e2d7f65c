//! Runs one batch through the network: the only code that touches `ort` values.
use ndarray::{Array4, ArrayView4, Ix4};
use ort::value::TensorRef;

use super::contract::{OUTPUT_BOUNDARY, OUTPUT_SEMANTIC};
use super::session::Model;
use crate::error::{Error, Result};

/// The network's outputs for one batch, at the network's output resolution.
#[derive(Debug, Clone)]
pub struct RawOutputs {
    /// `[N, 1, h, w]` boundary probabilities.
    pub boundary: Array4<f32>,
    /// `[N, K+1, h, w]` class probabilities, if the model has a semantic branch.
    pub semantic: Option<Array4<f32>>,
}

impl Model {
    /// Runs the network on a `[N, 3, H, W]` batch.
    ///
    /// # Errors
    /// [`Error::Ort`] when ONNX Runtime fails, [`Error::ModelContract`] when an output has an
    /// unexpected shape.
    pub fn forward(&mut self, batch: ArrayView4<'_, f32>) -> Result<RawOutputs> {
        let _span = crate::timing::span("model::forward");
        let n = batch.shape()[0];
        let input = TensorRef::from_array_view(batch).map_err(|e| {
            Error::Ort(format!(
                "{}: cannot create the input tensor: {e}",
                self.path.display()
            ))
        })?;
        let outputs = self
            .session
            .run(ort::inputs!["image" => input])
            .map_err(|e| Error::Ort(format!("{}: inference failed: {e}", self.path.display())))?;
        let extract = |name: &str| -> Result<Array4<f32>> {
            let value = outputs.get(name).ok_or_else(|| Error::ModelContract {
                path: self.path.clone(),
                reason: format!("output `{name}` missing from the run"),
            })?;
            let view = value
                .try_extract_array::<f32>()
                .map_err(|e| Error::ModelContract {
                    path: self.path.clone(),
                    reason: format!("output `{name}` is not an f32 tensor: {e}"),
                })?;
            let view = view
                .into_dimensionality::<Ix4>()
                .map_err(|_| Error::ModelContract {
                    path: self.path.clone(),
                    reason: format!("output `{name}` is not 4-D"),
                })?;
            if view.shape()[0] != n {
                return Err(Error::ModelContract {
                    path: self.path.clone(),
                    reason: format!(
                        "output `{name}` has batch size {} for an input of {n}",
                        view.shape()[0]
                    ),
                });
            }
            Ok(view.to_owned())
        };
        let boundary = extract(OUTPUT_BOUNDARY)?;
        if boundary.shape()[1] != 1 {
            return Err(Error::ModelContract {
                path: self.path.clone(),
                reason: format!(
                    "output `boundary` has {} channels, expected 1",
                    boundary.shape()[1]
                ),
            });
        }
        let semantic = if self.info.has_semantic {
            let s = extract(OUTPUT_SEMANTIC)?;
            if s.shape()[1] != self.info.classes.len() + 1 {
                return Err(Error::ModelContract {
                    path: self.path.clone(),
                    reason: format!(
                        "output `semantic` has {} channels, expected {} (K+1)",
                        s.shape()[1],
                        self.info.classes.len() + 1
                    ),
                });
            }
            Some(s)
        } else {
            None
        };
        Ok(RawOutputs { boundary, semantic })
    }
}
