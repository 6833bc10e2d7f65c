//! Native part of the `baiseg_rt` Python package (PyO3).
//!
//! The Python package (`python/baiseg_rt/`) wraps this module: it coerces arguments (dtypes,
//! dicts), sets `ORT_DYLIB_PATH` from the `onnxruntime` wheel, and defines the exception classes
//! that [`to_py_err`] raises. Every native call releases the GIL while it works.
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use baiseg_rt::Error;
use baiseg_rt::engine::{Engine, EngineOptions};
use baiseg_rt::eval::{self, CocoDataset, IouType, Params, Protocol};
use baiseg_rt::input::decode::decode_image as rs_decode_image;
use baiseg_rt::instances::{Instance as RsInstance, paint_label_map};
use baiseg_rt::mep::{MepInput, MepMode, MepParams, Semantic, extract};
use baiseg_rt::model::{Device, Model as RsModel, SessionOptions};
use baiseg_rt::output::ImageRecords;
use baiseg_rt::output::coco_json::{CategoryMap, CocoHeader};
use baiseg_rt::rle::{Rle, bbox_iou as rs_bbox_iou, rle_iou as rs_rle_iou};
use baiseg_rt::tile::TileOptions;
use image::RgbImage;
use ndarray::{Array2, Array3, ArrayView3, ShapeBuilder};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The `baiseg_rt` exception class for a library error.
fn exception_kind(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "BaisegIOError",
        Error::Decode { .. } => "DecodeError",
        Error::Invalid { .. } => "InvalidInputError",
        Error::Ort { .. }
        | Error::Setting {
            setting: "device", ..
        } => "OrtError",
        Error::Setting { .. } => "InvalidInputError",
        Error::ModelContract { .. } => "ModelContractError",
        Error::Json { .. } | Error::Coco { .. } => "CocoError",
        Error::Interrupted => "BaisegError",
    }
}

/// Raises exception class `kind` of `baiseg_rt._errors` with `msg` (a `RuntimeError` if the
/// class cannot be made).
fn make_exception(kind: &str, msg: &str) -> PyErr {
    Python::attach(|py| {
        match py
            .import("baiseg_rt._errors")
            .and_then(|m| m.getattr(kind))
            .and_then(|cls| cls.call1((msg.to_owned(),)))
        {
            Ok(obj) => PyErr::from_value(obj),
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg.to_owned()),
        }
    })
}

/// Converts a library error into the matching `baiseg_rt` exception (message = the CLI's).
fn to_py_err(e: Error) -> PyErr {
    make_exception(exception_kind(&e), &e.to_string())
}

fn invalid(what: &str, reason: impl std::fmt::Display) -> PyErr {
    to_py_err(Error::invalid(what, reason))
}

/// The MEP parameters by their CLI names, with the library's defaults ([`MepParams::default`]):
/// the one source of `baiseg_rt.MEP_DEFAULTS`.
#[pyfunction]
fn mep_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let p = MepParams::default();
    let d = PyDict::new(py);
    d.set_item("nms_radius", p.nms_radius)?;
    d.set_item("nms_margin", p.nms_margin)?;
    d.set_item("edge_threshold", p.edge_threshold)?;
    d.set_item("dilate_iterations", p.dilate_iterations)?;
    d.set_item("seed_distance", p.seed_distance)?;
    d.set_item("closing_kernel", p.closing_kernel)?;
    d.set_item("min_area", p.min_area)?;
    d.set_item("mep", p.mode.to_string())?;
    Ok(d)
}

/// [`MepParams`] from a dict of CLI names (missing keys: the defaults; the Python wrapper has
/// already refused unknown keys).
fn mep_params(d: &Bound<'_, PyDict>) -> PyResult<MepParams> {
    macro_rules! get {
        ($key:literal, $default:expr) => {
            match d.get_item($key)? {
                Some(v) => v.extract().map_err(|e: PyErr| invalid($key, e))?,
                None => $default,
            }
        };
    }
    let p = MepParams::default();
    let mode: String = get!("mep", p.mode.to_string());
    Ok(MepParams {
        nms_radius: get!("nms_radius", p.nms_radius),
        nms_margin: get!("nms_margin", p.nms_margin),
        edge_threshold: get!("edge_threshold", p.edge_threshold),
        dilate_iterations: get!("dilate_iterations", p.dilate_iterations),
        seed_distance: get!("seed_distance", p.seed_distance),
        closing_kernel: get!("closing_kernel", p.closing_kernel),
        min_area: get!("min_area", p.min_area),
        mode: mode.parse::<MepMode>().map_err(|e: String| invalid("mep", e))?,
        ..p
    })
}

