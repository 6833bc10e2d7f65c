//! Overlay pictures: the input image with each instance's mask blended in a distinct colour, a
//! darker 1-px outline along the mask border and a `"name 0.93"` label in a filled box at the
//! top-left of the instance's tight box.
//!
//! Instances are painted in ascending score (equal scores: list order), as in
//! [`crate::instances::paint_label_map`], so the highest score ends up on top; labels are drawn
//! after all masks, in the same order. All work is done on each mask's crop, so the cost grows
//! with the instances' areas, not with the image area times the number of instances.
//!
//! Malformed input never panics: crops that reach outside the image are clipped, a crop whose
//! `data` is shorter than `width * height` reads the missing pixels as background, and any image
//! size (including 0x0 and 1x1) is accepted.

use image::{Rgb, RgbImage};

use super::font;
use crate::instances::{CropMask, Instance};

/// How [`render_overlay`] draws instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayOptions {
    /// Opacity of the mask colour over the image, in [0, 1] (values outside are clamped, NaN
    /// means the default 0.45).
    pub alpha: f32,
    /// Draw a `"name score"` label per instance.
    pub draw_text: bool,
    /// Draw a 1-px darker outline along each mask's border.
    pub draw_outline: bool,
}

impl OverlayOptions {
    /// The default mask opacity.
    pub const DEFAULT_ALPHA: f32 = 0.45;
}

impl Default for OverlayOptions {
    fn default() -> Self {
        Self {
            alpha: Self::DEFAULT_ALPHA,
            draw_text: true,
            draw_outline: true,
        }
    }
}

/// The colour of the instance at position `index` of the list: hues stepped by the golden ratio
/// (so neighbouring indices are far apart on the colour wheel), with saturation and value
/// alternating slightly to separate hues that come back close after many steps.
#[must_use]
pub fn instance_color(index: usize) -> [u8; 3] {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let hue = (0.58 + index as f64 * GOLDEN).fract();
    let (sat, val) = match index % 3 {
        0 => (0.80, 0.98),
        1 => (0.65, 0.92),
        _ => (0.90, 0.85),
    };
    hsv_to_rgb(hue, sat, val)
}

/// HSV (all in [0, 1]) to 8-bit RGB.
fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [u8; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let sector = h6.floor();
    let f = h6 - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector as u8 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    let to_u8 = |x: f64| (x * 255.0).round().clamp(0.0, 255.0) as u8;
    [to_u8(r), to_u8(g), to_u8(b)]
}

/// The font scale used for labels on a `width x height` image: 1 up to 800 px on the longer
/// side, then one more step per started 800 px (2 up to 1600 px, ...), at most 4.
#[must_use]
pub fn label_scale(width: u32, height: u32) -> u32 {
    width.max(height).div_ceil(800).clamp(1, 4)
}

/// The label text of an instance: `"name 0.93"`, the name being `class_names[category - 1]`, or
/// `"class N"` when the category has no name.
#[must_use]
pub fn label_text(instance: &Instance, class_names: &[String]) -> String {
    let name = instance
        .category
        .checked_sub(1)
        .and_then(|i| class_names.get(i as usize))
        .map_or_else(|| format!("class {}", instance.category), Clone::clone);
    format!("{name} {:.2}", instance.score)
}

/// Renders `instances` over a copy of `image` (see the module docs). `class_names[k - 1]` names
/// category `k`. With no instances the copy is returned unchanged.
#[must_use]
pub fn render_overlay(
    image: &RgbImage,
    instances: &[Instance],
    class_names: &[String],
    opts: &OverlayOptions,
) -> RgbImage {
    let mut out = image.clone();
    if instances.is_empty() || out.width() == 0 || out.height() == 0 {
        return out;
    }
    let alpha = if opts.alpha.is_nan() {
        OverlayOptions::DEFAULT_ALPHA
    } else {
        opts.alpha.clamp(0.0, 1.0)
    };
    // Fixed-point weight of the colour, 0..=256.
    let weight = (alpha * 256.0).round() as u32;

    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by(|&a, &b| instances[a].score.total_cmp(&instances[b].score));

    let mut boxes: Vec<Option<PixelBox>> = vec![None; instances.len()];
    for &i in &order {
        boxes[i] = paint_mask(
            &mut out,
            &instances[i].mask,
            instance_color(i),
            weight,
            opts.draw_outline,
        );
    }
    if opts.draw_text {
        let scale = label_scale(out.width(), out.height());
        for &i in &order {
            if let Some(bbox) = boxes[i] {
                let text = label_text(&instances[i], class_names);
                draw_label(&mut out, bbox, &text, instance_color(i), scale);
            }
        }
    }
    out
}

