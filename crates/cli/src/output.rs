//! Printing results: human-readable tables by default, `--format csv|json` for machines.

use std::io::Write;

/// Output format of a command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Human,
    /// Comma-separated values with a header row.
    Csv,
    /// JSON (an array of objects, or one object).
    Json,
}

/// A table: column names and rows of cells (numbers already formatted).
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// One table cell: text or a number (kept as a number in JSON).
#[derive(Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    Num(f64),
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            // Shortest representation that reads back to the same f64.
            Cell::Num(v) => format!("{v:?}"),
        }
    }
    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => serde_json::Value::from(s.as_str()),
            Cell::Int(i) => serde_json::Value::from(*i),
            Cell::Num(v) => serde_json::Value::from(*v),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}

impl Table {
    /// Print to stdout in `format`.
    pub fn print(&self, format: Format) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        match format {
            Format::Human => {
                let cells: Vec<Vec<String>> = self
                    .rows
                    .iter()
                    .map(|r| r.iter().map(Cell::render).collect())
                    .collect();
                let widths: Vec<usize> = (0..self.headers.len())
                    .map(|c| {
                        cells
                            .iter()
                            .map(|r| r[c].chars().count())
                            .chain([self.headers[c].len()])
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let line = |cols: Vec<&str>| {
                    cols.iter()
                        .zip(&widths)
                        .map(|(c, w)| format!("{c:<w$}"))
                        .collect::<Vec<_>>()
                        .join("  ")
                        .trim_end()
                        .to_string()
                };
                writeln!(out, "{}", line(self.headers.clone()))?;
                for r in &cells {
                    writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
                }
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(&self.headers)?;
                for r in &self.rows {
                    w.write_record(r.iter().map(Cell::render))?;
                }
                w.flush()?;
            }
            Format::Json => {
                let rows: Vec<serde_json::Value> = self
                    .rows
                    .iter()
                    .map(|r| {
                        serde_json::Value::Object(
                            self.headers
                                .iter()
                                .map(|h| h.to_string())
                                .zip(r.iter().map(Cell::json))
                                .collect(),
                        )
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            }
        }
        Ok(())
    }
}
