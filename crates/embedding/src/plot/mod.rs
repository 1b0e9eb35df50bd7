//! Figures (feature `plot`): the clustered distance-matrix heatmap (the paper's Fig. 2 look,
//! `viridis_r`), a 2-D map of embeddings coloured by group, and a line chart of named series
//! (the top-k curves of the paper's Fig. 3). SVG or PNG by file extension. Legends sit outside
//! the plot area, so that they never hide data.
//!
//! Text is rendered with a TrueType font read at run time (no system libraries): the file in
//! `TASK2VEC_FONT`, else DejaVu Sans / Liberation Sans at the usual Linux, macOS and Windows
//! paths (Debian/Ubuntu: `apt-get install fonts-dejavu-core`).

mod font;
mod grid;
mod heatmap;
mod labels;
mod legend;
mod lines;
mod map;

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::write_atomic;

pub use grid::{MarkShape, Marks, marked_grid};
pub use heatmap::{HeatmapOptions, distance_heatmap};
pub use lines::{Line, LineChartOptions, line_chart};
pub use map::{MapOptions, embedding_map};

/// Output format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(Error::Plot("the output must end in .svg or .png".into()).in_file(path)),
    }
}

/// Map any plotters error into ours.
fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Plot(e.to_string())
}

/// Write an SVG document or PNG pixels produced by `svg` / `png` closures.
fn save(
    path: &Path,
    size: (u32, u32),
    svg: impl FnOnce(DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<()>,
    png: impl FnOnce(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    let format = format_of(path)?;
    font::ensure_registered().map_err(|e| e.in_file(path))?;
    match format {
        Format::Svg => {
            let mut text = String::new();
            {
                let area = SVGBackend::with_string(&mut text, size).into_drawing_area();
                svg(area).map_err(|e| e.in_file(path))?;
            }
            write_atomic(path, |w| {
                use std::io::Write;
                w.write_all(text.as_bytes()).map_err(Error::Io)
            })
        }
        Format::Png => {
            let mut buf = vec![0u8; size.0 as usize * size.1 as usize * 3];
            {
                let area = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                png(area).map_err(|e| e.in_file(path))?;
            }
            write_atomic(path, |w| {
                use image::ImageEncoder;
                image::codecs::png::PngEncoder::new(w)
                    .write_image(&buf, size.0, size.1, image::ExtendedColorType::Rgb8)
                    .map_err(plot_err)
            })
        }
    }
}
