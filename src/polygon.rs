//! Binary masks as COCO polygons: crack-following contours with holes bridged into their outer
//! ring (design and the choice for holes: `docs/outputs.md#polygons`).
//!
//! A contour runs along pixel *edges*: pixel `(x, y)` covers `[x, x+1] x [y, y+1]`, so every
//! vertex has integer coordinates and pycocotools' `frPyObjects` (this crate's
//! [`Rle::from_polygon`]) rasterises the polygons back to exactly the mask. One polygon is written
//! per 8-connected part of the mask. COCO fills a segmentation as the *union* of its polygons, so a
//! hole cannot be a ring of its own; it is joined to the ring around it by a vertical slit (walked
//! down and back up), with the opposite orientation. Rasterisers that fill a ring by the even-odd
//! rule (pycocotools, PIL/labelme) or the non-zero rule (SVG/CVAT) then leave the hole empty, and
//! a vertical slit adds no crossing to pycocotools' column-wise fill.
use std::collections::HashMap;

use crate::instances::CropMask;
use crate::rle::Rle;

/// Directions: east, south, west, north (clockwise on screen, y down).
const STEP: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

/// One closed crack contour in crop coordinates, unit steps.
struct Ring {
    pts: Vec<(i64, i64)>,
    /// Twice the signed area (positive: outer boundary, foreground on the right; negative: hole).
    area2: i64,
}

/// Start vertex of every eastward edge -> (ring, index of that vertex in the ring).
type EastEdges = HashMap<(i64, i64), (usize, usize)>;

/// Traces every contour of a row-major `width x height` mask (nonzero = foreground).
/// Foreground is 8-connected (at a pixel corner touched by two diagonal foreground pixels the
/// contour turns left and joins them), background 4-connected.
fn trace_rings(data: &[u8], width: usize, height: usize) -> (Vec<Ring>, EastEdges) {
    let (w, h) = (width as i64, height as i64);
    let fg = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && data[(y * w + x) as usize] != 0;
    // Outgoing edges of vertex (x, y): a = NW, b = NE, c = SW, d = SE pixel.
    let outgoing = |x: i64, y: i64| -> [bool; 4] {
        let (a, b, c, d) = (fg(x - 1, y - 1), fg(x, y - 1), fg(x - 1, y), fg(x, y));
        [d && !b, c && !d, a && !c, b && !a]
    };
    let stride = (w + 1) as usize;
    let mut used = vec![0u8; stride * (height + 1)];
    let mut rings = Vec::new();
    let mut east = EastEdges::new();
    for y in 0..=h {
        for x in 0..=w {
            let out = outgoing(x, y);
            for start_dir in 0..4 {
                if !out[start_dir] || used[y as usize * stride + x as usize] & (1 << start_dir) != 0 {
                    continue;
                }
                let ring_id = rings.len();
                let mut pts = Vec::new();
                let mut area2 = 0i64;
                let (mut cx, mut cy, mut dir) = (x, y, start_dir);
                loop {
                    used[cy as usize * stride + cx as usize] |= 1 << dir;
                    if dir == 0 {
                        east.insert((cx, cy), (ring_id, pts.len()));
                    }
                    pts.push((cx, cy));
                    let (nx, ny) = (cx + STEP[dir].0, cy + STEP[dir].1);
                    area2 += cx * ny - nx * cy;
                    cx = nx;
                    cy = ny;
                    let out = outgoing(cx, cy);
                    let saddle = out.iter().filter(|&&o| o).count() == 2;
                    dir = if saddle {
                        (dir + 3) % 4
                    } else {
                        out.iter().position(|&o| o).unwrap_or(dir)
                    };
                    if (cx, cy, dir) == (x, y, start_dir) {
                        break;
                    }
                }
                rings.push(Ring { pts, area2 });
            }
        }
    }
    (rings, east)
}