/// One instance: a binary mask with its class and score.
#[pyclass(module = "baiseg_rt._native", name = "Instance", frozen)]
pub struct Instance {
    inner: RsInstance,
}

#[pymethods]
impl Instance {
    /// Model class index (1..=K; 0 is background and never appears).
    #[getter]
    fn category(&self) -> u32 {
        self.inner.category
    }

    /// Confidence: mean class probability over the mask (or label agreement).
    #[getter]
    fn score(&self) -> f64 {
        self.inner.score
    }

    /// Tight box `[x, y, w, h]` (pycocotools `toBbox`).
    #[getter]
    fn bbox(&self) -> [f64; 4] {
        self.inner.mask.bbox()
    }

    /// Number of mask pixels.
    #[getter]
    fn area(&self) -> u64 {
        self.inner.mask.area()
    }

    /// `(height, width)` of the image.
    #[getter]
    fn size(&self) -> (u32, u32) {
        (self.inner.mask.image_height, self.inner.mask.image_width)
    }

    /// pycocotools compressed RLE: `{"size": [h, w], "counts": str}`.
    #[getter]
    fn rle<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = &self.inner.mask;
        let counts = py.detach(|| m.to_rle().to_compressed_string());
        let d = PyDict::new(py);
        d.set_item("size", vec![m.image_height, m.image_width])?;
        d.set_item("counts", counts)?;
        Ok(d)
    }

    /// COCO polygons `[[x0, y0, x1, y1, ...], ...]`: one per part, holes bridged
    /// (`docs/outputs.md#polygons`); they rasterise back to exactly the mask.
    #[getter]
    fn polygons(&self, py: Python<'_>) -> Vec<Vec<f64>> {
        py.detach(|| baiseg_rt::polygon::crop_polygons(&self.inner.mask))
    }

    /// The mask over the whole image, numpy bool `[H, W]`.
    fn mask<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<bool>> {
        let m = &self.inner.mask;
        let full = py.detach(|| {
            let (ih, iw) = (m.image_height as usize, m.image_width as usize);
            let mut full = Array2::<bool>::from_elem((ih, iw), false);
            let (x, y, w) = (m.x as usize, m.y as usize, m.width as usize);
            for r in 0..m.height as usize {
                for c in 0..w {
                    if m.data[r * w + c] != 0 {
                        full[[y + r, x + c]] = true;
                    }
                }
            }
            full
        });
        full.into_pyarray(py)
    }

    fn __repr__(&self) -> String {
        let b = self.inner.mask.bbox();
        format!(
            "Instance(category={}, score={:.4}, area={}, bbox=[{}, {}, {}, {}])",
            self.inner.category,
            self.inner.score,
            self.inner.mask.area(),
            b[0],
            b[1],
            b[2],
            b[3]
        )
    }
}

fn wrap(instances: Vec<RsInstance>) -> Vec<Instance> {
    instances.into_iter().map(|inner| Instance { inner }).collect()
}

#[derive(Default)]
struct Times {
    preprocess: f64,
    ort: f64,
    mep: f64,
    total: f64,
    images: u64,
}

struct Loaded {
    engine: Engine,
    times: Times,
}

/// A loaded BAISeg model (ONNX Runtime session + contract).
#[pyclass(module = "baiseg_rt._native", name = "Model", frozen)]
pub struct Model {
    inner: Mutex<Loaded>,
    classes: Vec<String>,
    info_json: String,
}

