//! `junit.xml`: one testsuite for the run, one testcase per test; a test's
//! failed criteria become its `<failure>`, a test that could not run an
//! `<error>`. Supervised processes that exited unasked during the run are
//! one more testcase, failed, so CI sees the anomaly the report names.

use engine::results::{RunResults, TestResult, TestStatus};
use std::fmt::Write as _;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Testcases that failed, could not run, or were skipped.
#[derive(Default)]
struct Counts {
    failures: usize,
    errors: usize,
    skipped: usize,
}

/// Renders JUnit XML.
pub fn render(r: &RunResults) -> String {
    let mut cases = String::new();
    let mut counts = Counts::default();
    for t in &r.tests {
        testcase(&mut cases, &mut counts, r, t);
    }
    let mut n = r.tests.len();
    if !r.unplanned_exits.is_empty() {
        n += 1;
        counts.failures += 1;
        let lines: Vec<String> = r.unplanned_exits.iter().map(|e| e.describe()).collect();
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"unplanned process exits\" time=\"0.000\">\n      <failure message=\"{} supervised process(es) exited unasked during the run\" type=\"anomaly\">{}</failure>\n    </testcase>\n",
            esc(&r.plan.name),
            r.unplanned_exits.len(),
            esc(&lines.join("\n"))
        );
    }
    let secs = (r.finished_at_ms - r.started_at_ms) as f64 / 1000.0;
    let Counts {
        failures,
        errors,
        skipped,
    } = counts;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"shakedown\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\">\n  <testsuite name=\"{plan}\" tests=\"{n}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{secs:.3}\" timestamp=\"{ts}\">\n    <properties>\n      <property name=\"run_id\" value=\"{run}\"/>\n      <property name=\"environment\" value=\"{env}\"/>\n    </properties>\n{cases}  </testsuite>\n</testsuites>\n",
        plan = esc(&r.plan.name),
        ts = esc(&r.started_at),
        run = esc(&r.run_id),
        env = esc(&r.environment.name),
    )
}

/// One test's testcase: an error when it could not run, skipped when the
/// run was aborted while it ran, a failure naming its failed criteria.
fn testcase(cases: &mut String, counts: &mut Counts, r: &RunResults, t: &TestResult) {
    let secs = (t.finished_at_ms - t.started_at_ms) as f64 / 1000.0;
    let _ = write!(
        cases,
        "    <testcase classname=\"{}\" name=\"{}: {}\" time=\"{secs:.3}\">",
        esc(&r.plan.name),
        esc(&t.id),
        esc(&t.title)
    );
    let failed: Vec<_> = r
        .criteria
        .iter()
        .filter(|c| c.test == t.id && !c.passed)
        .collect();
    match t.status {
        TestStatus::Error => {
            counts.errors += 1;
            let msg = t.error.as_deref().unwrap_or("the test could not run");
            let _ = write!(
                cases,
                "\n      <error message=\"{}\" type=\"error\">{}</error>\n    ",
                esc(msg),
                esc(msg)
            );
        }
        TestStatus::Aborted => {
            counts.skipped += 1;
            cases.push_str("\n      <skipped message=\"run aborted while the test ran\"/>\n    ");
        }
        TestStatus::Fail | TestStatus::Pass if !failed.is_empty() => {
            counts.failures += 1;
            let lines: Vec<String> = failed
                .iter()
                .map(|c| {
                    let actual = c.actual.map_or("no value".to_owned(), |a| a.to_string());
                    let note = c
                        .note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    format!("{}: actual {actual}{note}", c.expr)
                })
                .collect();
            let _ = write!(
                cases,
                "\n      <failure message=\"{} criteria failed: {}\" type=\"criteria\">{}</failure>\n    ",
                failed.len(),
                esc(&failed.iter().map(|c| c.expr.as_str()).collect::<Vec<_>>().join(", ")),
                esc(&lines.join("\n"))
            );
        }
        TestStatus::Fail => {
            counts.failures += 1;
            cases.push_str("\n      <failure message=\"test failed\" type=\"criteria\"/>\n    ");
        }
        TestStatus::Pass => {}
    }
    cases.push_str("</testcase>\n");
}
