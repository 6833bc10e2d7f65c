//! The results assembler (docs/engine.md#results): `instances.json` from the per-image records
//! of an output folder, plus `images.json` and the polygon exports.
use std::path::PathBuf;

use crate::error::Result;
use crate::input::InputItem;
use crate::output::coco_json::{self, ResultRecord};
use crate::output::polygons::{self, MaskFormat};
use crate::output::{CategoryMap, ImageRecords, OutputLayout};
use crate::timing;

use super::config::SaveSet;
use super::plan::Plan;

/// The whole run, for [`Sink::finish`](super::Sink::finish) and [`assemble`].
#[derive(Debug)]
pub struct RunResults<'a> {
    /// Every input, in enumeration order.
    pub items: &'a [InputItem],
    /// The plan (image ids of this shard's inputs).
    pub plan: &'a Plan,
    /// Model classes -> COCO category ids.
    pub categories: &'a CategoryMap,
    /// The model's class names.
    pub classes: &'a [String],
    /// Whether a COCO file gave the ids (no `images.json` then).
    pub coco: bool,
}

/// A results file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The file (`instances.json`).
    pub path: PathBuf,
    /// Records in it.
    pub records: usize,
}

/// Reads the record of every input of this shard that has an image id and a record (this run's
/// and resumed ones) and writes the run's results files.
///
/// Records are sorted by image id (stable: MEP order within an image), so that shards merge into
/// exactly what one run writes.
///
/// # Errors
/// Unreadable records, unwritable files.
pub fn assemble(
    layout: &OutputLayout,
    save: SaveSet,
    format: MaskFormat,
    run: &RunResults<'_>,
) -> Result<Written> {
    let _span = timing::span("output::instances_json");
    let mut records: Vec<ResultRecord> = Vec::new();
    let mut image_entries: Vec<(i64, ImageRecords)> = Vec::new();
    for (i, item) in run.items.iter().enumerate() {
        // Inputs without an id were reported before processing.
        let Some(image_id) = run.plan.image_id(i) else {
            continue;
        };
        let path = layout.image(item.stem()).record;
        if !path.is_file() {
            continue;
        }
        let rec = ImageRecords::read(&path)?;
        records.extend(rec.to_results(image_id, run.categories));
        image_entries.push((image_id, rec));
    }
    records.sort_by_key(|r| r.image_id);
    image_entries.sort_by_key(|(id, _)| *id);
    let path = layout.results();
    match format {
        MaskFormat::Rle => coco_json::write_results_json(&path, &records)?,
        MaskFormat::Polygon => polygons::write_polygon_results_json(&path, &records)?,
    }
    if save.polygons {
        let _span = timing::span("output::polygons");
        polygons::write_run(
            layout.root(),
            run.items,
            &image_entries,
            run.categories,
            run.classes,
        )?;
    }
    if !run.coco {
        let refs: Vec<(i64, &ImageRecords)> = image_entries.iter().map(|(id, r)| (*id, r)).collect();
        coco_json::write_images_json(&layout.images(), &refs, run.categories)?;
    }
    Ok(Written {
        path,
        records: records.len(),
    })
}
