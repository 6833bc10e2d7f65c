//! Issue 10: trustworthy on real folders. One test per defect found by the skeptical tester,
//! named for what it guards (the real binary, the tiny test model).
use std::path::Path;

use serde_json::Value;

use crate::util::{TestDir, assert_code, baiseg, fixture, run, text, tiny_model};

fn summary(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("--json summary: {e}\n{}", text(out)))
}

/// A small deterministic RGB PNG with a few shapes.
fn small_png(seed: u32, w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let cx = (seed * 7) % w.max(1);
        let cy = (seed * 13) % h.max(1);
        let d = x.abs_diff(cx) + y.abs_diff(cy);
        if d < w / 3 {
            image::Rgb([200, 40 + (seed % 100) as u8, 30])
        } else {
            image::Rgb([20, 20, 20 + ((x + y) % 50) as u8])
        }
    });
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png).expect("png");
    buf.into_inner()
}

fn infer(dir: &TestDir, out: &str, extra: &[&str], inputs: &[&Path]) -> std::process::Output {
    let mut cmd = baiseg();
    cmd.args(["infer", "--json", "--out"])
        .arg(dir.join(out))
        .args(extra)
        .arg(tiny_model());
    for i in inputs {
        cmd.arg(i);
    }
    run(&mut cmd)
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// 1. Random abort: the MEP's own rayon loops steal other images' jobs on the same thread.
#[test]
fn many_small_images_with_batch_and_threads_never_abort() {
    let dir = TestDir::new();
    for i in 0..160u32 {
        let (w, h) = (24 + (i % 5) * 8, 24 + (i % 3) * 8);
        dir.write(&format!("in/{i:03}.png"), &small_png(i, w, h));
    }
    let input = dir.join("in");
    let par = infer(&dir, "par", &["--batch", "4", "--threads", "4"], &[&input]);
    assert_code(&par, 0);
    assert_eq!(summary(&par)["processed"], 160);
    let one = infer(&dir, "one", &["--threads", "1"], &[&input]);
    assert_code(&one, 0);
    assert_eq!(
        std::fs::read(dir.join("par/instances.json")).unwrap(),
        std::fs::read(dir.join("one/instances.json")).unwrap(),
        "parallel batched run equals the sequential one"
    );
}

fn write_zip(path: &Path, members: &[(&str, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        zip.start_file(*name, opts).unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
}

// 2. Zip member names must never place outputs outside --out.
#[test]
fn zip_member_names_never_escape_out() {
    let dir = TestDir::new();
    let abs = dir.join("abs/victim.png");
    let abs_name = abs.to_string_lossy().into_owned();
    dir.write("abs/victim.json", b"keep me");
    let zip_path = dir.join("evil.zip");
    write_zip(
        &zip_path,
        &[
            ("../../escape.png", small_png(1, 32, 32)),
            (&abs_name, small_png(2, 32, 32)),
            ("..\\win.png", small_png(3, 32, 32)),
            ("ok/./fine.png", small_png(4, 32, 32)),
        ],
    );
    let out = infer(&dir, "run/out", &["--force", "--save", "labels"], &[&zip_path]);
    assert_code(&out, 2);
    let msg = text(&out);
    assert!(
        msg.contains("../../escape.png") && msg.contains("outside the output folder"),
        "{msg}"
    );
    assert_eq!(summary(&out)["processed"], 1);
    // Everything written is under --out; the zip and the victim folder are untouched.
    for f in files_under(dir.path()) {
        assert!(
            f.starts_with(dir.join("run/out")) || f == zip_path || f == dir.join("abs/victim.json"),
            "written outside --out: {}",
            f.display()
        );
    }
    assert_eq!(std::fs::read(dir.join("abs/victim.json")).unwrap(), b"keep me");
    assert!(dir.join("run/out/labels/ok/fine.png").is_file());
}

// 3. Only our own temporaries are removed, never through a symlink.
#[test]
fn cleanup_never_deletes_files_that_are_not_ours() {
    let dir = TestDir::new();
    dir.write("in/a.png", &small_png(5, 32, 32));
    let outside = dir.join("elsewhere");
    dir.write("elsewhere/.precious.tmp", b"x");
    dir.write("elsewhere/.notes.png.4999999.baiseg.tmp", b"x");
    dir.write("out/.mine.tmp", b"x");
    dir.write("out/records/.user-file.json.tmp", b"x");
    std::os::unix::fs::symlink(&outside, dir.join("out/link")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("out/labels")).unwrap();
    dir.write("out/records/.a.json.4999999.baiseg.tmp", b"stale");
    let out = infer(&dir, "out", &[], &[&dir.join("in")]);
    assert_code(&out, 0);
    assert!(dir.join("elsewhere/.precious.tmp").exists());
    assert!(dir.join("elsewhere/.notes.png.4999999.baiseg.tmp").exists());
    assert!(dir.join("out/.mine.tmp").exists());
    assert!(dir.join("out/records/.user-file.json.tmp").exists());
    assert!(
        !dir.join("out/records/.a.json.4999999.baiseg.tmp").exists(),
        "our stale temporary"
    );
}

fn shard_run(dir: &TestDir, out: &str, shard: &str, extra: &[&str]) {
    let mut args = vec!["--shard", shard];
    args.extend_from_slice(extra);
    let o = infer(dir, out, &args, &[&fixture("samples/images")]);
    assert_code(&o, 0);
}

// 3 and 7. merge: never into one of its inputs; complete shard set of one model and MEP.
#[test]
fn merge_refuses_own_input_as_out_and_incomplete_or_foreign_shards() {
    let dir = TestDir::new();
    shard_run(&dir, "s0", "0/2", &[]);
    shard_run(&dir, "s1", "1/2", &[]);
    shard_run(&dir, "other1", "1/2", &["--seed-distance", "2.5"]);
    let before = files_under(&dir.join("s0"));
    let merge = |shards: &[&str], out: &str| {
        let mut cmd = baiseg();
        cmd.arg("merge");
        for s in shards {
            cmd.arg(dir.join(s));
        }
        run(cmd.arg("--out").arg(dir.join(out)))
    };
    for out in ["s0", "s0/merged"] {
        let o = merge(&["s0", "s1"], out);
        assert_code(&o, 1);
        // The library says "output folder", the CLI adds the flag (docs/cli.md#hints).
        assert!(
            text(&o).contains("choose another output folder (see --out)"),
            "{}",
            text(&o)
        );
    }
    let o = merge(&["s0", "s1"], ".");
    assert_code(&o, 1);
    assert_eq!(files_under(&dir.join("s0")), before, "the shard is untouched");
    let o = merge(&["s0"], "m");
    assert_code(&o, 1);
    assert!(text(&o).contains("missing shard 1/2"), "{}", text(&o));
    let o = merge(&["s0", "other1"], "m");
    assert_code(&o, 1);
    assert!(text(&o).contains("MEP parameters differ"), "{}", text(&o));
    let o = merge(&["s0", "s1"], "m");
    assert_code(&o, 0);
}

/// A PNG whose header claims `w` x `h` (valid CRCs, 70 bytes).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A baseline JPEG whose SOF0 claims `w` x `h`.
fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(16, 16, image::Rgb([9, 9, 9])));
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Jpeg).unwrap();
    let mut bytes = buf.into_inner();
    let sof = bytes.windows(2).position(|p| p == [0xFF, 0xC0]).expect("SOF0");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    bytes
}

