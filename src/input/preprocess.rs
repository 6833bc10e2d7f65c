//! Normalises RGB images and pads them into `[N, 3, H, W]` batches (docs/model-contract.md).
//!
//! Each image is scaled to [0, 1], normalised with the model's mean/std, and placed at the top-left
//! of a canvas whose sides are the batch maxima rounded up to the model's `size_divisor`; the
//! bottom/right padding holds the mean colour (0 after normalisation). A [`Letterbox`] per image
//! records how to crop the outputs back.
use image::RgbImage;
use ndarray::{Array4, Axis};
use rayon::prelude::*;

/// Per-channel normalisation of [0, 1]-scaled RGB: `(v / 255 - mean) / std`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// Channel means (R, G, B).
    pub mean: [f32; 3],
    /// Channel standard deviations (R, G, B).
    pub std: [f32; 3],
}

impl Normalization {
    /// A 256-entry lookup table per channel.
    #[must_use]
    pub fn lookup_tables(&self) -> [[f32; 256]; 3] {
        let mut lut = [[0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, out) in table.iter_mut().enumerate() {
                *out = (v as f32 / 255.0 - self.mean[c]) / self.std[c];
            }
        }
        lut
    }
}

/// Where an image sits inside its padded batch slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Letterbox {
    /// Original image height.
    pub height: usize,
    /// Original image width.
    pub width: usize,
    /// Padded height of the batch.
    pub padded_height: usize,
    /// Padded width of the batch.
    pub padded_width: usize,
}

/// A network input batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[N, 3, H, W]` normalised, padded images.
    pub tensor: Array4<f32>,
    /// One entry per image, in batch order.
    pub letterboxes: Vec<Letterbox>,
}

/// Rounds `v` up to a multiple of `divisor` (at least `divisor`).
#[must_use]
pub fn round_up(v: usize, divisor: usize) -> usize {
    let d = divisor.max(1);
    v.div_ceil(d).max(1) * d
}

/// The padded `(height, width)` an image of `(h, w)` needs alone.
#[must_use]
pub fn padded_shape(h: usize, w: usize, size_divisor: usize) -> (usize, usize) {
    (round_up(h, size_divisor), round_up(w, size_divisor))
}

/// Builds a batch from `images`, padding all to the largest padded shape among them.
#[must_use]
pub fn make_batch(images: &[&RgbImage], norm: &Normalization, size_divisor: usize) -> Batch {
    let (ph, pw) = images.iter().fold((0, 0), |(h, w), img| {
        let (ih, iw) = padded_shape(img.height() as usize, img.width() as usize, size_divisor);
        (h.max(ih), w.max(iw))
    });
    let mut tensor = Array4::<f32>::zeros((images.len(), 3, ph, pw));
    let lut = norm.lookup_tables();
    tensor
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(images.par_iter())
        .for_each(|(mut slot, img)| {
            let (w, h) = (img.width() as usize, img.height() as usize);
            let raw = img.as_raw();
            for c in 0..3 {
                let mut plane = slot.index_axis_mut(Axis(0), c);
                let table = &lut[c];
                for y in 0..h {
                    let src = &raw[y * w * 3..(y + 1) * w * 3];
                    let mut row = plane.row_mut(y);
                    let Some(dst) = row.as_slice_mut() else { continue };
                    for (d, px) in dst[..w].iter_mut().zip(src.chunks_exact(3)) {
                        *d = table[px[c] as usize];
                    }
                }
            }
        });
    let letterboxes = images
        .iter()
        .map(|img| Letterbox {
            height: img.height() as usize,
            width: img.width() as usize,
            padded_height: ph,
            padded_width: pw,
        })
        .collect();
    Batch { tensor, letterboxes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_divisor_with_mean_colour() {
        let norm = Normalization {
            mean: [0.5, 0.5, 0.5],
            std: [0.25, 0.5, 1.0],
        };
        let a = RgbImage::from_pixel(5, 3, image::Rgb([255, 0, 128]));
        let b = RgbImage::from_pixel(2, 9, image::Rgb([0, 0, 0]));
        let batch = make_batch(&[&a, &b], &norm, 4);
        assert_eq!(batch.tensor.shape(), &[2, 3, 12, 8]);
        assert!((batch.tensor[[0, 0, 0, 0]] - 2.0).abs() < 1e-6);
        assert!((batch.tensor[[0, 1, 2, 4]] + 1.0).abs() < 1e-6);
        assert_eq!(batch.tensor[[0, 0, 3, 0]], 0.0); // padding row
        assert_eq!(batch.tensor[[0, 0, 0, 5]], 0.0); // padding column
        assert_eq!(
            batch.letterboxes[1],
            Letterbox {
                height: 9,
                width: 2,
                padded_height: 12,
                padded_width: 8
            }
        );
    }

    #[test]
    fn round_up_is_at_least_divisor() {
        assert_eq!(round_up(0, 32), 32);
        assert_eq!(round_up(32, 32), 32);
        assert_eq!(round_up(33, 32), 64);
        assert_eq!(round_up(7, 0), 7);
    }
}
