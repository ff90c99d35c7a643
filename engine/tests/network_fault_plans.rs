//! Network faults in plans: what `shakedown check` says about a bad
//! `fault.network` or environment `network` table, naming file, line and
//! field (the exact texts are the `.err` twins under `plans/invalid`).

use engine::plan::load_str;
use std::path::Path;

fn error_of(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/plans/invalid")
        .join(name);
    let source = std::fs::read_to_string(&path).unwrap();
    match load_str(&source, name) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn each_bad_network_plan_fails_with_its_exact_error() {
    for name in [
        "network_fault_bad",
        "network_fault_unknown_toxic",
        "network_no_proxy",
    ] {
        let said = error_of(&format!("{name}.toml"));
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/plans/invalid")
            .join(format!("{name}.err"));
        let expected = std::fs::read_to_string(path).unwrap();
        assert_eq!(said, expected.trim_end(), "{name}");
    }
}
