//! A fast path for the common case of `image.png`: 8-bit RGB, not interlaced, no transparency, no
//! animation (docs/mep-performance.md#png). The chunks are parsed and their CRCs checked here, the
//! zlib stream is inflated in one call by libdeflate, and the rows are unfiltered in place. Any
//! other file, and any file this path finds something unusual in (a bad CRC or checksum, a chunk
//! out of order, a stream of the wrong length, an unknown critical chunk), returns `None`, and the
//! caller decodes it with the `image` crate as before, with that crate's result or error. The
//! pixels are those of `image::load_from_memory(..).into_rgb8()` (tested against it).

/// The PNG signature.
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Above this many bytes of filtered image data, leave the file to the `image` crate (its default
/// allocation limit is 512 MiB).
const MAX_RAW: u64 = 256 << 20;

/// The header of an 8-bit RGB, non-interlaced PNG: width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Width in pixels (> 0).
    pub width: u32,
    /// Height in pixels (> 0).
    pub height: u32,
}

/// The chunks of a PNG this path handles: the header and the concatenated `IDAT` data.
struct Parsed {
    header: Header,
    idat: Vec<u8>,
}

fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// Parses the chunks; `None` for anything but a well-formed 8-bit RGB, non-interlaced PNG without
/// `tRNS` or animation.
fn parse(bytes: &[u8]) -> Option<Parsed> {
    let mut rest = bytes.strip_prefix(SIGNATURE)?;
    let mut header = None;
    let mut idat = Vec::new();
    // 0: no IDAT yet, 1: in the IDAT run, 2: after it.
    let mut idat_state = 0u8;
    loop {
        let len = usize::try_from(be32(rest)?).ok()?;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let data = rest.get(8..8usize.checked_add(len)?)?;
        let crc = be32(rest.get(8 + len..)?)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&kind);
        hasher.update(data);
        if hasher.finalize() != crc {
            return None;
        }
        rest = &rest[12 + len..];
        if header.is_none() && &kind != b"IHDR" {
            return None;
        }
        if idat_state == 1 && &kind != b"IDAT" {
            idat_state = 2;
        }
        match &kind {
            b"IHDR" => {
                if header.is_some() || len != 13 {
                    return None;
                }
                let (width, height) = (be32(data)?, be32(&data[4..])?);
                // Bit depth 8, colour type 2 (RGB), deflate, adaptive filtering, no interlace.
                if width == 0 || height == 0 || data[8..13] != [8, 2, 0, 0, 0] {
                    return None;
                }
                header = Some(Header { width, height });
            }
            b"IDAT" => {
                if idat_state == 2 {
                    return None;
                }
                idat_state = 1;
                idat.extend_from_slice(data);
            }
            b"IEND" => break,
            // Transparency makes the image RGBA; animation chunks select frames.
            b"tRNS" | b"acTL" | b"fcTL" | b"fdAT" => return None,
            // A suggested palette is allowed in an RGB image and does not change it.
            b"PLTE" => {}
            // Unknown critical chunks are an error for a decoder: leave them to `image`.
            k if k[0].is_ascii_uppercase() => return None,
            _ => {}
        }
    }
    (idat_state != 0).then_some(Parsed {
        header: header?,
        idat,
    })
}

/// Paeth predictor (PNG specification, section 9.4: the nearest of left `a`, up `b`, upper-left
/// `c` to `a + b - c`, ties in that order), in stb_image's branch-free form: with `lo`/`hi` the
/// smaller/larger of `a` and `b`, the prediction is `hi` when `3c - a - b <= lo`, `lo` when
/// `hi <= 3c - a - b`, else `c` (checked against the specification's form for every input).
#[inline]
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let thresh = i16::from(c) * 3 - (i16::from(a) + i16::from(b));
    let (lo, hi) = (a.min(b), a.max(b));
    let t0 = if i16::from(hi) <= thresh { lo } else { c };
    if thresh <= i16::from(lo) { hi } else { t0 }
}

/// Unfilters one row of 3-byte pixels in place; `prev` is the unfiltered row above (`None` for
/// the first row). `None` for an unknown filter type.
fn unfilter_row(filter: u8, cur: &mut [u8], prev: Option<&[u8]>) -> Option<()> {
    const BPP: usize = 3;
    match (filter, prev) {
        (0, _) | (2, None) => {}
        (1, _) => {
            for i in BPP..cur.len() {
                cur[i] = cur[i].wrapping_add(cur[i - BPP]);
            }
        }
        (2, Some(prev)) => {
            for (c, &p) in cur.iter_mut().zip(prev) {
                *c = c.wrapping_add(p);
            }
        }
        (3, prev) => {
            let up = |i: usize| prev.map_or(0, |p| u16::from(p[i]));
            for i in 0..BPP.min(cur.len()) {
                cur[i] = cur[i].wrapping_add((up(i) >> 1) as u8);
            }
            for i in BPP..cur.len() {
                let avg = (u16::from(cur[i - BPP]) + up(i)) >> 1;
                cur[i] = cur[i].wrapping_add(avg as u8);
            }
        }
        (4, None) => {
            // Up and upper-left are 0: the predictor is the left byte, as Sub.
            for i in BPP..cur.len() {
                cur[i] = cur[i].wrapping_add(cur[i - BPP]);
            }
        }
        (4, Some(prev)) => {
            let (mut a, mut c) = ([0u8; BPP], [0u8; BPP]);
            for (px, up) in cur.chunks_exact_mut(BPP).zip(prev.chunks_exact(BPP)) {
                for k in 0..BPP {
                    let v = px[k].wrapping_add(paeth(a[k], up[k], c[k]));
                    px[k] = v;
                    a[k] = v;
                    c[k] = up[k];
                }
            }
        }
        _ => return None,
    }
    Some(())
}

