//! Data files of `http_load` (`data_file`): rows that fill `{{row.COLUMN}}`
//! in requests, one row per request in order, wrapping around.
//!
//! CSV: a header line naming the columns, then one row per line (fields
//! separated by commas, `"quoted"` when they hold a comma or a quote, `""`
//! for a quote inside). JSON: an array of objects whose values are strings,
//! numbers or booleans. Every row must have every column. Values may not
//! hold line breaks or other control characters (they go into request
//! lines and headers). Problems name the file, the line and the column.

use std::collections::BTreeMap;
use std::path::Path;

/// The largest data file read (16 MiB): rows are held in memory whole, as
/// several times the file's size.
pub const MAX_DATA_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether a plan's `data_file` names a file inside the plan's folder: a
/// relative path with no `..` (an absolute or climbing path could read any
/// file the server can, and send its values to the target).
pub fn stays_in_plan_folder(file: &str) -> bool {
    let path = Path::new(file);
    !file.is_empty()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

/// The rows of a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRows {
    /// The file as the plan names it.
    pub file: String,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// Each row's values, in column order.
    pub rows: Vec<Vec<String>>,
}

impl DataRows {
    /// Reads a CSV (`.csv`) or JSON (`.json`) file; `name` is how the plan
    /// names it, used in messages.
    pub fn read(path: &Path, name: &str) -> Result<DataRows, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read data file {name}: {e}"))?
            .len();
        if size > MAX_DATA_FILE_BYTES {
            return Err(format!(
                "data file {name} is {size} bytes, over the {MAX_DATA_FILE_BYTES}-byte limit for data files (they are held in memory whole)"
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read data file {name}: {e}"))?;
        if name.ends_with(".json") {
            DataRows::from_json(&text, name)
        } else if name.ends_with(".csv") {
            DataRows::from_csv(&text, name)
        } else {
            Err(format!("data file {name}: expected a .csv or .json file"))
        }
    }

    /// Parses CSV text.
    pub fn from_csv(text: &str, name: &str) -> Result<DataRows, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim_end_matches('\r')))
            .filter(|(_, line)| !line.trim().is_empty());
        let (header_line, header) = lines
            .next()
            .ok_or_else(|| format!("{name}: empty; expected a header line naming the columns"))?;
        let columns = split_csv(header).map_err(|e| format!("{name}:{header_line}: {e}"))?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, column) in columns.iter().enumerate() {
            if column.trim().is_empty() {
                return Err(format!(
                    "{name}:{header_line}: column {} has no name",
                    i + 1
                ));
            }
            if !seen.insert(column.as_str()) {
                return Err(format!(
                    "{name}:{header_line}: column {column:?} is named twice"
                ));
            }
        }
        let mut rows = Vec::new();
        for (line, text) in lines {
            let values = split_csv(text).map_err(|e| format!("{name}:{line}: {e}"))?;
            if values.len() != columns.len() {
                return Err(format!(
                    "{name}:{line}: {} values, but the header names {} columns ({})",
                    values.len(),
                    columns.len(),
                    columns.join(", ")
                ));
            }
            for (column, value) in columns.iter().zip(&values) {
                check_value(value).map_err(|e| format!("{name}:{line}: {column}: {e}"))?;
            }
            rows.push(values);
        }
        DataRows::finish(name, columns, rows)
    }

    /// Parses JSON text: an array of flat objects.
    pub fn from_json(text: &str, name: &str) -> Result<DataRows, String> {
        let doc: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{name}:{}:{}: not valid JSON: {e}", e.line(), e.column()))?;
        let items = doc
            .as_array()
            .ok_or_else(|| format!("{name}: expected an array of objects, one per row"))?;
        let line_of = row_lines(text);
        let mut columns: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = match line_of.get(i) {
                Some(line) => format!("{name}:{line}: [{i}]"),
                None => format!("{name}: [{i}]"),
            };
            let object = item
                .as_object()
                .ok_or_else(|| format!("{at}: expected an object, got {item}"))?;
            if i == 0 {
                columns = object.keys().cloned().collect();
            }
            let mut values: BTreeMap<&str, String> = BTreeMap::new();
            for (key, value) in object {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "{at}.{key}: expected a string, number or boolean, got {other}"
                        ))
                    }
                };
                check_value(&text).map_err(|e| format!("{at}.{key}: {e}"))?;
                if !columns.contains(key) {
                    return Err(format!(
                        "{at}.{key}: not a column of the first row ({})",
                        columns.join(", ")
                    ));
                }
                values.insert(key.as_str(), text);
            }
            let mut row = Vec::with_capacity(columns.len());
            for column in &columns {
                let value = values
                    .remove(column.as_str())
                    .ok_or_else(|| format!("{at}.{column}: missing (the first row has it)"))?;
                row.push(value);
            }
            rows.push(row);
        }
        DataRows::finish(name, columns, rows)
    }

    fn finish(
        name: &str,
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
    ) -> Result<DataRows, String> {
        if rows.is_empty() {
            return Err(format!("{name}: no rows"));
        }
        Ok(DataRows {
            file: name.to_owned(),
            columns,
            rows,
        })
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The row the `n`-th request takes (wrapping around).
    pub fn row(&self, n: u64) -> &[String] {
        let len = self.rows.len().max(1) as u64;
        let index = usize::try_from(n % len).unwrap_or(0);
        self.rows.get(index).map_or(&[], Vec::as_slice)
    }
}

