//! CSV manifest: rows `path,label`, paths relative to the CSV file, label = class name.
//! An optional first row `path,label` is a header. Classes are sorted (numerically when every
//! label is an integer).
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Format, name_index, sort_class_names};
use crate::error::DataError;

pub(crate) fn open(csv_path: &Path) -> Result<Dataset, DataError> {
    let root = csv_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let file = std::fs::File::open(csv_path).map_err(|e| DataError::io(csv_path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let malformed = |line: u64, message: String| DataError::MalformedCsv {
        path: csv_path.to_path_buf(),
        line,
        message,
    };
    let mut rows: Vec<(PathBuf, String)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(i as u64 + 1, |p| p.line());
            malformed(line, e.to_string())
        })?;
        let line = record.position().map_or(i as u64 + 1, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != 2 {
            return Err(malformed(
                line,
                format!("expected 2 fields `path,label`, found {}", record.len()),
            ));
        }
        let (path, label) = (&record[0], &record[1]);
        if i == 0 && path.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        if path.is_empty() || label.is_empty() {
            return Err(malformed(line, "empty path or label".to_string()));
        }
        let rel = PathBuf::from(path);
        if !root.join(&rel).is_file() {
            return Err(DataError::MissingFile {
                csv: csv_path.to_path_buf(),
                line,
                file: root.join(&rel),
            });
        }
        rows.push((rel, label.to_string()));
    }
    if rows.is_empty() {
        return Err(DataError::NoSamples {
            path: csv_path.to_path_buf(),
        });
    }
    let mut classes: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
    sort_class_names(&mut classes);
    classes.dedup();
    let index = name_index(&classes);
    let samples = rows
        .iter()
        .map(|(p, l)| (p.clone(), index[l.as_str()]))
        .collect();
    let mut ds = Dataset::from_files(&root, classes.clone(), samples)?;
    ds.origin = csv_path.to_path_buf();
    ds.format = Format::CsvManifest;
    Ok(ds)
}
