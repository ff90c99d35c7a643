//! The agents' table in both renderings: a test split across three agents,
//! one of them lost, and a run without agents (no section).

use crate::report::model::Report;
use crate::report::{html, markdown};
use engine::results::RunResults;

/// The report tests' finished run with one `http_load` test; `agents` is
/// its `agents` list as JSON (empty: a local load).
fn run(agents: serde_json::Value) -> RunResults {
    let mut r = crate::report::tests::results(Vec::new());
    r.tests = vec![serde_json::from_value(serde_json::json!({
        "id": "L1", "title": "Spread load", "kind": "http_load", "status": "ERROR",
        "started_at_ms": 1_700_000_000_000_i64, "finished_at_ms": 1_700_000_010_000_i64,
        "parameters": {}, "metrics": null, "agents": agents
    }))
    .unwrap()];
    r
}

fn three_agents_one_lost() -> RunResults {
    run(serde_json::json!([
        { "agent": "agent-0", "segment": "0:1/3", "workers": 34, "rate": 1000,
          "requests": 10000, "failed": 2, "state": "done" },
        { "agent": "agent-1", "segment": "1/3:2/3", "workers": 33, "rate": 1000,
          "requests": 4321, "failed": 0, "state": "lost", "lost_after_s": 4.26 },
        { "agent": "agent|2", "segment": "2/3:1", "workers": 33, "rate": 1000,
          "requests": 10000, "failed": 0, "state": "done" }
    ]))
}

#[test]
fn a_test_on_agents_shows_one_row_per_agent_in_markdown() {
    let md = markdown::render(&Report::build(&three_agents_one_lost(), None, Vec::new()));
    assert!(md.contains("### Load agents"), "{md}");
    assert!(
        md.contains(
            "| Test | Agent | Segment | Workers | Rate | Requests | Failed | State | Lost at |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| L1 | agent-0 | 0:1/3 | 34 of 100 | 1000/s of 3000/s | 10000 | 2 | done | — |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| L1 | agent-1 | 1/3:2/3 | 33 of 100 | 1000/s of 3000/s | 4321 | 0 | **lost** | 4.3 s after the start |"),
        "{md}"
    );
    // An agent's name is the agent's text: escaped, it stays one cell.
    assert!(
        md.contains("| L1 | agent\\|2 | 2/3:1 | 33 of 100 |"),
        "{md}"
    );
    // Between the load tables and the criteria.
    let at = |s: &str| md.find(s).unwrap();
    assert!(at("### Load agents") > at("### Total Operations Processed"));
    assert!(at("### Load agents") < at("## Criteria Checklist"));
}

#[test]
fn a_test_on_agents_shows_one_row_per_agent_in_html() {
    let html = html::render(&Report::build(&three_agents_one_lost(), None, Vec::new()));
    assert!(
        html.contains("<h3 id=\"agents\">Load agents</h3>"),
        "{html}"
    );
    assert!(html.contains("<th>Lost at</th>"), "{html}");
    assert!(
        html.contains("<tr><td>L1</td><td>agent-0</td><td>0:1/3</td><td>34 of 100</td><td>1000/s of 3000/s</td><td>10000</td><td>2</td><td>done</td><td>—</td></tr>"),
        "{html}"
    );
    assert!(
        html.contains("<tr><td>L1</td><td>agent-1</td><td>1/3:2/3</td><td>33 of 100</td><td>1000/s of 3000/s</td><td>4321</td><td>0</td><td><b class=\"regression\">lost</b></td><td>4.3 s after the start</td></tr>"),
        "{html}"
    );
    let section =
        &html[html.find("id=\"agents\"").unwrap()..html.find("Criteria checklist").unwrap()];
    assert_eq!(section.matches("<tr><td>L1</td>").count(), 3, "{html}");
}

#[test]
fn a_closed_model_share_has_no_rate() {
    let r = run(serde_json::json!([
        { "agent": "a", "segment": "0:1/2", "workers": 5, "requests": 50, "failed": 0, "state": "done" },
        { "agent": "b", "segment": "1/2:1", "workers": 5, "requests": 40, "failed": 1, "state": "cancelled" }
    ]));
    let md = markdown::render(&Report::build(&r, None, Vec::new()));
    assert!(
        md.contains("| L1 | b | 1/2:1 | 5 of 10 | — | 40 | 1 | cancelled | — |"),
        "{md}"
    );
}

#[test]
fn a_run_without_agents_has_no_agents_section() {
    let r = run(serde_json::json!([]));
    let report = Report::build(&r, None, Vec::new());
    assert!(report.agents.is_empty());
    let md = markdown::render(&report);
    assert!(!md.contains("Load agents"), "{md}");
    let html = html::render(&report);
    assert!(!html.contains("Load agents"), "{html}");
}
