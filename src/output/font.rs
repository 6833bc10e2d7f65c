//! A small embedded bitmap font for overlay labels.
//!
//! Every printable ASCII character (32..=126) has a 5-pixel-wide glyph in a 9-row cell: rows 0..7
//! hold capitals and digits (cap height 7), rows 7..9 hold the descenders of `g j p q y , ;`. Each
//! glyph row is one byte whose low five bits are the pixels, bit 4 being the leftmost column.
//! Characters outside the table are drawn as `?`. Glyphs advance by [`ADVANCE`] pixels (one blank
//! column between characters) times the scale.
//!
//! The glyphs live in the source, so rendering needs no system font and no download.

use image::RgbImage;

/// Width of a glyph in font pixels.
pub const GLYPH_WIDTH: u32 = 5;
/// Height of a glyph cell in font pixels (cap height 7 plus 2 rows of descender).
pub const GLYPH_HEIGHT: u32 = 9;
/// Horizontal advance from one character to the next, in font pixels.
pub const ADVANCE: u32 = GLYPH_WIDTH + 1;

/// First character of the table.
const FIRST: u32 = 32;
/// Last character of the table.
const LAST: u32 = 126;

/// Glyphs for ASCII 32..=126, indexed by `char - 32`.
#[rustfmt::skip]
const GLYPHS: [[u8; GLYPH_HEIGHT as usize]; (LAST - FIRST + 1) as usize] = [
    // ' '
    [0, 0, 0, 0, 0, 0, 0, 0, 0],
    // '!'
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100, 0, 0],
    // '"'
    [0b01010, 0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000, 0, 0],
    // '#'
    [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010, 0, 0],
    // '$'
    [0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100, 0, 0],
    // '%'
    [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011, 0, 0],
    // '&'
    [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101, 0, 0],
    // '\''
    [0b01100, 0b00100, 0b01000, 0b00000, 0b00000, 0b00000, 0b00000, 0, 0],
    // '('
    [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010, 0, 0],
    // ')'
    [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000, 0, 0],
    // '*'
    [0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000, 0, 0],
    // '+'
    [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000, 0, 0],
    // ','
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000, 0],
    // '-'
    [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000, 0, 0],
    // '.'
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100, 0, 0],
    // '/'
    [0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000, 0, 0],
    // '0'
    [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110, 0, 0],
    // '1'
    [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0, 0],
    // '2'
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111, 0, 0],
    // '3'
    [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110, 0, 0],
    // '4'
    [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010, 0, 0],
    // '5'
    [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110, 0, 0],
    // '6'
    [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110, 0, 0],
    // '7'
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0, 0],
    // '8'
    [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110, 0, 0],
    // '9'
    [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100, 0, 0],
    // ':'
    [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000, 0, 0],
    // ';'
    [0b00000, 0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000, 0],
    // '<'
    [0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010, 0, 0],
    // '='
    [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000, 0, 0],
    // '>'
    [0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000, 0, 0],
    // '?'
    [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100, 0, 0],
    // '@'
    [0b01110, 0b10001, 0b00001, 0b01101, 0b10101, 0b10101, 0b01110, 0, 0],
    // 'A'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0, 0],
    // 'B'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110, 0, 0],
    // 'C'
    [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110, 0, 0],
    // 'D'
    [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100, 0, 0],
    // 'E'
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111, 0, 0],
    // 'F'
    [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000, 0, 0],
    // 'G'
    [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111, 0, 0],
    // 'H'
    [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001, 0, 0],
    // 'I'
    [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0, 0],
    // 'J'
    [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100, 0, 0],
    // 'K'
    [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001, 0, 0],
    // 'L'
    [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111, 0, 0],
    // 'M'
    [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001, 0, 0],
    // 'N'
    [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001, 0, 0],
    // 'O'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0, 0],
    // 'P'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000, 0, 0],
    // 'Q'
    [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101, 0, 0],
    // 'R'
    [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001, 0, 0],
    // 'S'
    [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110, 0, 0],
    // 'T'
    [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0, 0],
    // 'U'
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110, 0, 0],
    // 'V'
    [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0, 0],
    // 'W'
    [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010, 0, 0],
    // 'X'
    [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001, 0, 0],
    // 'Y'
    [0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0, 0],
    // 'Z'
    [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111, 0, 0],
    // '['
    [0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110, 0, 0],
    // '\\'
    [0b00000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00001, 0b00000, 0, 0],
    // ']'
    [0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110, 0, 0],
    // '^'
    [0b00100, 0b01010, 0b10001, 0b00000, 0b00000, 0b00000, 0b00000, 0, 0],
    // '_'
    [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111, 0, 0],
    // '`'
    [0b01000, 0b00100, 0b00010, 0b00000, 0b00000, 0b00000, 0b00000, 0, 0],
    // 'a'
    [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111, 0, 0],
    // 'b'
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110, 0, 0],
    // 'c'
    [0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110, 0, 0],
    // 'd'
    [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111, 0, 0],
    // 'e'
    [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110, 0, 0],
    // 'f'
    [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000, 0, 0],
    // 'g'
    [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
    // 'h'
    [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0, 0],
    // 'i'
    [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110, 0, 0],
    // 'j'
    [0b00010, 0b00000, 0b00110, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
    // 'k'
    [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0, 0],
    // 'l'
    [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110, 0, 0],
    // 'm'
    [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001, 0, 0],
    // 'n'
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001, 0, 0],
    // 'o'
    [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110, 0, 0],
    // 'p'
    [0b00000, 0b00000, 0b11110, 0b10001, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000],
    // 'q'
    [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b00001],
    // 'r'
    [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000, 0, 0],
    // 's'
    [0b00000, 0b00000, 0b01111, 0b10000, 0b01110, 0b00001, 0b11110, 0, 0],
    // 't'
    [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110, 0, 0],
    // 'u'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101, 0, 0],
    // 'v'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0, 0],
    // 'w'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010, 0, 0],
    // 'x'
    [0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0, 0],
    // 'y'
    [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
    // 'z'
    [0b00000, 0b00000, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111, 0, 0],
    // '{'
    [0b00010, 0b00100, 0b00100, 0b01000, 0b00100, 0b00100, 0b00010, 0, 0],
    // '|'
    [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0, 0],
    // '}'
    [0b01000, 0b00100, 0b00100, 0b00010, 0b00100, 0b00100, 0b01000, 0, 0],
    // '~'
    [0b00000, 0b00000, 0b01000, 0b10101, 0b00010, 0b00000, 0b00000, 0, 0],
];

/// The glyph rows of `ch`, or `None` when the table has no glyph for it.
#[must_use]
pub fn glyph(ch: char) -> Option<&'static [u8; GLYPH_HEIGHT as usize]> {
    let code = u32::from(ch);
    if (FIRST..=LAST).contains(&code) {
        GLYPHS.get((code - FIRST) as usize)
    } else {
        None
    }
}

