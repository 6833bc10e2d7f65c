//! Ctrl-C handling (binary only): the first interrupt asks the run to stop between images (the
//! engine finishes the images in flight, so a re-run resumes); the second exits at once.
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use super::EXIT_INTERRUPTED;

/// Set by the first Ctrl-C; the engine polls it between images.
static CANCEL: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process) and returns the flag it sets.
pub fn cancel_flag() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if CANCEL.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted twice: exiting now (finished images are kept)");
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            eprintln!(
                "\ninterrupt: finishing images in flight, then stopping (press Ctrl-C again to stop at once)"
            );
        });
        if let Err(e) = installed {
            tracing::warn!("cannot install the Ctrl-C handler ({e}): Ctrl-C stops at once, without resume state for images in flight");
        }
    });
    &CANCEL
}