fn to_rgb(a: ArrayView3<'_, u8>) -> PyResult<RgbImage> {
    let (h, w, c) = a.dim();
    if c != 3 {
        return Err(invalid(
            "image",
            format!("expected an RGB array of shape (H, W, 3), got (H, W, {c})"),
        ));
    }
    if h == 0 || w == 0 {
        return Err(invalid("image", "image has a zero dimension"));
    }
    let raw: Vec<u8> = match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    };
    RgbImage::from_raw(w as u32, h as u32, raw).ok_or_else(|| invalid("image", "bad buffer"))
}

impl Model {
    /// The engine's [`Engine::infer_batch`] (the CLI's batcher and forward pass) with these
    /// options; accumulates the times.
    fn run(
        &self,
        images: Vec<RgbImage>,
        batch_size: usize,
        params: MepParams,
        tile: Option<TileOptions>,
        scratch_dir: Option<PathBuf>,
        spill_above: Option<u64>,
    ) -> baiseg_rt::Result<Vec<Vec<RsInstance>>> {
        let t_start = Instant::now();
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| Error::invalid("model", "a previous call panicked"))?;
        let loaded = &mut *guard;
        loaded.engine.set_options(EngineOptions {
            mep: params,
            semantic_dir: None,
            tile,
            scratch_dir,
            spill_above,
            batch: batch_size,
            keep_maps: false,
        })?;
        let before = loaded.engine.times();
        let n = images.len() as u64;
        let out = loaded.engine.infer_batch(images)?;
        let after = loaded.engine.times();
        let total = t_start.elapsed().as_secs_f64();
        let pre = (after.preprocess - before.preprocess).as_secs_f64();
        let ort = (after.ort - before.ort).as_secs_f64();
        let t = &mut loaded.times;
        t.preprocess += pre;
        t.ort += ort;
        t.mep += (total - pre - ort).max(0.0);
        t.total += total;
        t.images += n;
        Ok(out)
    }
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (path, device = "cpu", threads = None))]
    fn new(py: Python<'_>, path: PathBuf, device: &str, threads: Option<usize>) -> PyResult<Self> {
        let device: Device = device.parse().map_err(|e: String| invalid("device", e))?;
        let opts = SessionOptions {
            device,
            threads,
            trt_cache: None,
        };
        let model = py.detach(|| RsModel::load(&path, &opts)).map_err(to_py_err)?;
        let classes = model.info.classes.clone();
        let info = serde_json::json!({
            "path": model.path,
            "device": model.device.to_string(),
            "library": model.library,
            "model": model.info,
        });
        let engine = Engine::new(model, EngineOptions::default()).map_err(to_py_err)?;
        Ok(Self {
            inner: Mutex::new(Loaded {
                engine,
                times: Times::default(),
            }),
            classes,
            info_json: info.to_string(),
        })
    }

    /// Class names without background (class id k is `classes[k - 1]`).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.classes.clone()
    }

    /// Model information as JSON (the Python wrapper parses it).
    #[getter]
    fn info_json(&self) -> String {
        self.info_json.clone()
    }

    /// Runs preprocessing, ONNX Runtime and the MEP on RGB uint8 arrays `[H, W, 3]`; with `tile`
    /// `(size, overlap)`, images larger than one tile run tile by tile (`infer --tile`), a large
    /// image's class probabilities in a scratch file in `scratch_dir` (`infer --scratch-dir`)
    /// when they take more than `spill_above` bytes (`infer --spill-above`; `None`: 256 MiB).
    #[pyo3(signature = (images, batch_size, params, tile = None, scratch_dir = None, spill_above = None))]
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per keyword of the Python method (`Model.infer`)"
    )]
    fn infer(
        &self,
        py: Python<'_>,
        images: Vec<PyReadonlyArray3<'_, u8>>,
        batch_size: usize,
        params: &Bound<'_, PyDict>,
        tile: Option<(usize, usize)>,
        scratch_dir: Option<PathBuf>,
        spill_above: Option<u64>,
    ) -> PyResult<Vec<Vec<Instance>>> {
        let imgs: Vec<RgbImage> = images
            .iter()
            .map(|a| to_rgb(a.as_array()))
            .collect::<PyResult<_>>()?;
        let params = mep_params(params)?;
        let out = py
            .detach(|| {
                self.run(
                    imgs,
                    batch_size,
                    params,
                    tile.map(|(size, overlap)| TileOptions { size, overlap }),
                    scratch_dir,
                    spill_above,
                )
            })
            .map_err(to_py_err)?;
        Ok(out.into_iter().map(wrap).collect())
    }

    /// Accumulated seconds `(preprocess, ort, mep, total, images)` over all `infer` calls.
    fn times(&self) -> PyResult<(f64, f64, f64, f64, u64)> {
        let g = self
            .inner
            .lock()
            .map_err(|_| invalid("model", "a previous call panicked"))?;
        let t = &g.times;
        Ok((t.preprocess, t.ort, t.mep, t.total, t.images))
    }

    /// Category id of each class index 0..=K (None: background or no match) for the COCO file
    /// `coco` (matched by name, as `infer --coco`), or the identity map without it.
    #[pyo3(signature = (coco = None))]
    fn category_ids(&self, py: Python<'_>, coco: Option<PathBuf>) -> PyResult<Vec<Option<i64>>> {
        let map = match coco {
            Some(path) => {
                let header = py.detach(|| CocoHeader::read(&path)).map_err(to_py_err)?;
                CategoryMap::by_name(&self.classes, &header.categories).0
            }
            None => CategoryMap::identity(&self.classes),
        };
        Ok((0..=self.classes.len() as u32)
            .map(|k| map.category_id(k))
            .collect())
    }
}

