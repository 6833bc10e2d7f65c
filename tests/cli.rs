//! Integration tests (cli): the command line's layers (docs/engine.md#front-ends). Raw flags are
//! checked first (usage errors: exit 64, naming the flag, nothing done), then validated into the
//! library's configuration, then the library runs; its errors name settings in neutral words and
//! the CLI adds the flag.
use crate::util::*;

const SUBCOMMANDS: &[&str] = &["infer", "eval", "mep", "inspect", "merge"];

#[test]
fn help_of_every_subcommand_exits_0_and_shows_examples() {
    for sub in SUBCOMMANDS {
        let out = run(baiseg().args([sub, "--help"]));
        assert_code(&out, 0);
        let msg = text(&out);
        assert!(msg.contains("Examples"), "{sub} --help has no examples:\n{msg}");
        assert!(
            msg.contains(&format!("baiseg-rt {sub} ")),
            "{sub} --help: the examples do not run `{sub}`:\n{msg}"
        );
    }
    let top = run(baiseg().arg("--help"));
    assert_code(&top, 0);
    assert!(text(&top).contains("Exit status"), "{}", text(&top));
}

/// Usage errors found by clap (unknown flag, bad value) and by validation (value out of range)
/// both exit 64 and name the flag; no output folder is created.
#[test]
fn usage_errors_exit_64_naming_the_flag() {
    let dir = TestDir::new();
    let cases: &[(&[&str], &str)] = &[
        (&["infer", "--no-such-flag"], "--no-such-flag"),
        (&["infer", "--batch", "0"], "--batch"),
        (&["infer", "--batch", "many"], "--batch"),
        (&["infer", "--nms-margin", "NaN"], "--nms-margin"),
        (&["infer", "--max-pixels", "0"], "--max-pixels"),
        (&["infer", "--shard", "3/2"], "--shard"),
        (&["infer", "--device", "quantum"], "--device"),
        (&["infer", "--threads", "0"], "--threads"),
        (&["eval", "--iou-type", "circle"], "--iou-type"),
        (&["eval", "--max-dets", "1,10"], "--max-dets"),
        (&["mep", "--seed-distance", "NaN"], "--seed-distance"),
    ];
    for (args, flag) in cases {
        let out_dir = dir.join(&format!("out-{}", args.join("_").replace('/', "-")));
        let mut cmd = baiseg();
        cmd.args(*args);
        match args[0] {
            "infer" => {
                cmd.arg("--out")
                    .arg(&out_dir)
                    .arg(tiny_model())
                    .arg(fixture("images"));
            }
            "eval" => {
                cmd.arg("--coco")
                    .arg(fixture("samples/annotations.json"))
                    .arg("--results")
                    .arg(fixture("samples/annotations.json"));
            }
            _ => {
                cmd.arg("--cases").arg(fixture("mep")).arg("--out").arg(&out_dir);
            }
        }
        let out = run(&mut cmd);
        assert_code(&out, 64);
        assert!(
            text(&out).contains(flag),
            "{args:?}: the message does not name {flag}:\n{}",
            text(&out)
        );
        assert!(!out_dir.exists(), "{args:?}: a usage error must do nothing");
    }
}

/// A library error about a setting is worded neutrally by the library and gets the flag from the
/// CLI: the pixel budget is the library's "pixel budget", the CLI's `--max-pixels`.
#[test]
fn library_errors_are_shown_with_the_flag_hint() {
    let dir = TestDir::new();
    let out = run(baiseg()
        .args([
            "infer",
            "--quiet",
            "--max-pixels",
            "40000",
            "--tile",
            "256",
            "--out",
        ])
        .arg(dir.join("o"))
        .arg(fixture("models/sobel.onnx"))
        .arg(fixture("samples/images/000000.png")));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("pixel budget") && msg.contains("(see --max-pixels)"),
        "{msg}"
    );
}