/// An inclusive pixel box `[x0, x1] x [y0, y1]` in image coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PixelBox {
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

/// Read access to a crop that treats out-of-crop and missing pixels as background.
struct CropView<'a> {
    mask: &'a CropMask,
}

impl CropView<'_> {
    /// Whether crop pixel `(r, c)` (crop coordinates, may be out of range) is foreground.
    fn fg(&self, r: i64, c: i64) -> bool {
        let (w, h) = (i64::from(self.mask.width), i64::from(self.mask.height));
        if r < 0 || c < 0 || r >= h || c >= w {
            return false;
        }
        r.checked_mul(w)
            .and_then(|i| i.checked_add(c))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.mask.data.get(i))
            .is_some_and(|&v| v != 0)
    }
}

/// Blends the visible part of `mask` into `img` with colour `color` at fixed-point `weight`
/// (0..=256), and draws the outline if asked. Returns the tight box of the visible foreground.
fn paint_mask(
    img: &mut RgbImage,
    mask: &CropMask,
    color: [u8; 3],
    weight: u32,
    outline: bool,
) -> Option<PixelBox> {
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let (mx, my) = (i64::from(mask.x), i64::from(mask.y));
    // Visible rows/columns of the crop, in crop coordinates.
    let c_end = i64::from(mask.width).min(iw - mx);
    let r_end = i64::from(mask.height).min(ih - my);
    if c_end <= 0 || r_end <= 0 {
        return None;
    }
    let view = CropView { mask };
    let dark = color.map(|v| (u32::from(v) * 5 / 10) as u8);
    let keep = 256 - weight;
    let mut bbox: Option<PixelBox> = None;
    for r in 0..r_end {
        for c in 0..c_end {
            if !view.fg(r, c) {
                continue;
            }
            // In range: 0 <= mx + c < iw and 0 <= my + r < ih.
            let (x, y) = ((mx + c) as u32, (my + r) as u32);
            bbox = Some(match bbox {
                None => PixelBox {
                    x0: x,
                    y0: y,
                    x1: x,
                    y1: y,
                },
                Some(b) => PixelBox {
                    x0: b.x0.min(x),
                    y0: b.y0.min(y),
                    x1: b.x1.max(x),
                    y1: b.y1.max(y),
                },
            });
            let border = outline
                && [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)]
                    .into_iter()
                    .any(|(nr, nc)| {
                        // Neighbours outside the image do not make a border (no frame along the edge).
                        let (nx, ny) = (mx + nc, my + nr);
                        nx >= 0 && ny >= 0 && nx < iw && ny < ih && !view.fg(nr, nc)
                    });
            let px = img.get_pixel_mut(x, y);
            if border {
                *px = Rgb(dark);
            } else {
                for (p, &col) in px.0.iter_mut().zip(&color) {
                    *p = ((u32::from(*p) * keep + u32::from(col) * weight + 128) >> 8) as u8;
                }
            }
        }
    }
    bbox
}

/// Where the label box of an instance with tight box `bbox` goes: `(x, y, w, h)` with its left edge
/// at the box's left edge and its bottom just above the box's top, or inside the top of the box
/// when there is no room above; always shifted to lie inside the image when it fits.
fn label_box(bbox: PixelBox, text: &str, scale: u32, img_w: u32, img_h: u32) -> (i64, i64, u32, u32) {
    let (tw, th) = font::text_size(text, scale);
    let pad = scale;
    // The cell's two descender rows act as bottom padding, so pad the top by one font pixel only.
    let (bw, bh) = (tw.saturating_add(2 * pad), th.saturating_add(pad));
    let (bw64, bh64) = (i64::from(bw), i64::from(bh));
    let (iw, ih) = (i64::from(img_w), i64::from(img_h));
    let top = i64::from(bbox.y0);
    let y = if top >= bh64 { top - bh64 } else { top };
    let clamp = |v: i64, size: i64, limit: i64| v.min(limit - size).max(0);
    (clamp(i64::from(bbox.x0), bw64, iw), clamp(y, bh64, ih), bw, bh)
}

