//! A rectangular value grid (rows × columns, e.g. targets × experts of an error matrix) with
//! marked cells: which column a selector picked in each row, against the best one.

use std::path::Path;

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::heatmap::viridis_r;
use super::{plot_err, save};
use crate::error::{Error, Result};

/// How a marked cell is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkShape {
    /// A thick black outline around the cell.
    Outline,
    /// A filled red dot.
    Dot,
    /// A white-on-black cross.
    Cross,
}

/// One series of marks: a shape, its legend text and the marked `(row, column)` cells.
#[derive(Debug, Clone)]
pub struct Marks {
    /// How the cells are drawn.
    pub shape: MarkShape,
    /// Legend text.
    pub label: String,
    /// `(row, column)` of each marked cell.
    pub cells: Vec<(usize, usize)>,
}

/// Draws `values` (`rows.len() × columns.len()`, low values yellow, high dark as in
/// [`super::distance_heatmap`]) with `marks`, to `path` (.svg or .png).
pub fn marked_grid(
    values: &Array2<f64>,
    rows: &[String],
    columns: &[String],
    marks: &[Marks],
    title: &str,
    path: &Path,
) -> Result<()> {
    if values.dim() != (rows.len(), columns.len()) {
        return Err(Error::InvalidArgument(format!(
            "a {:?} grid with {} row and {} column labels",
            values.dim(),
            rows.len(),
            columns.len()
        )));
    }
    for m in marks {
        if let Some(&(r, c)) = m
            .cells
            .iter()
            .find(|&&(r, c)| r >= rows.len() || c >= columns.len())
        {
            return Err(Error::InvalidArgument(format!(
                "mark `{}` at ({r}, {c}) is outside the grid",
                m.label
            )));
        }
    }
    let cell = (900 / rows.len().max(columns.len()).max(1) as u32).clamp(8, 36);
    let font = (cell as f64 * 0.75).clamp(7.0, 13.0);
    let longest = |l: &[String]| l.iter().map(|s| s.chars().count()).max().unwrap_or(0) as u32;
    let left = longest(rows) * (font as u32) * 6 / 10 + 12;
    let bottom = longest(columns) * (font as u32) * 6 / 10 + 12;
    let legend_w = 60
        + marks
            .iter()
            .map(|m| m.label.chars().count())
            .max()
            .unwrap_or(0) as u32
            * 7;
    let top = 40;
    let size = (
        left + cell * columns.len() as u32 + 90 + legend_w,
        (top + cell * rows.len() as u32 + bottom).max(top + 30 * marks.len() as u32 + 200),
    );
    let geom = (cell as i32, left as i32, top as i32, font);
    save(
        path,
        size,
        |a| draw(&a, values, rows, columns, marks, title, geom),
        |a| draw(&a, values, rows, columns, marks, title, geom),
    )
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    values: &Array2<f64>,
    rows: &[String],
    columns: &[String],
    marks: &[Marks],
    title: &str,
    (c, x0, y0, font): (i32, i32, i32, f64),
) -> Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    for ((r, k), &v) in values.indexed_iter() {
        let (x, y) = (x0 + k as i32 * c, y0 + r as i32 * c);
        let colour = if v.is_finite() {
            viridis_r((v - lo) / span)
        } else {
            RGBColor(200, 200, 200)
        };
        area.draw(&Rectangle::new([(x, y), (x + c, y + c)], colour.filled()))
            .map_err(plot_err)?;
    }
    let draw_mark = |shape: MarkShape, x: i32, y: i32, size: i32| -> Result<()> {
        match shape {
            MarkShape::Outline => area
                .draw(&Rectangle::new(
                    [(x + 1, y + 1), (x + size - 1, y + size - 1)],
                    BLACK.stroke_width(3),
                ))
                .map_err(plot_err),
            MarkShape::Dot => area
                .draw(&Circle::new(
                    (x + size / 2, y + size / 2),
                    (size / 4).max(2),
                    RED.filled(),
                ))
                .map_err(plot_err),
            MarkShape::Cross => {
                let q = size / 4;
                for (w, colour) in [(4, BLACK), (2, WHITE)] {
                    area.draw(&PathElement::new(
                        vec![(x + q, y + q), (x + size - q, y + size - q)],
                        colour.stroke_width(w),
                    ))
                    .map_err(plot_err)?;
                    area.draw(&PathElement::new(
                        vec![(x + size - q, y + q), (x + q, y + size - q)],
                        colour.stroke_width(w),
                    ))
                    .map_err(plot_err)?;
                }
                Ok(())
            }
        }
    };
    for m in marks {
        for &(r, k) in &m.cells {
            draw_mark(m.shape, x0 + k as i32 * c, y0 + r as i32 * c, c)?;
        }
    }
    let style = TextStyle::from((FAMILY, font)).color(&BLACK);
    for (r, label) in rows.iter().enumerate() {
        area.draw(&Text::new(
            label.clone(),
            (x0 - 4, y0 + r as i32 * c + c / 2),
            style.pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    let bottom = y0 + rows.len() as i32 * c;
    for (k, label) in columns.iter().enumerate() {
        area.draw(&Text::new(
            label.clone(),
            (x0 + k as i32 * c + c / 2, bottom + 4),
            style
                .transform(FontTransform::Rotate90)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    let right = x0 + columns.len() as i32 * c;
    area.draw(&Text::new(
        title.to_string(),
        (x0, y0 / 2),
        TextStyle::from((FAMILY, 16.0)).pos(Pos::new(HPos::Left, VPos::Center)),
    ))
    .map_err(plot_err)?;
    // Colour bar, then the legend of the marks, right of the grid.
    let (bx, bh) = (right + 16, (rows.len() as i32 * c).clamp(80, 300));
    for p in 0..bh {
        let t = 1.0 - p as f64 / (bh - 1).max(1) as f64;
        area.draw(&Rectangle::new(
            [(bx, y0 + p), (bx + 14, y0 + p + 1)],
            viridis_r(t).filled(),
        ))
        .map_err(plot_err)?;
    }
    let tick = TextStyle::from((FAMILY, 11.0)).pos(Pos::new(HPos::Left, VPos::Center));
    for (t, v) in [(0.0, hi), (1.0, lo)] {
        area.draw(&Text::new(
            format!("{v:.3}"),
            (bx + 18, y0 + (t * (bh - 1) as f64) as i32),
            tick.clone(),
        ))
        .map_err(plot_err)?;
    }
    let lx = bx + 70;
    for (i, m) in marks.iter().enumerate() {
        let y = y0 + i as i32 * 28;
        area.draw(&Rectangle::new(
            [(lx, y), (lx + 22, y + 22)],
            RGBColor(253, 231, 37).filled(),
        ))
        .map_err(plot_err)?;
        draw_mark(m.shape, lx, y, 22)?;
        area.draw(&Text::new(
            m.label.clone(),
            (lx + 28, y + 11),
            TextStyle::from((FAMILY, 12.0)).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_err)?;
    }
    area.present().map_err(plot_err)?;
    Ok(())
}
