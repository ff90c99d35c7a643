//! `report.html`: the report as one self-contained file (inline CSS, charts
//! as inline SVG drawn by `app::charts`, a print stylesheet); opens offline.
//! One function per section of [`super::sections`].

use super::model::agents::NOTE as AGENTS_NOTE;
use super::model::{Report, RestartProof, Row, TestSection};
use super::sections::{self, pass, Render, Section};
use super::values::number;
use std::fmt::Write as _;

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;max-width:980px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e3e7ee;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;width:100%}th,td{border:1px solid #d5dbe5;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:.3rem;font-weight:700;color:#fff}
.pass,.GO{background:#2e7d32}.fail,.NO-GO,.FAIL,.ERROR{background:#c62828}.ABORTED,.INTERRUPTED,.INCOMPLETE,.WARN,.BASELINE{background:#8d6e00}.PASS{background:#2e7d32}
.regression{color:#c62828;font-weight:700}.improvement{color:#2e7d32;font-weight:700}.meta{color:#4a5568}
pre{background:#f6f8fa;border:1px solid #e3e7ee;padding:.6rem;overflow:auto;font-size:12.5px}
code.bar{white-space:pre;letter-spacing:-.05em}
.chart svg{width:100%;height:auto;border:1px solid #e3e7ee;margin:.4rem 0}
.decision{font-size:1.15rem;padding:.6rem .8rem;border-left:5px solid #2e7d32;background:#f1f8f2}
.decision.nogo{border-color:#c62828;background:#fdf1f1}
details summary{cursor:pointer;color:#2b5cad}
@media print{body{margin:0;max-width:none;font-size:11pt}h2{page-break-after:avoid}table,.chart,pre{page-break-inside:avoid}
details{display:block}details>summary{display:none}details>*{display:block}.badge{border:1px solid #000;color:#000;background:none!important}a{color:#000}}
"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Table cell text: Markdown code and bold marks become HTML.
fn cell(s: &str) -> String {
    let plain = s.replace("**", "");
    match plain.strip_prefix('`').and_then(|x| x.strip_suffix('`')) {
        Some(code) => format!("<code>{}</code>", esc(code)),
        None => esc(&plain),
    }
}

fn table(o: &mut String, head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    o.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            let _ = write!(o, "<td>{c}</td>");
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>\n");
}

/// A two-column table of `(label, value)` rows under `head` and `Value`.
fn pairs(o: &mut String, head: &str, rows: &[Row]) {
    table(
        o,
        &[head, "Value"],
        rows.iter().map(|(k, v)| vec![esc(k), cell(v)]),
    );
}

fn badge(word: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(word), esc(word))
}

/// A PASS or FAIL badge.
fn pass_badge(passed: bool) -> String {
    badge(pass(passed))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} ms"))
}

/// Renders the report as a single HTML file.
pub fn render(r: &Report) -> String {
    sections::render(&Html, r)
}

struct Html;

impl Render for Html {
    fn header(&self, o: &mut String, r: &Report) {
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>\n",
            esc(&r.title)
        );
        let _ = write!(o, "<h1>{}</h1>\n<p class=\"meta\">Environment <b>{}</b> · started {} · {} s · tester <b id=\"tester\">{}</b> · {} · run <code>{}</code></p>\n<p>Overall status {}</p>\n",
            esc(&r.title),
            esc(r.environment.first().map_or("", |(_, v)| v.as_str())),
            esc(&r.started_at), number(r.duration_s), esc(&r.tester), esc(&r.tool), esc(&r.run_id), badge(&r.status));
        if !r.left_out_tests.is_empty() {
            let _ = write!(
                o,
                "<p class=\"regression\" id=\"partial-run\">Partial run: tests {} of the plan were left out; their criteria were not checked.</p>",
                esc(&r.left_out_tests.join(", "))
            );
        }
        if let Some(e) = &r.error {
            let _ = write!(
                o,
                "<p class=\"regression\">The run stopped early: {}</p>",
                esc(e)
            );
        }
    }

    fn summary(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Executive summary</h2>");
        table(
            o,
            Section::Summary.columns(),
            r.summary.iter().map(|s| {
                vec![
                    esc(&s.group),
                    format!("<b>{}</b> {}", esc(&s.result), badge(&s.outcome)),
                    esc(&s.notes),
                ]
            }),
        );
        let nogo = r.verdict.as_deref() != Some("GO");
        let _ = writeln!(
            o,
            "<p class=\"decision{}\"><b>GO/NO-GO decision:</b> {}</p>",
            if nogo { " nogo" } else { "" },
            esc(&r.decision)
        );
    }

    fn anomalies(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Anomalies: unplanned process exits</h2><p class=\"regression\">Supervised services exited without being asked to during the run; each one makes the run NO-GO whatever the criteria say.</p>");
        table(
            o,
            Section::Anomalies.columns(),
            r.anomalies.iter().map(|a| {
                vec![
                    esc(&a.service),
                    a.test.as_deref().map_or_else(|| "—".to_owned(), esc),
                    esc(&a.at),
                    esc(&a.what),
                ]
            }),
        );
    }

    fn environment(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Environment configuration</h2>");
        pairs(o, "Setting", &r.environment);
    }

    fn timeline(&self, o: &mut String, r: &Report) {
        o.push_str("<h2 id=\"timeline\">Timeline</h2><p class=\"meta\">When each test ran, in seconds from the run's start, as recorded; tests whose bars overlap ran at the same time.</p>");
        table(
            o,
            Section::Timeline.columns(),
            r.timeline.iter().map(|t| {
                vec![
                    esc(&t.test),
                    esc(&t.kind),
                    format!("{:.1} s", t.start_s),
                    format!("{:.1} s", t.end_s),
                    format!("{:.1} s", t.end_s - t.start_s),
                    if t.ran_with.is_empty() {
                        "—".to_owned()
                    } else {
                        esc(&t.ran_with.join(", "))
                    },
                    format!("<code class=\"bar\">{}</code>", esc(&t.bar)),
                ]
            }),
        );
    }

    fn tests(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Test results</h2>");
        for t in &r.tests {
            test(o, t);
        }
    }

    fn integrity(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Integrity and storage checks</h2>");
        if r.integrity.is_empty() {
            o.push_str("<p>No integrity or storage checks in this plan.</p>");
            return;
        }
        table(
            o,
            Section::Integrity.columns(),
            r.integrity.iter().map(|c| {
                vec![
                    esc(&c.test),
                    esc(&c.check),
                    esc(&c.actual),
                    c.passed.map_or("—".to_owned(), pass_badge),
                ]
            }),
        );
    }

    fn dependencies(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Service health at test time</h2>");
        table(
            o,
            Section::Dependencies.columns(),
            r.dependencies
                .iter()
                .map(|d| vec![esc(&d.test), esc(&d.name), esc(&d.status), esc(&d.latency)]),
        );
    }

    fn performance(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Performance summary</h2>");
        table(
            o,
            Section::Performance.columns(),
            r.performance.iter().map(|p| {
                vec![
                    esc(&p.test),
                    ms(p.p50_ms),
                    ms(p.p95_ms),
                    ms(p.p99_ms),
                    badge(&p.status),
                ]
            }),
        );
    }

    fn totals(&self, o: &mut String, r: &Report) {
        o.push_str("<h3>Total operations processed</h3>");
        table(
            o,
            Section::Totals.columns(),
            r.totals.iter().map(|t| {
                let b = |s: String| {
                    if t.is_total() {
                        format!("<b>{s}</b>")
                    } else {
                        s
                    }
                };
                vec![
                    b(esc(&t.category)),
                    b(t.requests.to_string()),
                    b(t.ok.to_string()),
                    b(t.fail.to_string()),
                ]
            }),
        );
    }

    fn restarts(&self, o: &mut String, r: &Report) {
        o.push_str("<h3>Restarts performed</h3>");
        table(
            o,
            Section::Restarts.columns(),
            r.restarts.iter().map(|x| {
                vec![
                    esc(&x.test),
                    esc(&x.service),
                    esc(&x.method),
                    format!("<code>{}</code>", esc(&x.before)),
                    format!("<code>{}</code>", esc(&x.after)),
                    esc(&x.recovery),
                    if x.observed { "yes" } else { "<b>NO</b>" }.to_owned(),
                ]
            }),
        );
    }

    fn failure_classes(&self, o: &mut String, r: &Report) {
        o.push_str("<h3>Failures by class</h3>");
        table(
            o,
            Section::FailureClasses.columns(),
            r.failures_by_class
                .iter()
                .map(|(c, n)| vec![esc(c), n.to_string()]),
        );
    }

    fn load_through_fault(&self, o: &mut String, r: &Report) {
        o.push_str("<h3>Load through the fault</h3>");
        for t in &r.load_through_fault {
            let _ = write!(
                o,
                "<p><strong>{}</strong>: {}</p>",
                esc(&t.test),
                esc(&t.impact)
            );
            table(
                o,
                Section::LoadThroughFault.columns(),
                t.rows
                    .iter()
                    .map(|cells| cells.iter().map(|c| esc(c)).collect()),
            );
        }
    }

    fn agents(&self, o: &mut String, r: &Report) {
        let _ = write!(
            o,
            "<h3 id=\"agents\">Load agents</h3><p class=\"meta\">{}</p>",
            esc(AGENTS_NOTE)
        );
        table(
            o,
            Section::Agents.columns(),
            r.agents.iter().map(|a| {
                a.cells_in(esc, |state| {
                    format!("<b class=\"regression\">{}</b>", esc(state))
                })
            }),
        );
    }

    fn criteria(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Criteria checklist</h2>");
        table(
            o,
            &["", "Criterion", "Expression", "Actual", "Note"],
            r.criteria.iter().map(|c| {
                vec![
                    badge(&c.outcome),
                    esc(&c.label),
                    format!("<code>{}</code>", esc(&c.expr)),
                    esc(&c.actual),
                    esc(c.note.as_deref().unwrap_or("")),
                ]
            }),
        );
    }

    fn differences(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Key differences from previous run</h2>");
        let Some(d) = &r.differences else {
            o.push_str("<p>No previous run of this plan against this environment.</p>");
            return;
        };
        let _ = write!(
            o,
            "<p class=\"meta\">Previous run <code>{}</code> · {}</p>",
            esc(&d.previous_run),
            d.counts()
        );
        table(
            o,
            Section::Differences.columns(),
            d.rows.iter().map(|row| {
                let change = if row.regression {
                    format!(
                        "<span class=\"regression\">{} REGRESSION</span>",
                        esc(&row.change)
                    )
                } else if row.improvement {
                    format!(
                        "<span class=\"improvement\">{} IMPROVEMENT</span>",
                        esc(&row.change)
                    )
                } else {
                    esc(&row.change)
                };
                vec![
                    esc(&row.metric),
                    esc(&row.previous),
                    esc(&row.current),
                    change,
                ]
            }),
        );
    }

    fn signoff(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Sign-off</h2>");
        let _ = write!(
            o,
            "<p>System recommendation: <strong>{}</strong></p>",
            esc(&r.decision)
        );
        if let Some(d) = &r.signoff_decision {
            let _ = write!(o, "<p>Final decision: <strong>{}</strong></p>", esc(d));
        }
        if r.signoffs.is_empty() {
            o.push_str("<p>Not signed yet.</p>");
            return;
        }
        table(
            o,
            Section::SignOff.columns(),
            r.signoffs.iter().map(|s| {
                vec![
                    esc(&s.approver),
                    badge(&s.decision),
                    esc(&s.comment),
                    s.override_reason
                        .as_deref()
                        .map(|o| format!("<strong class=\"warn\">{}</strong>", esc(o)))
                        .unwrap_or_default(),
                    esc(&s.at),
                    format!("<code>{}</code>", esc(&s.manifest_digest)),
                    esc(&s.state),
                ]
            }),
        );
    }

    fn files(&self, o: &mut String, r: &Report) {
        o.push_str("<h2>Output files</h2><ul>");
        for f in &r.files {
            let _ = write!(o, "<li><code>{}</code></li>", esc(f));
        }
        o.push_str("</ul>\n");
    }

    fn footer(&self, o: &mut String, r: &Report) {
        let _ = write!(
            o,
            "<p class=\"meta\"><i>Generated by {} for run <code>{}</code>.</i></p>\n</body></html>\n",
            esc(&r.tool),
            esc(&r.run_id)
        );
    }
}

/// One test: its metric table, warnings, error, charts, restart proofs and
/// evidence JSON.
fn test(o: &mut String, t: &TestSection) {
    let _ = write!(
        o,
        "<h3>{}: {} {}</h3>",
        esc(&t.id),
        esc(&t.title),
        badge(&t.status)
    );
    pairs(o, "Metric", &t.metrics);
    for w in &t.warnings {
        let _ = write!(o, "<p class=\"regression\">Warning: {}</p>", esc(w));
    }
    if let Some(e) = &t.error {
        let _ = write!(o, "<p class=\"regression\">Error: {}</p>", esc(e));
    }
    for chart in &t.charts {
        let _ = write!(
            o,
            "<div class=\"chart\">{}</div>",
            app::charts::render_svg(chart)
        );
    }
    for p in &t.restarts {
        restart_proof(o, p);
    }
    let _ = writeln!(
        o,
        "<details><summary>Evidence JSON</summary><pre>{}</pre></details>",
        esc(&t.evidence_json)
    );
}

fn restart_proof(o: &mut String, p: &RestartProof) {
    let _ = write!(
        o,
        "<h4>{}: {} {}</h4>",
        if p.network {
            "Network fault proof"
        } else {
            "Restart proof"
        },
        esc(&p.service),
        pass_badge(p.observed)
    );
    table(
        o,
        &["Field", "Value"],
        p.rows.iter().map(|(k, v)| vec![esc(k), esc(v)]),
    );
    if let Some(rec) = &p.recovery {
        let _ = write!(o, "<p><b>Recovery time:</b> {}</p>", esc(rec));
    }
}
