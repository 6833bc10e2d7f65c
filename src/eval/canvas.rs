//! A tiny vector scene (lines, rectangles, text) rendered to SVG or to an anti-aliased PNG, for
//! the evaluation plots; see `docs/evaluation.md#plots`.
//!
//! Text is laid out with the embedded `DejaVu` Sans (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera
//! / `DejaVu` licence in `assets/fonts/LICENSE-DejaVu.txt`), so a PNG needs no system font and the
//! SVG's text widths (which name `DejaVu` Sans first) match the PNG's. Coordinates are in scene
//! units, y down; a text's `(x, y)` is its anchor on the baseline.
use std::fmt::Write as _;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

/// `DejaVu` Sans (Book), embedded.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn font() -> FontRef<'static> {
    // The embedded file is a valid TrueType font; the unit test `font_loads` checks it.
    FontRef::try_from_slice(FONT_BYTES).unwrap_or_else(|_| unreachable!("embedded font is valid"))
}

/// An sRGB colour.
pub type Colour = [u8; 3];

/// Horizontal text alignment relative to the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the anchor.
    Start,
    /// The text is centred on the anchor.
    Middle,
    /// The text ends at the anchor.
    End,
}

#[derive(Debug, Clone)]
enum Item {
    Line {
        pts: Vec<(f32, f32)>,
        colour: Colour,
        width: f32,
        dash: bool,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Colour>,
        stroke: Option<(Colour, f32)>,
    },
    Text {
        x: f32,
        y: f32,
        text: String,
        size: f32,
        colour: Colour,
        anchor: Anchor,
        vertical: bool,
    },
}

/// A drawing of `width x height` scene units.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Width in scene units.
    pub width: f32,
    /// Height in scene units.
    pub height: f32,
    items: Vec<Item>,
}

/// Width of `text` at font size `size` (scene units).
#[must_use]
pub fn text_width(text: &str, size: f32) -> f32 {
    let f = font();
    let sf = f.as_scaled(PxScale::from(size));
    let mut w = 0.0;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    w
}

