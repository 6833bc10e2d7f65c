//! How the CLI words library errors: the library speaks of settings ("device", "tile size"), the
//! CLI names the flag that sets them (docs/engine.md#errors).
use baiseg_rt::Error;

/// Library setting names -> the flag that sets them.
const FLAGS: &[(&str, &str)] = &[
    ("device", "--device"),
    ("tile size", "--tile"),
    ("tile overlap", "--tile-overlap"),
    ("pixel budget", "--max-pixels"),
    ("worker threads", "--threads"),
    ("semantic labels", "--semantic-dir"),
    ("output folder", "--out"),
];

/// The flag that sets the library setting `what`, if any.
pub fn flag_for(what: &str) -> Option<&'static str> {
    FLAGS
        .iter()
        .find(|(name, _)| *name == what)
        .map(|(_, flag)| *flag)
}

/// A library error as the CLI prints it: the error's own text, plus the flag to change when the
/// error is about a setting.
pub fn error_text(error: &Error) -> String {
    let text = error.to_string();
    match error.setting_name().and_then(flag_for) {
        Some(flag) if !text.contains(flag) => format!("{text} (see {flag})"),
        _ => text,
    }
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
    }
}
