//! Instances: what the MEP produces for one image, before it is written or evaluated.
//!
//! A mask is stored cropped to a box inside the image ([`CropMask`]), so that memory and the cost
//! of encoding grow with the object, not with the image.
use ndarray::Array2;
use serde::Serialize;

use crate::rle::Rle;

/// A binary mask stored as a row-major crop of an `image_height x image_width` image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CropMask {
    /// Height of the full image.
    pub image_height: u32,
    /// Width of the full image.
    pub image_width: u32,
    /// Left column of the crop.
    pub x: u32,
    /// Top row of the crop.
    pub y: u32,
    /// Width of the crop.
    pub width: u32,
    /// Height of the crop.
    pub height: u32,
    /// Row-major crop, `data[r * width + c]`, nonzero = foreground.
    pub data: Vec<u8>,
}

impl CropMask {
    /// Number of foreground pixels.
    #[must_use]
    pub fn area(&self) -> u64 {
        self.data.iter().filter(|&&v| v != 0).count() as u64
    }

    /// Tight bounding box `[x, y, w, h]` of the foreground in image coordinates (as
    /// pycocotools' `toBbox`: all zeros for an empty mask).
    #[must_use]
    pub fn bbox(&self) -> [f64; 4] {
        let (w, h) = (self.width as usize, self.height as usize);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        for r in 0..h {
            let row = &self.data[r * w..(r + 1) * w];
            if let Some(first) = row.iter().position(|&v| v != 0) {
                let last = row.iter().rposition(|&v| v != 0).unwrap_or(first);
                y0 = y0.min(r);
                y1 = r;
                x0 = x0.min(first);
                x1 = x1.max(last);
            }
        }
        if y0 == usize::MAX {
            return [0.0; 4];
        }
        [
            f64::from(self.x) + x0 as f64,
            f64::from(self.y) + y0 as f64,
            (x1 - x0 + 1) as f64,
            (y1 - y0 + 1) as f64,
        ]
    }

    /// Whether pixel `(row, col)` of the full image is foreground.
    #[must_use]
    pub fn contains(&self, row: u32, col: u32) -> bool {
        row >= self.y
            && col >= self.x
            && row < self.y + self.height
            && col < self.x + self.width
            && self.data[((row - self.y) * self.width + (col - self.x)) as usize] != 0
    }

    /// RLE, area and tight bounding box in one walk of the crop (column-major, as the RLE runs):
    /// the same values as [`Self::to_rle`], [`Self::area`] and [`Self::bbox`], which each walk
    /// the crop once (docs/mep-performance.md#records).
    #[must_use]
    pub fn encode(&self) -> MaskEncoding {
        let ih = u64::from(self.image_height);
        let (w, h) = (self.width as usize, self.height as usize);
        let total = ih * u64::from(self.image_width);
        let mut runs = RunBuilder::default();
        // Zeros before the crop's first pixel in column-major order.
        let mut consumed = u64::from(self.x) * ih + u64::from(self.y);
        runs.zeros(consumed);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0usize, 0usize);
        let mut area = 0u64;
        for c in 0..w {
            if c > 0 {
                // The rest of the previous column and the start of this one.
                let gap = ih - h as u64;
                runs.zeros(gap);
                consumed += gap;
            }
            // The column's runs of ones, top to bottom.
            let (mut r, mut at) = (0, 0);
            let mut any = false;
            while r < h {
                if self.data[r * w + c] == 0 {
                    r += 1;
                    continue;
                }
                let s = r;
                r += 1;
                while r < h && self.data[r * w + c] != 0 {
                    r += 1;
                }
                runs.zeros((s - at) as u64);
                runs.ones((r - s) as u64);
                at = r;
                area += (r - s) as u64;
                y0 = y0.min(s);
                y1 = y1.max(r - 1);
                any = true;
            }
            runs.zeros((h - at) as u64);
            consumed += h as u64;
            if any {
                x0 = x0.min(c);
                x1 = c;
            }
        }
        runs.zeros(total - consumed);
        let bbox = if y0 == usize::MAX {
            [0.0; 4]
        } else {
            [
                f64::from(self.x) + x0 as f64,
                f64::from(self.y) + y0 as f64,
                (x1 - x0 + 1) as f64,
                (y1 - y0 + 1) as f64,
            ]
        };
        MaskEncoding {
            rle: Rle {
                height: self.image_height,
                width: self.image_width,
                counts: runs.finish(),
            },
            area,
            bbox,
        }
    }

    /// COCO RLE of the mask over the full image, encoded straight from the crop.
    #[must_use]
    pub fn to_rle(&self) -> Rle {
        self.encode().rle
    }
}

