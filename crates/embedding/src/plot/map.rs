//! 2-D map of embeddings (classical MDS of a distance matrix), coloured by group.

use std::path::Path;

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::FAMILY;
use super::{plot_err, save};
use crate::error::{Error, Result};

/// Options of [`embedding_map`].
#[derive(Debug, Clone, Default)]
pub struct MapOptions {
    /// Title above the map.
    pub title: Option<String>,
    /// Write each point's label next to it (default: when there are at most 40 points).
    pub annotate: Option<bool>,
}

/// Scatter `points` (`n × 2`) with a colour per distinct `groups` entry and a legend.
pub fn embedding_map(
    points: &Array2<f64>,
    labels: &[String],
    groups: &[String],
    path: &Path,
    opts: &MapOptions,
) -> Result<()> {
    let n = points.nrows();
    if points.ncols() != 2 || labels.len() != n || groups.len() != n || n == 0 {
        return Err(Error::InvalidArgument(format!(
            "map needs n × 2 points with n labels and groups (got {:?}, {} labels, {} groups)",
            points.dim(),
            labels.len(),
            groups.len()
        )));
    }
    save(
        path,
        (900, 750),
        |a| draw(&a, points, labels, groups, opts),
        |a| draw(&a, points, labels, groups, opts),
    )
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &Array2<f64>,
    labels: &[String],
    groups: &[String],
    opts: &MapOptions,
) -> Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let range = |col: usize| {
        let c = points.column(col);
        let (lo, hi) = c
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        let pad = ((hi - lo) * 0.08).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(opts.title.clone().unwrap_or_default(), (FAMILY, 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(range(0), range(1))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("MDS 1")
        .y_desc("MDS 2")
        .label_style((FAMILY, 12))
        .draw()
        .map_err(plot_err)?;
    let mut distinct: Vec<&String> = groups.iter().collect();
    distinct.sort();
    distinct.dedup();
    let annotate = opts.annotate.unwrap_or(points.nrows() <= 40);
    for (gi, group) in distinct.iter().enumerate() {
        let color = Palette99::pick(gi).to_rgba();
        let members: Vec<(f64, f64)> = (0..points.nrows())
            .filter(|&i| &groups[i] == *group)
            .map(|i| (points[[i, 0]], points[[i, 1]]))
            .collect();
        chart
            .draw_series(members.iter().map(|&p| Circle::new(p, 5, color.filled())))
            .map_err(plot_err)?
            .label(group.as_str())
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
    }
    if annotate {
        let style = TextStyle::from((FAMILY, 11)).color(&BLACK);
        chart
            .draw_series((0..points.nrows()).map(|i| {
                Text::new(
                    labels[i].clone(),
                    (points[[i, 0]], points[[i, 1]]),
                    style.clone(),
                )
            }))
            .map_err(plot_err)?;
    }
    if distinct.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 12))
            .draw()
            .map_err(plot_err)?;
    }
    area.present().map_err(plot_err)?;
    Ok(())
}