// 4. Sizes from files are checked before allocating; the failing image is skipped, the run goes on.
#[test]
fn tiny_files_claiming_huge_sizes_are_skipped_and_the_run_goes_on() {
    let dir = TestDir::new();
    dir.write("in/bomb.png", &png_claiming(100_000, 100_000));
    dir.write("in/jbomb.jpg", &jpeg_claiming(65_000, 65_000));
    dir.write("in/good.png", &small_png(7, 40, 32));
    let out = infer(&dir, "out", &[], &[&dir.join("in")]);
    assert_code(&out, 2);
    let msg = text(&out);
    assert!(msg.contains("bomb.png") && msg.contains("100000x100000"), "{msg}");
    assert!(msg.contains("jbomb.jpg") && msg.contains("65000x65000"), "{msg}");
    assert_eq!(summary(&out)["processed"], 1);
    assert!(dir.join("out/instances.json").is_file());
    // Flags that size allocations are bounded.
    let o = infer(&dir, "out2", &["--closing-kernel", "100001"], &[&dir.join("in")]);
    assert_code(&o, 64);
    assert!(text(&o).contains("--closing-kernel"), "{}", text(&o));
}

// 5. The pixel budget skips an oversized image from its header; the others are processed.
#[test]
fn pixel_budget_skips_oversized_images_only() {
    let dir = TestDir::new();
    dir.write("in/big.png", &small_png(8, 200, 150));
    dir.write("in/small.png", &small_png(9, 40, 40));
    let out = infer(&dir, "out", &["--max-pixels", "10000"], &[&dir.join("in")]);
    assert_code(&out, 2);
    let msg = text(&out);
    assert!(
        msg.contains("big.png") && msg.contains("200x150") && msg.contains("--max-pixels"),
        "{msg}"
    );
    assert_eq!(summary(&out)["processed"], 1);
    assert!(dir.join("out/records/small.json").is_file());
}

