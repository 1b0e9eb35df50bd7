//! The clustered distance-matrix heatmap (REF's `plot_distance_matrix`: complete linkage,
//! optimal leaf ordering, `viridis_r`, task labels on both axes).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::{plot_err, save};
use crate::cluster::{LeafOrdering, Linkage, ordered_leaves};
use crate::error::Result;
use crate::matrix::LabeledMatrix;

/// Options of [`distance_heatmap`].
#[derive(Debug, Clone)]
pub struct HeatmapOptions {
    /// Title above the matrix.
    pub title: Option<String>,
    /// Reorder rows/columns by hierarchical clustering (REF does, with complete linkage).
    pub cluster: bool,
    /// Linkage used when clustering.
    pub linkage: Linkage,
    /// Leaf ordering used when clustering.
    pub ordering: LeafOrdering,
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions {
            title: None,
            cluster: true,
            linkage: Linkage::Complete,
            ordering: LeafOrdering::Optimal,
        }
    }
}

/// viridis reversed: small distances yellow, large ones dark purple.
pub(super) fn viridis_r(t: f64) -> RGBColor {
    ViridisRGB.get_color((1.0 - t.clamp(0.0, 1.0)) as f32)
}

/// Draw `m` (clustered unless disabled) to `path` (.svg or .png). Returns the row order used.
pub fn distance_heatmap(
    m: &LabeledMatrix,
    path: &Path,
    opts: &HeatmapOptions,
) -> Result<Vec<usize>> {
    let n = m.labels.len();
    let order = if opts.cluster && n >= 2 {
        ordered_leaves(&m.values, opts.linkage, opts.ordering).map_err(|e| e.in_file(path))?
    } else {
        (0..n).collect()
    };
    let geom = Geometry::new(m, opts);
    let size = geom.canvas();
    save(
        path,
        size,
        |a| draw(&a, m, &order, &geom, opts),
        |a| draw(&a, m, &order, &geom, opts),
    )?;
    Ok(order)
}

/// Pixel layout, chosen from the number of tasks and the label lengths.
struct Geometry {
    n: usize,
    cell: u32,
    font: u32,
    left: u32,
    top: u32,
    bottom: u32,
    right: u32,
}

impl Geometry {
    fn new(m: &LabeledMatrix, opts: &HeatmapOptions) -> Self {
        let n = m.labels.len().max(1);
        let cell = (800 / n as u32).clamp(3, 40);
        let font = ((cell as f64 * 0.8) as u32).clamp(0, 14);
        let show_labels = font >= 6;
        let longest = m
            .labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0) as u32;
        let label_px = if show_labels {
            longest * font * 6 / 10 + 12
        } else {
            8
        };
        Geometry {
            n,
            cell,
            font,
            left: label_px.max(20),
            top: if opts.title.is_some() { 40 } else { 12 },
            bottom: label_px.max(20),
            right: 110,
        }
    }

    fn canvas(&self) -> (u32, u32) {
        let side = self.cell * self.n as u32;
        (self.left + side + self.right, self.top + side + self.bottom)
    }
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: &LabeledMatrix,
    order: &[usize],
    g: &Geometry,
    opts: &HeatmapOptions,
) -> Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let n = order.len();
    // Colour scale over the off-diagonal values (the zero diagonal would flatten it).
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for ((i, j), &v) in m.values.indexed_iter() {
        if i != j || n == 1 {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    let norm = |v: f64| (v - lo) / span;
    let (c, x0, y0) = (g.cell as i32, g.left as i32, g.top as i32);
    for (r, &i) in order.iter().enumerate() {
        for (k, &j) in order.iter().enumerate() {
            let (x, y) = (x0 + k as i32 * c, y0 + r as i32 * c);
            let rect = Rectangle::new(
                [(x, y), (x + c, y + c)],
                viridis_r(norm(m.values[[i, j]])).filled(),
            );
            area.draw(&rect).map_err(plot_err)?;
        }
    }
    let side = c * n as i32;
    if g.font >= 6 {
        let style = TextStyle::from((FAMILY, g.font as f64)).color(&BLACK);
        let row_style = style.pos(Pos::new(HPos::Right, VPos::Center));
        let col_style = style
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (r, &i) in order.iter().enumerate() {
            let mid = r as i32 * c + c / 2;
            area.draw(&Text::new(
                m.labels[i].clone(),
                (x0 - 4, y0 + mid),
                row_style.clone(),
            ))
            .map_err(plot_err)?;
            area.draw(&Text::new(
                m.labels[i].clone(),
                (x0 + mid, y0 + side + 4),
                col_style.clone(),
            ))
            .map_err(plot_err)?;
        }
    }
    if let Some(title) = &opts.title {
        let style = TextStyle::from((FAMILY, 18.0)).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new(title.clone(), (x0 + side / 2, y0 / 2), style))
            .map_err(plot_err)?;
    }
    // Colour bar with three ticks.
    let (bx, bw, bh) = (x0 + side + 20, 16, side.max(60));
    for p in 0..bh {
        let t = 1.0 - p as f64 / (bh - 1).max(1) as f64;
        area.draw(&Rectangle::new(
            [(bx, y0 + p), (bx + bw, y0 + p + 1)],
            viridis_r(t).filled(),
        ))
        .map_err(plot_err)?;
    }
    let tick = TextStyle::from((FAMILY, 11.0)).pos(Pos::new(HPos::Left, VPos::Center));
    for (t, v) in [(0.0, hi), (0.5, lo + span / 2.0), (1.0, lo)] {
        let y = y0 + (t * (bh - 1) as f64) as i32;
        area.draw(&Text::new(
            format!("{v:.3}"),
            (bx + bw + 4, y),
            tick.clone(),
        ))
        .map_err(plot_err)?;
    }
    area.present().map_err(plot_err)?;
    Ok(())
}
