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

/// The library's own error texts carry no CLI flag for settings (Python users see them too).
#[test]
fn library_setting_errors_name_no_flag() {
    let e = baiseg_rt::Error::setting("device", "cuda:0: not available");
    assert_eq!(e.to_string(), "device: cuda:0: not available");
    assert_eq!(e.setting_name(), Some("device"));
    assert!(!e.to_string().contains("--"));
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