// 6. Only regular files, each real path once: no FIFO hang, no symlink-loop repetition.
#[test]
fn fifos_are_skipped_and_symlink_loops_visit_each_file_once() {
    let dir = TestDir::new();
    dir.write("in/a.png", &small_png(10, 32, 32));
    dir.write("in/sub/b.png", &small_png(11, 32, 32));
    let fifo = dir.join("in/pipe.png");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    #[allow(unsafe_code, reason = "libc::mkfifo has no safe wrapper in std")]
    let made = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(made, 0);
    std::os::unix::fs::symlink(dir.join("in"), dir.join("in/sub/loop")).unwrap();
    std::os::unix::fs::symlink(dir.join("in/a.png"), dir.join("in/alias.png")).unwrap();
    let out = infer(&dir, "out", &[], &[&dir.join("in")]);
    assert_code(&out, 2);
    assert!(
        text(&out).contains("pipe.png") && text(&out).contains("not a regular file"),
        "{}",
        text(&out)
    );
    assert_eq!(summary(&out)["processed"], 2, "a.png and sub/b.png, once each");
    // Named explicitly, a FIFO is skipped too.
    let out = infer(&dir, "out2", &[], &[&fifo, &dir.join("in/a.png")]);
    assert_code(&out, 2);
}

// 7. A truncated JPEG is reported (skipped by default, accepted with --allow-truncated).
#[test]
fn truncated_jpeg_is_skipped_unless_allowed() {
    let dir = TestDir::new();
    let jpeg = std::fs::read(fixture("images/000000384850.jpg")).unwrap();
    dir.write("in/cut.jpg", &jpeg[..jpeg.len() / 2]);
    dir.write("in/ok.png", &small_png(12, 32, 32));
    let out = infer(&dir, "out", &[], &[&dir.join("in")]);
    assert_code(&out, 2);
    assert!(
        text(&out).contains("cut.jpg") && text(&out).contains("truncated JPEG"),
        "{}",
        text(&out)
    );
    let out = infer(&dir, "out2", &["--allow-truncated"], &[&dir.join("in")]);
    assert_code(&out, 0);
    assert!(text(&out).contains("--allow-truncated"), "{}", text(&out));
}

// 7. Resume keeps records only when the same model and MEP parameters made them.
#[test]
fn resume_refuses_records_of_other_mep_parameters() {
    let dir = TestDir::new();
    dir.write("in/a.png", &small_png(13, 32, 32));
    assert_code(&infer(&dir, "out", &[], &[&dir.join("in")]), 0);
    let again = infer(&dir, "out", &[], &[&dir.join("in")]);
    assert_code(&again, 0);
    assert_eq!(summary(&again)["resumed"], 1);
    let changed = infer(&dir, "out", &["--seed-distance", "1.5"], &[&dir.join("in")]);
    assert_code(&changed, 1);
    assert!(
        text(&changed).contains("MEP parameters differ") && text(&changed).contains("--force"),
        "{}",
        text(&changed)
    );
    let forced = infer(
        &dir,
        "out",
        &["--seed-distance", "1.5", "--force"],
        &[&dir.join("in")],
    );
    assert_code(&forced, 0);
    assert_eq!(summary(&forced)["processed"], 1);
}

// 7. `infer MODEL .` run twice does not take its own output folder as input.
#[test]
fn own_output_folder_is_never_an_input() {
    let dir = TestDir::new();
    dir.write("a.png", &small_png(14, 32, 32));
    for _ in 0..2 {
        let out = run(baiseg()
            .current_dir(dir.path())
            .args(["infer", "--json", "--save", "labels", "--force"])
            .arg(tiny_model())
            .arg("."));
        assert_code(&out, 0);
        assert_eq!(summary(&out)["processed"], 1, "{}", text(&out));
    }
}

