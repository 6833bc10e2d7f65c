//! The end-of-run report of `infer` (binary only): the human summary on stderr, or `--json` on
//! stdout.
use baiseg_rt::engine::InferSummary;

/// The summary as one JSON object (`infer --json`).
pub fn summary_json(s: &InferSummary) -> String {
    let stages: Vec<serde_json::Value> = s
        .stages
        .iter()
        .map(|t| serde_json::json!({"stage": t.name, "seconds": t.total.as_secs_f64(), "count": t.count}))
        .collect();
    serde_json::json!({
        "images": s.total,
        "processed": s.processed,
        "resumed": s.resumed,
        "skipped": s.failed.iter().map(|(p, r)| serde_json::json!({"path": p, "reason": r})).collect::<Vec<_>>(),
        "instances": s.instances,
        "wall_seconds": s.wall.as_secs_f64(),
        "ort_seconds": s.ort_time.as_secs_f64(),
        "outside_ort_share": s.outside_ort_share(),
        "images_per_second": rate(s),
        "device": s.device,
        "results": s.results_path,
        "results_written": s.results_written,
        "stages": stages,
    })
    .to_string()
}

fn rate(s: &InferSummary) -> f64 {
    let wall = s.wall.as_secs_f64();
    if wall > 0.0 {
        s.processed as f64 / wall
    } else {
        0.0
    }
}

/// The summary for people, on stderr: counts, time inside ONNX Runtime, the stage table, the
/// skipped inputs and the results file.
pub fn print_summary(s: &InferSummary) {
    eprintln!(
        "done: {} images processed, {} already done (resumed), {} skipped; {} instances; {:.2} s, {:.2} images/s on {}",
        s.processed,
        s.resumed,
        s.failed.len(),
        s.instances,
        s.wall.as_secs_f64(),
        rate(s),
        s.device
    );
    if s.processed > 0 {
        print_stages(s);
    }
    for (path, reason) in &s.failed {
        if reason.contains(path.as_str()) {
            eprintln!("skipped: {reason}");
        } else {
            eprintln!("skipped: {path}: {reason}");
        }
    }
    if let Some(p) = &s.results_path {
        eprintln!("wrote {} ({} instances)", p.display(), s.results_written);
    }
}

fn print_stages(s: &InferSummary) {
    eprintln!(
        "time inside ONNX Runtime: {:.2} s ({:.0}% of wall time; {:.0}% outside)",
        s.ort_time.as_secs_f64(),
        100.0 * (1.0 - s.outside_ort_share()),
        100.0 * s.outside_ort_share()
    );
    eprintln!(
        "{:<24} {:>10} {:>8} {:>10}",
        "stage (summed over threads)", "total s", "count", "ms/call"
    );
    for t in &s.stages {
        let total = t.total.as_secs_f64();
        eprintln!(
            "{:<24} {:>10.3} {:>8} {:>10.2}",
            t.name,
            total,
            t.count,
            1000.0 * total / t.count.max(1) as f64
        );
    }
}