/// One listed input: `(path, name, image_id, reason)`.
type ListedInput = (String, String, Option<i64>, Option<String>);

/// The inputs as `infer` lists them (files, directories, zip archives; the library's one listing
/// rule) with their image ids by the library's one matching rule (`docs/engine.md#image-ids`):
/// `(path, name, image_id, reason)` per image, `image_id` `None` with the reason when the COCO
/// file gives it none.
#[pyfunction]
#[pyo3(signature = (inputs, coco = None))]
fn list_inputs(py: Python<'_>, inputs: Vec<PathBuf>, coco: Option<PathBuf>) -> PyResult<Vec<ListedInput>> {
    py.detach(|| {
        let header = coco.as_deref().map(CocoHeader::read).transpose()?;
        let found = baiseg_rt::input::enumerate_inputs(&inputs, &[])?;
        let ids = baiseg_rt::engine::image_ids(&found.items, header.as_ref());
        Ok(found
            .items
            .iter()
            .zip(ids)
            .map(|(item, id)| {
                let path = item.display_path().display().to_string();
                match id {
                    Ok(id) => (path, item.name.clone(), Some(id), None),
                    Err(reason) => (path, item.name.clone(), None, Some(reason)),
                }
            })
            .collect())
    })
    .map_err(to_py_err)
}

/// The COCO result records of one image's instances as `instances.json` holds them (one builder:
/// `ImageRecords::to_results`), as a JSON list; `category_ids[k]` is class `k`'s category.
#[pyfunction]
#[pyo3(signature = (instances, image_id, category_ids, file_name = None))]
fn coco_results_json(
    instances: Vec<PyRef<'_, Instance>>,
    image_id: i64,
    category_ids: Vec<Option<i64>>,
    file_name: Option<&str>,
) -> PyResult<String> {
    let list: Vec<RsInstance> = instances.iter().map(|i| i.inner.clone()).collect();
    let (h, w) = list
        .first()
        .map_or((0, 0), |i| (i.mask.image_height, i.mask.image_width));
    let record = ImageRecords::new(file_name.unwrap_or(""), h, w, &list);
    let records = record.to_results(image_id, &CategoryMap::from_ids(category_ids));
    // Field order as in instances.json; the wrapper drops `file_name` when none was given.
    serde_json::to_string(&records).map_err(|e| invalid("results", e))
}

/// `file_name` (and its last path component) -> image id of a COCO annotation file.
#[pyfunction]
fn coco_image_ids(py: Python<'_>, path: PathBuf) -> PyResult<std::collections::HashMap<String, i64>> {
    let header = py.detach(|| CocoHeader::read(&path)).map_err(to_py_err)?;
    Ok(header.images)
}