/// Values go into request lines and headers.
fn check_value(value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err("holds a line break or another control character".to_owned());
    }
    Ok(())
}

/// One CSV line's fields.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                if chars.peek().is_some_and(|c| *c != ',') {
                    return Err(format!(
                        "text after a closing quote in field {}",
                        fields.len() + 1
                    ));
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            (_, c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("unclosed quote in field {}", fields.len() + 1));
    }
    fields.push(field);
    Ok(fields)
}

/// The line each top-level array element starts on (for messages).
fn row_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_scalar = false;
    for c in text.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else {
            let starts = depth == 1 && !in_scalar && !c.is_whitespace() && !matches!(c, ',' | ']');
            if starts {
                lines.push(line);
            }
            match c {
                '"' => in_string = true,
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            }
            in_scalar =
                depth == 1 && !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}' | '"');
        }
        if c == '\n' {
            line += 1;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_stay_in_the_plans_folder() {
        assert!(stays_in_plan_folder("users.csv"));
        assert!(stays_in_plan_folder("data/users.csv"));
        assert!(stays_in_plan_folder("./users.csv"));
        assert!(!stays_in_plan_folder("/etc/passwd.csv"));
        assert!(!stays_in_plan_folder("../secrets.csv"));
        assert!(!stays_in_plan_folder("data/../../secrets.json"));
        assert!(!stays_in_plan_folder(""));
    }

    #[test]
    fn a_data_file_over_the_limit_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("shakedown-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.csv");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_DATA_FILE_BYTES + 1).unwrap();
        let e = DataRows::read(&path, "big.csv").unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.contains("over the 16777216-byte limit"), "{e}");
    }

    #[test]
    fn csv_rows_are_read_in_order_with_quotes() {
        let rows = DataRows::from_csv(
            "id,name\n1,ann\n2,\"bo, b\"\n\n3,\"say \"\"hi\"\"\"\n",
            "users.csv",
        )
        .unwrap();
        assert_eq!(rows.columns, ["id", "name"]);
        assert_eq!(rows.rows.len(), 3);
        assert_eq!(rows.row(1), ["2", "bo, b"]);
        assert_eq!(rows.row(2), ["3", "say \"hi\""]);
        // Wraps around.
        assert_eq!(rows.row(3), ["1", "ann"]);
        assert_eq!(rows.row(7), ["2", "bo, b"]);
        assert_eq!(rows.column("name"), Some(1));
        assert_eq!(rows.column("nope"), None);
    }

    #[test]
    fn csv_problems_name_file_line_and_field() {
        let e = DataRows::from_csv("id,name\n1,ann\n2\n", "users.csv").unwrap_err();
        assert_eq!(
            e,
            "users.csv:3: 1 values, but the header names 2 columns (id, name)"
        );
        let e = DataRows::from_csv("id,name\n1,\"ann\n", "users.csv").unwrap_err();
        assert_eq!(e, "users.csv:2: unclosed quote in field 2");
        let e = DataRows::from_csv("id,id\n1,2\n", "u.csv").unwrap_err();
        assert_eq!(e, "u.csv:1: column \"id\" is named twice");
        let e = DataRows::from_csv("id,name\n1,a\tb\n", "u.csv").unwrap_err();
        assert_eq!(
            e,
            "u.csv:2: name: holds a line break or another control character"
        );
        assert_eq!(
            DataRows::from_csv("id\n", "u.csv").unwrap_err(),
            "u.csv: no rows"
        );
        assert!(DataRows::from_csv("", "u.csv")
            .unwrap_err()
            .contains("empty"));
    }

    #[test]
    fn json_rows_are_read_and_checked() {
        let text = "[\n  {\"id\": 1, \"name\": \"ann\", \"vip\": true},\n  {\"id\": 2, \"name\": \"bob\", \"vip\": false}\n]\n";
        let rows = DataRows::from_json(text, "u.json").unwrap();
        assert_eq!(rows.columns, ["id", "name", "vip"]);
        assert_eq!(rows.row(0), ["1", "ann", "true"]);
        assert_eq!(rows.row(1), ["2", "bob", "false"]);
        assert_eq!(rows.row(2), ["1", "ann", "true"]);

        let missing = "[\n  {\"id\": 1, \"name\": \"ann\"},\n  {\"id\": 2}\n]";
        assert_eq!(
            DataRows::from_json(missing, "u.json").unwrap_err(),
            "u.json:3: [1].name: missing (the first row has it)"
        );
        let nested = "[\n  {\"id\": {\"a\": 1}}\n]";
        assert_eq!(
            DataRows::from_json(nested, "u.json").unwrap_err(),
            "u.json:2: [0].id: expected a string, number or boolean, got {\"a\":1}"
        );
        let extra = "[{\"id\": 1},\n {\"id\": 2, \"x\": 3}]";
        assert_eq!(
            DataRows::from_json(extra, "u.json").unwrap_err(),
            "u.json:2: [1].x: not a column of the first row (id)"
        );
        assert!(DataRows::from_json("[1,", "u.json")
            .unwrap_err()
            .starts_with("u.json:1:"));
        assert_eq!(
            DataRows::from_json("{}", "u.json").unwrap_err(),
            "u.json: expected an array of objects, one per row"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = DataRows::read(Path::new("/nonexistent/users.csv"), "users.csv").unwrap_err();
        assert!(e.starts_with("cannot read data file users.csv:"), "{e}");
    }
}
