//! The bound past which the agents still running a load are withdrawn:
//! every load has one, a rounds-only closed load too.

use super::{planned_s, END_MARGIN_S};
use crate::plan::HttpLoadSpec;

fn spec(toml_text: &str) -> HttpLoadSpec {
    toml::from_str(&format!("path = \"/\"\n{toml_text}")).unwrap()
}

#[test]
fn a_load_bounded_by_its_rounds_has_a_hard_bound() {
    // 3 rounds of at most 2 s each plus the longest 500 ms pause: 7.5 s,
    // then the timeout and the margin.
    let rounds = spec("concurrency = 4\nrounds = 3\ntimeout_ms = 2000\nthink_time_ms = [100, 500]");
    assert_eq!(planned_s(&rounds), 8 + 2 + END_MARGIN_S);
    let plain = spec("concurrency = 4\nrounds = 10");
    assert_eq!(planned_s(&plain), 300 + 30 + END_MARGIN_S);
}

#[test]
fn a_timed_or_staged_load_is_bounded_by_its_length() {
    let open = spec("rate = 100\nduration_s = 20\ntimeout_ms = 1500");
    assert_eq!(planned_s(&open), 20 + 2 + END_MARGIN_S);
    let staged =
        spec("stages = [{ duration_s = 5, concurrency = 2 }, { duration_s = 7, concurrency = 4 }]");
    assert_eq!(planned_s(&staged), 12 + 30 + END_MARGIN_S);
}