/// The glyph drawn for `ch`: its own, or `?` for characters outside the table.
fn glyph_or_fallback(ch: char) -> &'static [u8; GLYPH_HEIGHT as usize] {
    glyph(ch).unwrap_or(&GLYPHS[(u32::from('?') - FIRST) as usize])
}

/// Size `(width, height)` in image pixels of `text` drawn at `scale` (0 counts as 1): the width
/// spans the glyphs and the one-column gaps between them (no trailing gap), the height is the full
/// cell including descenders. An empty text has width 0.
#[must_use]
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let scale = scale.max(1);
    let n = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    let width = if n == 0 {
        0
    } else {
        n.saturating_mul(ADVANCE).saturating_sub(1)
    };
    (width.saturating_mul(scale), GLYPH_HEIGHT.saturating_mul(scale))
}

/// Draws `text` with its cell's top-left corner at `(x, y)`, each font pixel a `scale x scale`
/// square (0 counts as 1) of `color`. Only set pixels are written (no background); everything
/// outside the image is clipped, so any position, including negative ones, is safe.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: [u8; 3]) {
    let scale = i64::from(scale.max(1));
    let (iw, ih) = (i64::from(img.width()), i64::from(img.height()));
    let advance = i64::from(ADVANCE) * scale;
    let mut gx = x;
    for ch in text.chars() {
        if gx >= iw {
            break;
        }
        if gx.saturating_add(i64::from(GLYPH_WIDTH) * scale) > 0 {
            let rows = glyph_or_fallback(ch);
            for (r, &bits) in rows.iter().enumerate() {
                if bits == 0 {
                    continue;
                }
                let py0 = y.saturating_add(r as i64 * scale);
                let (y0, y1) = (py0.max(0), py0.saturating_add(scale).min(ih));
                if y0 >= y1 {
                    continue;
                }
                for c in 0..GLYPH_WIDTH {
                    if bits & (1 << (GLYPH_WIDTH - 1 - c)) == 0 {
                        continue;
                    }
                    let px0 = gx.saturating_add(i64::from(c) * scale);
                    let (x0, x1) = (px0.max(0), px0.saturating_add(scale).min(iw));
                    for yy in y0..y1 {
                        for xx in x0..x1 {
                            // In range by the clipping above: 0 <= xx < iw, 0 <= yy < ih.
                            img.put_pixel(xx as u32, yy as u32, image::Rgb(color));
                        }
                    }
                }
            }
        }
        gx = gx.saturating_add(advance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_printable_ascii() {
        for code in 32u32..=126 {
            let ch = char::from_u32(code).expect("ascii");
            let g = glyph(ch).unwrap_or_else(|| panic!("no glyph for {ch:?}"));
            assert!(
                g.iter().all(|&row| row < 1 << GLYPH_WIDTH),
                "{ch:?} wider than 5 px"
            );
            if ch != ' ' {
                assert!(g.iter().any(|&row| row != 0), "{ch:?} is blank");
            }
        }
        assert!(glyph('\u{7f}').is_none());
        assert!(glyph('é').is_none());
        assert!(glyph('\n').is_none());
    }

    #[test]
    fn glyphs_are_distinct() {
        let mut seen = std::collections::HashMap::new();
        for code in 32u32..=126 {
            let ch = char::from_u32(code).expect("ascii");
            if let Some(prev) = seen.insert(*glyph(ch).expect("glyph"), ch) {
                panic!("{prev:?} and {ch:?} share a glyph");
            }
        }
    }

    #[test]
    fn descenders_only_where_expected() {
        for code in 32u32..=126 {
            let ch = char::from_u32(code).expect("ascii");
            let g = glyph(ch).expect("glyph");
            let descends = g[7] != 0 || g[8] != 0;
            assert_eq!(descends, "gjpqy,;".contains(ch), "{ch:?}");
        }
    }

    #[test]
    fn text_size_matches_drawn_extent() {
        assert_eq!(text_size("", 1), (0, 9));
        assert_eq!(text_size("a", 1), (5, 9));
        assert_eq!(text_size("ab 0.93", 2), ((7 * 6 - 1) * 2, 18));
        assert_eq!(text_size("x", 0), text_size("x", 1));
        assert_eq!(text_size("é", 1), (5, 9));
        // Huge scales saturate rather than overflow.
        assert_eq!(text_size("abc", u32::MAX).0, u32::MAX);

        let mut img = RgbImage::new(100, 40);
        let text = "Wg|_#";
        draw_text(&mut img, 3, 4, text, 2, [255, 255, 255]);
        let (w, h) = text_size(text, 2);
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for (x, y, p) in img.enumerate_pixels() {
            if p.0 != [0, 0, 0] {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
        assert!(x0 >= 3 && y0 >= 4, "drawn before the origin");
        assert!(x1 < 3 + w && y1 < 4 + h, "drawn past text_size");
        // 'W' starts in column 0 and '#' ends in column 4; 'g' reaches the bottom of the cell.
        assert_eq!((x0, x1), (3, 3 + w - 1));
        assert_eq!(y1, 4 + h - 1);
    }

    #[test]
    fn draw_text_clips_at_every_border() {
        let text = "Hello, world! 0.93";
        for &(w, h) in &[(1u32, 1u32), (3, 50), (50, 3), (40, 20), (0, 0), (0, 5)] {
            for &(x, y) in &[
                (-1000i64, -1000i64),
                (-7, -3),
                (-3, 5),
                (0, 0),
                (i64::from(w) - 2, i64::from(h) - 2),
                (i64::from(w), i64::from(h)),
                (i64::MAX, i64::MAX),
                (i64::MIN, i64::MIN),
                (i64::MAX - 3, 0),
                (0, i64::MIN + 3),
            ] {
                for scale in [0, 1, 3] {
                    let mut img = RgbImage::new(w, h);
                    draw_text(&mut img, x, y, text, scale, [200, 10, 10]);
                }
            }
        }
        // Partially visible text still draws the visible part.
        let mut img = RgbImage::new(10, 10);
        draw_text(&mut img, -3, -3, "H", 1, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [255, 0, 0]); // 'H' right column, row 3
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]); // 'H' crossbar, row 3
    }

    #[test]
    fn unknown_characters_draw_as_question_mark() {
        let mut a = RgbImage::new(20, 12);
        let mut b = RgbImage::new(20, 12);
        draw_text(&mut a, 1, 1, "é\u{1F600}", 1, [9, 9, 9]);
        draw_text(&mut b, 1, 1, "??", 1, [9, 9, 9]);
        assert_eq!(a, b);
    }
}
