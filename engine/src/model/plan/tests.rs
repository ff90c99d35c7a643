//! Unit tests of the plan types: job statuses, stream ends and the fields
//! of a test table.

use super::*;
use serde_json::json;

fn protocol(toml_text: &str) -> JobProtocol {
    let base = r#"
create_path = "/jobs"
status_path = "/jobs/{id}"
status_pointer = "/state"
"#;
    toml::from_str(&format!("{base}{toml_text}")).expect("a job protocol")
}

#[test]
fn statuses_may_be_words_numbers_or_booleans() {
    let words = protocol(
        r#"queued_statuses = ["queued"]
terminal_statuses = ["done", "failed"]
success_statuses = ["done"]"#,
    );
    let doc = json!({});
    assert_eq!(words.phase(&json!("queued"), &doc), JobPhase::Queued);
    assert_eq!(words.phase(&json!("running"), &doc), JobPhase::InFlight);
    assert_eq!(words.phase(&json!("done"), &doc), JobPhase::Terminal(true));
    assert_eq!(
        words.phase(&json!("failed"), &doc),
        JobPhase::Terminal(false)
    );

    let numbers = protocol(
        r#"queued_statuses = [0]
in_flight_statuses = [1]
terminal_statuses = [2, 3]
success_statuses = [2]"#,
    );
    assert_eq!(numbers.phase(&json!(0), &doc), JobPhase::Queued);
    assert_eq!(numbers.phase(&json!(1), &doc), JobPhase::InFlight);
    assert_eq!(numbers.phase(&json!(2.0), &doc), JobPhase::Terminal(true));
    assert_eq!(numbers.phase(&json!(3), &doc), JobPhase::Terminal(false));
    assert_eq!(numbers.phase(&json!("2"), &doc), JobPhase::Queued);

    let booleans = protocol(
        r#"in_flight_statuses = [false]
terminal_statuses = [true]
outcome_pointer = "/ok"
success_statuses = [true]"#,
    );
    assert_eq!(booleans.phase(&json!(false), &doc), JobPhase::InFlight);
    assert_eq!(
        booleans.phase(&json!(true), &json!({"ok": true})),
        JobPhase::Terminal(true)
    );
    assert_eq!(
        booleans.phase(&json!(true), &json!({"ok": false})),
        JobPhase::Terminal(false)
    );
    assert_eq!(
        booleans.phase(&json!(true), &json!({})),
        JobPhase::Terminal(false)
    );
}

#[test]
fn a_stream_ends_by_event_name_by_a_value_or_by_its_close() {
    let named = StreamEnd {
        events: vec!["completed".to_owned(), "failed".to_owned()],
        ..StreamEnd::default()
    };
    assert_eq!(named.is_last("failed", ""), Some(true));
    assert_eq!(named.is_last("progress", "{}"), Some(false));
    let marked = StreamEnd {
        pointer: Some("/final".to_owned()),
        ..StreamEnd::default()
    };
    assert_eq!(marked.is_last("x", r#"{"final": true}"#), Some(true));
    assert_eq!(marked.is_last("x", r#"{"final": false}"#), Some(false));
    assert_eq!(marked.is_last("x", "not json"), Some(false));
    assert_eq!(StreamEnd::default().is_last("end", "{}"), None);
}

#[test]
fn an_unknown_field_of_a_test_names_every_field_a_test_may_hold() {
    let err = toml::from_str::<TestSpec>("id = \"T1\"\nrounds = 3\n")
        .expect_err("no field `rounds` in a test")
        .to_string();
    assert!(
        err.contains(
            "unknown field `rounds`, expected one of `id`, `title`, `description`, `alongside`, \
             `http_load`, `job_workload`, `stream`, `assert`, `chaos`, `storage_probe`, `health`"
        ),
        "{err}"
    );
}