/// The MEP on one image.
#[pyfunction]
#[pyo3(signature = (image, boundary, semantic, labels, params))]
fn mep(
    py: Python<'_>,
    image: PyReadonlyArray3<'_, u8>,
    boundary: PyReadonlyArray2<'_, f32>,
    semantic: Option<PyReadonlyArray3<'_, f32>>,
    labels: Option<PyReadonlyArray2<'_, u16>>,
    params: &Bound<'_, PyDict>,
) -> PyResult<Vec<Instance>> {
    let sem = match (&semantic, &labels) {
        (Some(p), None) => Semantic::Probabilities(p.as_array()),
        (None, Some(l)) => Semantic::Labels(l.as_array()),
        _ => {
            return Err(invalid(
                "mep",
                "give exactly one of `semantic` (probabilities) and `labels`",
            ));
        }
    };
    let input = MepInput {
        image: image.as_array(),
        boundary: boundary.as_array(),
        semantic: sem,
    };
    let params = mep_params(params)?;
    let out = py.detach(|| extract(&input, &params)).map_err(to_py_err)?;
    Ok(wrap(out))
}

/// Paints instances into a uint16 label map (ascending score, value = 1-based list position).
#[pyfunction]
fn label_map<'py>(
    py: Python<'py>,
    instances: Vec<PyRef<'py, Instance>>,
    height: u32,
    width: u32,
) -> Bound<'py, PyArray2<u16>> {
    let list: Vec<RsInstance> = instances.iter().map(|i| i.inner.clone()).collect();
    py.detach(|| paint_label_map(&list, height, width))
        .into_pyarray(py)
}

/// Decodes image bytes exactly as `baiseg-rt infer` does (EXIF orientation, 16-bit, alpha).
#[pyfunction]
#[pyo3(signature = (data, name = "<bytes>"))]
fn decode_image<'py>(py: Python<'py>, data: &[u8], name: &str) -> PyResult<Bound<'py, PyArray3<u8>>> {
    let path = PathBuf::from(name);
    let img = py.detach(|| rs_decode_image(data, &path)).map_err(to_py_err)?;
    let (w, h) = img.dimensions();
    let arr = Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw())
        .map_err(|e| invalid("image", e))?;
    Ok(arr.into_pyarray(py))
}

/// The ONNX Runtime library `Model` would load.
#[pyfunction]
fn ort_library() -> PyResult<String> {
    baiseg_rt::model::runtime::find_library()
        .map(|p| p.display().to_string())
        .map_err(to_py_err)
}

// ---------------------------------------------------------------- RLE

type RleTuple = (u32, u32, String);

fn parse_rle(t: &RleTuple) -> PyResult<Rle> {
    let r = Rle::from_compressed_string(&t.2, t.0, t.1).map_err(|e| invalid("rle", e))?;
    r.check_size().map_err(|e| invalid("rle", e))?;
    Ok(r)
}

/// Encodes a 2-D mask (nonzero = foreground) as `(h, w, counts)`.
#[pyfunction]
fn rle_encode(py: Python<'_>, mask: PyReadonlyArray2<'_, u8>) -> RleTuple {
    let a = mask.as_array();
    let (h, w) = a.dim();
    let fortran = !mask.is_c_contiguous() && mask.is_fortran_contiguous();
    py.detach(|| {
        let rle = if fortran {
            match a.as_slice_memory_order() {
                Some(s) => Rle::from_column_major(s, h as u32, w as u32),
                None => {
                    Rle::from_column_major(&a.t().iter().copied().collect::<Vec<_>>(), h as u32, w as u32)
                }
            }
        } else {
            let col: Vec<u8> = a.t().iter().copied().collect();
            Rle::from_column_major(&col, h as u32, w as u32)
        };
        (h as u32, w as u32, rle.to_compressed_string())
    })
}

/// Decodes `(h, w, counts)` into a Fortran-ordered uint8 `[h, w]` array (as pycocotools).
#[pyfunction]
fn rle_decode<'py>(py: Python<'py>, rle: RleTuple) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let r = parse_rle(&rle)?;
    let (h, w) = (r.height as usize, r.width as usize);
    let col = py.detach(|| r.to_column_major());
    let arr = Array2::from_shape_vec((h, w).f(), col).map_err(|e| invalid("rle", e))?;
    Ok(arr.into_pyarray(py))
}

