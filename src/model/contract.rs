//! The `BAISeg` model contract (docs/model-contract.md): I/O names, ranks, dtypes and `metadata_props`.
//!
//! A graph is accepted only if it has an `image` f32 input of rank 4 with 3 channels, a `boundary`
//! f32 output of rank 4 with 1 channel, optionally a `semantic` f32 output of rank 4 with K+1
//! channels, and the `baiseg.*` metadata keys. Anything missing is reported by name.
use std::collections::BTreeMap;
use std::path::Path;

use ort::value::TensorElementType;
use ort::value::ValueType;
use serde::Serialize;

use crate::error::{Error, Result};

/// Largest `baiseg.size_divisor` accepted (network strides are 32..128 in practice).
pub const MAX_SIZE_DIVISOR: usize = 1024;

/// Name of the image input.
pub const INPUT_IMAGE: &str = "image";
/// Name of the boundary output.
pub const OUTPUT_BOUNDARY: &str = "boundary";
/// Name of the (optional) semantic output.
pub const OUTPUT_SEMANTIC: &str = "semantic";
/// Metadata keys every model must carry.
pub const REQUIRED_METADATA: &[&str] = &[
    "baiseg.classes",
    "baiseg.mean",
    "baiseg.std",
    "baiseg.size_divisor",
    "baiseg.input_size",
];

/// One graph input or output as declared by the model (`-1` = dynamic axis).
#[derive(Debug, Clone, Serialize)]
pub struct TensorSpec {
    /// Name.
    pub name: String,
    /// Element type, e.g. `f32`.
    pub dtype: String,
    /// Declared shape; `-1` for dynamic axes.
    pub shape: Vec<i64>,
    /// Symbolic names of the axes (empty when static).
    pub symbols: Vec<String>,
}

/// What the runtime needs to know about a model, read from the graph and its metadata.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Class names without background; class id `k` (1-based) is `classes[k - 1]`.
    pub classes: Vec<String>,
    /// Normalisation mean for [0, 1]-scaled RGB.
    pub mean: [f32; 3],
    /// Normalisation std for [0, 1]-scaled RGB.
    pub std: [f32; 3],
    /// Input sides must be multiples of this.
    pub size_divisor: usize,
    /// Training input size (informational).
    pub input_size: String,
    /// Whether the graph has a `semantic` output.
    pub has_semantic: bool,
    /// Graph inputs.
    pub inputs: Vec<TensorSpec>,
    /// Graph outputs.
    pub outputs: Vec<TensorSpec>,
    /// All `metadata_props`, including `baiseg.config` and `baiseg.version`.
    pub metadata: BTreeMap<String, String>,
}

fn dtype_name(ty: TensorElementType) -> String {
    match ty {
        TensorElementType::Float32 => "f32".into(),
        TensorElementType::Float16 => "f16".into(),
        TensorElementType::Float64 => "f64".into(),
        TensorElementType::Uint8 => "u8".into(),
        TensorElementType::Int64 => "i64".into(),
        TensorElementType::Int32 => "i32".into(),
        other => format!("{other:?}"),
    }
}

/// Describes an ORT outlet; non-tensors get dtype `"non-tensor"`.
pub(crate) fn tensor_spec(name: &str, ty: &ValueType) -> TensorSpec {
    match ty {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => TensorSpec {
            name: name.to_owned(),
            dtype: dtype_name(*ty),
            shape: shape.iter().copied().collect(),
            symbols: dimension_symbols.iter().map(ToString::to_string).collect(),
        },
        _ => TensorSpec {
            name: name.to_owned(),
            dtype: "non-tensor".into(),
            shape: vec![],
            symbols: vec![],
        },
    }
}

fn parse_triplet(path: &Path, key: &str, value: &str) -> Result<[f32; 3]> {
    let v: Vec<f32> = serde_json::from_str(value).map_err(|e| Error::ModelContract {
        path: path.to_path_buf(),
        reason: format!("metadata `{key}` = {value:?} is not a JSON list of 3 numbers: {e}"),
    })?;
    <[f32; 3]>::try_from(v.as_slice()).map_err(|_| Error::ModelContract {
        path: path.to_path_buf(),
        reason: format!("metadata `{key}` must hold exactly 3 numbers, got {}", v.len()),
    })
}