/// What [`CropMask::encode`] gives: the COCO RLE over the full image, the area and the tight box.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskEncoding {
    /// As [`CropMask::to_rle`].
    pub rle: Rle,
    /// As [`CropMask::area`].
    pub area: u64,
    /// As [`CropMask::bbox`].
    pub bbox: [f64; 4],
}

/// Alternating run lengths (zeros first), adjacent runs of the same value merged.
#[derive(Debug, Default)]
struct RunBuilder {
    counts: Vec<u32>,
    /// Value of the open run.
    ones: bool,
    /// Length of the open run.
    run: u64,
}

impl RunBuilder {
    #[inline]
    fn push(&mut self, ones: bool, len: u64) {
        if len == 0 {
            return;
        }
        if ones != self.ones {
            self.counts.push(self.run as u32);
            self.run = 0;
            self.ones = ones;
        }
        self.run += len;
    }

    #[inline]
    fn zeros(&mut self, len: u64) {
        self.push(false, len);
    }

    #[inline]
    fn ones(&mut self, len: u64) {
        self.push(true, len);
    }

    fn finish(mut self) -> Vec<u32> {
        self.counts.push(self.run as u32);
        self.counts
    }
}

/// One detected instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Class index of the model (1..=K; 0 is background and never an instance).
    pub category: u32,
    /// Confidence in [0, 1] (docs/mep.md#refinement).
    pub score: f64,
    /// The instance's mask.
    pub mask: CropMask,
}

/// A serialisable summary of one instance (used by snapshots and JSON reports).
#[derive(Debug, Clone, Serialize)]
pub struct InstanceSummary {
    /// Class index.
    pub category: u32,
    /// Pixel area.
    pub area: u64,
    /// Tight `[x, y, w, h]` box.
    pub bbox: [f64; 4],
    /// Score.
    pub score: f64,
}

impl Instance {
    /// A compact summary (class, area, bbox, score).
    #[must_use]
    pub fn summary(&self) -> InstanceSummary {
        InstanceSummary {
            category: self.category,
            area: self.mask.area(),
            bbox: self.mask.bbox(),
            score: self.score,
        }
    }
}

/// Paints instances into an `H x W` label map (docs/mep.md): instances in ascending score
/// (equal scores: list order), so the highest score wins where masks overlap; the value painted is
/// the instance's 1-based position in `instances`. Zero is background.
#[must_use]
pub fn paint_label_map(instances: &[Instance], height: u32, width: u32) -> Array2<u16> {
    let (ih, iw) = (height as usize, width as usize);
    let mut labels = vec![0u16; ih * iw];
    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by(|&a, &b| instances[a].score.total_cmp(&instances[b].score));
    for i in order {
        let m = &instances[i].mask;
        let value = u16::try_from(i + 1).unwrap_or(u16::MAX);
        let (x, y, w) = (m.x as usize, m.y as usize, m.width as usize);
        if w == 0 {
            continue;
        }
        // Row slices of the crop and of the map (a select per pixel, no index arithmetic).
        for (r, src) in m.data.chunks_exact(w).take(m.height as usize).enumerate() {
            let dst = &mut labels[(y + r) * iw + x..(y + r) * iw + x + w];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = if s != 0 { value } else { *d };
            }
        }
    }
    Array2::from_shape_vec((ih, iw), labels).unwrap_or_else(|_| unreachable!("ih * iw values"))
}

