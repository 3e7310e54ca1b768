//! Tables of numbers: numeric feature columns and one integer label column.

use std::path::Path;

use super::idx::DataReader;
use super::Dataset;
use crate::limits::MAX_CLASSES;
use crate::{NnError, Result};

/// Reads a CSV file (optionally gzip-compressed) of numeric features and an integer class
/// label in column `label_column` (`None`: the last column). A first line that is not all
/// numbers is taken as a header and skipped; empty lines are ignored.
///
/// Labels are class indices below [`MAX_CLASSES`]; the number of classes is the largest
/// label plus one. The file may hold up to [`crate::limits::MAX_DATA_BYTES`] (after
/// decompression).
///
/// ```
/// let path = std::env::temp_dir().join("retrograd-doc-table.csv");
/// std::fs::write(&path, "a,b,label\n0.5,1,0\n2,3.5,1\n").unwrap();
/// let d = retrograd_nn::data::read_csv(&path, None).unwrap();
/// assert_eq!(d.shape, vec![2]);
/// assert_eq!(d.labels, vec![0, 1]);
/// assert_eq!(d.features, vec![0.5, 1.0, 2.0, 3.5]);
/// ```
pub fn read_csv(path: impl AsRef<Path>, label_column: Option<usize>) -> Result<Dataset> {
    let path = path.as_ref();
    parse_csv(path, &read_text(path)?, label_column)
}

/// Reads a text file (optionally gzip-compressed) of at most
/// [`crate::limits::MAX_DATA_BYTES`]; errors name the file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = DataReader::open(path)?.read_all()?;
    String::from_utf8(bytes).map_err(|e| NnError::format(path, format!("not UTF-8 text: {e}")))
}

/// Parses CSV text; `path` only names the source in errors.
pub(crate) fn parse_csv(path: &Path, text: &str, label_column: Option<usize>) -> Result<Dataset> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut columns: Option<usize> = None;
    let mut first = true;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let is_first = std::mem::replace(&mut first, false);
        if is_first && fields.iter().any(|f| f.parse::<f64>().is_err()) {
            continue; // header
        }
        let n = *columns.get_or_insert(fields.len());
        if fields.len() != n {
            return Err(NnError::format(
                path,
                format!(
                    "line {}: {} columns, expected {n}",
                    lineno + 1,
                    fields.len()
                ),
            ));
        }
        if n < 2 {
            return Err(NnError::format(
                path,
                format!(
                    "line {}: need at least one feature and a label column",
                    lineno + 1
                ),
            ));
        }
        let label_col = label_column.unwrap_or(n - 1);
        if label_col >= n {
            return Err(NnError::format(
                path,
                format!("label column {label_col} does not exist: the file has {n} columns"),
            ));
        }
        for (c, field) in fields.iter().enumerate() {
            if c == label_col {
                let label = field.parse::<usize>().map_err(|_| {
                    NnError::format(
                        path,
                        format!(
                            "line {}: label `{field}` is not a non-negative integer",
                            lineno + 1
                        ),
                    )
                })?;
                if label >= MAX_CLASSES {
                    return Err(NnError::format(
                        path,
                        format!(
                            "line {}: label {label} is not a class index below the limit of {MAX_CLASSES} classes",
                            lineno + 1
                        ),
                    ));
                }
                labels.push(label);
            } else {
                let v = field
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        NnError::format(
                            path,
                            format!(
                                "line {}, column {}: `{field}` is not a finite number",
                                lineno + 1,
                                c + 1
                            ),
                        )
                    })?;
                features.push(v);
            }
        }
    }
    let Some(n) = columns else {
        return Err(NnError::format(path, "no data rows"));
    };
    let num_classes = labels.iter().max().map_or(0, |&m| m + 1);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    Dataset::new(name, features, labels, vec![n - 1], num_classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Dataset> {
        parse_csv(Path::new("t.csv"), text, None)
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("1,2,0\n1,0\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 2: 2 columns, expected 3");
        let e = parse("1,2,0\n1,x,1\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 2, column 2: `x` is not a finite number");
        let e = parse("1,2,0\n1,2,-1\n").unwrap_err().to_string();
        assert!(e.contains("label `-1`"), "{e}");
        let e = parse("1,2,0\n1,2,1024\n").unwrap_err().to_string();
        assert!(e.contains("line 2: label 1024"), "{e}");
        assert_eq!(parse("1,2,1023\n").unwrap().num_classes, 1024);
        assert!(parse("").unwrap_err().to_string().contains("no data rows"));
        assert!(parse("a,b\n")
            .unwrap_err()
            .to_string()
            .contains("no data rows"));
    }

    #[test]
    fn label_column_can_be_first() {
        let d = parse_csv(Path::new("t.csv"), "2,0.5,0.25\n0,1,1\n", Some(0)).unwrap();
        assert_eq!(d.labels, vec![2, 0]);
        assert_eq!(d.num_classes, 3);
        assert_eq!(d.features, vec![0.5, 0.25, 1.0, 1.0]);
    }
}