/// The same for the other settings the library checks: the tile options (exit 1, from the library
/// once the model's size divisor is known), the MEP parameters (usage errors, exit 64, but worded
/// by the library's `MepParams::check`), and an image over the pixel budget (skipped, exit 1 as
/// nothing was processed).
#[test]
fn tile_mep_and_budget_errors_name_the_setting_and_the_flag() {
    let dir = TestDir::new();
    let image = fixture("samples/images/000000.png");
    let out = run(baiseg()
        .args(["infer", "--tile", "64", "--tile-overlap", "64", "--out"])
        .arg(dir.join("tile"))
        .arg(tiny_model())
        .arg(&image));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("tile overlap: overlap 64 leaves no stride") && msg.contains("(see --tile-overlap)"),
        "{msg}"
    );

    for (args, words, flag) in [
        (
            ["infer", "--closing-kernel", "999"],
            "MEP closing kernel: 999 is out of range",
            "(see --closing-kernel)",
        ),
        (
            ["mep", "--nms-radius", "65"],
            "MEP nms radius: 65 is out of range",
            "(see --nms-radius)",
        ),
        (
            ["mep", "--dilate-iterations", "1000"],
            "MEP dilate iterations: 1000 is out of range",
            "(see --dilate-iterations)",
        ),
    ] {
        let out_dir = dir.join(&format!("mep-{}", args[1]));
        let mut cmd = baiseg();
        cmd.args(args).arg("--out").arg(&out_dir);
        if args[0] == "infer" {
            cmd.arg(tiny_model()).arg(&image);
        } else {
            cmd.arg("--cases").arg(fixture("mep"));
        }
        let out = run(&mut cmd);
        assert_code(&out, 64);
        let msg = text(&out);
        assert!(msg.contains(words) && msg.contains(flag), "{args:?}:\n{msg}");
        assert!(!out_dir.exists(), "{args:?}: a usage error must do nothing");
    }

    let out = run(baiseg()
        .args(["infer", "--max-pixels", "40000", "--out"])
        .arg(dir.join("budget"))
        .arg(tiny_model())
        .arg(&image));
    assert_code(&out, 1);
    let msg = text(&out);
    assert!(
        msg.contains("000000.png")
            && msg.contains("more than the pixel budget of 40000")
            && msg.contains("(see --max-pixels)"),
        "{msg}"
    );
}

/// The library's own error texts carry no CLI flag for settings (Python users see them too).
#[test]
fn library_setting_errors_name_no_flag() {
    let e = baiseg_rt::Error::setting("device", "cuda:0: not available");
    assert_eq!(e.to_string(), "device: cuda:0: not available");
    assert_eq!(e.setting_name(), Some("device"));
    assert!(!e.to_string().contains("--"));
    // Errors that a setting would avoid keep their variant and text, and name the setting.
    let over =
        baiseg_rt::input::check_pixel_budget(std::path::Path::new("big.png"), 300, 300, 100).unwrap_err();
    assert!(matches!(over, baiseg_rt::Error::Decode { .. }), "{over:?}");
    assert_eq!(over.setting_name(), Some("pixel budget"));
    assert!(!over.to_string().contains("--"), "{over}");
    let params = baiseg_rt::mep::MepParams {
        seed_distance: f64::NAN,
        ..baiseg_rt::mep::MepParams::default()
    };
    let bad = params.check().unwrap_err();
    assert_eq!(bad.setting_name(), Some("MEP seed distance"));
    assert!(!bad.to_string().contains("--"), "{bad}");
}

/// One-pass evaluation takes the user's MEP flags (the same flags as `infer`): a huge minimum
/// area leaves no detection, so every AP is -1 or 0, unlike the default run.
#[test]
fn one_pass_eval_uses_the_mep_flags() {
    let dir = TestDir::new();
    let eval = |extra: &[&str], name: &str| {
        let json = dir.join(name);
        let out = run(baiseg()
            .args(["eval", "--quiet", "--coco"])
            .arg(fixture("samples/annotations.json"))
            .arg("--model")
            .arg(tiny_model())
            .arg("--images")
            .arg(fixture("samples/images"))
            .arg("--json")
            .arg(&json)
            .args(extra));
        assert_code(&out, 0);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
        v["num_detections"].as_u64().expect("num_detections")
    };
    let default = eval(&[], "default.json");
    let none = eval(&["--min-area", "100000000"], "none.json");
    assert!(default > 0, "the tiny model finds something");
    assert_eq!(none, 0);
}
