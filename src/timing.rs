//! Per-stage timing: named spans accumulated process-wide, for the end-of-run summary and the
//! "time outside ONNX Runtime" measurement.
//!
//! ```
//! {
//!     let _span = baiseg_rt::timing::span("mep::watershed");
//!     // ... work ...
//! }
//! let totals = baiseg_rt::timing::snapshot();
//! assert!(totals.iter().any(|s| s.name == "mep::watershed"));
//! ```
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static TOTALS: Mutex<BTreeMap<&'static str, (Duration, u64)>> = Mutex::new(BTreeMap::new());

/// Accumulated time of one named stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTime {
    /// Stage name, e.g. `"mep::nms"`.
    pub name: &'static str,
    /// Total time spent in the stage, summed over threads (CPU-time-like).
    pub total: Duration,
    /// Number of spans recorded.
    pub count: u64,
}

/// A running span; its elapsed time is added to its stage when dropped.
#[must_use = "a span measures until it is dropped"]
pub struct Span {
    name: &'static str,
    start: Instant,
}

/// Starts a span for stage `name`.
pub fn span(name: &'static str) -> Span {
    Span {
        name,
        start: Instant::now(),
    }
}

/// Adds `elapsed` to stage `name` directly.
pub fn record(name: &'static str, elapsed: Duration) {
    let mut totals = TOTALS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let entry = totals.entry(name).or_insert((Duration::ZERO, 0));
    entry.0 += elapsed;
    entry.1 += 1;
}

impl Drop for Span {
    fn drop(&mut self) {
        record(self.name, self.start.elapsed());
    }
}

/// Totals of every stage so far, sorted by name.
#[must_use]
pub fn snapshot() -> Vec<StageTime> {
    let totals = TOTALS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    totals
        .iter()
        .map(|(&name, &(total, count))| StageTime { name, total, count })
        .collect()
}

/// Clears all totals.
pub fn reset() {
    TOTALS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}