/// The polygons of a row-major `width x height` mask, in mask coordinates: one closed polygon per
/// 8-connected part (outer contours in raster order of their first pixel), each a list of
/// vertices without the repeated first one, holes bridged in (module docs).
#[must_use]
pub fn mask_polygons(data: &[u8], width: usize, height: usize) -> Vec<Vec<(i64, i64)>> {
    if data.len() < width * height {
        return Vec::new();
    }
    let (rings, east) = trace_rings(data, width, height);
    let w = width as i64;
    let fg =
        |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < height as i64 && data[(y * w + x) as usize] != 0;
    // Each hole hangs from the ring met by a ray straight up from its top-left vertex.
    let mut children: HashMap<(usize, usize), Vec<(usize, usize)>> = HashMap::new();
    for (id, ring) in rings.iter().enumerate().filter(|(_, r)| r.area2 < 0) {
        let (s, &(hx, hy)) = ring
            .pts
            .iter()
            .enumerate()
            .min_by_key(|&(_, &(x, y))| (y, x))
            .unwrap_or((0, &(0, 0)));
        let mut row = hy - 1;
        while fg(hx, row) {
            row -= 1;
        }
        if let Some(&(parent, k)) = east.get(&(hx, row + 1)) {
            children.entry((parent, k)).or_default().push((id, s));
        }
    }
    let mut out = Vec::new();
    for (id, ring) in rings.iter().enumerate().filter(|(_, r)| r.area2 > 0) {
        let mut path: Vec<(i64, i64)> = Vec::with_capacity(ring.pts.len());
        // (ring, start index, steps done, children of the current vertex done)
        let mut stack: Vec<(usize, usize, usize, usize)> = vec![(id, 0, 0, 0)];
        while let Some(&mut (r, start, j, ci)) = stack.last_mut() {
            let n = rings[r].pts.len();
            if j == n {
                stack.pop();
                if let Some(&(pr, pstart, pj, _)) = stack.last() {
                    // Close the hole, then walk the slit back up.
                    path.push(rings[r].pts[start]);
                    let pn = rings[pr].pts.len();
                    path.push(rings[pr].pts[(pstart + pj) % pn]);
                }
                continue;
            }
            let i = (start + j) % n;
            if ci == 0 {
                path.push(rings[r].pts[i]);
            }
            let next_child = children.get(&(r, i)).and_then(|c| c.get(ci)).copied();
            let top = stack.len() - 1;
            if let Some((child, s)) = next_child {
                stack[top].3 += 1;
                stack.push((child, s, 0, 0));
            } else {
                stack[top].2 += 1;
                stack[top].3 = 0;
            }
        }
        out.push(simplify(&path));
    }
    out
}