fn hex(c: Colour) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Scene {
    /// An empty scene on a white background.
    #[must_use]
    pub fn new(width: f32, height: f32) -> Self {
        Self {
            width,
            height,
            items: Vec::new(),
        }
    }

    /// A polyline.
    pub fn polyline(&mut self, pts: Vec<(f32, f32)>, colour: Colour, width: f32) {
        self.items.push(Item::Line {
            pts,
            colour,
            width,
            dash: false,
        });
    }

    /// A dashed polyline.
    pub fn dashed(&mut self, pts: Vec<(f32, f32)>, colour: Colour, width: f32) {
        self.items.push(Item::Line {
            pts,
            colour,
            width,
            dash: true,
        });
    }

    /// A straight segment.
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), colour: Colour, width: f32) {
        self.polyline(vec![a, b], colour, width);
    }

    /// A rectangle, filled and/or outlined.
    pub fn rect(
        &mut self,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Colour>,
        stroke: Option<(Colour, f32)>,
    ) {
        self.items.push(Item::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        });
    }

    /// Horizontal text with its baseline at `y`.
    pub fn text(
        &mut self,
        x: f32,
        y: f32,
        text: impl Into<String>,
        size: f32,
        colour: Colour,
        anchor: Anchor,
    ) {
        self.items.push(Item::Text {
            x,
            y,
            text: text.into(),
            size,
            colour,
            anchor,
            vertical: false,
        });
    }

    /// Text rotated 90 degrees counter-clockwise (reading upwards), baseline at `x`.
    pub fn vtext(
        &mut self,
        x: f32,
        y: f32,
        text: impl Into<String>,
        size: f32,
        colour: Colour,
        anchor: Anchor,
    ) {
        self.items.push(Item::Text {
            x,
            y,
            text: text.into(),
            size,
            colour,
            anchor,
            vertical: true,
        });
    }

    /// The scene as a standalone SVG document.
    #[must_use]
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Verdana, Arial, sans-serif">"#,
            w = self.width,
            h = self.height
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for it in &self.items {
            match it {
                Item::Line {
                    pts,
                    colour,
                    width,
                    dash,
                } => {
                    let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
                    let _ = writeln!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"{}/>"#,
                        p.join(" "),
                        hex(*colour),
                        if *dash {
                            format!(r#" stroke-dasharray="{} {}""#, width * 3.0, width * 3.0)
                        } else {
                            String::new()
                        }
                    );
                }
                Item::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let fill = fill.map_or_else(|| "none".to_owned(), hex);
                    let stroke = stroke.map_or_else(String::new, |(c, sw)| {
                        format!(r#" stroke="{}" stroke-width="{sw}""#, hex(c))
                    });
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}"{stroke}/>"#
                    );
                }
                Item::Text {
                    x,
                    y,
                    text,
                    size,
                    colour,
                    anchor,
                    vertical,
                } => {
                    let a = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let rot = if *vertical {
                        format!(r#" transform="rotate(-90 {x:.2} {y:.2})""#)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" fill="{}" text-anchor="{a}"{rot}>{}</text>"#,
                        hex(*colour),
                        esc(text)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The scene rasterised at `scale` pixels per scene unit.
    #[must_use]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "pixel sizes"
    )]
    pub fn to_png(&self, scale: f32) -> RgbImage {
        let (w, h) = (
            (self.width * scale).ceil() as u32,
            (self.height * scale).ceil() as u32,
        );
        let mut r = Raster {
            img: RgbImage::from_pixel(w, h, Rgb([255, 255, 255])),
        };
        let f = font();
        for it in &self.items {
            match it {
                Item::Line {
                    pts,
                    colour,
                    width,
                    dash,
                } => {
                    let pts: Vec<(f32, f32)> = pts.iter().map(|&(x, y)| (x * scale, y * scale)).collect();
                    let lw = (width * scale).max(1.0);
                    if *dash {
                        r.dashed(&pts, lw, *colour);
                    } else {
                        for s in pts.windows(2) {
                            r.segment(s[0], s[1], lw, *colour);
                        }
                    }
                }
                Item::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    let (x, y, w, h) = (x * scale, y * scale, w * scale, h * scale);
                    if let Some(c) = fill {
                        r.fill_rect(x, y, w, h, *c);
                    }
                    if let Some((c, sw)) = stroke {
                        let sw = (sw * scale).max(1.0);
                        let p = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)];
                        for s in p.windows(2) {
                            r.segment(s[0], s[1], sw, *c);
                        }
                    }
                }
                Item::Text {
                    x,
                    y,
                    text,
                    size,
                    colour,
                    anchor,
                    vertical,
                } => {
                    let tw = text_width(text, *size) * scale;
                    let off = match anchor {
                        Anchor::Start => 0.0,
                        Anchor::Middle => -tw / 2.0,
                        Anchor::End => -tw,
                    };
                    r.text(
                        &f,
                        x * scale,
                        y * scale,
                        off,
                        text,
                        size * scale,
                        *colour,
                        *vertical,
                    );
                }
            }
        }
        r.img
    }
}

struct Raster {
    img: RgbImage,
}