/// Foreground pixel count.
#[pyfunction]
fn rle_area(rle: RleTuple) -> PyResult<u64> {
    Ok(parse_rle(&rle)?.area())
}

/// `[x, y, w, h]` as pycocotools `toBbox`.
#[pyfunction]
fn rle_to_bbox(rle: RleTuple) -> PyResult<[f64; 4]> {
    Ok(parse_rle(&rle)?.to_bbox())
}

/// Union (or intersection) of RLEs of one size.
#[pyfunction]
fn rle_merge(rles: Vec<RleTuple>, intersect: bool) -> PyResult<RleTuple> {
    let list: Vec<Rle> = rles.iter().map(parse_rle).collect::<PyResult<_>>()?;
    if list.is_empty() {
        return Err(invalid("rle", "merge of an empty list"));
    }
    let m = Rle::merge(&list, intersect);
    Ok((m.height, m.width, m.to_compressed_string()))
}

/// RLE of a polygon `[x1, y1, x2, y2, ...]` (pycocotools `frPoly`).
#[pyfunction]
fn rle_from_polygon(xy: Vec<f64>, height: u32, width: u32) -> RleTuple {
    let r = Rle::from_polygon(&xy, height, width);
    (height, width, r.to_compressed_string())
}

/// RLE of a box `[x, y, w, h]` (pycocotools `frBbox`).
#[pyfunction]
fn rle_from_bbox(bbox: [f64; 4], height: u32, width: u32) -> RleTuple {
    let r = Rle::from_bbox(&bbox, height, width);
    (height, width, r.to_compressed_string())
}

/// IoU matrix `[len(dt), len(gt)]` between RLEs (pycocotools `iou`).
#[pyfunction]
fn rle_iou<'py>(
    py: Python<'py>,
    dt: Vec<RleTuple>,
    gt: Vec<RleTuple>,
    iscrowd: Vec<bool>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let d: Vec<Rle> = dt.iter().map(parse_rle).collect::<PyResult<_>>()?;
    let g: Vec<Rle> = gt.iter().map(parse_rle).collect::<PyResult<_>>()?;
    if iscrowd.len() != g.len() {
        return Err(invalid("iou", "iscrowd must have one entry per ground truth"));
    }
    for x in d.iter().chain(g.iter()) {
        if d.first()
            .is_some_and(|f| (f.height, f.width) != (x.height, x.width))
        {
            return Err(invalid("iou", "all RLEs must have the same size"));
        }
    }
    let m = py
        .detach(|| Array2::from_shape_fn((d.len(), g.len()), |(i, j)| rs_rle_iou(&d[i], &g[j], iscrowd[j])));
    Ok(m.into_pyarray(py))
}

/// IoU matrix between `[x, y, w, h]` boxes (pycocotools `iou` on boxes).
#[pyfunction]
fn bbox_iou<'py>(
    py: Python<'py>,
    dt: Vec<[f64; 4]>,
    gt: Vec<[f64; 4]>,
    iscrowd: Vec<bool>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    if iscrowd.len() != gt.len() {
        return Err(invalid("iou", "iscrowd must have one entry per ground truth"));
    }
    let m = Array2::from_shape_fn((dt.len(), gt.len()), |(i, j)| {
        rs_bbox_iou(&dt[i], &gt[j], iscrowd[j])
    });
    Ok(m.into_pyarray(py))
}

// ---------------------------------------------------------------- evaluation

/// Streaming COCO evaluator (same numbers as `baiseg-rt eval`).
#[pyclass(module = "baiseg_rt._native", name = "Evaluator", frozen)]
pub struct Evaluator {
    inner: Mutex<Option<eval::Evaluator>>,
}

fn parse_iou_type(s: &str) -> PyResult<IouType> {
    match s {
        "segm" => Ok(IouType::Segm),
        "bbox" => Ok(IouType::Bbox),
        "boundary" => Ok(IouType::Boundary),
        _ => Err(invalid(
            "iou_type",
            format!("unknown value `{s}` (expected segm, bbox or boundary)"),
        )),
    }
}

