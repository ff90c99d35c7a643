//! Reading a plan file, with errors that point at the file, line, column
//! and field and say what was expected:
//! `plan.toml:14:3: tests[1].http_load.concurrency: expected a positive integer, got -5`.

use super::validate;
use super::Plan;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in a plan, at a place in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The field, as a path (`tests[1].http_load.concurrency`); empty for
    /// syntax errors.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A plan that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error("{file}: cannot read the plan: {message}")]
    Read {
        /// The file as the user named it.
        file: String,
        /// The system's reason.
        message: String,
    },
    /// The file is not a valid plan; every problem found, in file order.
    #[error("{}", display_all(.0))]
    Invalid(Vec<Located>),
}

fn display_all(problems: &[Located]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A valid plan and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPlan {
    /// The plan as read and validated.
    pub plan: Plan,
    /// The file as the user named it.
    pub file: String,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// The plan's text as it was read.
    pub text: String,
    /// Where the plan came from.
    pub origin: PlanOrigin,
    /// Tests of the plan left out of this run (by id), when only some run.
    pub deselected: Vec<String>,
}

/// Where a plan came from, for the evidence. Written with its `kind` tag
/// first; read with `model::tag_first`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlanOrigin {
    /// A file read by the command line.
    File,
    /// A file in the server's plans folder (the admins').
    Folder,
    /// Text pasted in the browser, run against the environments and
    /// services of a folder plan.
    Pasted {
        /// The folder plan it took its environments from.
        environments_from: String,
        /// That file's sha256.
        environments_sha256: String,
    },
}

/// [`PlanOrigin`] read from its tag and the rest of its object.
#[derive(Deserialize)]
#[serde(remote = "PlanOrigin", rename_all = "snake_case")]
enum PlanOriginMirror {
    File,
    Folder,
    Pasted {
        environments_from: String,
        environments_sha256: String,
    },
}

crate::model::tag_first::tag_first_deserialize!(
    PlanOrigin via PlanOriginMirror,
    tag "kind",
    expecting "a plan origin with its `kind`"
);

/// Reads and validates a plan file.
pub fn load_file(path: &Path) -> Result<LoadedPlan, PlanError> {
    let file = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| PlanError::Read {
        file: file.clone(),
        message: e.to_string(),
    })?;
    // Data files are found next to the plan.
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_with(&source, &file, |_, plan| {
        super::data_files::attach(plan, &dir)
    })
}

/// Parses and validates plan text; `file` is only used in messages.
pub fn load_str(source: &str, file: &str) -> Result<LoadedPlan, PlanError> {
    load_with(source, file, |_, plan| Ok(plan))
}

/// Reads a plan's text, lets `complete` finish it (a pasted plan takes its
/// environments from a folder plan; its problems are located in `source`),
/// then validates it.
pub fn load_with(
    source: &str,
    file: &str,
    complete: impl FnOnce(&Spanned<DeTable<'_>>, Plan) -> Result<Plan, Vec<(FieldPath, String)>>,
) -> Result<LoadedPlan, PlanError> {
    let in_file = Source { text: source, file };
    let (document, plan) = in_file.parse()?;
    let plan = complete(&document, plan).map_err(|problems| {
        PlanError::Invalid(
            problems
                .into_iter()
                .map(|(path, message)| {
                    let span = path.find_span(&document).unwrap_or(0..0);
                    in_file.at(span, path.to_string(), message)
                })
                .collect(),
        )
    })?;
    in_file.validate(&document, &plan)?;
    Ok(LoadedPlan {
        plan,
        file: file.to_owned(),
        sha256: hex::encode(Sha256::digest(source.as_bytes())),
        text: source.to_owned(),
        origin: PlanOrigin::File,
        deselected: Vec::new(),
    })
}

/// A plan's text and the file it was read from, to locate problems in.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl<'a> Source<'a> {
    /// A problem at a span of the text.
    fn at(&self, span: Range<usize>, field: String, message: String) -> Located {
        let (line, column) = line_column(self.text, span.start);
        Located {
            file: self.file.to_owned(),
            line,
            column,
            field,
            message,
        }
    }

    /// The text as a TOML document (for the spans of fields) and as a plan.
    fn parse(&self) -> Result<(Spanned<DeTable<'a>>, Plan), PlanError> {
        let syntax = |span: Option<Range<usize>>, message: &str| {
            PlanError::Invalid(vec![self.at(
                span.unwrap_or(0..0),
                String::new(),
                message.trim_end().to_owned(),
            )])
        };
        let document = DeTable::parse(self.text).map_err(|e| syntax(e.span(), e.message()))?;
        let deserializer =
            toml::Deserializer::parse(self.text).map_err(|e| syntax(e.span(), e.message()))?;
        let plan: Plan = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = FieldPath::from_serde(e.path());
            let inner = e.into_inner();
            let span = inner
                .span()
                .or_else(|| path.find_span(&document))
                .unwrap_or(0..0);
            PlanError::Invalid(vec![self.at(
                span,
                path.to_string(),
                inner.message().trim_end().to_owned(),
            )])
        })?;
        Ok((document, plan))
    }

    /// Every problem [`validate::validate`] finds in the plan, in file order.
    fn validate(&self, document: &Spanned<DeTable<'_>>, plan: &Plan) -> Result<(), PlanError> {
        let problems = validate::validate(plan);
        if problems.is_empty() {
            return Ok(());
        }
        let mut located: Vec<(usize, Located)> = problems
            .into_iter()
            .map(|problem| {
                let span = problem.path.find_span(document).unwrap_or(0..0);
                (
                    span.start,
                    self.at(span, problem.path.to_string(), problem.message),
                )
            })
            .collect();
        located.sort_by_key(|(start, _)| *start);
        Err(PlanError::Invalid(
            located.into_iter().map(|(_, l)| l).collect(),
        ))
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Where a field is in the plan (`tests[1].http_load.concurrency`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The path of a key under this one.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        FieldPath(segments)
    }

    /// The path of an element under this one.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        FieldPath(segments)
    }

    fn from_serde(path: &serde_path_to_error::Path) -> FieldPath {
        use serde_path_to_error::Segment as S;
        FieldPath(
            path.iter()
                .filter_map(|segment| match segment {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } | S::Enum { variant: key } => Some(Segment::Key(key.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }

    /// The span of the deepest part of this path present in the document:
    /// the value when it is there, else its nearest parent.
    pub fn find_span(&self, document: &Spanned<DeTable<'_>>) -> Option<Range<usize>> {
        let mut best = document.span();
        let mut value: Option<&Spanned<DeValue<'_>>> = None;
        let mut table: Option<&DeTable<'_>> = Some(document.get_ref());
        for segment in &self.0 {
            let next = match (segment, table, value.map(Spanned::get_ref)) {
                (Segment::Key(key), Some(t), _) => t
                    .iter()
                    .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
                    .map(|(_, v)| v),
                (Segment::Index(i), _, Some(DeValue::Array(items))) => items.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            best = next.span();
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
            value = Some(next);
        }
        Some(best)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        let text = "a = 1\nbé = -5\n";
        assert_eq!(line_column(text, 0), (1, 1));
        let offset = text.find("-5").unwrap();
        assert_eq!(line_column(text, offset), (2, 6));
    }

    #[test]
    fn paths_read_like_toml() {
        let path = FieldPath::default()
            .key("tests")
            .index(1)
            .key("http_load")
            .key("X-Token.v");
        assert_eq!(path.to_string(), "tests[1].http_load.\"X-Token.v\"");
    }
}