impl ModelInfo {
    /// Checks declared I/O and metadata against the contract.
    ///
    /// # Errors
    /// [`Error::ModelContract`] naming every missing or wrong item.
    #[allow(
        clippy::too_many_lines,
        reason = "one check per contract item, in the order docs/model-contract.md lists them"
    )]
    pub fn check(
        path: &Path,
        inputs: Vec<TensorSpec>,
        outputs: Vec<TensorSpec>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self> {
        let contract = |reason: String| Error::ModelContract {
            path: path.to_path_buf(),
            reason,
        };
        let mut problems = Vec::new();
        match inputs.iter().find(|t| t.name == INPUT_IMAGE) {
            None => problems.push(format!(
                "no input named `image` (inputs: {})",
                inputs
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(t) if t.dtype != "f32" || t.shape.len() != 4 || !(t.shape[1] == 3 || t.shape[1] == -1) => {
                problems.push(format!(
                    "input `image` must be f32 [N,3,H,W], is {} {:?}",
                    t.dtype, t.shape
                ));
            }
            Some(_) => {}
        }
        if inputs.len() > 1 {
            problems.push(format!("expected one input, found {}", inputs.len()));
        }
        match outputs.iter().find(|t| t.name == OUTPUT_BOUNDARY) {
            None => problems.push(format!(
                "no output named `boundary` (outputs: {})",
                outputs
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(t) if t.dtype != "f32" || t.shape.len() != 4 || !(t.shape[1] == 1 || t.shape[1] == -1) => {
                problems.push(format!(
                    "output `boundary` must be f32 [N,1,H,W], is {} {:?}",
                    t.dtype, t.shape
                ));
            }
            Some(_) => {}
        }
        let semantic = outputs.iter().find(|t| t.name == OUTPUT_SEMANTIC);
        if let Some(t) = semantic.filter(|t| t.dtype != "f32" || t.shape.len() != 4) {
            problems.push(format!(
                "output `semantic` must be f32 [N,K+1,H,W], is {} {:?}",
                t.dtype, t.shape
            ));
        }
        let missing: Vec<&str> = REQUIRED_METADATA
            .iter()
            .copied()
            .filter(|k| !metadata.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            problems.push(format!("missing metadata_props: {}", missing.join(", ")));
        }
        if !problems.is_empty() {
            return Err(contract(problems.join("; ")));
        }
        let get = |k: &str| metadata.get(k).map(String::as_str).unwrap_or_default();
        let classes: Vec<String> = serde_json::from_str(get("baiseg.classes")).map_err(|e| {
            contract(format!(
                "metadata `baiseg.classes` is not a JSON list of strings: {e}"
            ))
        })?;
        if classes.is_empty() {
            return Err(contract("metadata `baiseg.classes` is empty".into()));
        }
        let mean = parse_triplet(path, "baiseg.mean", get("baiseg.mean"))?;
        let std = parse_triplet(path, "baiseg.std", get("baiseg.std"))?;
        if std.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
            return Err(contract(format!(
                "metadata `baiseg.std` must be positive, got {std:?}"
            )));
        }
        let size_divisor: usize = get("baiseg.size_divisor").trim().parse().map_err(|e| {
            contract(format!(
                "metadata `baiseg.size_divisor` = {:?} is not an integer: {e}",
                get("baiseg.size_divisor")
            ))
        })?;
        if size_divisor == 0 || size_divisor > MAX_SIZE_DIVISOR {
            return Err(contract(format!(
                "metadata `baiseg.size_divisor` = {size_divisor} is out of range (1..={MAX_SIZE_DIVISOR}): \
                 every input would be padded to a multiple of it"
            )));
        }
        if let Some(t) = semantic {
            let k1 = t.shape[1];
            if k1 != -1 && usize::try_from(k1).ok() != Some(classes.len() + 1) {
                return Err(contract(format!(
                    "output `semantic` has {k1} channels but `baiseg.classes` lists {} classes (+1 background expected)",
                    classes.len()
                )));
            }
        }
        Ok(Self {
            classes,
            mean,
            std,
            size_divisor,
            input_size: get("baiseg.input_size").to_owned(),
            has_semantic: semantic.is_some(),
            inputs,
            outputs,
            metadata,
        })
    }

    /// The normalisation to apply to inputs.
    #[must_use]
    pub fn normalization(&self) -> crate::input::Normalization {
        crate::input::Normalization {
            mean: self.mean,
            std: self.std,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype: "f32".into(),
            shape: shape.to_vec(),
            symbols: vec![],
        }
    }

    fn metadata() -> BTreeMap<String, String> {
        [
            ("baiseg.classes", r#"["a","b"]"#),
            ("baiseg.mean", "[0.5,0.5,0.5]"),
            ("baiseg.std", "[0.2,0.2,0.2]"),
            ("baiseg.size_divisor", "32"),
            ("baiseg.input_size", "256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn accepts_a_conforming_model() {
        let info = ModelInfo::check(
            Path::new("m.onnx"),
            vec![spec("image", &[-1, 3, -1, -1])],
            vec![
                spec("boundary", &[-1, 1, -1, -1]),
                spec("semantic", &[-1, 3, -1, -1]),
            ],
            metadata(),
        )
        .unwrap();
        assert_eq!(info.classes, ["a", "b"]);
        assert!(info.has_semantic);
        assert_eq!(info.size_divisor, 32);
    }

    #[test]
    fn reports_everything_missing() {
        let mut md = metadata();
        md.remove("baiseg.mean");
        let err = ModelInfo::check(
            Path::new("m.onnx"),
            vec![spec("input", &[1, 3, 4, 4])],
            vec![spec("out", &[1])],
            md,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("m.onnx") && err.contains("`image`") && err.contains("`boundary`"),
            "{err}"
        );
        assert!(err.contains("baiseg.mean"), "{err}");
    }

    #[test]
    fn rejects_class_count_mismatch() {
        let err = ModelInfo::check(
            Path::new("m.onnx"),
            vec![spec("image", &[-1, 3, -1, -1])],
            vec![
                spec("boundary", &[-1, 1, -1, -1]),
                spec("semantic", &[-1, 5, -1, -1]),
            ],
            metadata(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("5 channels"), "{err}");
    }

    #[test]
    fn rejects_absurd_size_divisor() {
        for bad in ["100000", "0", "-3", "1e9"] {
            let mut md = metadata();
            md.insert("baiseg.size_divisor".into(), bad.into());
            let err = ModelInfo::check(
                Path::new("m.onnx"),
                vec![spec("image", &[-1, 3, -1, -1])],
                vec![spec("boundary", &[-1, 1, -1, -1])],
                md,
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("m.onnx") && err.contains("size_divisor"),
                "{bad}: {err}"
            );
        }
    }
}
