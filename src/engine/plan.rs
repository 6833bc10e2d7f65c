//! Planning a run before any image is read (docs/engine.md#plan): which inputs belong to this
//! shard, which image id each gets, which an earlier run already finished (resume), and which
//! cannot be processed at all (skipped, with the reason).
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::input::InputItem;
use crate::output::OutputLayout;
use crate::output::coco_json::CocoHeader;
use crate::provenance::{ModelIdentity, Provenance, RUN_FILE};

use super::config::{InferConfig, SaveSet};

/// The image id of every input, by the project's one matching rule (docs/engine.md#image-ids,
/// docs/reliability.md#coco-matching).
///
/// Without a COCO file, input `i` (in enumeration order, over the whole input set) is image
/// `i + 1`. With one, an input matches the `file_name` equal to its relative path first, else
/// the one `file_name` whose last component is its file name; a file name shared by several
/// `file_name`s is ambiguous and refused, and so is a second input that matches an id an earlier
/// input already took. Refused inputs get the reason instead of an id.
#[must_use]
pub fn image_ids(items: &[InputItem], header: Option<&CocoHeader>) -> Vec<std::result::Result<i64, String>> {
    assign_ids(items, header, |_| true)
        .into_iter()
        .flatten()
        .collect()
}

/// [`image_ids`] over the inputs `take` selects (one shard); the others get `None`. An id is
/// owned by the first selected input that matches it.
fn assign_ids(
    items: &[InputItem],
    header: Option<&CocoHeader>,
    take: impl Fn(usize) -> bool,
) -> Vec<Option<std::result::Result<i64, String>>> {
    let mut owner: HashMap<i64, usize> = HashMap::new();
    let mut assign = |i: usize, item: &InputItem| {
        let Some(header) = header else {
            return Ok(i as i64 + 1);
        };
        let id = header.match_image(&item.name, item.file_name())?;
        if let Some(&first) = owner.get(&id) {
            Err(format!(
                "matches image id {id}, which {} already matched: ambiguous",
                items[first].display_path().display()
            ))
        } else {
            owner.insert(id, i);
            Ok(id)
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| take(i).then(|| assign(i, item)))
        .collect()
}

/// What a run will do with each input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Inputs to process now (indices into the enumeration), in order.
    pub todo: Vec<usize>,
    /// Inputs of this shard an earlier run already finished.
    pub resumed: usize,
    /// Inputs of this shard that get no image id: `(index, reason)`.
    pub unlisted: Vec<(usize, String)>,
    /// The image id of every input of this shard (`None`: outside the shard, or unlisted).
    pub ids: Vec<Option<i64>>,
}

impl Plan {
    /// Whether input `i` belongs to this run's shard.
    #[must_use]
    pub fn in_shard(&self, i: usize) -> bool {
        self.ids.get(i).is_some_and(Option::is_some) || self.unlisted.iter().any(|(j, _)| *j == i)
    }

    /// The image id of input `i`, when it has one.
    #[must_use]
    pub fn image_id(&self, i: usize) -> Option<i64> {
        self.ids.get(i).copied().flatten()
    }
}

/// Whether input `i` is in shard `(k, n)` (every input without `--shard`).
#[must_use]
pub fn in_shard(shard: Option<(usize, usize)>, i: usize) -> bool {
    shard.is_none_or(|(k, n)| i % n == k)
}

/// Whether an earlier run finished `item`: its record exists, and every file `save` asks for.
#[must_use]
pub fn is_done(layout: &OutputLayout, item: &InputItem, save: SaveSet) -> bool {
    let p = layout.image(item.stem());
    p.record.is_file()
        && (!save.labels || p.labels.is_file())
        && (!save.semantic || p.semantic.is_file())
        && (!save.boundary || p.boundary.is_file())
        && (!save.overlay || p.overlay.is_file())
}

/// Plans the run: shard, image ids, then resume. `resume` is the output folder and the files a
/// finished image has (with a sink that writes one, unless `force`); `None` processes every
/// listed input.
#[must_use]
pub fn plan(
    items: &[InputItem],
    header: Option<&CocoHeader>,
    shard: Option<(usize, usize)>,
    resume: Option<(&OutputLayout, SaveSet)>,
) -> Plan {
    let mut unlisted = Vec::new();
    let mut ids = vec![None; items.len()];
    let mut listed = Vec::new();
    for (i, id) in assign_ids(items, header, |i| in_shard(shard, i))
        .into_iter()
        .enumerate()
    {
        match id {
            None => {}
            Some(Ok(id)) => {
                ids[i] = Some(id);
                listed.push(i);
            }
            Some(Err(reason)) => unlisted.push((i, reason)),
        }
    }
    let todo: Vec<usize> = listed
        .iter()
        .copied()
        .filter(|&i| resume.is_none_or(|(layout, save)| !is_done(layout, &items[i], save)))
        .collect();
    Plan {
        resumed: listed.len() - todo.len(),
        todo,
        unlisted,
        ids,
    }
}

