//! How the CLI words library errors and log lines: the library speaks of settings ("device",
//! "tile size"), the CLI names the flag that sets them (docs/engine.md#errors, docs/cli.md#hints).
use std::fmt::{self, Write as _};

use baiseg_rt::Error;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Library setting names -> the flag that sets them (docs/cli.md#hints).
const FLAGS: &[(&str, &str)] = &[
    ("device", "--device"),
    ("tile size", "--tile"),
    ("tile overlap", "--tile-overlap"),
    ("scratch folder", "--scratch-dir"),
    ("pixel budget", "--max-pixels"),
    ("truncated JPEGs", "--allow-truncated"),
    ("worker threads", "--threads"),
    ("semantic labels", "--semantic-dir"),
    ("output folder", "--out"),
    ("existing records", "--force or --out"),
    ("MEP mode", "--mep"),
    ("MEP nms radius", "--nms-radius"),
    ("MEP nms margin", "--nms-margin"),
    ("MEP edge threshold", "--edge-threshold"),
    ("MEP dilate iterations", "--dilate-iterations"),
    ("MEP seed distance", "--seed-distance"),
    ("MEP closing kernel", "--closing-kernel"),
];

/// The flag that sets the library setting `what`, if any.
pub fn flag_for(what: &str) -> Option<&'static str> {
    FLAGS
        .iter()
        .find(|(name, _)| *name == what)
        .map(|(_, flag)| *flag)
}

/// A library error as the CLI prints it: the error's own text, plus the flag to change when the
/// error is about a setting (or one would avoid it, [`Error::setting_name`]).
pub fn error_text(error: &Error) -> String {
    with_hint(error.to_string(), error.setting_name())
}

/// `text`, plus " (see FLAG)" when `setting` has a flag that `text` does not already name.
fn with_hint(text: String, setting: Option<&str>) -> String {
    match setting.and_then(flag_for) {
        Some(flag) if !text.contains(flag) => format!("{text} (see {flag})"),
        _ => text,
    }
}

/// The log-line field formatter of the CLI: tracing-subscriber's default layout (the message,
/// then `name=value` pairs, control characters escaped), except that a library event's
/// `setting = "..."` field (a neutral setting name, as in [`Error::setting_name`]) becomes the
/// flag hint " (see FLAG)" after the message.
#[derive(Debug, Default, Clone, Copy)]
pub struct HintFields;

impl<'writer> FormatFields<'writer> for HintFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut line = LogLine::default();
        fields.record(&mut line);
        let text = with_hint(line.message, line.setting.as_deref());
        let mut out = text;
        for (name, value) in &line.others {
            write!(out, " {name}={value}")?;
        }
        let out = out.trim_start();
        if writer.sanitizes_ansi_escapes() {
            writer.write_str(&escape_controls(out))
        } else {
            writer.write_str(out)
        }
    }
}

/// The fields of one log line, as [`HintFields`] lays them out.
#[derive(Default)]
struct LogLine {
    message: String,
    setting: Option<String>,
    others: Vec<(&'static str, String)>,
}

impl Visit for LogLine {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "setting" {
            self.setting = Some(value.to_owned());
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            // Metadata of `log` records, already shown by the event formatter.
            name if name.starts_with("log.") => {}
            name => self
                .others
                .push((name.strip_prefix("r#").unwrap_or(name), format!("{value:?}"))),
        }
    }
}

/// `text` with the control characters that terminals act on written as escapes (what
/// tracing-subscriber's default field formatter does, against terminal injection through file
/// names).
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", ch as u32);
            }
            ch if ('\u{80}'..='\u{9f}').contains(&ch) => {
                let _ = write!(out, "\\u{{{:x}}}", ch as u32);
            }
            ch => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_get_their_flag() {
        let e = Error::setting("tile size", "must be at least 1");
        assert_eq!(error_text(&e), "tile size: must be at least 1 (see --tile)");
        let other = Error::invalid("x.png", "bad");
        assert_eq!(error_text(&other), "x.png: bad");
        let over = Error::decode("x.png", "too big").for_setting("pixel budget");
        assert_eq!(
            error_text(&over),
            "x.png: cannot decode: too big (see --max-pixels)"
        );
    }

    /// Every setting name the library uses has a flag here: the names are collected from the
    /// library's sources, so a new setting without a CLI hint fails this test.
    #[test]
    fn every_library_setting_has_a_flag() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut names = Vec::new();
        collect_setting_names(&src, &mut names);
        assert!(names.len() >= 10, "found only {names:?}");
        for name in &names {
            assert!(
                flag_for(name).is_some(),
                "library setting {name:?} has no CLI flag hint"
            );
        }
    }

    fn collect_setting_names(dir: &std::path::Path, names: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "cli") {
                    collect_setting_names(&path, names);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // `MepParams::check` names its settings through a local `bad(setting, why)`.
            let local = if path.ends_with("mep/mod.rs") {
                "bad("
            } else {
                "Error::setting("
            };
            for marker in ["Error::setting(", "for_setting(", "setting = ", local] {
                for piece in text.split(marker).skip(1) {
                    let piece = piece.trim_start();
                    if let Some(rest) = piece.strip_prefix('"')
                        && let Some(end) = rest.find('"')
                    {
                        names.push(rest[..end].to_owned());
                    }
                }
            }
        }
    }

    /// A library log line with a `setting` field is printed with the flag, other fields as
    /// `name=value`; control characters are escaped.
    #[test]
    fn log_lines_get_the_flag_hint() {
        use std::sync::{Arc, Mutex};
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(HintFields)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .with_target(false)
            .without_time()
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(setting = "truncated JPEGs", "cut.jpg: decoded anyway");
            tracing::info!(count = 3, "plain \x1b[31m line");
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                " WARN cut.jpg: decoded anyway (see --allow-truncated)",
                " INFO plain \\x1b[31m line count=3",
            ],
            "{text}"
        );
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("a\x1b[31mb\u{85}"), "a\\x1b[31mb\\u{85}");
    }
}
