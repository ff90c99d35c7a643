//! `report.html`: the report as one self-contained file (inline CSS, charts
//! as inline SVG drawn by `app::charts`, a print stylesheet); opens offline.

use super::model::Report;
use super::values::number;
use std::fmt::Write as _;

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2430;max-width:980px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e3e7ee;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;width:100%}th,td{border:1px solid #d5dbe5;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:.3rem;font-weight:700;color:#fff}
.pass,.GO{background:#2e7d32}.fail,.NO-GO,.FAIL,.ERROR{background:#c62828}.ABORTED,.INTERRUPTED,.INCOMPLETE{background:#8d6e00}.PASS{background:#2e7d32}
.regression{color:#c62828;font-weight:700}.meta{color:#4a5568}
pre{background:#f6f8fa;border:1px solid #e3e7ee;padding:.6rem;overflow:auto;font-size:12.5px}
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

fn badge(word: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(word), esc(word))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} ms"))
}

/// Renders the report as a single HTML file.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&r.title)
    );
    let _ = write!(o, "<h1>{}</h1>\n<p class=\"meta\">Environment <b>{}</b> · started {} · {} s · {} · run <code>{}</code></p>\n<p>Overall status {}</p>\n",
        esc(&r.title),
        esc(r.environment.first().map_or("", |(_, v)| v.as_str())),
        esc(&r.started_at), number(r.duration_s), esc(&r.tool), esc(&r.run_id), badge(&r.status));
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
    o.push_str("<h2>Executive summary</h2>");
    table(
        &mut o,
        &["Criteria", "Result", "Notes"],
        r.summary.iter().map(|s| {
            vec![
                esc(&s.group),
                format!(
                    "<b>{}</b> {}",
                    esc(&s.result),
                    badge(if s.passed { "PASS" } else { "FAIL" })
                ),
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
    if !r.anomalies.is_empty() {
        o.push_str("<h2>Anomalies: unplanned process exits</h2><p class=\"regression\">Supervised services exited without being asked to during the run; each one makes the run NO-GO whatever the criteria say.</p>");
        table(
            &mut o,
            &["Service", "Test", "Time", "What happened"],
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

    o.push_str("<h2>Environment configuration</h2>");
    table(
        &mut o,
        &["Setting", "Value"],
        r.environment.iter().map(|(k, v)| vec![esc(k), cell(v)]),
    );

    o.push_str("<h2>Test results</h2>");
    for t in &r.tests {
        let _ = write!(
            o,
            "<h3>{}: {} {}</h3>",
            esc(&t.id),
            esc(&t.title),
            badge(&t.status)
        );
        table(
            &mut o,
            &["Metric", "Value"],
            t.metrics.iter().map(|(k, v)| vec![esc(k), cell(v)]),
        );
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
            let _ = write!(
                o,
                "<h4>Restart proof: {} {}</h4>",
                esc(&p.service),
                badge(if p.observed { "PASS" } else { "FAIL" })
            );
            table(
                &mut o,
                &["Field", "Value"],
                p.rows.iter().map(|(k, v)| vec![esc(k), esc(v)]),
            );
            if let Some(rec) = &p.recovery {
                let _ = write!(o, "<p><b>Recovery time:</b> {}</p>", esc(rec));
            }
        }
        let _ = writeln!(
            o,
            "<details><summary>Evidence JSON</summary><pre>{}</pre></details>",
            esc(&t.evidence_json)
        );
    }

    o.push_str("<h2>Integrity and storage checks</h2>");
    if r.integrity.is_empty() {
        o.push_str("<p>No integrity or storage checks in this plan.</p>");
    } else {
        table(
            &mut o,
            &["Test", "Check", "Actual", "Result"],
            r.integrity.iter().map(|c| {
                vec![
                    esc(&c.test),
                    esc(&c.check),
                    esc(&c.actual),
                    c.passed
                        .map_or("—".to_owned(), |p| badge(if p { "PASS" } else { "FAIL" })),
                ]
            }),
        );
    }
    if !r.dependencies.is_empty() {
        o.push_str("<h2>Service health at test time</h2>");
        table(
            &mut o,
            &["Test", "Dependency", "Status", "Latency"],
            r.dependencies
                .iter()
                .map(|d| vec![esc(&d.test), esc(&d.name), esc(&d.status), esc(&d.latency)]),
        );
    }
    o.push_str("<h2>Performance summary</h2>");
    table(
        &mut o,
        &["Test", "P50", "P95", "P99", "Status"],
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
    o.push_str("<h3>Total operations processed</h3>");
    table(
        &mut o,
        &["Category", "Operations", "Success", "Failures"],
        r.totals.iter().map(|t| {
            let b = |s: String| {
                if t.category == "Total" {
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
    if !r.failures_by_class.is_empty() {
        o.push_str("<h3>Failures by class</h3>");
        table(
            &mut o,
            &["Class", "Count"],
            r.failures_by_class
                .iter()
                .map(|(c, n)| vec![esc(c), n.to_string()]),
        );
    }
    o.push_str("<h2>Criteria checklist</h2>");
    table(
        &mut o,
        &["", "Criterion", "Expression", "Actual", "Note"],
        r.criteria.iter().map(|c| {
            vec![
                badge(if c.passed { "PASS" } else { "FAIL" }),
                esc(&c.label),
                format!("<code>{}</code>", esc(&c.expr)),
                esc(&c.actual),
                esc(c.note.as_deref().unwrap_or("")),
            ]
        }),
    );
    o.push_str("<h2>Key differences from previous run</h2>");
    match &r.differences {
        Some(d) => {
            let _ = write!(
                o,
                "<p class=\"meta\">Previous run <code>{}</code> · {} regression(s)</p>",
                esc(&d.previous_run),
                d.regressions()
            );
            table(
                &mut o,
                &["Metric", "Previous", "Current", "Change"],
                d.rows.iter().map(|row| {
                    let change = if row.regression {
                        format!(
                            "<span class=\"regression\">{} REGRESSION</span>",
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
        None => o.push_str("<p>No previous run of this plan against this environment.</p>"),
    }
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
    } else {
        table(
            &mut o,
            &[
                "Approver",
                "Decision",
                "Comment",
                "Override reason",
                "Time",
                "Manifest digest",
                "State",
            ],
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
    o.push_str("<h2>Output files</h2><ul>");
    for f in &r.files {
        let _ = write!(o, "<li><code>{}</code></li>", esc(f));
    }
    let _ = write!(o, "</ul>\n<p class=\"meta\"><i>Generated by {} for run <code>{}</code>.</i></p>\n</body></html>\n", esc(&r.tool), esc(&r.run_id));
    o
}
