//! Evaluation parameters, pycocotools `COCOeval.Params` (`setDetParams`) with its defaults.
use serde::Serialize;

/// What is compared: masks or boxes (`iouType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IouType {
    /// Mask `IoU` on RLEs.
    Segm,
    /// Box `IoU`.
    Bbox,
    /// Boundary `IoU` (Cheng et al. 2021): `min(mask IoU, boundary IoU)`, see [`super::boundary`].
    Boundary,
}

impl IouType {
    /// The pycocotools spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Segm => "segm",
            Self::Bbox => "bbox",
            Self::Boundary => "boundary",
        }
    }
}

/// A name that is not one of an enum's spellings (`--iou-type`, `--protocol`, Python arguments).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected {expected})")]
pub struct UnknownName {
    /// What was named (`IoU type`, `protocol`).
    pub what: &'static str,
    /// The value given.
    pub value: String,
    /// The accepted spellings, in words.
    pub expected: &'static str,
}

impl IouType {
    /// Every `IoU` type, in the CLI's order.
    pub const ALL: [Self; 3] = [Self::Segm, Self::Bbox, Self::Boundary];
}

impl std::fmt::Display for IouType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses the pycocotools spelling (`segm`, `bbox`, `boundary`), exactly.
impl std::str::FromStr for IouType {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "IoU type",
                value: s.to_owned(),
                expected: "segm, bbox or boundary",
            })
    }
}

/// Which metric family to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// pycocotools `COCOeval` (the default).
    Coco,
    /// chainercv `eval_instance_segmentation_voc` (all-point AP) at every `IoU` threshold;
    /// crowd ground truth is treated as "difficult".
    VocChainercv,
    /// `COCOeval` with `iouThrs = [0.25, 0.5, 0.7, 0.75]` (as CIM).
    CocoThresholds,
}

impl Protocol {
    /// Every protocol, in the CLI's order.
    pub const ALL: [Self; 3] = [Self::Coco, Self::VocChainercv, Self::CocoThresholds];

    /// The CLI and Python spelling (the serde name).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coco => "coco",
            Self::VocChainercv => "voc-chainercv",
            Self::CocoThresholds => "coco-thresholds",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `coco`, `voc-chainercv` or `coco-thresholds`, exactly.
impl std::str::FromStr for Protocol {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "protocol",
                value: s.to_owned(),
                expected: "coco, voc-chainercv or coco-thresholds",
            })
    }
}

/// `np.linspace(start, stop, num)` computed the way numpy does (`i * step + start`, last = stop),
/// so the thresholds are bit-identical to pycocotools'.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "small counts")]
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// The paper's VOC thresholds (Table 1).
pub const VOC_IOU_THRS: [f64; 4] = [0.25, 0.5, 0.7, 0.75];

/// Evaluation parameters. [`Params::default`] is pycocotools' `Params(iouType='segm')`.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// `iouType`.
    pub iou_type: IouType,
    /// Metric family.
    pub protocol: Protocol,
    /// `iouThrs` (default `linspace(.5, .95, 10)`).
    pub iou_thrs: Vec<f64>,
    /// `recThrs` (default `linspace(0, 1, 101)`).
    pub rec_thrs: Vec<f64>,
    /// `maxDets` (default `[1, 10, 100]`; sorted before use as pycocotools does).
    pub max_dets: Vec<usize>,
    /// `areaRng` (default all, small, medium, large).
    pub area_rng: Vec<[f64; 2]>,
    /// `areaRngLbl` (default `all, small, medium, large`).
    pub area_rng_lbl: Vec<String>,
    /// `catIds`; `None` = every category of the ground truth.
    pub cat_ids: Option<Vec<i64>>,
    /// `imgIds`; `None` = every image of the ground truth.
    pub img_ids: Option<Vec<i64>>,
    /// `useCats`.
    pub use_cats: bool,
    /// Count a detection matched to ground-truth annotation id 0 as a true positive.
    /// pycocotools stores matched ids and reads 0 as "unmatched", so by default (false) such a
    /// detection is a false positive, bit-identically to pycocotools.
    pub fix_zero_ids: bool,
    /// Boundary `IoU`: erosion radius as a fraction of the image diagonal (default 0.02).
    pub boundary_dilation_ratio: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            iou_type: IouType::Segm,
            protocol: Protocol::Coco,
            iou_thrs: linspace(0.5, 0.95, 10),
            rec_thrs: linspace(0.0, 1.0, 101),
            max_dets: vec![1, 10, 100],
            area_rng: vec![[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]],
            area_rng_lbl: ["all", "small", "medium", "large"].map(String::from).to_vec(),
            cat_ids: None,
            img_ids: None,
            use_cats: true,
            fix_zero_ids: false,
            boundary_dilation_ratio: super::boundary::DEFAULT_DILATION_RATIO,
        }
    }
}

impl Params {
    /// Defaults for an `IoU` type.
    #[must_use]
    pub fn new(iou_type: IouType) -> Self {
        Self {
            iou_type,
            ..Self::default()
        }
    }

    /// Defaults for a protocol (`coco-thresholds` sets `iouThrs` to [`VOC_IOU_THRS`]).
    #[must_use]
    pub fn for_protocol(iou_type: IouType, protocol: Protocol) -> Self {
        let mut p = Self {
            iou_type,
            protocol,
            ..Self::default()
        };
        if protocol != Protocol::Coco {
            p.iou_thrs = VOC_IOU_THRS.to_vec();
        }
        p
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`crate::Error::Invalid`] naming the parameter.
    pub fn validate(&self) -> crate::Result<()> {
        let inv = |what: &str, why: &str| Err(crate::Error::invalid(what, why));
        if self.iou_thrs.is_empty() || self.iou_thrs.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return inv("iou-thrs", "needs at least one threshold, each in [0, 1]");
        }
        if self.rec_thrs.is_empty() {
            return inv("rec-thrs", "needs at least one recall threshold");
        }
        if self.max_dets.is_empty() {
            return inv("max-dets", "needs at least one value");
        }
        if self.area_rng.is_empty() || self.area_rng.len() != self.area_rng_lbl.len() {
            return inv("area-rng", "needs at least one range and one label per range");
        }
        if self
            .area_rng
            .iter()
            .any(|r| r[0].is_nan() || r[1].is_nan() || r[0] > r[1])
        {
            return inv("area-rng", "each range must be lo:hi with lo <= hi");
        }
        if !(self.boundary_dilation_ratio.is_finite() && self.boundary_dilation_ratio >= 0.0) {
            return inv("boundary-dilation-ratio", "must be a finite number >= 0");
        }
        Ok(())
    }

    /// `maxDets` sorted (what `evaluate()` uses).
    #[must_use]
    pub fn sorted_max_dets(&self) -> Vec<usize> {
        let mut m = self.max_dets.clone();
        m.sort_unstable();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for t in IouType::ALL {
            assert_eq!(t.to_string().parse::<IouType>(), Ok(t));
        }
        for p in Protocol::ALL {
            assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
            // The serde name is the same spelling.
            assert_eq!(serde_json::to_value(p).expect("json"), p.as_str());
        }
        assert_eq!(
            "Segm".parse::<IouType>().unwrap_err().to_string(),
            "unknown IoU type `Segm` (expected segm, bbox or boundary)"
        );
        assert!("voc".parse::<Protocol>().is_err());
    }
}