/// Paints per-pixel class ids of `instances` (for semantic PNGs made from instances).
#[must_use]
pub fn paint_class_map(instances: &[Instance], height: u32, width: u32) -> Array2<u8> {
    let labels = paint_label_map(instances, height, width);
    labels.mapv(|v| {
        if v == 0 {
            0
        } else {
            u8::try_from(instances[v as usize - 1].category).unwrap_or(u8::MAX)
        }
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn crop(x: u32, y: u32, w: u32, h: u32, data: Vec<u8>) -> CropMask {
        CropMask {
            image_height: 5,
            image_width: 4,
            x,
            y,
            width: w,
            height: h,
            data,
        }
    }

    fn full_mask(m: &CropMask) -> Vec<u8> {
        let mut full = vec![0u8; (m.image_height * m.image_width) as usize];
        for r in 0..m.image_height {
            for c in 0..m.image_width {
                full[(r * m.image_width + c) as usize] = u8::from(m.contains(r, c));
            }
        }
        full
    }

    #[test]
    fn crop_rle_equals_full_image_rle() {
        let cases = [
            crop(1, 1, 2, 3, vec![1, 0, 1, 1, 0, 1]),
            crop(0, 0, 4, 5, vec![1; 20]),
            crop(3, 4, 1, 1, vec![1]),
            crop(0, 0, 1, 1, vec![0]),
            crop(2, 0, 2, 5, vec![0, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
        ];
        for m in cases {
            let expected = Rle::from_row_major(&full_mask(&m), 5, 4);
            assert_eq!(m.to_rle(), expected, "{m:?}");
            assert_eq!(m.to_rle().area(), m.area());
        }
    }

    /// Random crops inside an `ih x iw` image (zero-sized crops, empty masks and crops on the
    /// image's edges included).
    fn arb_crop_in(ih: u32, iw: u32) -> impl Strategy<Value = CropMask> {
        // The crop starts inside the image (a zero-sized crop past the last column has no
        // column-major position; the MEP never makes one).
        (0..iw, 0..ih)
            .prop_flat_map(move |(x, y)| (Just(x), Just(y), 0..=iw - x, 0..=ih - y))
            .prop_flat_map(|(x, y, w, h)| {
                let fill = prop_oneof![1 => Just(0u8), 1 => Just(1u8), 3 => Just(2u8)];
                (
                    Just((x, y, w, h)),
                    prop::collection::vec(0u8..4, (w * h) as usize),
                    fill,
                )
            })
            .prop_map(move |((x, y, w, h), data, fill)| CropMask {
                image_height: ih,
                image_width: iw,
                x,
                y,
                width: w,
                height: h,
                // fill 0: all background; 1: all foreground; else the random bytes.
                data: match fill {
                    0 => vec![0; data.len()],
                    1 => vec![7; data.len()],
                    _ => data,
                },
            })
    }

    fn arb_crop() -> impl Strategy<Value = CropMask> {
        (1u32..12, 1u32..12).prop_flat_map(|(ih, iw)| arb_crop_in(ih, iw))
    }

    /// The label map painted pixel by pixel (the code before the row slices).
    fn paint_reference(instances: &[Instance], height: u32, width: u32) -> Array2<u16> {
        let mut labels = Array2::<u16>::zeros((height as usize, width as usize));
        let mut order: Vec<usize> = (0..instances.len()).collect();
        order.sort_by(|&a, &b| instances[a].score.total_cmp(&instances[b].score));
        for i in order {
            let m = &instances[i].mask;
            let value = u16::try_from(i + 1).unwrap_or(u16::MAX);
            for r in 0..m.height as usize {
                for c in 0..m.width as usize {
                    if m.data[r * m.width as usize + c] != 0 {
                        labels[[m.y as usize + r, m.x as usize + c]] = value;
                    }
                }
            }
        }
        labels
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn encode_matches_the_separate_walks(m in arb_crop()) {
            let enc = m.encode();
            prop_assert_eq!(&enc.rle, &m.to_rle());
            prop_assert_eq!(enc.area, m.area());
            prop_assert_eq!(enc.bbox, m.bbox());
            prop_assert_eq!(enc.rle.area(), enc.area);
            prop_assert_eq!(&enc.rle, &Rle::from_row_major(&full_mask(&m), m.image_height, m.image_width));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn paint_matches_per_pixel_reference(
            (ih, iw, masks, scores) in (1u32..12, 1u32..12).prop_flat_map(|(ih, iw)| (
                Just(ih),
                Just(iw),
                prop::collection::vec(arb_crop_in(ih, iw), 0..6),
                prop::collection::vec(prop_oneof![Just(0.5f64), 0.0f64..1.0], 6),
            ))
        ) {
            let instances: Vec<Instance> = masks
                .into_iter()
                .zip(scores)
                .map(|(mask, score)| Instance { category: 1, score, mask })
                .collect();
            prop_assert_eq!(paint_label_map(&instances, ih, iw), paint_reference(&instances, ih, iw));
        }
    }

    #[test]
    fn bbox_is_tight() {
        let m = crop(1, 1, 3, 3, vec![0, 0, 0, 0, 1, 1, 0, 1, 0]);
        assert_eq!(m.bbox(), [2.0, 2.0, 2.0, 2.0]);
        assert_eq!(crop(0, 0, 1, 1, vec![0]).bbox(), [0.0; 4]);
    }

    #[test]
    fn label_map_paints_highest_score_last() {
        let a = Instance {
            category: 1,
            score: 0.9,
            mask: crop(0, 0, 2, 1, vec![1, 1]),
        };
        let b = Instance {
            category: 2,
            score: 0.5,
            mask: crop(1, 0, 2, 1, vec![1, 1]),
        };
        let labels = paint_label_map(&[a, b], 5, 4);
        assert_eq!(labels.row(0).to_vec(), vec![1, 1, 2, 0]);
    }
}
