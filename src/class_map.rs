//! The per-pixel class map, in one place: the argmax of the semantic probabilities (first
//! maximum on ties, NaN refused) or the given labels (255 = ignore = background), as
//! docs/model-contract.md#class-map states. The MEP's semantic filter and the saved semantic PNG
//! both come from here.
use ndarray::{Array2, ArrayView2, ArrayView3, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::mep::Semantic;

/// Per-pixel class of the semantic filter `F` (docs/mep.md#refinement): the class id where `F`
/// holds, else 0 (`argmax P`, first maximum on ties; or `L` unless it is 0 or 255).
///
/// # Errors
/// [`Error::Invalid`] when the probabilities hold NaN, have no channel, or shapes disagree, or
/// when there are more than 65535 classes.
pub fn class_map_into(semantic: &Semantic<'_>, out: ArrayViewMut2<'_, u16>) -> Result<()> {
    match *semantic {
        Semantic::Labels(l) => labels_into(l, out),
        Semantic::Probabilities(p) => argmax_into(p, out),
    }
}

/// The labels with 255 (ignore) as 0 (background).
fn labels_into(l: ArrayView2<'_, u16>, mut out: ArrayViewMut2<'_, u16>) -> Result<()> {
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

/// The argmax of `[K+1, H, W]` probabilities into `out`, rows in parallel.
fn argmax_into(p: ArrayView3<'_, f32>, mut out: ArrayViewMut2<'_, u16>) -> Result<()> {
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
            || (vec![0f32; w], vec![0u32; w]),
            |(best, idx), (y, orow)| {
                if argmax_row(p, y, best, idx, orow) {
                    nan.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
        );
    if nan.into_inner() {
        return Err(Error::invalid("semantic probabilities", "contain NaN"));
    }
    Ok(())
}

/// Whether `v` holds NaN: an OR-reduction over blocks of 16 values (no branch per value).
#[inline]
fn has_nan(v: &[f32]) -> bool {
    let mut blocks = v.chunks_exact(16);
    let mut acc = 0u32;
    for b in blocks.by_ref() {
        acc |= b.iter().fold(0u32, |a, x| a | u32::from(x.is_nan()));
    }
    acc |= blocks
        .remainder()
        .iter()
        .fold(0u32, |a, x| a | u32::from(x.is_nan()));
    acc != 0
}

/// One channel of the running argmax: where `v > best` (strictly: the first maximum wins ties),
/// `best = v` and `idx = c`. Selects only, so the loop vectorises (f32 and u32 lanes alike).
#[inline]
fn argmax_step(best: &mut [f32], idx: &mut [u32], v: &[f32], c: u32) {
    for ((b, i), &x) in best.iter_mut().zip(idx.iter_mut()).zip(v) {
        let gt = x > *b;
        *b = if gt { x } else { *b };
        *i = if gt { c } else { *i };
    }
}

/// Row `y` of the argmax into `orow` (`best`, `idx`: scratch of the row's width); whether the
/// row holds NaN (then the values of `orow` are meaningless: the caller refuses the map).
#[inline]
fn argmax_row(
    p: ArrayView3<'_, f32>,
    y: usize,
    best: &mut [f32],
    idx: &mut [u32],
    mut orow: ArrayViewMut1<'_, u16>,
) -> bool {
    let k = p.dim().0;
    let mut any_nan = false;
    for (b, &v) in best.iter_mut().zip(p.slice(ndarray::s![0, y, ..])) {
        *b = v;
    }
    any_nan |= has_nan(best);
    idx.fill(0);
    // Rows of a non-contiguous view are copied into `tmp` first.
    let mut tmp: Vec<f32> = Vec::new();
    for c in 1..k {
        let prow = p.slice(ndarray::s![c, y, ..]);
        let ps = if let Some(ps) = prow.as_slice() {
            ps
        } else {
            tmp.clear();
            tmp.extend(prow.iter().copied());
            &tmp
        };
        // At most 65536 channels (checked by the caller), so `c` fits in u32 and the id in u16.
        argmax_step(best, idx, ps, c as u32);
        any_nan |= has_nan(ps);
    }
    for (o, &i) in orow.iter_mut().zip(idx.iter()) {
        *o = i as u16;
    }
    any_nan
}

/// The argmax over the class axis of `[K+1, H, W]` probabilities (first maximum on ties).
///
/// # Errors
/// [`Error::Invalid`] when the probabilities hold NaN or have no channel, or more than 65536.
pub fn argmax(p: ArrayView3<'_, f32>) -> Result<Array2<u16>> {
    let (_, h, w) = p.dim();
    let mut out = Array2::<u16>::zeros((h, w));
    class_map_into(&Semantic::Probabilities(p), out.view_mut())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, Array3};

    use super::*;

    #[test]
    fn argmax_first_maximum_nan_refused_labels_ignore_255() {
        let p = Array3::from_shape_vec((3, 1, 3), vec![0.5f32, 0.2, 0.1, 0.5, 0.7, 0.2, 0.0, 0.1, 0.7])
            .expect("shape");
        let mut c = Array2::<u16>::zeros((1, 3));
        class_map_into(&Semantic::Probabilities(p.view()), c.view_mut()).expect("ok");
        assert_eq!(c, ndarray::array![[0u16, 1, 2]]);
        let mut bad = p.clone();
        bad[[1, 0, 1]] = f32::NAN;
        assert!(class_map_into(&Semantic::Probabilities(bad.view()), c.view_mut()).is_err());
        let l = ndarray::array![[255u16, 0, 4]];
        class_map_into(&Semantic::Labels(l.view()), c.view_mut()).expect("ok");
        assert_eq!(c, ndarray::array![[0u16, 0, 4]]);
    }

    #[test]
    fn argmax_ties_go_to_the_smaller_id_and_shapes_are_checked() {
        let p = Array3::from_shape_vec((3, 1, 2), vec![0.2f32, 0.1, 0.4, 0.3, 0.4, 0.6]).expect("shape");
        assert_eq!(argmax(p.view()).expect("ok"), ndarray::array![[1u16, 2]]);
        let none = Array3::<f32>::zeros((0, 1, 2));
        assert!(argmax(none.view()).is_err());
        let mut wrong = Array2::<u16>::zeros((2, 2));
        assert!(class_map_into(&Semantic::Probabilities(p.view()), wrong.view_mut()).is_err());
        // NaN in channel 0 is refused too (it would otherwise win every comparison silently).
        let mut first = p.clone();
        first[[0, 0, 0]] = f32::NAN;
        assert!(argmax(first.view()).is_err());
    }
}
