//! `report.md`: the report as Markdown, one function per section of
//! [`super::sections`]. Text that comes from a plan or a target is escaped,
//! so it cannot add markup.

use super::model::agents::NOTE as AGENTS_NOTE;
use super::model::{Report, Row, TestSection};
use super::sections::{self, pass, Render, Section};
use super::values::number;
use std::fmt::Write as _;

/// Renders the report as Markdown.
pub fn render(r: &Report) -> String {
    sections::render(&Markdown, r)
}

struct Markdown;

impl Render for Markdown {
    fn header(&self, o: &mut String, r: &Report) {
        let _ = writeln!(o, "# {}\n", text(&r.title));
        let env = r.environment.first().map_or("", |(_, v)| v.as_str());
        let _ = writeln!(o, "**Environment:** {}  ", text(env));
        let _ = writeln!(o, "**Test Date:** {}  ", r.started_at);
        let _ = writeln!(o, "**Tester:** {}  ", text(&r.tester));
        let _ = writeln!(o, "**Tool:** {}  ", r.tool);
        let _ = writeln!(o, "**Overall Status:** **{}**\n\n---\n", r.status);
        if let Some(e) = &r.error {
            let _ = writeln!(o, "> The run stopped early: {}\n", text(e));
        }
        if !r.left_out_tests.is_empty() {
            let _ = writeln!(
                o,
                "> Partial run: tests {} of the plan were left out; their criteria were not checked.\n",
                text(&r.left_out_tests.join(", "))
            );
        }
    }

    fn summary(&self, o: &mut String, r: &Report) {
        o.push_str("## Executive Summary\n\n");
        table(
            o,
            Section::Summary.columns(),
            r.summary.iter().map(|s| {
                let mark = match s.outcome.as_str() {
                    "PASS" => "✓".to_owned(),
                    "FAIL" => "✗".to_owned(),
                    other => format!("⚠ {other}"),
                };
                vec![
                    cell(&s.group),
                    format!("**{}** {mark}", s.result),
                    cell(&s.notes),
                ]
            }),
        );
        let _ = writeln!(o, "\n**GO/NO-GO Decision:** **{}**\n\n---\n", r.decision);
    }

    fn anomalies(&self, o: &mut String, r: &Report) {
        o.push_str("## Anomalies: Unplanned Process Exits\n\nSupervised services exited without being asked to during the run; each one makes the run NO-GO whatever the criteria say.\n\n");
        table(
            o,
            Section::Anomalies.columns(),
            r.anomalies.iter().map(|a| {
                vec![
                    cell(&a.service),
                    a.test.as_deref().map_or_else(|| "—".to_owned(), cell),
                    a.at.clone(),
                    cell(&a.what),
                ]
            }),
        );
        o.push_str("\n---\n\n");
    }

    fn environment(&self, o: &mut String, r: &Report) {
        o.push_str("## Environment Configuration\n\n");
        pairs(o, "Setting", &r.environment);
    }

    fn timeline(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Timeline\n\nWhen each test ran, in seconds from the run's start, as recorded; tests whose bars overlap ran at the same time.\n\n");
        table(
            o,
            Section::Timeline.columns(),
            r.timeline.iter().map(|t| {
                vec![
                    cell(&t.test),
                    cell(&t.kind),
                    format!("{:.1} s", t.start_s),
                    format!("{:.1} s", t.end_s),
                    format!("{:.1} s", t.end_s - t.start_s),
                    if t.ran_with.is_empty() {
                        "—".to_owned()
                    } else {
                        cell(&t.ran_with.join(", "))
                    },
                    format!("`{}`", t.bar),
                ]
            }),
        );
    }

    fn tests(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Test Results\n\n");
        for t in &r.tests {
            test(o, t);
        }
    }

    fn integrity(&self, o: &mut String, r: &Report) {
        o.push_str("---\n\n## Integrity and Storage Checks\n\n");
        if r.integrity.is_empty() {
            o.push_str("No integrity or storage checks in this plan.\n\n");
            return;
        }
        table(
            o,
            Section::Integrity.columns(),
            r.integrity.iter().map(|c| {
                vec![
                    cell(&c.test),
                    cell(&c.check),
                    cell(&c.actual),
                    c.passed.map_or("—", pass).to_owned(),
                ]
            }),
        );
        o.push('\n');
    }