impl Raster {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "blending")]
    fn blend(&mut self, x: i64, y: i64, c: Colour, a: f32) {
        if a <= 0.0 || x < 0 || y < 0 || x >= i64::from(self.img.width()) || y >= i64::from(self.img.height())
        {
            return;
        }
        let a = a.min(1.0);
        let p = self.img.get_pixel_mut(x as u32, y as u32);
        for (ch, &target) in p.0.iter_mut().zip(&c) {
            let v = f32::from(*ch) * (1.0 - a) + f32::from(target) * a;
            *ch = v.round().clamp(0.0, 255.0) as u8;
        }
    }

    /// An anti-aliased thick segment with round caps (coverage from the distance to the axis).
    #[allow(clippy::cast_possible_truncation, reason = "pixel coordinates")]
    fn segment(&mut self, a: (f32, f32), b: (f32, f32), width: f32, c: Colour) {
        let r = width / 2.0;
        let (x0, x1) = (a.0.min(b.0) - r - 1.0, a.0.max(b.0) + r + 1.0);
        let (y0, y1) = (a.1.min(b.1) - r - 1.0, a.1.max(b.1) + r + 1.0);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        for py in (y0.floor() as i64)..=(y1.ceil() as i64) {
            for px in (x0.floor() as i64)..=(x1.ceil() as i64) {
                #[allow(clippy::cast_precision_loss, reason = "pixel coordinates")]
                let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
                let t = if len2 > 0.0 {
                    (((cx - a.0) * dx + (cy - a.1) * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (qx, qy) = (a.0 + t * dx - cx, a.1 + t * dy - cy);
                let dist = (qx * qx + qy * qy).sqrt();
                let cov = (r + 0.5 - dist).clamp(0.0, 1.0);
                if cov > 0.0 {
                    // Max-blend along the segment would avoid double coverage at joints; a
                    // plain blend is fine for opaque strokes.
                    self.blend(px, py, c, cov);
                }
            }
        }
    }

    fn dashed(&mut self, pts: &[(f32, f32)], width: f32, c: Colour) {
        let on = width * 3.0;
        let mut phase = 0.0f32;
        for s in pts.windows(2) {
            let (a, b) = (s[0], s[1]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            let mut t = 0.0;
            while t < len {
                let cycle = phase % (2.0 * on);
                let step = if cycle < on { on - cycle } else { 2.0 * on - cycle }.min(len - t);
                if cycle < on {
                    let p = |u: f32| (a.0 + (b.0 - a.0) * u / len, a.1 + (b.1 - a.1) * u / len);
                    self.segment(p(t), p(t + step), width, c);
                }
                t += step;
                phase += step;
            }
        }
    }

    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "pixel coordinates"
    )]
    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, c: Colour) {
        let (x1, y1) = (x + w, y + h);
        for py in (y.floor() as i64)..(y1.ceil() as i64) {
            let cy = (y1.min(py as f32 + 1.0) - y.max(py as f32)).clamp(0.0, 1.0);
            for px in (x.floor() as i64)..(x1.ceil() as i64) {
                let cx = (x1.min(px as f32 + 1.0) - x.max(px as f32)).clamp(0.0, 1.0);
                self.blend(px, py, c, cx * cy);
            }
        }
    }

    #[allow(clippy::too_many_arguments, reason = "one text item")]
    #[allow(clippy::cast_possible_truncation, reason = "pixel coordinates")]
    fn text(
        &mut self,
        f: &FontRef<'_>,
        x: f32,
        y: f32,
        off: f32,
        text: &str,
        size: f32,
        c: Colour,
        vertical: bool,
    ) {
        let sf = f.as_scaled(PxScale::from(size));
        let mut pen = off;
        let mut prev: Option<GlyphId> = None;
        for ch in text.chars() {
            let id = sf.glyph_id(ch);
            if let Some(p) = prev {
                pen += sf.kern(p, id);
            }
            let g = id.with_scale_and_position(PxScale::from(size), point(pen, 0.0));
            pen += sf.h_advance(id);
            prev = Some(id);
            let Some(og) = f.outline_glyph(g) else {
                continue;
            };
            let bb = og.px_bounds();
            og.draw(|gx, gy, cov| {
                #[allow(clippy::cast_precision_loss, reason = "glyph pixels")]
                let (u, v) = (bb.min.x + gx as f32, bb.min.y + gy as f32);
                let (px, py) = if vertical {
                    (x + v, y - u - 1.0)
                } else {
                    (x + u, y + v)
                };
                self.blend(px.round() as i64, py.round() as i64, c, cov);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn font_loads() {
        assert!(FontRef::try_from_slice(FONT_BYTES).is_ok());
        assert!(text_width("Recall", 12.0) > 20.0);
    }

    #[test]
    fn svg_holds_the_text_and_png_inks_it() {
        let mut s = Scene::new(100.0, 40.0);
        s.text(10.0, 25.0, "A<b>", 14.0, [0, 0, 0], Anchor::Start);
        let svg = s.to_svg();
        assert!(svg.contains(">A&lt;b&gt;</text>"));
        let png = s.to_png(1.0);
        let dark = png.pixels().filter(|p| p.0[0] < 128).count();
        assert!(dark > 20, "{dark} dark pixels");
    }
}
