//! `infer --mask-format polygon --save polygons` on real images: the polygons rasterise (with the
//! crate's bit-exact port of pycocotools' `frPyObjects`) to exactly the RLE masks, and the CVAT
//! COCO 1.0 and labelme files follow those tools' loading rules (datumaro's `_CocoBase`,
//! labelme's `LabelFile.load`). `scripts/check_polygons.py` runs the same checks with pycocotools
//! and PIL themselves.
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use baiseg_rt::output::coco_json::ImageRecords;
use baiseg_rt::polygon::rasterise;
use baiseg_rt::rle::Rle;
use serde_json::Value;

use crate::util::{TestDir, assert_code, baiseg, fixture, run, tiny_model};

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn polygons(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("segmentation is a list of polygons")
        .iter()
        .map(|p| {
            let p: Vec<f64> = p
                .as_array()
                .expect("polygon is a list")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect();
            assert!(
                p.len() >= 8 && p.len().is_multiple_of(2),
                "polygon of {} values",
                p.len()
            );
            p
        })
        .collect()
}

fn int(v: &Value, key: &str, what: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{what}: `{key}` missing or not an integer: {v}"))
}

#[test]
fn polygon_outputs_are_exact_and_load_in_cvat_and_labelme() {
    let dir = TestDir::new();
    let images = dir.join("images");
    for name in ["000000.png", "000001.png", "000002.png"] {
        dir.copy(
            &fixture(&format!("samples/images/{name}")),
            &format!("images/{name}"),
        );
    }
    dir.copy(&fixture("images/stardist_img2d.png"), "images/sub/stardist.png");
    let out_dir = dir.join("out");
    let out = run(baiseg()
        .args([
            "infer",
            "--quiet",
            "--mask-format",
            "polygon",
            "--save",
            "polygons",
            "--out",
        ])
        .arg(&out_dir)
        .arg(tiny_model())
        .arg(&images));
    assert_code(&out, 0);

    // Per-image RLE records, keyed by name, in MEP order.
    let mut stored: BTreeMap<String, ImageRecords> = BTreeMap::new();
    for entry in walk(&out_dir.join("records")) {
        let rec = ImageRecords::read(&entry).expect("record");
        stored.insert(rec.name.clone(), rec);
    }
    assert_eq!(stored.len(), 4);
    let rle_of = |name: &str, k: usize| {
        let rec = &stored[name];
        Rle::from_compressed_string(&rec.instances[k].counts, rec.height, rec.width).expect("RLE")
    };

    // instances.json: COCO polygon results, exact.
    let results = json(&out_dir.join("instances.json"));
    let results = results.as_array().expect("list");
    assert!(results.len() >= 20, "{} instances", results.len());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        let name = r["file_name"].as_str().expect("file_name").to_owned();
        let k = *seen.entry(name.clone()).and_modify(|k| *k += 1).or_insert(0);
        let rle = rle_of(&name, k);
        let back = rasterise(&polygons(&r["segmentation"]), rle.height, rle.width);
        assert_eq!(back.counts, rle.counts, "{name} instance {k}");
        assert_eq!(r["area"].as_f64(), Some(rle.area() as f64));
    }

    // CVAT: COCO 1.0 dataset with datumaro's field rules.
    let cvat = json(&out_dir.join("cvat/annotations/instances_default.json"));
    for key in ["licenses", "info", "categories", "images", "annotations"] {
        assert!(cvat.get(key).is_some(), "CVAT file without `{key}`");
    }
    let cats: HashSet<i64> = cvat["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| {
            assert!(c["name"].is_string() && c["supercategory"].is_string(), "{c}");
            int(c, "id", "category")
        })
        .collect();
    let mut image_names: BTreeMap<i64, (String, u32, u32)> = BTreeMap::new();
    for im in cvat["images"].as_array().expect("images") {
        let name = im["file_name"].as_str().expect("file_name").to_owned();
        image_names.insert(
            int(im, "id", "image"),
            (
                name,
                int(im, "height", "image") as u32,
                int(im, "width", "image") as u32,
            ),
        );
    }
    assert_eq!(image_names.len(), 4);
    let anns = cvat["annotations"].as_array().expect("annotations");
    assert_eq!(anns.len(), results.len());
    let mut ids = HashSet::new();
    let mut per_image: BTreeMap<i64, usize> = BTreeMap::new();
    for a in anns {
        assert!(ids.insert(int(a, "id", "annotation")), "duplicate id");
        let image_id = int(a, "image_id", "annotation");
        let (name, h, w) = image_names.get(&image_id).expect("known image id").clone();
        assert!(cats.contains(&int(a, "category_id", "annotation")));
        assert_eq!(int(a, "iscrowd", "annotation"), 0);
        assert!(a["score"].is_number() && a["bbox"].as_array().is_some_and(|b| b.len() == 4));
        let k = *per_image.entry(image_id).and_modify(|k| *k += 1).or_insert(0);
        let rle = rle_of(&name, k);
        assert_eq!((rle.height, rle.width), (h, w));
        let back = rasterise(&polygons(&a["segmentation"]), h, w);
        assert_eq!(back.counts, rle.counts, "CVAT {name} {k}");
    }

    // labelme: LabelFile.load's keys, imagePath resolving to the image, sizes, polygon shapes.
    let classes = ["disc", "box", "triangle"];
    for (name, rec) in &stored {
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        let path = out_dir.join("labelme").join(format!("{stem}.json"));
        let lm = json(&path);
        for key in [
            "version",
            "imageData",
            "imagePath",
            "shapes",
            "flags",
            "imageHeight",
            "imageWidth",
        ] {
            assert!(lm.get(key).is_some(), "{}: no `{key}`", path.display());
        }
        assert!(lm["version"].as_str().is_some_and(|v| v.starts_with("5.")));
        assert!(lm["imageData"].is_null());
        let image = path
            .parent()
            .unwrap()
            .join(lm["imagePath"].as_str().expect("imagePath"));
        let (w, h) = image::image_dimensions(&image).unwrap_or_else(|e| panic!("{}: {e}", image.display()));
        assert_eq!(
            (
                int(&lm, "imageHeight", "labelme"),
                int(&lm, "imageWidth", "labelme")
            ),
            (i64::from(h), i64::from(w))
        );
        let mut groups: BTreeMap<i64, Vec<Vec<f64>>> = BTreeMap::new();
        for s in lm["shapes"].as_array().expect("shapes") {
            assert_eq!(s["shape_type"], "polygon");
            assert!(classes.contains(&s["label"].as_str().expect("label")));
            assert!(s["flags"].is_object());
            let pts = s["points"].as_array().expect("points");
            assert!(pts.len() >= 3);
            let flat: Vec<f64> = pts
                .iter()
                .flat_map(|p| {
                    let p = p.as_array().expect("[x, y]");
                    assert_eq!(p.len(), 2);
                    [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()]
                })
                .collect();
            groups.entry(int(s, "group_id", "shape")).or_default().push(flat);
        }
        assert_eq!(groups.len(), rec.instances.len(), "{name}");
        for (k, polys) in groups.values().enumerate() {
            assert_eq!(
                rasterise(polys, h, w).counts,
                rle_of(name, k).counts,
                "labelme {name} {k}"
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
