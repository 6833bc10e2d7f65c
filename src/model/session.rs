//! Building an ONNX Runtime session for a `BAISeg` model on a chosen execution provider.
//!
//! `cpu`, `cuda[:N]` and `tensorrt[:N]` are strict: if the provider cannot be registered the load
//! fails with an error that says why (no silent CPU fallback). `auto` tries CUDA and falls back to
//! the CPU, logging what it chose.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[cfg(feature = "cuda")]
use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use super::contract::{ModelInfo, tensor_spec};
use super::runtime;
use crate::error::{Error, Result};

/// Where to run the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// CUDA on the given GPU.
    Cuda(i32),
    /// `TensorRT` on the given GPU (engines cached on disk).
    TensorRt(i32),
    /// CUDA when it can be registered, else CPU (logged).
    Auto,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::TensorRt(n) => write!(f, "tensorrt:{n}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => {
                let n: i32 = i
                    .parse()
                    .map_err(|_| format!("invalid device index `{i}` in `{s}`"))?;
                if n < 0 {
                    return Err(format!("invalid device index `{i}` in `{s}`"));
                }
                (k, Some(n))
            }
            None => (s, None),
        };
        match (kind.to_ascii_lowercase().as_str(), index) {
            ("cpu", None) => Ok(Self::Cpu),
            ("auto", None) => Ok(Self::Auto),
            ("cuda", n) => Ok(Self::Cuda(n.unwrap_or(0))),
            ("tensorrt" | "trt", n) => Ok(Self::TensorRt(n.unwrap_or(0))),
            _ => Err(format!(
                "unknown device `{s}` (expected cpu, cuda[:N], tensorrt[:N] or auto)"
            )),
        }
    }
}

/// Options for loading a model.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Execution provider.
    pub device: Device,
    /// ONNX Runtime intra-op threads (`None`: ORT's default, all cores).
    pub threads: Option<usize>,
    /// `TensorRT` engine cache directory (default: next to the model, `<model>.trt-cache/`).
    pub trt_cache: Option<PathBuf>,
}