// 7. --coco matches by relative path first and refuses ambiguous base names.
#[test]
fn coco_matching_by_relative_path_refuses_ambiguous_names() {
    let dir = TestDir::new();
    let gt = serde_json::json!({
        "images": [
            {"id": 1, "file_name": "a/x.png", "height": 32, "width": 32},
            {"id": 2, "file_name": "b/x.png", "height": 32, "width": 32},
            {"id": 3, "file_name": "y.png", "height": 32, "width": 32}
        ],
        "categories": [{"id": 1, "name": "disc"}, {"id": 2, "name": "box"}],
        "annotations": []
    });
    dir.write("gt.json", gt.to_string().as_bytes());
    dir.write("in/a/x.png", &small_png(15, 32, 32));
    dir.write("in/b/x.png", &small_png(16, 32, 32));
    dir.write("in2/x.png", &small_png(17, 32, 32));
    dir.write("in3/p/y.png", &small_png(18, 32, 32));
    dir.write("in3/q/y.png", &small_png(19, 32, 32));
    let gt_path = dir.join("gt.json");
    let gt_arg = gt_path.to_str().unwrap();
    let ok = infer(&dir, "o1", &["--coco", gt_arg], &[&dir.join("in")]);
    assert_code(&ok, 0);
    assert!(dir.join("o1/records/a/x.json").is_file() && dir.join("o1/records/b/x.json").is_file());
    let amb = infer(&dir, "o2", &["--coco", gt_arg], &[&dir.join("in2")]);
    assert_code(&amb, 1);
    assert!(text(&amb).contains("ambiguous"), "{}", text(&amb));
    let two = infer(&dir, "o3", &["--coco", gt_arg], &[&dir.join("in3")]);
    assert_code(&two, 2);
    assert!(text(&two).contains("already matched"), "{}", text(&two));
}

// 8 and 9. Absurd flags are usage errors (64) before any work.
#[test]
fn absurd_and_malformed_flags_are_usage_errors() {
    let dir = TestDir::new();
    dir.write("in/a.png", &small_png(20, 32, 32));
    let input = dir.join("in");
    for (flags, needle) in [
        (&["--threads", "1000"][..], "--threads"),
        (&["--threads", "0"][..], "--threads"),
        (&["--nms-radius", "1000000"][..], "--nms-radius"),
        (&["--nms-margin", "NaN"][..], "--nms-margin"),
        (&["--edge-threshold", "inf"][..], "--edge-threshold"),
        (&["--batch", "0"][..], "--batch"),
        (&["--no-such-flag"][..], "--no-such-flag"),
    ] {
        let o = infer(&dir, "out", flags, &[&input]);
        assert_code(&o, 64);
        assert!(text(&o).contains(needle), "{flags:?}: {}", text(&o));
    }
    // --out that is a file is a usage error before the model is even looked at.
    dir.write("file", b"x");
    let o = run(baiseg()
        .args(["infer", "--out"])
        .arg(dir.join("file"))
        .arg(dir.join("no-such-model.onnx"))
        .arg(&input));
    assert_code(&o, 64);
    assert!(
        text(&o).contains("not a directory") && !text(&o).contains("no-such-model"),
        "{}",
        text(&o)
    );
}

// 9. Every exit code is documented in --help.
#[test]
fn help_documents_every_exit_code() {
    for args in [&["--help"][..], &["infer", "--help"][..]] {
        let o = run(baiseg().args(args));
        assert_code(&o, 0);
        let t = text(&o);
        for code in ["0 ", "1 ", "2 ", "64 ", "130 "] {
            assert!(t.contains(code), "{args:?} lacks exit code {code}: {t}");
        }
    }
}

// 9. A corrupt archive is skipped like a bad image; messages do not repeat themselves.
#[test]
fn corrupt_zip_is_skipped_and_errors_are_not_repeated() {
    let dir = TestDir::new();
    dir.write("in/bad.zip", b"PK\x03\x04 this is not a zip");
    dir.write("in2/a.png", &small_png(21, 32, 32));
    let out = infer(&dir, "out", &[], &[&dir.join("in/bad.zip"), &dir.join("in2")]);
    assert_code(&out, 2);
    assert!(text(&out).contains("bad.zip"), "{}", text(&out));
    assert_eq!(summary(&out)["processed"], 1);
    let missing = run(baiseg()
        .args(["infer", "--out"])
        .arg(dir.join("o"))
        .arg(dir.join("nope.onnx"))
        .arg(dir.join("in2")));
    assert_code(&missing, 1);
    let t = text(&missing);
    let name = "nope.onnx";
    assert_eq!(t.matches(name).count(), 1, "{t}");
}