/// Drops vertices in the middle of straight runs (and repeated points) of a closed path.
fn simplify(path: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut pts: Vec<(i64, i64)> = Vec::with_capacity(path.len());
    for &p in path {
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    while pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    let n = pts.len();
    if n < 3 {
        return pts;
    }
    let dir = |a: (i64, i64), b: (i64, i64)| ((b.0 - a.0).signum(), (b.1 - a.1).signum());
    (0..n)
        .filter(|&i| {
            let (prev, cur, next) = (pts[(i + n - 1) % n], pts[i], pts[(i + 1) % n]);
            dir(prev, cur) != dir(cur, next)
        })
        .map(|i| pts[i])
        .collect()
}

/// The COCO polygons (`[x0, y0, x1, y1, ...]` in image coordinates) of a cropped mask.
#[must_use]
pub fn crop_polygons(mask: &CropMask) -> Vec<Vec<f64>> {
    let (ox, oy) = (i64::from(mask.x), i64::from(mask.y));
    mask_polygons(&mask.data, mask.width as usize, mask.height as usize)
        .into_iter()
        .map(|poly| {
            poly.into_iter()
                .flat_map(|(x, y)| [(x + ox) as f64, (y + oy) as f64])
                .collect()
        })
        .collect()
}

/// Decodes the part of an RLE inside `bbox` (`[x, y, w, h]`, e.g. the record's tight box) into a
/// [`CropMask`], without a full-frame buffer.
#[must_use]
pub fn crop_from_rle(rle: &Rle, bbox: [f64; 4]) -> CropMask {
    let ih = u64::from(rle.height);
    let x0 = (bbox[0].max(0.0) as u64).min(u64::from(rle.width));
    let y0 = (bbox[1].max(0.0) as u64).min(ih);
    let cw = (bbox[2].max(0.0) as u64).min(u64::from(rle.width) - x0);
    let ch = (bbox[3].max(0.0) as u64).min(ih - y0);
    let mut data = vec![0u8; (cw * ch) as usize];
    let mut pos = 0u64;
    for (k, &run) in rle.counts.iter().enumerate() {
        let end = pos + u64::from(run);
        if k % 2 == 1 && ih > 0 {
            let mut p = pos;
            while p < end {
                let (col, row) = (p / ih, p % ih);
                let seg_end = end.min((col + 1) * ih);
                if col >= x0 && col < x0 + cw {
                    let r0 = row.max(y0);
                    let r1 = (row + (seg_end - p)).min(y0 + ch);
                    for r in r0..r1 {
                        data[((r - y0) * cw + (col - x0)) as usize] = 1;
                    }
                }
                p = seg_end;
            }
        }
        pos = end;
    }
    CropMask {
        image_height: rle.height,
        image_width: rle.width,
        x: x0 as u32,
        y: y0 as u32,
        width: cw as u32,
        height: ch as u32,
        data,
    }
}

/// Rasterises COCO polygons as pycocotools does (`frPyObjects` per polygon, then `merge`).
#[must_use]
pub fn rasterise(polygons: &[Vec<f64>], height: u32, width: u32) -> Rle {
    let rles: Vec<Rle> = polygons
        .iter()
        .map(|p| Rle::from_polygon(p, height, width))
        .collect();
    if rles.is_empty() {
        return Rle::empty(height, width);
    }
    Rle::merge(&rles, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> (Vec<u8>, usize, usize) {
        let h = rows.len();
        let w = rows.first().map_or(0, |r| r.len());
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        (data, w, h)
    }

    fn crop(data: Vec<u8>, w: usize, h: usize) -> CropMask {
        CropMask {
            image_height: h as u32 + 3,
            image_width: w as u32 + 2,
            x: 1,
            y: 2,
            width: w as u32,
            height: h as u32,
            data,
        }
    }

    /// Slow reference: 8-connected components by flood fill.
    fn components_8(data: &[u8], w: usize, h: usize) -> usize {
        let mut seen = vec![false; w * h];
        let mut n = 0;
        for start in 0..w * h {
            if data[start] == 0 || seen[start] {
                continue;
            }
            n += 1;
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(p) = stack.pop() {
                let (x, y) = ((p % w) as i64, (p / w) as i64);
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if nx >= 0 && ny >= 0 && nx < w as i64 && ny < h as i64 {
                            let q = ny as usize * w + nx as usize;
                            if data[q] != 0 && !seen[q] {
                                seen[q] = true;
                                stack.push(q);
                            }
                        }
                    }
                }
            }
        }
        n
    }

    fn shoelace2(poly: &[(i64, i64)]) -> i64 {
        let n = poly.len();
        (0..n)
            .map(|i| {
                let (a, b) = (poly[i], poly[(i + 1) % n]);
                a.0 * b.1 - b.0 * a.1
            })
            .sum()
    }

    fn check_round_trip(data: Vec<u8>, w: usize, h: usize) {
        let m = crop(data, w, h);
        let polys = crop_polygons(&m);
        let back = rasterise(&polys, m.image_height, m.image_width);
        assert_eq!(back.to_row_major(), m.to_rle().to_row_major(), "{m:?}\n{polys:?}");
        assert_eq!(polys.len(), components_8(&m.data, w, h));
        let raw = mask_polygons(&m.data, w, h);
        let area: i64 = raw.iter().map(|p| shoelace2(p)).sum();
        assert_eq!(
            area as u64,
            2 * m.area(),
            "slits add no area, holes subtract theirs"
        );
        for p in &polys {
            assert!(p.len() >= 8, "at least 4 vertices: {p:?}");
        }
    }

    #[test]
    fn square_is_four_corners() {
        let (d, w, h) = mask(&["##", "##"]);
        assert_eq!(
            mask_polygons(&d, w, h),
            vec![vec![(0, 0), (2, 0), (2, 2), (0, 2)]]
        );
    }

    #[test]
    fn hole_is_bridged_with_a_vertical_slit() {
        let (d, w, h) = mask(&["#####", "#...#", "#.#.#", "#...#", "#####"]);
        let polys = mask_polygons(&d, w, h);
        assert_eq!(
            polys.len(),
            2,
            "ring with a hole, island inside the hole: {polys:?}"
        );
        // The slit goes from the outer ring's top edge straight down to the hole's corner.
        assert!(
            polys[0].windows(2).any(|p| p[0] == (1, 0) && p[1] == (1, 4)),
            "{polys:?}"
        );
        check_round_trip(d, w, h);
    }

    #[test]
    fn nested_holes_and_diagonal_touches() {
        for rows in [
            &["#.", ".#"][..],
            &["#.#", ".#.", "#.#"],
            &[
                "#######", "#.....#", "#.###.#", "#.#.#.#", "#.###.#", "#.....#", "#######",
            ],
            &["####", "#..#", "####", "#..#", "####"],
            &["#####", "#.#.#", "#####"],
            &["###", "#.#", "##.", "#.#", "###"],
            &["..##", ".#.#", "#.#.", "##.."],
        ] {
            let (d, w, h) = mask(rows);
            check_round_trip(d, w, h);
        }
    }

    #[test]
    fn rle_crop_decoding_matches_the_crop() {
        let (d, w, h) = mask(&["..#..", ".###.", "#.#.#"]);
        let m = crop(d, w, h);
        let rle = m.to_rle();
        let back = crop_from_rle(&rle, m.bbox());
        assert_eq!(back.to_rle(), rle);
        assert_eq!(back.area(), m.area());
        assert_eq!((back.x, back.y, back.width, back.height), (1, 2, 5, 3));
    }

    proptest::proptest! {
        /// Random masks (dense enough for holes and diagonal touches) come back exactly through
        /// the pycocotools rasteriser, with one polygon per 8-connected part.
        #[test]
        fn polygons_rasterise_back_to_the_mask(
            w in 1usize..14, h in 1usize..14,
            bits in proptest::collection::vec(proptest::bool::weighted(0.6), 196),
        ) {
            let data: Vec<u8> = bits[..w * h].iter().map(|&b| u8::from(b)).collect();
            check_round_trip(data.clone(), w, h);
            let m = crop(data, w, h);
            let dec = crop_from_rle(&m.to_rle(), [0.0, 0.0, f64::from(m.image_width), f64::from(m.image_height)]);
            proptest::prop_assert_eq!(dec.to_rle(), m.to_rle());
        }
    }
}