fn parse_protocol(s: &str) -> PyResult<Protocol> {
    match s {
        "coco" => Ok(Protocol::Coco),
        "voc-chainercv" => Ok(Protocol::VocChainercv),
        "coco-thresholds" => Ok(Protocol::CocoThresholds),
        _ => Err(invalid(
            "protocol",
            format!("unknown value `{s}` (expected coco, voc-chainercv or coco-thresholds)"),
        )),
    }
}

#[pymethods]
impl Evaluator {
    #[new]
    #[pyo3(signature = (gt_path, iou_type = "segm", protocol = "coco"))]
    fn new(py: Python<'_>, gt_path: PathBuf, iou_type: &str, protocol: &str) -> PyResult<Self> {
        let iou = parse_iou_type(iou_type)?;
        let protocol = parse_protocol(protocol)?;
        let ev = py
            .detach(|| {
                let gt = CocoDataset::from_path(&gt_path)?;
                eval::Evaluator::new(gt, Params::for_protocol(iou, protocol))
            })
            .map_err(to_py_err)?;
        Ok(Self {
            inner: Mutex::new(Some(ev)),
        })
    }

    /// Adds a JSON results list (bytes); `name` names it in errors.
    fn add_json(&self, py: Python<'_>, data: &[u8], name: &str) -> PyResult<()> {
        let path = PathBuf::from(name);
        py.detach(|| {
            let results = eval::dataset::parse_results(data, &path).map_err(to_py_err_nogil)?;
            let mut g = self.inner.lock().map_err(|_| "poisoned".to_string())?;
            match g.as_mut() {
                Some(ev) => ev.add_results(results).map_err(to_py_err_nogil),
                None => Err("the evaluator was already summarized".to_string()),
            }
        })
        .map_err(reraise)
    }

    /// Runs evaluate/accumulate/summarize; returns the report as JSON (with `summary`).
    fn summarize_json(&self, py: Python<'_>) -> PyResult<String> {
        let ev = self
            .inner
            .lock()
            .map_err(|_| invalid("evaluator", "poisoned"))?
            .take()
            .ok_or_else(|| invalid("evaluator", "already summarized"))?;
        let report = py.detach(|| ev.finish()).map_err(to_py_err)?;
        let mut v = serde_json::to_value(&report).map_err(|e| invalid("report", e))?;
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "category_table".into(),
                serde_json::Value::String(report.category_table()),
            );
        }
        Ok(v.to_string())
    }
}

// Errors produced without the GIL are carried as (kind, message) strings and raised after.
fn to_py_err_nogil(e: Error) -> String {
    format!("{}\u{0}{e}", exception_kind(&e))
}

fn reraise(s: String) -> PyErr {
    let (kind, msg) = s.split_once('\u{0}').unwrap_or(("InvalidInputError", s.as_str()));
    make_exception(kind, msg)
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<Instance>()?;
    m.add_class::<Evaluator>()?;
    m.add_function(wrap_pyfunction!(mep, m)?)?;
    m.add_function(wrap_pyfunction!(label_map, m)?)?;
    m.add_function(wrap_pyfunction!(decode_image, m)?)?;
    m.add_function(wrap_pyfunction!(coco_image_ids, m)?)?;
    m.add_function(wrap_pyfunction!(list_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(coco_results_json, m)?)?;
    m.add_function(wrap_pyfunction!(mep_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(ort_library, m)?)?;
    m.add_function(wrap_pyfunction!(rle_encode, m)?)?;
    m.add_function(wrap_pyfunction!(rle_decode, m)?)?;
    m.add_function(wrap_pyfunction!(rle_area, m)?)?;
    m.add_function(wrap_pyfunction!(rle_to_bbox, m)?)?;
    m.add_function(wrap_pyfunction!(rle_merge, m)?)?;
    m.add_function(wrap_pyfunction!(rle_from_polygon, m)?)?;
    m.add_function(wrap_pyfunction!(rle_from_bbox, m)?)?;
    m.add_function(wrap_pyfunction!(rle_iou, m)?)?;
    m.add_function(wrap_pyfunction!(bbox_iou, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
