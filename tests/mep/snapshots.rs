//! One insta snapshot per fixture case ([`super::summary`]).
use baiseg_rt::mep::{MepParams, extract};

use super::{Case, case_names, summary};

#[test]
fn fixture_summaries() {
    for name in case_names() {
        let case = Case::load(&name);
        let instances = extract(&case.input(), &MepParams::default()).expect("MEP runs");
        let summary = summary(&name, None, &instances, case.boundary.dim());
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_json_snapshot!(format!("mep_{name}"), summary);
        });
    }
}
