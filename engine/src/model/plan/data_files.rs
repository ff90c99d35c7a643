//! Reading the data files (`data_file` of an `http_load` test or of a
//! chaos test's background load) of a plan loaded from a file: each is
//! found relative to the plan file, read, and checked against the
//! `{{row.COLUMN}}` placeholders of its load. Problems point
//! at the plan's field and name the data file, its line and its column.
//! Pasted plans may not have data files (see [`super::pasted`]).

use super::read::FieldPath;
use super::{HttpLoadSpec, Plan};
use crate::data_file::DataRows;
use crate::template::RequestText;
use std::path::Path;
use std::sync::Arc;

/// Reads every test's data file, relative to `dir`, into its spec.
pub(crate) fn attach(mut plan: Plan, dir: &Path) -> Result<Plan, Vec<(FieldPath, String)>> {
    let mut problems = Vec::new();
    for (i, test) in plan.tests.iter_mut().enumerate() {
        for (at, spec) in test.http_loads_mut(i) {
            attach_one(spec, at, dir, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// Reads one load's data file into its spec (`at`: the load's field path).
fn attach_one(
    spec: &mut HttpLoadSpec,
    at: FieldPath,
    dir: &Path,
    problems: &mut Vec<(FieldPath, String)>,
) {
    let Some(file) = spec.data_file.clone() else {
        return;
    };
    if !(file.ends_with(".csv") || file.ends_with(".json")) {
        // Validation says what is expected.
        return;
    }
    if !crate::data_file::stays_in_plan_folder(&file) {
        problems.push((
            at.key("data_file"),
            format!("{file:?}: a data file is named relative to the plan's folder and stays in it (no absolute path, no ..)"),
        ));
        return;
    }
    let rows = match DataRows::read(&dir.join(&file), &file) {
        Ok(rows) => rows,
        Err(e) => {
            problems.push((at.key("data_file"), e));
            return;
        }
    };
    for (field, text) in spec.templated_texts() {
        let Ok(template) = RequestText::parse(&text) else {
            continue;
        };
        for column in template.columns() {
            if rows.column(column).is_none() {
                let field_path = match field.split_once('.') {
                    Some((headers, name)) => at.key(headers).key(name),
                    None => at.key(&field),
                };
                problems.push((
                    field_path,
                    format!(
                        "{{{{row.{column}}}}}: {file} has no column {column:?} (its columns: {})",
                        rows.columns.join(", ")
                    ),
                ));
            }
        }
    }
    spec.data = Some(Arc::new(rows));
}