    fn dependencies(&self, o: &mut String, r: &Report) {
        o.push_str("---\n\n## Service Health at Test Time\n\n");
        table(
            o,
            Section::Dependencies.columns(),
            r.dependencies.iter().map(|d| {
                vec![
                    cell(&d.test),
                    cell(&d.name),
                    cell(&d.status),
                    cell(&d.latency),
                ]
            }),
        );
        o.push('\n');
    }

    fn performance(&self, o: &mut String, r: &Report) {
        o.push_str("---\n\n## Performance Summary\n\n### Latencies\n\n");
        table(
            o,
            Section::Performance.columns(),
            r.performance.iter().map(|p| {
                vec![
                    p.test.clone(),
                    ms(p.p50_ms),
                    ms(p.p95_ms),
                    ms(p.p99_ms),
                    p.status.clone(),
                ]
            }),
        );
    }

    fn totals(&self, o: &mut String, r: &Report) {
        o.push_str("\n### Total Operations Processed\n\n");
        table(
            o,
            Section::Totals.columns(),
            r.totals.iter().map(|t| {
                let b = |s: String| if t.is_total() { format!("**{s}**") } else { s };
                vec![
                    b(t.category.clone()),
                    b(t.requests.to_string()),
                    b(t.ok.to_string()),
                    b(t.fail.to_string()),
                ]
            }),
        );
    }

    fn restarts(&self, o: &mut String, r: &Report) {
        o.push_str("\n### Restarts Performed\n\n");
        table(
            o,
            Section::Restarts.columns(),
            r.restarts.iter().map(|x| {
                vec![
                    cell(&x.test),
                    cell(&x.service),
                    cell(&x.method),
                    code_cell(&x.before),
                    code_cell(&x.after),
                    cell(&x.recovery),
                    if x.observed { "yes" } else { "**NO**" }.to_owned(),
                ]
            }),
        );
    }

    fn failure_classes(&self, o: &mut String, r: &Report) {
        o.push_str("\n### Failures by Class\n\n");
        table(
            o,
            Section::FailureClasses.columns(),
            r.failures_by_class
                .iter()
                .map(|(c, n)| vec![c.clone(), n.to_string()]),
        );
    }

    fn load_through_fault(&self, o: &mut String, r: &Report) {
        o.push_str("\n### Load through the fault\n");
        for t in &r.load_through_fault {
            let _ = writeln!(o, "\n**{}**: {}\n", text(&t.test), text(&t.impact));
            table(
                o,
                Section::LoadThroughFault.columns(),
                t.rows
                    .iter()
                    .map(|row| row.iter().map(|v| cell(v)).collect::<Vec<_>>()),
            );
        }
    }

    fn agents(&self, o: &mut String, r: &Report) {
        o.push_str("\n### Load agents\n\n");
        o.push_str(AGENTS_NOTE);
        o.push_str("\n\n");
        table(
            o,
            Section::Agents.columns(),
            r.agents
                .iter()
                .map(|a| a.cells_in(cell, |state| format!("**{}**", cell(state)))),
        );
    }