/// Draws the filled label box and its text.
fn draw_label(img: &mut RgbImage, bbox: PixelBox, text: &str, color: [u8; 3], scale: u32) {
    let (x, y, bw, bh) = label_box(bbox, text, scale, img.width(), img.height());
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    for yy in y.max(0)..(y + i64::from(bh)).min(ih) {
        for xx in x.max(0)..(x + i64::from(bw)).min(iw) {
            img.put_pixel(xx as u32, yy as u32, Rgb(color));
        }
    }
    // Rec. 601 luma decides between black and white text.
    let luma = 299 * u32::from(color[0]) + 587 * u32::from(color[1]) + 114 * u32::from(color[2]);
    let ink = if luma > 150_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    font::draw_text(img, x + i64::from(scale), y + i64::from(scale), text, scale, ink);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["person", "dog", "traffic light"]
            .iter()
            .map(|s| (*s).to_string())
            .collect()
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 128]))
    }

    /// A disc of radius `rad` centred at `(cx, cy)`, cropped to its box (clipped to the image).
    fn disc(w: u32, h: u32, cx: i64, cy: i64, rad: i64) -> CropMask {
        let x0 = (cx - rad).max(0);
        let y0 = (cy - rad).max(0);
        let x1 = (cx + rad).min(i64::from(w) - 1);
        let y1 = (cy + rad).min(i64::from(h) - 1);
        let (cw, ch) = ((x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32);
        let mut data = vec![0u8; (cw * ch) as usize];
        for r in 0..i64::from(ch) {
            for c in 0..i64::from(cw) {
                let (dx, dy) = (x0 + c - cx, y0 + r - cy);
                if dx * dx + dy * dy <= rad * rad {
                    data[(r * i64::from(cw) + c) as usize] = 1;
                }
            }
        }
        CropMask {
            image_height: h,
            image_width: w,
            x: x0 as u32,
            y: y0 as u32,
            width: cw,
            height: ch,
            data,
        }
    }

    fn inst(category: u32, score: f64, mask: CropMask) -> Instance {
        Instance {
            category,
            score,
            mask,
        }
    }

    #[test]
    fn empty_instance_list_returns_image_unchanged() {
        let img = gradient(37, 21);
        assert_eq!(
            render_overlay(&img, &[], &names(), &OverlayOptions::default()),
            img
        );
        assert_eq!(render_overlay(&img, &[], &[], &OverlayOptions::default()), img);
    }

    #[test]
    fn blending_changes_only_masked_pixels() {
        let (w, h) = (60, 40);
        let img = gradient(w, h);
        let m = disc(w, h, 30, 20, 9);
        let instances = [inst(1, 0.9, m.clone())];
        for outline in [false, true] {
            let opts = OverlayOptions {
                alpha: 0.45,
                draw_text: false,
                draw_outline: outline,
            };
            let out = render_overlay(&img, &instances, &names(), &opts);
            for (x, y, p) in out.enumerate_pixels() {
                let before = img.get_pixel(x, y);
                if m.contains(y, x) {
                    assert_ne!(p, before, "masked pixel ({x}, {y}) unchanged");
                } else {
                    assert_eq!(p, before, "unmasked pixel ({x}, {y}) changed");
                }
            }
        }
        // Blending is a convex mix: each channel lies between the image and the colour.
        let opts = OverlayOptions {
            alpha: 0.45,
            draw_text: false,
            draw_outline: false,
        };
        let out = render_overlay(&img, &instances, &names(), &opts);
        let col = instance_color(0);
        let (p, q) = (out.get_pixel(30, 20).0, img.get_pixel(30, 20).0);
        for k in 0..3 {
            assert!(p[k] >= q[k].min(col[k]) && p[k] <= q[k].max(col[k]));
        }
        // Alpha 0 without outline or text leaves the image as it was.
        let opts = OverlayOptions {
            alpha: 0.0,
            draw_text: false,
            draw_outline: false,
        };
        assert_eq!(render_overlay(&img, &instances, &names(), &opts), img);
        // Alpha 1 paints the exact colour.
        let opts = OverlayOptions {
            alpha: 1.0,
            draw_text: false,
            draw_outline: false,
        };
        assert_eq!(
            render_overlay(&img, &instances, &names(), &opts)
                .get_pixel(30, 20)
                .0,
            col
        );
    }

    #[test]
    fn outline_is_on_the_mask_border_only() {
        let (w, h) = (20, 20);
        let img = RgbImage::from_pixel(w, h, Rgb([10, 20, 30]));
        let m = CropMask {
            image_height: h,
            image_width: w,
            x: 5,
            y: 5,
            width: 5,
            height: 5,
            data: vec![1; 25],
        };
        let opts = OverlayOptions {
            alpha: 0.45,
            draw_text: false,
            draw_outline: true,
        };
        let out = render_overlay(&img, &[inst(1, 0.5, m)], &names(), &opts);
        let dark = instance_color(0).map(|v| v / 2);
        for y in 5..10 {
            for x in 5..10 {
                let on_border = x == 5 || x == 9 || y == 5 || y == 9;
                assert_eq!(out.get_pixel(x, y).0 == dark, on_border, "({x}, {y})");
            }
        }
        // A mask touching the image edge gets no outline along the edge.
        let m = CropMask {
            image_height: h,
            image_width: w,
            x: 0,
            y: 0,
            width: 3,
            height: 3,
            data: vec![1; 9],
        };
        let out = render_overlay(&img, &[inst(1, 0.5, m)], &names(), &opts);
        assert_ne!(out.get_pixel(0, 0).0, dark);
        assert_eq!(out.get_pixel(2, 0).0, dark);
        assert_eq!(out.get_pixel(0, 2).0, dark);
    }

    #[test]
    fn highest_score_is_painted_on_top() {
        let (w, h) = (10, 4);
        let img = RgbImage::new(w, h);
        let mk = |x| CropMask {
            image_height: h,
            image_width: w,
            x,
            y: 0,
            width: 4,
            height: 4,
            data: vec![1; 16],
        };
        let opts = OverlayOptions {
            alpha: 1.0,
            draw_text: false,
            draw_outline: false,
        };
        let a = inst(1, 0.9, mk(0));
        let b = inst(2, 0.3, mk(2));
        let out = render_overlay(&img, &[a.clone(), b.clone()], &names(), &opts);
        assert_eq!(out.get_pixel(3, 1).0, instance_color(0));
        let out = render_overlay(&img, &[b, a], &names(), &opts);
        assert_eq!(out.get_pixel(3, 1).0, instance_color(1));
    }

    #[test]
    fn palette_is_well_separated() {
        let cols: Vec<[u8; 3]> = (0..12).map(instance_color).collect();
        for i in 0..cols.len() {
            for j in i + 1..cols.len() {
                let d: i32 = (0..3)
                    .map(|k| (i32::from(cols[i][k]) - i32::from(cols[j][k])).abs())
                    .sum();
                assert!(
                    d >= 40,
                    "colours {i} and {j} too close: {:?} {:?}",
                    cols[i],
                    cols[j]
                );
            }
        }
    }

    /// Extent `(x0, y0, x1, y1)` of the pixels of `out` that differ from the solid `bg`.
    fn changed_extent(out: &RgbImage, bg: [u8; 3]) -> Option<(u32, u32, u32, u32)> {
        let mut ext: Option<(u32, u32, u32, u32)> = None;
        for (x, y, p) in out.enumerate_pixels() {
            if p.0 != bg {
                ext = Some(match ext {
                    None => (x, y, x, y),
                    Some((a, b, c, d)) => (a.min(x), b.min(y), c.max(x), d.max(y)),
                });
            }
        }
        ext
    }

    #[test]
    fn label_stays_inside_the_image_near_borders() {
        let bg = [1, 2, 3];
        let opts = OverlayOptions {
            alpha: 0.0,
            draw_text: true,
            draw_outline: false,
        };
        for &(w, h) in &[(120u32, 60u32), (900, 300), (30, 12)] {
            let img = RgbImage::from_pixel(w, h, Rgb(bg));
            let scale = label_scale(w, h);
            let corners = [(0, 0), (w - 2, 0), (0, h - 2), (w - 2, h - 2), (w / 2, 0)];
            for &(x, y) in &corners {
                let m = CropMask {
                    image_height: h,
                    image_width: w,
                    x,
                    y,
                    width: 2,
                    height: 2,
                    data: vec![1; 4],
                };
                let i = inst(3, 0.93, m);
                let text = label_text(&i, &names());
                assert_eq!(text, "traffic light 0.93");
                let out = render_overlay(&img, &[i], &names(), &opts);
                let (tw, th) = font::text_size(&text, scale);
                let (bw, bh) = (tw + 2 * scale, th + scale);
                let (x0, y0, x1, y1) = changed_extent(&out, bg).expect("label drawn");
                if bw <= w {
                    // The whole box is visible: its full extent was painted.
                    assert_eq!((x1 - x0 + 1, y1 - y0 + 1), (bw, bh), "{w}x{h} at ({x}, {y})");
                    assert!(x0 <= x || x1 == w - 1, "label not at the box's left edge");
                } else {
                    // Too wide for the image: pinned to the left edge and clipped on the right.
                    assert_eq!((x0, x1), (0, w - 1));
                }
            }
        }
    }

    #[test]
    fn label_goes_above_the_box_when_there_is_room() {
        let b = PixelBox {
            x0: 10,
            y0: 50,
            x1: 30,
            y1: 70,
        };
        let (x, y, _, bh) = label_box(b, "dog 0.50", 1, 200, 200);
        assert_eq!((x, y + i64::from(bh)), (10, 50));
        let b = PixelBox {
            x0: 10,
            y0: 3,
            x1: 30,
            y1: 70,
        };
        assert_eq!(label_box(b, "dog 0.50", 1, 200, 200).1, 3);
    }

    #[test]
    fn label_text_names_and_fallbacks() {
        let n = names();
        assert_eq!(
            label_text(&inst(1, 0.934, disc(5, 5, 2, 2, 1)), &n),
            "person 0.93"
        );
        assert_eq!(label_text(&inst(0, 0.5, disc(5, 5, 2, 2, 1)), &n), "class 0 0.50");
        assert_eq!(label_text(&inst(9, 1.0, disc(5, 5, 2, 2, 1)), &n), "class 9 1.00");
        assert_eq!(label_scale(800, 600), 1);
        assert_eq!(label_scale(640, 801), 2);
        assert_eq!(label_scale(1600, 10), 2);
        assert_eq!(label_scale(100_000, 10), 4);
        assert_eq!(label_scale(0, 0), 1);
    }

    #[test]
    #[allow(
        clippy::too_many_lines,
        reason = "one table of malformed cases, then their checks"
    )]
    fn odd_sizes_and_malformed_masks_do_not_panic() {
        let weird = [
            // Crop bigger than a 1x1 image.
            CropMask {
                image_height: 9,
                image_width: 9,
                x: 0,
                y: 0,
                width: 9,
                height: 9,
                data: vec![1; 81],
            },
            // Crop entirely outside the image.
            CropMask {
                image_height: 1,
                image_width: 1,
                x: 5,
                y: 5,
                width: 2,
                height: 2,
                data: vec![1; 4],
            },
            // Offsets at the end of the u32 range.
            CropMask {
                image_height: 1,
                image_width: 1,
                x: u32::MAX,
                y: u32::MAX,
                width: u32::MAX,
                height: u32::MAX,
                data: vec![1; 4],
            },
            // Data shorter than width * height.
            CropMask {
                image_height: 4,
                image_width: 4,
                x: 0,
                y: 0,
                width: 4,
                height: 4,
                data: vec![1; 3],
            },
            // Empty crop and empty mask.
            CropMask {
                image_height: 1,
                image_width: 1,
                x: 0,
                y: 0,
                width: 0,
                height: 0,
                data: vec![],
            },
            CropMask {
                image_height: 1,
                image_width: 1,
                x: 0,
                y: 0,
                width: 1,
                height: 1,
                data: vec![0],
            },
        ];
        let instances: Vec<Instance> = weird
            .iter()
            .enumerate()
            .map(|(i, m)| {
                inst(
                    i as u32,
                    [0.5, f64::NAN, -1.0, 2.0, f64::INFINITY, 0.1][i],
                    m.clone(),
                )
            })
            .collect();
        for &(w, h) in &[(1u32, 1u32), (0, 0), (0, 3), (3, 0), (2, 1), (1, 900), (5, 5)] {
            let img = gradient(w, h);
            for alpha in [0.45, f32::NAN, -3.0, 7.0] {
                for draw_text in [false, true] {
                    let opts = OverlayOptions {
                        alpha,
                        draw_text,
                        draw_outline: true,
                    };
                    let out = render_overlay(&img, &instances, &names(), &opts);
                    assert_eq!(out.dimensions(), (w, h));
                }
            }
        }
        // The 1x1 image gets the first instance's colour at its only pixel.
        let img = RgbImage::new(1, 1);
        let opts = OverlayOptions {
            alpha: 1.0,
            draw_text: false,
            draw_outline: true,
        };
        let out = render_overlay(&img, &instances[..1], &names(), &opts);
        assert_eq!(out.get_pixel(0, 0).0, instance_color(0));
    }

    /// The masks of the fixture's COCO detections (`fixtures/coco/clarifai_val2017_10/dets_segm.json`,
    /// image 176857, score >= 0.3) as full-image crops, score order unchanged.
    fn fixture_instances() -> (u32, u32, Vec<Instance>) {
        use crate::rle::Rle;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/coco/clarifai_val2017_10/dets_segm.json");
        let text = std::fs::read_to_string(&path).expect("fixture json");
        let dets: serde_json::Value = serde_json::from_str(&text).expect("fixture json parses");
        let (mut h, mut w) = (0, 0);
        let mut instances = Vec::new();
        for d in dets.as_array().expect("dets") {
            let score = d["score"].as_f64().expect("score");
            if d["image_id"].as_u64() != Some(176_857) || score < 0.3 {
                continue;
            }
            let size = &d["segmentation"]["size"];
            h = u32::try_from(size[0].as_u64().expect("h")).expect("h");
            w = u32::try_from(size[1].as_u64().expect("w")).expect("w");
            let counts = d["segmentation"]["counts"].as_str().expect("counts");
            let data = Rle::from_compressed_string(counts, h, w)
                .expect("rle")
                .to_row_major();
            let mask = CropMask {
                image_height: h,
                image_width: w,
                x: 0,
                y: 0,
                width: w,
                height: h,
                data,
            };
            let category = u32::try_from(d["category_id"].as_u64().expect("category")).expect("category");
            instances.push(inst(category, score, mask));
        }
        (h, w, instances)
    }

    /// On real COCO masks: pixels outside every mask are untouched; the best-scoring instance
    /// (painted last) shows its colour inside and the dark outline exactly on its 4-connected
    /// border (image edges excluded).
    #[test]
    fn coco_fixture_masks_paint_inside_outline_on_border_nothing_outside() {
        let (h, w, instances) = fixture_instances();
        assert!(instances.len() >= 3, "{} instances", instances.len());
        let img = gradient(w, h);
        let opts = OverlayOptions {
            alpha: 1.0,
            draw_text: false,
            draw_outline: true,
        };
        let out = render_overlay(&img, &instances, &names(), &opts);
        let top = (0..instances.len())
            .max_by(|&a, &b| instances[a].score.total_cmp(&instances[b].score))
            .expect("instances");
        let m = &instances[top].mask;
        let fg = |x: i64, y: i64| {
            x >= 0 && y >= 0 && x < i64::from(w) && y < i64::from(h) && m.contains(y as u32, x as u32)
        };
        let color = instance_color(top);
        let dark = color.map(|v| (u32::from(v) * 5 / 10) as u8);
        let (mut inside, mut border) = (0usize, 0usize);
        for y in 0..h {
            for x in 0..w {
                let px = out.get_pixel(x, y).0;
                if !instances.iter().any(|i| i.mask.contains(y, x)) {
                    assert_eq!(px, img.get_pixel(x, y).0, "outside pixel ({x}, {y}) changed");
                    continue;
                }
                if !fg(i64::from(x), i64::from(y)) {
                    continue;
                }
                let (xi, yi) = (i64::from(x), i64::from(y));
                let on_border = [(xi - 1, yi), (xi + 1, yi), (xi, yi - 1), (xi, yi + 1)]
                    .into_iter()
                    .any(|(nx, ny)| {
                        nx >= 0 && ny >= 0 && nx < i64::from(w) && ny < i64::from(h) && !fg(nx, ny)
                    });
                if on_border {
                    border += 1;
                    assert_eq!(px, dark, "border pixel ({x}, {y})");
                } else {
                    inside += 1;
                    assert_eq!(px, color, "inside pixel ({x}, {y})");
                }
            }
        }
        assert!(inside > 100 && border > 20, "inside {inside}, border {border}");
    }
}
