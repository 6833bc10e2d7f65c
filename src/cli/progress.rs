//! The progress bar of `infer` and one-pass `eval` (binary only), fed by the engine's events.
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::GlobalOpts;
use baiseg_rt::engine::Event;

/// A progress bar on stderr (hidden with `--quiet`); its length is set by [`Event::Planned`].
pub fn bar(global: &GlobalOpts) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if global.quiet {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} images  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Moves `pb` on with one engine event; skipped images are logged above the bar, named by their
/// input whatever file the error itself names (an output, a label PNG). `detail` adds the
/// instance count of the last image to the bar.
pub fn show(pb: &ProgressBar, event: &Event<'_>, detail: bool) {
    match event {
        Event::Planned { todo, .. } => pb.set_length(*todo as u64),
        Event::ImageDone { instances, .. } => {
            if detail {
                pb.set_message(format!("last: {instances} instances"));
            }
            pb.inc(1);
        }
        Event::ImageFailed { name, error } => {
            let text = super::hints::error_text(error);
            pb.suspend(|| {
                if text.contains(name) {
                    tracing::warn!("skipped: {text}");
                } else {
                    tracing::warn!("skipped {name}: {text}");
                }
            });
            pb.inc(1);
        }
    }
}