/// A loaded, contract-checked `BAISeg` model.
pub struct Model {
    pub(super) session: Session,
    /// What the model declares.
    pub info: ModelInfo,
    /// The model file.
    pub path: PathBuf,
    /// The execution provider actually in use (`cpu`, `cuda:0`, ...).
    pub device: Device,
    /// The ONNX Runtime library that was loaded.
    pub library: PathBuf,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

fn ort_error(path: &Path, what: &str) -> impl Fn(ort::Error<SessionBuilder>) -> Error {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |e| Error::ort_with(format!("{path}: {what}"), e.into())
}

impl Model {
    /// Loads `path`, registers the execution provider and checks the model contract.
    ///
    /// # Errors
    /// [`Error::Io`] for a missing model file, [`Error::Ort`] when ONNX Runtime is missing or the
    /// provider cannot be registered, [`Error::ModelContract`] for a graph that is not a `BAISeg`
    /// model.
    pub fn load(path: &Path, options: &SessionOptions) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "model file not found"),
            ));
        }
        let (env, library) = runtime::environment()?;
        let (session, device) = match options.device {
            Device::Auto => match Self::build(env, path, options, Device::Cuda(0)) {
                Ok(s) => {
                    tracing::info!("device auto: using CUDA (GPU 0)");
                    (s, Device::Cuda(0))
                }
                Err(e) => {
                    tracing::info!("device auto: CUDA unavailable ({e}); using the CPU");
                    (Self::build(env, path, options, Device::Cpu)?, Device::Cpu)
                }
            },
            d => (Self::build(env, path, options, d)?, d),
        };
        let inputs = session
            .inputs()
            .iter()
            .map(|o| tensor_spec(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| tensor_spec(o.name(), o.dtype()))
            .collect();
        let metadata = read_metadata(&session, path)?;
        let info = ModelInfo::check(path, inputs, outputs, metadata)?;
        Ok(Self {
            session,
            info,
            path: path.to_path_buf(),
            device,
            library: library.to_path_buf(),
        })
    }

    fn build(
        env: &ort::environment::Environment,
        path: &Path,
        options: &SessionOptions,
        device: Device,
    ) -> Result<Session> {
        let mut builder = Session::builder(env)
            .map_err(|e| Error::ort_with(format!("{}: cannot create a session builder", path.display()), e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(ort_error(path, "cannot set the optimisation level"))?;
        if let Some(n) = options.threads {
            builder = builder
                .with_intra_threads(n.max(1))
                .map_err(ort_error(path, "cannot set threads"))?;
        }
        #[cfg(feature = "cuda")]
        let provider_missing = |name: &str| {
            Error::setting(
                "device",
                format!(
                    "{device}: the loaded ONNX Runtime library was built without the {name} execution provider; \
                     install `onnxruntime-gpu` and set ORT_DYLIB_PATH to its libonnxruntime.so"
                ),
            )
        };
        match device {
            Device::Cpu | Device::Auto => {}
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) | Device::TensorRt(_) => {
                return Err(Error::setting(
                    "device",
                    format!(
                        "{device}: this baiseg-rt was built without the `cuda`/`tensorrt` cargo features"
                    ),
                ));
            }
            #[cfg(feature = "cuda")]
            Device::Cuda(n) => {
                if !ort::ep::CUDA::is_available().unwrap_or(false) {
                    return Err(provider_missing("CUDA"));
                }
                let ep = ort::ep::CUDA::default()
                    .with_device_id(n)
                    .build()
                    .error_on_failure();
                builder = builder
                    .with_execution_providers([ep])
                    .map_err(ort_error(path, &format!("cannot register CUDA on GPU {n}")))?;
            }
            #[cfg(all(feature = "cuda", not(feature = "tensorrt")))]
            Device::TensorRt(_) => {
                return Err(Error::setting(
                    "device",
                    format!("{device}: this baiseg-rt was built without the `tensorrt` cargo feature"),
                ));
            }
            #[cfg(feature = "tensorrt")]
            Device::TensorRt(n) => {
                if !ort::ep::TensorRT::is_available().unwrap_or(false) {
                    return Err(provider_missing("TensorRT"));
                }
                let cache = options.trt_cache.clone().unwrap_or_else(|| {
                    let mut p = path.as_os_str().to_owned();
                    p.push(".trt-cache");
                    PathBuf::from(p)
                });
                std::fs::create_dir_all(&cache).map_err(|e| Error::io(&cache, e))?;
                let trt = ort::ep::TensorRT::default()
                    .with_device_id(n)
                    .with_engine_cache(true)
                    .with_engine_cache_path(cache.display())
                    .build()
                    .error_on_failure();
                // CUDA handles the nodes TensorRT does not take.
                let cuda = ort::ep::CUDA::default()
                    .with_device_id(n)
                    .build()
                    .error_on_failure();
                builder = builder
                    .with_execution_providers([trt, cuda])
                    .map_err(ort_error(path, &format!("cannot register TensorRT on GPU {n}")))?;
            }
        }
        builder.commit_from_file(path).map_err(|e| Error::ModelContract {
            path: path.to_path_buf(),
            reason: format!("ONNX Runtime cannot load it: {e}"),
        })
    }
}

fn read_metadata(session: &Session, path: &Path) -> Result<BTreeMap<String, String>> {
    let md = session
        .metadata()
        .map_err(|e| Error::ort_with(format!("{}: cannot read metadata", path.display()), e))?;
    let keys = md
        .custom_keys()
        .map_err(|e| Error::ort_with(format!("{}: cannot read metadata", path.display()), e))?;
    let mut out = BTreeMap::new();
    for key in keys {
        if let Some(value) = md.custom(&key) {
            out.insert(key, value);
        }
    }
    if let Some(producer) = md.producer() {
        out.entry("producer_name".into()).or_insert(producer);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:1".parse::<Device>(), Ok(Device::Cuda(1)));
        assert_eq!("tensorrt:2".parse::<Device>(), Ok(Device::TensorRt(2)));
        assert_eq!("auto".parse::<Device>(), Ok(Device::Auto));
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
        assert!("cpu:1".parse::<Device>().is_err());
    }
}
