//! 2-D map of embeddings (classical MDS of a distance matrix), coloured by group, each point
//! labelled where its label covers nothing else, the legend below the map.

use std::path::Path;

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::labels::{Placement, Rect, place_labels};
use super::legend::{self, Entry, Swatch};
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

/// Scatter `points` (`n × 2`) with a colour per distinct `groups` entry and, when there are
/// several groups, a legend below the plot area.
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
        |a| draw(&a, points, labels, groups, opts).map(drop),
        |a| draw(&a, points, labels, groups, opts).map(drop),
    )
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    points: &Array2<f64>,
    labels: &[String],
    groups: &[String],
    opts: &MapOptions,
) -> Result<Vec<(i32, i32)>> {
    area.fill(&WHITE).map_err(plot_err)?;
    let mut distinct: Vec<&String> = groups.iter().collect();
    distinct.sort();
    distinct.dedup();
    let color_of = |group: &String| {
        let gi = distinct.binary_search(&group).unwrap_or(0);
        Palette99::pick(gi).to_rgba()
    };
    // The legend gets its own strip below the map: a box inside the plot area covers points.
    let entries: Vec<Entry> = if distinct.len() > 1 {
        distinct
            .iter()
            .map(|g| Entry {
                label: g.to_string(),
                swatch: Swatch::Dot(color_of(g)),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (width, height) = area.dim_in_pixel();
    let legend_layout = legend::layout(area, &entries, width)?;
    let (upper, strip) = area.split_vertically(height - legend_layout.height);

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
    let mut chart = ChartBuilder::on(&upper)
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
    let xy = |i: usize| (points[[i, 0]], points[[i, 1]]);
    let labels = if opts.annotate.unwrap_or(points.nrows() <= 40) {
        place(&upper, &chart, points, labels)?
    } else {
        Vec::new()
    };
    // Leader lines first, markers over them, text last: a leader never hides a point.
    for l in labels.iter().filter(|l| l.place.needs_leader) {
        let end = l.place.rect.nearest_point(l.point);
        upper
            .draw(&PathElement::new(
                [round(l.point), round(end)],
                RGBColor(0x90, 0x90, 0x90).stroke_width(1),
            ))
            .map_err(plot_err)?;
    }
    chart
        .draw_series(
            (0..points.nrows()).map(|i| Circle::new(xy(i), MARKER, color_of(&groups[i]).filled())),
        )
        .map_err(plot_err)?;
    for l in labels {
        upper
            .draw(&Text::new(
                l.text.clone(),
                round((l.place.rect.x0 + 1.0, l.place.rect.y0 + 1.0)),
                label_style(),
            ))
            .map_err(plot_err)?;
    }
    legend::draw(&strip, &entries, &legend_layout)?;
    area.present().map_err(plot_err)?;
    // Where the markers are (for tests: nothing may be drawn over them).
    let base = area.get_base_pixel();
    Ok((0..points.nrows())
        .map(|i| {
            let (x, y) = chart.backend_coord(&xy(i));
            (x - base.0, y - base.1)
        })
        .collect())
}

/// Marker radius in pixels.
const MARKER: i32 = 5;

/// A point's pixel position (relative to the chart's area) and where its label goes.
struct PlacedLabel<'l> {
    point: (f64, f64),
    place: Placement,
    text: &'l String,
}

fn label_style() -> TextStyle<'static> {
    TextStyle::from((FAMILY, 11))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Top))
}

fn round((x, y): (f64, f64)) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

/// Each point's label beside it, placed by [`place_labels`] so that labels overlap neither each
/// other nor a point and stay inside the plot area.
fn place<'l, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    points: &Array2<f64>,
    labels: &'l [String],
) -> Result<Vec<PlacedLabel<'l>>> {
    let style = label_style();
    // Pixel coordinates relative to `area` (the backend's are absolute).
    let base = area.get_base_pixel();
    let to_area = |(x, y): (i32, i32)| ((x - base.0) as f64, (y - base.1) as f64);
    let pixels: Vec<(f64, f64)> = (0..points.nrows())
        .map(|i| to_area(chart.backend_coord(&(points[[i, 0]], points[[i, 1]]))))
        .collect();
    let sizes: Vec<(f64, f64)> = labels
        .iter()
        .map(|l| {
            let (w, h) = area.estimate_text_size(l, &style).map_err(plot_err)?;
            Ok((w as f64 + 2.0, h as f64 + 2.0))
        })
        .collect::<Result<_>>()?;
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let (x0, y0) = to_area((xs.start, ys.start));
    let (x1, y1) = to_area((xs.end, ys.end));
    let placed = place_labels(
        &pixels,
        &sizes,
        Rect { x0, y0, x1, y1 },
        MARKER as f64 + 1.0,
    );
    Ok(pixels
        .into_iter()
        .zip(placed)
        .zip(labels)
        .map(|((point, place), text)| PlacedLabel { point, place, text })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a map whose points crowd together and sit where plotters puts its legend box (top
    /// right) and at the right edge, then checks that every marker's centre pixel still has the
    /// marker's colour: no label, leader line or legend was drawn over a point.
    #[test]
    fn nothing_is_drawn_over_a_point() {
        super::super::font::ensure_registered().unwrap();
        let mut coords: Vec<(f64, f64)> = (0..10)
            .map(|i| (0.5 + (i % 4) as f64 * 0.015, 0.5 + (i / 4) as f64 * 0.02))
            .collect();
        coords.extend([(1.0, 1.0), (1.0, 0.2), (0.0, 0.0), (0.95, 0.98)]);
        let n = coords.len();
        let points = Array2::from_shape_fn(
            (n, 2),
            |(i, c)| if c == 0 { coords[i].0 } else { coords[i].1 },
        );
        let labels: Vec<String> = (0..n)
            .map(|i| format!("suite/some-long-task-name-{i}"))
            .collect();
        let names = ["animals", "fashion", "mnist"];
        let groups: Vec<String> = (0..n).map(|i| names[i % 3].to_string()).collect();
        let size = (900u32, 750u32);
        let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
        let centres = {
            let area = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
            draw(&area, &points, &labels, &groups, &MapOptions::default()).unwrap()
        };
        for (i, &(x, y)) in centres.iter().enumerate() {
            let at = ((y as u32 * size.0 + x as u32) * 3) as usize;
            let want = Palette99::pick(i % 3).to_rgba();
            assert_eq!(
                &buf[at..at + 3],
                &[want.0, want.1, want.2],
                "point {i} at ({x}, {y}) is covered"
            );
        }
    }
}
