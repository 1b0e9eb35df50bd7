//! A line chart of named series (e.g. the top-k curves of several distances against their
//! baselines), legend below the plot area.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::FAMILY;
use super::legend::{self, Entry, Swatch};
use super::{plot_err, save};
use crate::error::{Error, Result};

/// One series of a [`line_chart`].
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points, drawn in the order given.
    pub points: Vec<(f64, f64)>,
    /// A reference line (a baseline or a bound) rather than a measurement: drawn dashed, in a
    /// grey shade, without markers, so that the measured series stand out.
    pub reference: bool,
}

/// Options of [`line_chart`].
#[derive(Debug, Clone, Default)]
pub struct LineChartOptions {
    /// Title above the chart.
    pub title: Option<String>,
    /// Text under the x axis.
    pub x_label: String,
    /// Text beside the y axis.
    pub y_label: String,
}

/// Measured series, in order (Tableau 10, the matplotlib default, without its grey).
const SERIES_COLORS: [RGBColor; 9] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];
/// Reference lines, in order.
const REFERENCE_COLORS: [RGBColor; 3] = [
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x20, 0x20, 0x20),
    RGBColor(0xb0, 0xb0, 0xb0),
];

const SIZE: (u32, u32) = (800, 520);

/// Draw `lines` to `path` (.svg or .png). The y axis starts at 0 (the quantities charted are
/// distances and errors); both axes end a little past the largest value.
pub fn line_chart(lines: &[Line], path: &Path, opts: &LineChartOptions) -> Result<()> {
    let bad = |why: String| Err(Error::InvalidArgument(why).in_file(path));
    if lines.iter().all(|l| l.points.is_empty()) {
        return bad("a line chart needs at least one point".into());
    }
    if let Some((l, (x, y))) = lines
        .iter()
        .flat_map(|l| l.points.iter().map(move |p| (l, p)))
        .find(|(_, (x, y))| !x.is_finite() || !y.is_finite())
    {
        return bad(format!("series {:?} has the point ({x}, {y})", l.name));
    }
    let colors = colors(lines);
    save(
        path,
        SIZE,
        |a| draw(&a, lines, &colors, opts),
        |a| draw(&a, lines, &colors, opts),
    )
}

fn colors(lines: &[Line]) -> Vec<RGBAColor> {
    let (mut series, mut reference) = (0, 0);
    lines
        .iter()
        .map(|l| {
            let c = if l.reference {
                reference += 1;
                REFERENCE_COLORS[(reference - 1) % REFERENCE_COLORS.len()]
            } else {
                series += 1;
                SERIES_COLORS[(series - 1) % SERIES_COLORS.len()]
            };
            c.to_rgba()
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[Line],
    colors: &[RGBAColor],
    opts: &LineChartOptions,
) -> Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let entries: Vec<Entry> = lines
        .iter()
        .zip(colors)
        .map(|(l, &color)| Entry {
            label: l.name.clone(),
            swatch: Swatch::Line {
                color,
                dashed: l.reference,
            },
        })
        .collect();
    let (width, height) = area.dim_in_pixel();
    let legend_layout = legend::layout(area, &entries, width)?;
    let (upper, strip) = area.split_vertically(height - legend_layout.height);

    let all = || lines.iter().flat_map(|l| l.points.iter());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
        (l.min(p.0), h.max(p.0))
    });
    let x_range = if x_hi > x_lo {
        x_lo..x_hi
    } else {
        x_lo - 0.5..x_hi + 0.5
    };
    let y_hi = all().fold(0.0f64, |h, p| h.max(p.1)).max(1e-9) * 1.1;
    let y_lo = all().fold(0.0f64, |l, p| l.min(p.1)) * 1.1;
    // Integer x (such as k) gets integer ticks: at most one label per unit.
    let integer_x = all().all(|p| p.0.fract() == 0.0);
    let x_labels = if integer_x {
        ((x_range.end - x_range.start) as usize + 1).clamp(2, 12)
    } else {
        10
    };

    let mut chart = ChartBuilder::on(&upper)
        .caption(opts.title.clone().unwrap_or_default(), (FAMILY, 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_lo..y_hi)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels(x_labels)
        .x_label_formatter(&|x| {
            if integer_x {
                format!("{x:.0}")
            } else {
                format!("{x}")
            }
        })
        .x_desc(opts.x_label.as_str())
        .y_desc(opts.y_label.as_str())
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_err)?;
    // Reference lines first, so that measured series are drawn over them.
    let order = (0..lines.len())
        .filter(|&i| lines[i].reference)
        .chain((0..lines.len()).filter(|&i| !lines[i].reference));
    for i in order {
        let (line, color) = (&lines[i], colors[i]);
        let style = color.stroke_width(2);
        if line.reference {
            chart
                .draw_series(DashedLineSeries::new(
                    line.points.iter().copied(),
                    6,
                    4,
                    style,
                ))
                .map_err(plot_err)?;
        } else {
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(plot_err)?;
        }
    }
    legend::draw(&strip, &entries, &legend_layout)?;
    area.present().map_err(plot_err)?;
    Ok(())
}
