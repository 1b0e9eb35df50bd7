//! A legend drawn in its own strip below a chart, never over the data: entries flow left to
//! right and wrap into as many rows as the figure's width needs.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::plot_err;
use crate::error::Result;

/// What stands left of an entry's text.
#[derive(Debug, Clone, Copy)]
pub(super) enum Swatch {
    /// A filled dot (scatter groups).
    Dot(RGBAColor),
    /// A short line, dashed or not (line series).
    Line { color: RGBAColor, dashed: bool },
}

/// One legend entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

const FONT_SIZE: f64 = 13.0;
const SWATCH_WIDTH: i32 = 26;
const SWATCH_GAP: i32 = 6;
const ENTRY_GAP: i32 = 22;
const ROW_HEIGHT: i32 = 20;
const PADDING: i32 = 10;

/// Entries placed in rows: each entry's top-left offset within the legend strip.
pub(super) struct Layout {
    offsets: Vec<(i32, i32)>,
    /// Pixel height of the strip (0 without entries).
    pub height: u32,
}

fn text_style() -> TextStyle<'static> {
    TextStyle::from((FAMILY, FONT_SIZE))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center))
}

/// Lay out `entries` for a strip `width` pixels wide, measuring text with `area`'s font.
pub(super) fn layout<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    width: u32,
) -> Result<Layout> {
    let style = text_style();
    let usable = width as i32 - 2 * PADDING;
    let (mut x, mut y) = (0, 0);
    let mut offsets = Vec::with_capacity(entries.len());
    for e in entries {
        let (text_w, _) = area
            .estimate_text_size(&e.label, &style)
            .map_err(plot_err)?;
        let w = SWATCH_WIDTH + SWATCH_GAP + text_w as i32;
        if x > 0 && x + w > usable {
            (x, y) = (0, y + ROW_HEIGHT);
        }
        offsets.push((PADDING + x, PADDING + y));
        x += w + ENTRY_GAP;
    }
    let height = if entries.is_empty() {
        0
    } else {
        (y + ROW_HEIGHT + 2 * PADDING) as u32
    };
    Ok(Layout { offsets, height })
}

/// Draw `entries` as laid out by [`layout`] into `strip` (the area below the chart).
pub(super) fn draw<DB: DrawingBackend>(
    strip: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    layout: &Layout,
) -> Result<()> {
    let style = text_style();
    for (e, &(x, y)) in entries.iter().zip(&layout.offsets) {
        let mid = y + ROW_HEIGHT / 2;
        match e.swatch {
            Swatch::Dot(color) => strip
                .draw(&Circle::new((x + SWATCH_WIDTH / 2, mid), 5, color.filled()))
                .map_err(plot_err)?,
            Swatch::Line { color, dashed } => {
                let line = [(x, mid), (x + SWATCH_WIDTH, mid)];
                let style = color.stroke_width(2);
                if dashed {
                    strip
                        .draw(&DashedPathElement::new(line, 5, 3, style))
                        .map_err(plot_err)?
                } else {
                    strip
                        .draw(&PathElement::new(line, style))
                        .map_err(plot_err)?
                }
            }
        }
        strip
            .draw(&Text::new(
                e.label.clone(),
                (x + SWATCH_WIDTH + SWATCH_GAP, mid),
                style.clone(),
            ))
            .map_err(plot_err)?;
    }
    Ok(())
}
