//! `report.md`: the report in the seed document's structure.

use super::model::Report;
use super::values::number;
use std::fmt::Write as _;

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}ms"))
}

fn pass(p: bool) -> &'static str {
    if p {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Renders the report as Markdown.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", text(&r.title));
    let env = r.environment.first().map_or("", |(_, v)| v.as_str());
    let _ = writeln!(o, "**Environment:** {}  ", text(env));
    let _ = writeln!(o, "**Test Date:** {}  ", r.started_at);
    let _ = writeln!(o, "**Tester:** {} (automated)  ", r.tool);
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

    o.push_str(
        "## Executive Summary\n\n| Criteria | Result | Notes |\n|----------|--------|-------|\n",
    );
    for s in &r.summary {
        let _ = writeln!(
            o,
            "| {} | **{}** {} | {} |",
            cell(&s.group),
            s.result,
            if s.passed { "✓" } else { "✗" },
            cell(&s.notes)
        );
    }
    let _ = writeln!(o, "\n**GO/NO-GO Decision:** **{}**\n\n---\n", r.decision);
    if !r.anomalies.is_empty() {
        o.push_str("## Anomalies: Unplanned Process Exits\n\nSupervised services exited without being asked to during the run; each one makes the run NO-GO whatever the criteria say.\n\n| Service | Test | Time | What happened |\n|---------|------|------|---------------|\n");
        for a in &r.anomalies {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                cell(&a.service),
                a.test.as_deref().map_or_else(|| "—".to_owned(), cell),
                a.at,
                cell(&a.what)
            );
        }
        o.push_str("\n---\n\n");
    }

    o.push_str("## Environment Configuration\n\n| Setting | Value |\n|---------|-------|\n");
    for (k, v) in &r.environment {
        let _ = writeln!(o, "| {} | {} |", cell(k), cell(v));
    }
    o.push_str("\n---\n\n## Test Results\n\n");
    for t in &r.tests {
        let _ = writeln!(
            o,
            "### {}: {}\n\n| Metric | Value |\n|--------|-------|",
            t.id,
            text(&t.title)
        );
        for (k, v) in &t.metrics {
            let _ = writeln!(o, "| {} | {} |", cell(k), cell(v));
        }
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
            let _ = writeln!(
                o,
                "**Restart Proof ({}{}):**\n\n| Field | Value |\n|-------|-------|",
                p.service,
                if p.observed {
                    ", observed"
                } else {
                    ", NOT observed"
                }
            );
            for (k, v) in &p.rows {
                let _ = writeln!(o, "| {} | {} |", cell(k), cell(v));
            }
            if let Some(rec) = &p.recovery {
                let _ = writeln!(o, "\n**Recovery Time:** {rec}");
            }
            o.push('\n');
        }
    }
    o.push_str("---\n\n## Integrity and Storage Checks\n\n");
    if r.integrity.is_empty() {
        o.push_str("No integrity or storage checks in this plan.\n\n");
    } else {
        o.push_str("| Test | Check | Actual | Result |\n|------|-------|--------|--------|\n");
        for c in &r.integrity {
            let res = c.passed.map_or("—", pass);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                cell(&c.test),
                cell(&c.check),
                cell(&c.actual),
                res
            );
        }
        o.push('\n');
    }
    if !r.dependencies.is_empty() {
        o.push_str("---\n\n## Service Health at Test Time\n\n| Test | Dependency | Status | Latency |\n|------|------------|--------|---------|\n");
        for d in &r.dependencies {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                cell(&d.test),
                cell(&d.name),
                cell(&d.status),
                cell(&d.latency)
            );
        }
        o.push('\n');
    }
    o.push_str("---\n\n## Performance Summary\n\n### Latencies\n\n| Test | P50 | P95 | P99 | Status |\n|------|-----|-----|-----|--------|\n");
    for p in &r.performance {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            p.test,
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.p99_ms),
            p.status
        );
    }
    o.push_str("\n### Total Operations Processed\n\n| Category | Operations | Success | Failures |\n|----------|------------|---------|----------|\n");
    for t in &r.totals {
        if t.category == "Total" {
            let _ = writeln!(
                o,
                "| **Total** | **{}** | **{}** | **{}** |",
                t.requests, t.ok, t.fail
            );
        } else {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                t.category, t.requests, t.ok, t.fail
            );
        }
    }
    if !r.failures_by_class.is_empty() {
        o.push_str("\n### Failures by Class\n\n| Class | Count |\n|-------|-------|\n");
        for (c, n) in &r.failures_by_class {
            let _ = writeln!(o, "| {c} | {n} |");
        }
    }
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
    o.push_str("\n---\n\n## Key Differences from Previous Run\n\n");
    match &r.differences {
        Some(d) => o.push_str(&d.to_markdown()),
        None => o.push_str("No previous run of this plan against this environment.\n"),
    }
    o.push_str("\n---\n\n## Sign-Off\n\n");
    let _ = writeln!(o, "System recommendation: **{}**\n", r.decision);
    if let Some(d) = &r.signoff_decision {
        let _ = writeln!(o, "Final decision: **{d}**\n");
    }
    if r.signoffs.is_empty() {
        o.push_str("Not signed yet.\n");
    } else {
        o.push_str("| Approver | Decision | Comment | Override reason | Time | Manifest digest | State |\n|----------|----------|---------|-----------------|------|-----------------|-------|\n");
        for s in &r.signoffs {
            let _ = writeln!(
                o,
                "| {} | **{}** | {} | {} | {} | `{}` | {} |",
                cell(&s.approver),
                s.decision,
                cell(&s.comment),
                s.override_reason.as_deref().map(cell).unwrap_or_default(),
                s.at,
                s.manifest_digest,
                s.state
            );
        }
    }
    let _ = writeln!(
        o,
        "\n```\nRun: {}\nStarted: {}\nFinished: {}\nDuration: {} seconds\nDecision: {}\n```",
        r.run_id,
        r.started_at,
        r.finished_at,
        number(r.duration_s),
        r.decision
    );
    o.push_str("\n---\n\n## Output Files\n\n| File |\n|------|\n");
    for f in &r.files {
        let _ = writeln!(o, "| `{f}` |");
    }
    let _ = writeln!(
        o,
        "\n---\n\n*Generated by {} for run `{}`.*",
        r.tool, r.run_id
    );
    o
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
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