/// Refuses to resume over records made by another model, other MEP parameters or other
/// semantic labels (unless `cfg.force`), then records this run's provenance in the output folder
/// (docs/reliability.md#provenance).
///
/// # Errors
/// [`Error::Invalid`] naming the folder and what differs; I/O errors reading or writing `run.json`.
pub fn check_provenance(cfg: &InferConfig, layout: &OutputLayout, total: usize) -> Result<()> {
    let now = Provenance {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        model: ModelIdentity::of_file(&cfg.model)?,
        mep: format!("{:?}", cfg.mep),
        semantic_dir: cfg.semantic_dir.as_ref().map(|p| p.display().to_string()),
        inputs: total,
        shard: cfg.shard.map(|(k, n)| [k, n]),
    };
    let out = layout.root();
    if !cfg.force {
        if let Some(before) = Provenance::read(out)? {
            if let Some(diff) = before.difference(&now) {
                return Err(Error::invalid(
                    out.display(),
                    format!(
                        "holds records of another run: {diff}; recompute them (force), or write to another output folder"
                    ),
                )
                .for_setting("existing records"));
            }
        } else {
            let has_records = std::fs::read_dir(layout.records_dir()).is_ok_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
            });
            if has_records {
                return Err(Error::invalid(
                    out.display(),
                    format!(
                        "holds records but no {RUN_FILE} saying what made them; recompute them (force), or write to another output folder"
                    ),
                )
                .for_setting("existing records"));
            }
        }
    }
    now.write(out)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::input::Origin;

    fn item(name: &str) -> InputItem {
        InputItem {
            name: name.to_owned(),
            origin: Origin::File(PathBuf::from("in").join(name)),
        }
    }

    fn header(json: &str) -> (tempfile::TempDir, CocoHeader) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.json");
        std::fs::write(&path, json).unwrap();
        let h = CocoHeader::read(&path).unwrap();
        (dir, h)
    }

    #[test]
    fn ids_follow_the_enumeration_without_a_coco_file() {
        let items = [item("a.jpg"), item("b.jpg"), item("c.jpg")];
        assert_eq!(image_ids(&items, None), [Ok(1), Ok(2), Ok(3)]);
    }

    #[test]
    fn ids_match_relative_path_first_and_refuse_ambiguous_base_names() {
        let (_d, h) = header(
            r#"{"images": [{"id": 7, "file_name": "x/a.jpg"}, {"id": 8, "file_name": "y/a.jpg"},
                           {"id": 9, "file_name": "sub/b.jpg"}],
                "categories": [{"id": 1, "name": "cat"}]}"#,
        );
        let items = [
            item("y/a.jpg"),
            item("z/a.jpg"),
            item("b.jpg"),
            item("other/b.jpg"),
            item("q.jpg"),
        ];
        let ids = image_ids(&items, Some(&h));
        // The relative path wins even though the base name is shared.
        assert_eq!(ids[0], Ok(8));
        // Only the base name, and two file_names end in it: refused, not the first or the last.
        assert!(ids[1].as_ref().is_err_and(|e| e.contains("ambiguous")), "{ids:?}");
        // A unique base name matches ...
        assert_eq!(ids[2], Ok(9));
        // ... once: a second input with the same base name would take the same id.
        assert!(
            ids[3].as_ref().is_err_and(|e| e.contains("already matched")),
            "{ids:?}"
        );
        assert!(ids[4].as_ref().is_err_and(|e| e.contains("no image")), "{ids:?}");
    }

    #[test]
    fn plan_splits_todo_resumed_and_unlisted() {
        let (_d, h) = header(
            r#"{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"},
                           {"id": 3, "file_name": "c.jpg"}],
                "categories": [{"id": 1, "name": "cat"}]}"#,
        );
        let out = tempfile::tempdir().unwrap();
        let layout = OutputLayout::new(out.path());
        let items = [item("a.jpg"), item("b.jpg"), item("c.jpg"), item("d.jpg")];
        // a is finished (its record exists); b has a record but not the overlay asked for.
        for stem in ["a", "b"] {
            let p = layout.image(stem);
            std::fs::create_dir_all(p.record.parent().unwrap()).unwrap();
            std::fs::write(&p.record, "{}").unwrap();
        }
        let overlay = layout.image("a").overlay;
        std::fs::create_dir_all(overlay.parent().unwrap()).unwrap();
        std::fs::write(&overlay, "x").unwrap();
        let save = SaveSet {
            overlay: true,
            ..SaveSet::default()
        };
        let p = plan(&items, Some(&h), None, Some((&layout, save)));
        assert_eq!(p.todo, [1, 2]);
        assert_eq!(p.resumed, 1);
        assert_eq!(p.unlisted.len(), 1);
        assert_eq!(p.unlisted[0].0, 3);
        assert_eq!(p.ids, [Some(1), Some(2), Some(3), None]);
        assert!(p.in_shard(3) && p.image_id(3).is_none());

        // Without resume (force, or a sink without a folder) every listed input is to do.
        let all = plan(&items, Some(&h), None, None);
        assert_eq!((all.todo.as_slice(), all.resumed), (&[0, 1, 2][..], 0));

        // Shard 1/2: inputs 1 and 3; ids stay those of the whole set.
        let shard = plan(&items, None, Some((1, 2)), None);
        assert_eq!(shard.todo, [1, 3]);
        assert_eq!(shard.ids, [None, Some(2), None, Some(4)]);
        assert!(!shard.in_shard(0));
    }
}
