//! The run report: one view-model ([`Report`]) built from a run's results
//! (plus the previous comparable run and the sign-offs), rendered as
//! Markdown, single-file HTML and JUnit XML; HDR percentile files and the
//! comparison table come from the same data.

pub mod compare;
pub mod hgrm;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;
mod values;

pub use compare::compare;
pub use model::Report;

use engine::results::RunResults;

/// Every file of a run's evidence pack except the manifest: results.json,
/// report.md, report.html, junit.xml and one `.hgrm` per test with a
/// histogram. `previous` feeds "Key differences from previous run".
pub fn pack_files(
    results: &RunResults,
    previous: Option<&RunResults>,
) -> Result<Vec<(String, Vec<u8>)>, serde_json::Error> {
    let mut files: Vec<(String, Vec<u8>)> = vec![(
        "results.json".to_owned(),
        serde_json::to_vec_pretty(results)?,
    )];
    for t in &results.tests {
        if let Some(text) = t.histogram.as_deref().and_then(hgrm::hgrm) {
            files.push((format!("{}.hgrm", safe_name(&t.id)), text.into_bytes()));
        }
    }
    files.push(("junit.xml".to_owned(), junit::render(results).into_bytes()));
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.extend(["report.md", "report.html", "manifest.json"].map(str::to_owned));
    let report = Report::build(results, previous, names);
    files.push((
        "report.md".to_owned(),
        markdown::render(&report).into_bytes(),
    ));
    files.push(("report.html".to_owned(), html::render(&report).into_bytes()));
    Ok(files)
}

/// A test id usable as a file name.
fn safe_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Reads `results.json`.
pub fn parse_results(bytes: &[u8]) -> Result<RunResults, serde_json::Error> {
    serde_json::from_slice(bytes)
}
