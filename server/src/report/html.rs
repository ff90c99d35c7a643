//! `report.html`: the report as one self-contained file (inline CSS, charts
//! as inline SVG drawn by `app::charts`, a print stylesheet); opens offline.
//! How HTML writes a cell, a table and what stands around each section of
//! [`super::sections`].

use super::model::agents::NOTE as AGENTS_NOTE;
use super::model::{Report, RestartProof, TestSection};
use super::rows::{self, Cells};
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

fn badge(word: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(word), esc(word))
}

/// A PASS or FAIL badge.
fn pass_badge(passed: bool) -> String {
    badge(pass(passed))
}

/// Renders the report as a single HTML file.
pub fn render(r: &Report) -> String {
    sections::render(&Html, r)
}

struct Html;

/// HTML escapes all text, whoever wrote it.
impl Cells for Html {
    fn text(&self, s: &str) -> String {
        esc(s)
    }
    fn own(&self, s: &str) -> String {
        esc(s)
    }
    fn value(&self, s: &str) -> String {
        cell(s)
    }
    fn code(&self, s: &str) -> String {
        format!("<code>{}</code>", esc(s))
    }
    fn target_code(&self, s: &str) -> String {
        self.code(s)
    }
    fn bar(&self, s: &str) -> String {
        format!("<code class=\"bar\">{}</code>", esc(s))
    }
    fn strong(&self, cell: String) -> String {
        format!("<b>{cell}</b>")
    }
    fn alarm(&self, s: &str) -> String {
        format!("<b class=\"regression\">{}</b>", esc(s))
    }
    fn warning(&self, s: &str) -> String {
        format!("<strong class=\"warn\">{}</strong>", esc(s))
    }
    fn ms(&self, v: Option<f64>) -> String {
        v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} ms"))
    }
    fn pass(&self, passed: bool) -> String {
        pass_badge(passed)
    }
    fn status(&self, word: &str) -> String {
        badge(word)
    }
    fn decision(&self, word: &str) -> String {
        badge(word)
    }
    fn outcome(&self, word: &str) -> String {
        badge(word)
    }
}

impl Render for Html {
    fn open(&self, o: &mut String, section: Section, r: &Report) {
        match section {
            Section::Header => header(o, r),
            Section::Summary => o.push_str("<h2>Executive summary</h2>"),
            Section::Anomalies => o.push_str("<h2>Anomalies: unplanned process exits</h2><p class=\"regression\">Supervised services exited without being asked to during the run; each one makes the run NO-GO whatever the criteria say.</p>"),
            Section::Environment => o.push_str("<h2>Environment configuration</h2>"),
            Section::Timeline => o.push_str("<h2 id=\"timeline\">Timeline</h2><p class=\"meta\">When each test ran, in seconds from the run's start, as recorded; tests whose bars overlap ran at the same time.</p>"),
            Section::Tests => o.push_str("<h2>Test results</h2>"),
            Section::Integrity => o.push_str("<h2>Integrity and storage checks</h2>"),
            Section::Dependencies => o.push_str("<h2>Service health at test time</h2>"),
            Section::Performance => o.push_str("<h2>Performance summary</h2>"),
            Section::Totals => o.push_str("<h3>Total operations processed</h3>"),
            Section::Restarts => o.push_str("<h3>Restarts performed</h3>"),
            Section::FailureClasses => o.push_str("<h3>Failures by class</h3>"),
            Section::LoadThroughFault => o.push_str("<h3>Load through the fault</h3>"),
            Section::Agents => {
                let _ = write!(
                    o,
                    "<h3 id=\"agents\">Load agents</h3><p class=\"meta\">{}</p>",
                    esc(AGENTS_NOTE)
                );
            }
            Section::Criteria => criteria(o, r),
            Section::Differences => differences(o, r),
            Section::SignOff => signoff(o, r),
            Section::Files => {
                o.push_str("<h2>Output files</h2><ul>");
                for f in &r.files {
                    let _ = write!(o, "<li><code>{}</code></li>", esc(f));
                }
                o.push_str("</ul>\n");
            }
            Section::Footer => {
                let _ = write!(
                    o,
                    "<p class=\"meta\"><i>Generated by {} for run <code>{}</code>.</i></p>\n</body></html>\n",
                    esc(&r.tool),
                    esc(&r.run_id)
                );
            }
        }
    }

    fn table(&self, o: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
        table(o, head, rows);
    }

    fn empty(&self, o: &mut String, section: Section) {
        o.push_str(match section {
            Section::SignOff => "<p>Not signed yet.</p>",
            _ => "<p>No integrity or storage checks in this plan.</p>",
        });
    }

    fn caption(&self, o: &mut String, test: &str, impact: &str) {
        let _ = write!(o, "<p><strong>{}</strong>: {}</p>", esc(test), esc(impact));
    }

    fn test(&self, o: &mut String, t: &TestSection) {
        test(o, t);
    }

    fn close(&self, o: &mut String, section: Section, r: &Report) {
        if section == Section::Summary {
            let nogo = r.verdict.as_deref() != Some("GO");
            let _ = writeln!(
                o,
                "<p class=\"decision{}\"><b>GO/NO-GO decision:</b> {}</p>",
                if nogo { " nogo" } else { "" },
                esc(&r.decision)
            );
        }
    }
}

fn header(o: &mut String, r: &Report) {
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

fn criteria(o: &mut String, r: &Report) {
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

fn differences(o: &mut String, r: &Report) {
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

/// The recommendation and the final decision (the sign-off table follows).
fn signoff(o: &mut String, r: &Report) {
    o.push_str("<h2>Sign-off</h2>");
    let _ = write!(
        o,
        "<p>System recommendation: <strong>{}</strong></p>",
        esc(&r.decision)
    );
    if let Some(d) = &r.signoff_decision {
        let _ = write!(o, "<p>Final decision: <strong>{}</strong></p>", esc(d));
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
    table(o, &["Metric", "Value"], rows::pairs(&Html, &t.metrics));
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
