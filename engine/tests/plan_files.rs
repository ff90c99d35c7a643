//! Plan files: every file under `plans/invalid` fails with exactly the
//! error in its `.err` twin; every file under `plans/valid` and every
//! example plan loads.

use engine::plan::{load_file, load_str, Plan, PlanError};
use std::path::{Path, PathBuf};

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plans")
}

#[test]
fn each_invalid_plan_fails_with_its_exact_error() {
    let plans = files(&plans_dir().join("invalid"), "toml");
    assert!(plans.len() >= 20, "only {} invalid plans", plans.len());
    for plan in plans {
        let name = plan.file_name().unwrap().to_str().unwrap().to_owned();
        let source = std::fs::read_to_string(&plan).unwrap();
        let expected = std::fs::read_to_string(plan.with_extension("err"))
            .unwrap_or_else(|_| panic!("{name} has no .err file"));
        match load_str(&source, &name) {
            Ok(_) => panic!("{name} loaded but should fail with:\n{expected}"),
            Err(e) => assert_eq!(e.to_string(), expected.trim_end(), "{name}"),
        }
    }
}

#[test]
fn valid_plans_and_examples_load() {
    let mut plans = files(&plans_dir().join("valid"), "toml");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    if examples.is_dir() {
        plans.extend(files(&examples, "toml"));
    }
    assert!(!plans.is_empty());
    for plan in plans {
        if let Err(e) = load_file(&plan) {
            panic!("{}: {e}", plan.display());
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let err = load_file(Path::new("/nonexistent/plan.toml")).unwrap_err();
    assert!(matches!(err, PlanError::Read { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/plan.toml: cannot read the plan"));
}

#[test]
fn the_digest_is_of_the_file_bytes() {
    let source = std::fs::read_to_string(plans_dir().join("valid/full.toml")).unwrap();
    let a = load_str(&source, "a.toml").unwrap();
    let b = load_str(&format!("{source}\n# changed\n"), "a.toml").unwrap();
    assert_eq!(a.plan, b.plan);
    assert_ne!(a.sha256, b.sha256);
    assert_eq!(a.sha256.len(), 64);
}

#[test]
fn the_schema_describes_every_test_kind_and_refuses_unknown_fields() {
    let schema = serde_json::to_value(Plan::json_schema()).unwrap();
    let text = schema.to_string();
    for kind in ["http_load", "job_workload", "stream", "assert"] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} missing");
    }
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("plan")));
    // Optional in the schema (a pasted plan borrows a folder plan's); a
    // plan file without one is refused by validation.
    assert!(schema["properties"]["environments"].is_object());
}