    fn criteria(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Criteria Checklist\n\n");
        for c in &r.criteria {
            let note = c
                .note
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "- [{}] {} — `{}` = {}{note}",
                if c.passed { "x" } else { " " },
                text(&c.label),
                c.expr,
                c.actual
            );
        }
    }

    fn differences(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Key Differences from Previous Run\n\n");
        match &r.differences {
            Some(d) => o.push_str(&d.to_markdown()),
            None => o.push_str("No previous run of this plan against this environment.\n"),
        }
    }

    fn signoff(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Sign-Off\n\n");
        let _ = writeln!(o, "System recommendation: **{}**\n", r.decision);
        if let Some(d) = &r.signoff_decision {
            let _ = writeln!(o, "Final decision: **{d}**\n");
        }
        if r.signoffs.is_empty() {
            o.push_str("Not signed yet.\n");
        } else {
            table(
                o,
                Section::SignOff.columns(),
                r.signoffs.iter().map(|s| {
                    vec![
                        cell(&s.approver),
                        format!("**{}**", s.decision),
                        cell(&s.comment),
                        s.override_reason.as_deref().map(cell).unwrap_or_default(),
                        s.at.clone(),
                        format!("`{}`", s.manifest_digest),
                        s.state.clone(),
                    ]
                }),
            );
        }
        let _ = writeln!(
            o,
            "\n```\nRun: {}\nTester: {}\nStarted: {}\nFinished: {}\nDuration: {} seconds\nDecision: {}\n```",
            r.run_id,
            r.tester.replace('`', "'"),
            r.started_at,
            r.finished_at,
            number(r.duration_s),
            r.decision
        );
    }

    fn files(&self, o: &mut String, r: &Report) {
        o.push_str("\n---\n\n## Output Files\n\n");
        table(o, &["File"], r.files.iter().map(|f| vec![format!("`{f}`")]));
    }

    fn footer(&self, o: &mut String, r: &Report) {
        let _ = writeln!(
            o,
            "\n---\n\n*Generated by {} for run `{}`.*",
            r.tool, r.run_id
        );
    }
}

/// One test: its metric table, warnings, error, evidence JSON, and the
/// proof of each restart.
fn test(o: &mut String, t: &TestSection) {
    let _ = writeln!(o, "### {}: {}\n", t.id, text(&t.title));
    pairs(o, "Metric", &t.metrics);
    for w in &t.warnings {
        let _ = writeln!(o, "\n> Warning: {}", text(w));
    }
    if let Some(e) = &t.error {
        let _ = writeln!(o, "\n> Error: {}", text(e));
    }
    let fence = fence_for(&t.evidence_json);
    let _ = writeln!(
        o,
        "\n**Evidence:**\n{fence}json\n{}\n{fence}\n",
        t.evidence_json
    );
    for p in &t.restarts {
        let observed = if p.observed {
            ", observed"
        } else {
            ", NOT observed"
        };
        let what = if p.network {
            "Network Fault Proof"
        } else {
            "Restart Proof"
        };
        let _ = writeln!(o, "**{what} ({}{observed}):**\n", p.service);
        pairs(o, "Field", &p.rows);
        if let Some(rec) = &p.recovery {
            let _ = writeln!(o, "\n**Recovery Time:** {rec}");
        }
        o.push('\n');
    }
}

/// A table with a header row; cells are written as given.
fn table(o: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let rules: Vec<String> = head.iter().map(|h| "-".repeat(h.len() + 2)).collect();
    let _ = writeln!(o, "|{}|", rules.join("|"));
    for row in rows {
        let _ = writeln!(o, "| {} |", row.join(" | "));
    }
}

/// A two-column table of `(label, value)` rows under `head` and `Value`.
fn pairs(o: &mut String, head: &str, rows: &[Row]) {
    table(
        o,
        &[head, "Value"],
        rows.iter().map(|(k, v)| vec![cell(k), cell(v)]),
    );
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}ms"))
}
/// Text from a plan or a target, shown as itself: Markdown's and HTML's
/// special characters escaped, so it cannot add links, images, markup or
/// headings to the report.
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text fit for a table cell: escaped, on one line.
fn cell(raw: &str) -> String {
    text(raw)
}

/// A target's text (a deployment or process identity) as code in a table
/// cell: on one line, with no backtick to end the code span early and no
/// bare `|` to end the cell.
fn code_cell(raw: &str) -> String {
    let one_line: String = raw
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", one_line.replace('|', "\\|"))
}

/// A code fence longer than any run of backticks in `body`.
fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_text_cannot_add_markup_to_the_report() {
        let evil = "![x](http://evil.example/p.png) <script>alert(1)</script> | [link](javascript:x)\n# Heading";
        let shown = text(evil);
        assert!(!shown.contains("!["), "{shown}");
        assert!(!shown.contains("<script"), "{shown}");
        assert!(!shown.replace("\\]", "").contains(']'), "{shown}");
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains("\\|"), "{shown}");
        // A process identity from the target stays one code cell.
        let identity = code_cell("pid 7 | `rm -rf`\n| x | y |");
        assert_eq!(identity, "`pid 7 \\| 'rm -rf' \\| x \\| y \\|`");
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