/// The header if `bytes` is a PNG this path decodes (chunks and CRCs checked; the image data is
/// not inflated yet).
#[must_use]
pub fn header(bytes: &[u8]) -> Option<Header> {
    parse(bytes).map(|p| p.header)
}

/// Decodes an 8-bit RGB, non-interlaced PNG without transparency into `H * W * 3` bytes, row-major;
/// `check(header)` runs before the image data is inflated (the pixel budget). `Ok(None)`: not a
/// file for this path, decode it with the `image` crate.
///
/// # Errors
/// Only those of `check`.
pub fn decode_rgb8<E>(
    bytes: &[u8],
    check: impl FnOnce(Header) -> Result<(), E>,
) -> Result<Option<(Header, Vec<u8>)>, E> {
    let Some(Parsed { header, idat }) = parse(bytes) else {
        return Ok(None);
    };
    check(header)?;
    let (w, h) = (header.width as usize, header.height as usize);
    let stride = 3 * w;
    let raw_len = (stride as u64 + 1) * h as u64;
    if raw_len > MAX_RAW {
        return Ok(None);
    }
    let Ok(raw_len) = usize::try_from(raw_len) else {
        return Ok(None);
    };
    let mut buf = vec![0u8; raw_len];
    let mut inflater = libdeflater::Decompressor::new();
    // A stream that is corrupt, fails its Adler-32, or is not exactly the image's size: `image`
    // decides (it ignores the Adler-32).
    if inflater.zlib_decompress(&idat, &mut buf) != Ok(raw_len) {
        return Ok(None);
    }
    for r in 0..h {
        // Row r's filter byte, then its data moved down to its final place `r * stride` (the
        // filter bytes of the rows above are dropped), then unfiltered against the row above.
        let src = r * (stride + 1);
        let filter = buf[src];
        buf.copy_within(src + 1..src + 1 + stride, r * stride);
        let (done, cur) = buf.split_at_mut(r * stride);
        let prev = r.checked_sub(1).map(|p| &done[p * stride..]);
        if unfilter_row(filter, &mut cur[..stride], prev).is_none() {
            return Ok(None);
        }
    }
    buf.truncate(stride * h);
    Ok(Some((header, buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageEncoder as _;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};

    fn reference(bytes: &[u8]) -> Vec<u8> {
        image::load_from_memory(bytes)
            .expect("decode")
            .into_rgb8()
            .into_raw()
    }

    fn fast(bytes: &[u8]) -> Option<Vec<u8>> {
        decode_rgb8(bytes, |_| Ok::<_, ()>(()))
            .expect("no check")
            .map(|(_, v)| v)
    }

    fn pixels(w: u32, h: u32, seed: u32) -> Vec<u8> {
        // Smooth gradients with noise: every filter has something to predict.
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..w * h * 3)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let (p, c) = (i / 3, i % 3);
                let (x, y) = (p % w, p / w);
                ((x * (c + 1) + y * 3) as u8).wrapping_add((s % 7) as u8)
            })
            .collect()
    }

    fn encode(px: &[u8], w: u32, h: u32, filter: FilterType, compression: CompressionType) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new_with_quality(&mut out, compression, filter)
            .write_image(px, w, h, image::ExtendedColorType::Rgb8)
            .expect("encode");
        out
    }

    #[test]
    fn matches_the_image_crate_for_every_filter() {
        for (w, h) in [(1, 1), (1, 5), (7, 1), (13, 9), (64, 33)] {
            let px = pixels(w, h, w * 31 + h);
            for filter in [
                FilterType::NoFilter,
                FilterType::Sub,
                FilterType::Up,
                FilterType::Avg,
                FilterType::Paeth,
                FilterType::Adaptive,
            ] {
                for compression in [CompressionType::Fast, CompressionType::Best] {
                    let bytes = encode(&px, w, h, filter, compression);
                    let got = fast(&bytes).unwrap_or_else(|| panic!("{w}x{h} {filter:?}: not decoded"));
                    assert_eq!(got, reference(&bytes), "{w}x{h} {filter:?}");
                    assert_eq!(got, px);
                }
            }
        }
    }

    #[test]
    fn paeth_ties_follow_the_specification() {
        // Every input against the specification's formulation.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    let p = i32::from(a) + i32::from(b) - i32::from(c);
                    let (pa, pb, pc) = (
                        (p - i32::from(a)).abs(),
                        (p - i32::from(b)).abs(),
                        (p - i32::from(c)).abs(),
                    );
                    let want = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    assert_eq!(paeth(a, b, c), want, "{a} {b} {c}");
                }
            }
        }
    }

    #[test]
    fn other_files_are_left_to_the_image_crate() {
        let px = pixels(6, 4, 1);
        let good = encode(&px, 6, 4, FilterType::Paeth, CompressionType::Fast);
        assert!(fast(&good).is_some());
        // Grey, RGBA, 16-bit: other layouts.
        let mut grey = Vec::new();
        PngEncoder::new(&mut grey)
            .write_image(&px[..24], 6, 4, image::ExtendedColorType::L8)
            .expect("encode");
        assert!(fast(&grey).is_none());
        let mut rgba = Vec::new();
        PngEncoder::new(&mut rgba)
            .write_image(&[7u8; 6 * 4 * 4], 6, 4, image::ExtendedColorType::Rgba8)
            .expect("encode");
        assert!(fast(&rgba).is_none());
        let mut rgb16 = Vec::new();
        PngEncoder::new(&mut rgb16)
            .write_image(&[7u8; 6 * 4 * 6], 6, 4, image::ExtendedColorType::Rgb16)
            .expect("encode");
        assert!(fast(&rgb16).is_none());
        // A flipped byte in the image data: its CRC fails.
        let mut bad = good.clone();
        let idat = bad.windows(4).position(|w| w == b"IDAT").expect("idat");
        bad[idat + 6] ^= 1;
        assert!(fast(&bad).is_none());
        // Truncated, no IEND.
        assert!(fast(&good[..good.len() - 12]).is_none());
        assert!(fast(&good[..40]).is_none());
        // A tRNS chunk (inserted after IHDR with a valid CRC) makes the image RGBA.
        let mut trns = good[..33].to_vec();
        let data = [0u8, 1, 0, 2, 0, 3];
        trns.extend_from_slice(&6u32.to_be_bytes());
        trns.extend_from_slice(b"tRNS");
        trns.extend_from_slice(&data);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(b"tRNS");
        hasher.update(&data);
        trns.extend_from_slice(&hasher.finalize().to_be_bytes());
        trns.extend_from_slice(&good[33..]);
        assert!(fast(&trns).is_none());
        assert_eq!(
            image::load_from_memory(&trns).expect("decode").color(),
            image::ColorType::Rgba8
        );
        assert!(fast(b"").is_none());
        assert!(fast(b"\x89PNG\r\n\x1a\n").is_none());
    }

    /// `bytes` with the IHDR byte `i` (0-based in its data) set to `v` and the CRC fixed.
    fn patch_ihdr(bytes: &[u8], i: usize, v: u8) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out[16 + i] = v;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&out[12..29]);
        out[29..33].copy_from_slice(&hasher.finalize().to_be_bytes());
        out
    }

    #[test]
    fn interlaced_and_odd_headers_are_left_to_the_image_crate() {
        let px = pixels(6, 4, 3);
        let good = encode(&px, 6, 4, FilterType::Up, CompressionType::Fast);
        assert_eq!(patch_ihdr(&good, 12, 0), good);
        assert!(fast(&patch_ihdr(&good, 12, 1)).is_none(), "Adam7");
        assert!(fast(&patch_ihdr(&good, 8, 16)).is_none(), "16-bit");
        assert!(fast(&patch_ihdr(&good, 9, 6)).is_none(), "RGBA");
        assert!(fast(&patch_ihdr(&good, 3, 0)).is_none(), "zero width");
    }

    #[test]
    fn repository_images_match_the_image_crate() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut n = 0;
        for dir in ["mep", "samples/images"] {
            let mut stack = vec![root.join(dir)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).expect("fixtures").flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "png") {
                        let bytes = std::fs::read(&p).expect("read");
                        let img = image::load_from_memory(&bytes).expect("decode");
                        match fast(&bytes) {
                            Some(v) => {
                                assert_eq!(img.color(), image::ColorType::Rgb8, "{}", p.display());
                                assert_eq!(v, img.into_rgb8().into_raw(), "{}", p.display());
                                n += 1;
                            }
                            None => assert_ne!(img.color(), image::ColorType::Rgb8, "{}", p.display()),
                        }
                    }
                }
            }
        }
        assert!(n >= 16, "{n} RGB images");
    }

    #[test]
    fn the_check_runs_before_inflating() {
        let px = pixels(5, 3, 2);
        let bytes = encode(&px, 5, 3, FilterType::Sub, CompressionType::Fast);
        let e = decode_rgb8(&bytes, |h| Err(format!("{}x{}", h.width, h.height))).expect_err("refused");
        assert_eq!(e, "5x3");
        assert_eq!(header(&bytes), Some(Header { width: 5, height: 3 }));
    }
}
