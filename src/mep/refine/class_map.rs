//! The per-pixel class of the semantic filter `F` (SPEC section 2.4): `argmax P` (first maximum
//! on ties; NaN is an error) or the label map with 0 and 255 as background.
use ndarray::{ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mep::Semantic;

/// Per-pixel class of the semantic filter `F`: the class id where `F` holds, else 0
/// (`argmax P`, first maximum on ties; or `L` unless it is 0 or 255).
///
/// # Errors
/// [`Error::Invalid`] when the probabilities hold NaN, have no channel, or shapes disagree, or
/// when there are more than 65535 classes.
pub fn class_map_into(semantic: &Semantic<'_>, mut out: ArrayViewMut2<'_, u16>) -> Result<()> {
    match *semantic {
        Semantic::Labels(l) => {
            if l.dim() != out.dim() {
                return Err(Error::invalid(
                    "semantic labels",
                    format!("shape {:?}, expected {:?}", l.dim(), out.dim()),
                ));
            }
            Zip::from(&mut out)
                .and(&l)
                .par_for_each(|o, &v| *o = if v == 255 { 0 } else { v });
            Ok(())
        }
        Semantic::Probabilities(p) => {
            let (k, h, w) = p.dim();
            if (h, w) != out.dim() || k == 0 {
                return Err(Error::invalid(
                    "semantic probabilities",
                    format!(
                        "shape {:?}, expected [K+1 >= 1, {}, {}]",
                        p.dim(),
                        out.nrows(),
                        out.ncols()
                    ),
                ));
            }
            if k > usize::from(u16::MAX) + 1 {
                return Err(Error::invalid(
                    "semantic probabilities",
                    format!("{k} channels, at most 65536"),
                ));
            }
            let nan = std::sync::atomic::AtomicBool::new(false);
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each_init(
                    || (vec![0f32; w], vec![0f32; w]),
                    |(best, idx), (y, mut orow)| {
                        // Running maximum and its channel (as f32, so that every lane has the same
                        // width and the loop vectorises); NaN is detected on the way.
                        let mut any_nan = false;
                        for (b, &v) in best.iter_mut().zip(p.slice(ndarray::s![0, y, ..])) {
                            any_nan |= v.is_nan();
                            *b = v;
                        }
                        idx.fill(0.0);
                        for c in 1..k {
                            let cf = c as f32;
                            let prow = p.slice(ndarray::s![c, y, ..]);
                            let step = |b: &mut f32, i: &mut f32, v: f32| {
                                let gt = v > *b;
                                *b = if gt { v } else { *b };
                                *i = if gt { cf } else { *i };
                                v.is_nan()
                            };
                            match prow.as_slice() {
                                Some(ps) => {
                                    let mut n = false;
                                    for ((b, i), &v) in best.iter_mut().zip(idx.iter_mut()).zip(ps) {
                                        n |= step(b, i, v);
                                    }
                                    any_nan |= n;
                                }
                                None => {
                                    for ((b, i), &v) in best.iter_mut().zip(idx.iter_mut()).zip(prow.iter()) {
                                        any_nan |= step(b, i, v);
                                    }
                                }
                            }
                        }
                        for (o, &i) in orow.iter_mut().zip(idx.iter()) {
                            *o = i as u16;
                        }
                        if any_nan {
                            nan.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    },
                );
            if nan.into_inner() {
                return Err(Error::invalid("semantic probabilities", "contain NaN"));
            }
            Ok(())
        }
    }
}
