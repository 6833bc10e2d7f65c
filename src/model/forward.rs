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
            Error::ort_with(
                format!("{}: cannot create the input tensor", self.path.display()),
                e,
            )
        })?;
        let outputs = self
            .session
            .run(ort::inputs!["image" => input])
            .map_err(|e| Error::ort_with(format!("{}: inference failed", self.path.display()), e))?;
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
        check_probabilities(&self.path, OUTPUT_BOUNDARY, &boundary)?;
        if let Some(sem) = &semantic {
            check_probabilities(&self.path, OUTPUT_SEMANTIC, sem)?;
        }
        Ok(RawOutputs { boundary, semantic })
    }
}

/// Tolerance on the [0, 1] range of probability outputs (float rounding of sigmoid/softmax).
const PROBABILITY_SLACK: f32 = 1e-3;

/// The contract (docs/model-contract.md) wants probabilities: sigmoid/softmax applied in the graph. Raw
/// logits would silently become scores far outside [0, 1]; they are refused, naming the range.
///
/// # Errors
/// [`Error::ModelContract`] naming the output and the range found.
pub fn check_probabilities(path: &std::path::Path, name: &str, values: &Array4<f32>) -> Result<()> {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    let mut nan = false;
    for &v in values {
        nan |= v.is_nan();
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if nan || lo < -PROBABILITY_SLACK || hi > 1.0 + PROBABILITY_SLACK {
        return Err(Error::ModelContract {
            path: path.to_path_buf(),
            reason: format!(
                "output `{name}` holds values in [{lo}, {hi}]{}, but the contract wants probabilities in [0, 1] \
                 (apply sigmoid/softmax in the graph)",
                if nan { " and NaN" } else { "" }
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_are_refused_as_a_contract_error() {
        let ok = Array4::<f32>::from_elem((1, 1, 2, 2), 0.5);
        assert!(check_probabilities(std::path::Path::new("m.onnx"), "boundary", &ok).is_ok());
        let mut logits = ok.clone();
        logits[[0, 0, 1, 1]] = 24.0;
        logits[[0, 0, 0, 0]] = -2.4;
        let e = check_probabilities(std::path::Path::new("m.onnx"), "boundary", &logits)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.onnx") && e.contains("[-2.4, 24]") && e.contains("[0, 1]"),
            "{e}"
        );
        let mut nan = ok;
        nan[[0, 0, 0, 1]] = f32::NAN;
        assert!(check_probabilities(std::path::Path::new("m.onnx"), "semantic", &nan).is_err());
    }
}
