//! One insta snapshot per fixture case: instance count, per-instance class / area / bbox / score
//! (rounded to 1e-6) and an FNV-1a hash of the painted label map.
use baiseg_rt::instances::paint_label_map;
use baiseg_rt::mep::{MepParams, extract};
use serde_json::json;

use super::{Case, case_names, hash_u16_map};

#[test]
fn fixture_summaries() {
    for name in case_names() {
        let case = Case::load(&name);
        let instances = extract(&case.input(), &MepParams::default()).expect("MEP runs");
        let (h, w) = case.boundary.dim();
        let labels = paint_label_map(&instances, h as u32, w as u32);
        let summary = json!({
            "case": name,
            "size": [h, w],
            "instances": instances.len(),
            "label_map_fnv1a": hash_u16_map(&labels),
            "per_instance": instances.iter().map(|i| {
                let s = i.summary();
                let [x, y, w, h] = s.bbox;
                format!("class {} area {} bbox [{x}, {y}, {w}, {h}] score {:.6}", s.category, s.area, s.score)
            }).collect::<Vec<_>>(),
        });
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(format!("mep_{name}"), summary);
        });
    }
}
