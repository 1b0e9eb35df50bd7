//! Placing point labels so that they neither overlap each other nor cover a point, and stay
//! inside the plot area: greedy, deterministic, in pixel coordinates (no plotting here, so it is
//! testable on its own).

/// An axis-aligned pixel rectangle: `x0 <= x < x1`, `y0 <= y < y1` (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    fn overlap(&self, o: &Rect) -> f64 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        w * h
    }
    /// This rectangle moved (not resized) so that it lies inside `bounds` where it fits.
    fn clamped_into(self, bounds: &Rect) -> Rect {
        let dx = if self.x0 < bounds.x0 {
            bounds.x0 - self.x0
        } else if self.x1 > bounds.x1 {
            (bounds.x1 - self.x1).max(bounds.x0 - self.x0)
        } else {
            0.0
        };
        let dy = if self.y0 < bounds.y0 {
            bounds.y0 - self.y0
        } else if self.y1 > bounds.y1 {
            (bounds.y1 - self.y1).max(bounds.y0 - self.y0)
        } else {
            0.0
        };
        Rect {
            x0: self.x0 + dx,
            y0: self.y0 + dy,
            x1: self.x1 + dx,
            y1: self.y1 + dy,
        }
    }
    /// The point of the rectangle closest to `p` (where a leader line ends).
    pub fn nearest_point(&self, p: (f64, f64)) -> (f64, f64) {
        (p.0.clamp(self.x0, self.x1), p.1.clamp(self.y0, self.y1))
    }
}

/// Where a label ended up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Placement {
    /// The label's box (text drawn from its top-left corner).
    pub rect: Rect,
    /// Set when the label had to move away from its point: draw a line from the point to it.
    pub needs_leader: bool,
}

/// Directions tried around a point, in order of preference: right (the usual place), left,
/// above, below, then the diagonals. Unit steps in x and y.
const DIRECTIONS: [(f64, f64); 8] = [
    (1.0, 0.0),
    (-1.0, 0.0),
    (0.0, -1.0),
    (0.0, 1.0),
    (1.0, -1.0),
    (-1.0, -1.0),
    (1.0, 1.0),
    (-1.0, 1.0),
];
/// Rings of candidate positions, each `RING_STEP` pixels further out than the last.
const RINGS: usize = 8;
const RING_STEP: f64 = 14.0;
/// A label further than this (beyond the marker) from its point gets a leader line.
const LEADER_SLACK: f64 = 6.0;

/// Place one label of size `sizes[i]` (width, height) per point `points[i]`, inside `bounds`.
///
/// Greedy and deterministic: labels are placed one after another, those of the most crowded
/// points first (crowding = number of other points within `crowd_radius`, ties by index). For
/// each label the candidates are the 8 directions around its point at growing distances, each
/// moved inside `bounds`; the first candidate that covers no placed label and no point (a
/// square of half-side `marker` around each) wins. When none is free the one with the least
/// covered area wins (a crowded map still gets every label, overlapping as little as possible).
pub(super) fn place_labels(
    points: &[(f64, f64)],
    sizes: &[(f64, f64)],
    bounds: Rect,
    marker: f64,
) -> Vec<Placement> {
    assert_eq!(points.len(), sizes.len(), "one size per label");
    let n = points.len();
    let markers: Vec<Rect> = points
        .iter()
        .map(|&(x, y)| Rect {
            x0: x - marker,
            y0: y - marker,
            x1: x + marker,
            y1: y + marker,
        })
        .collect();
    let crowd_radius = 4.0 * RING_STEP;
    let crowding = |i: usize| {
        points
            .iter()
            .filter(|&&q| {
                let (dx, dy) = (q.0 - points[i].0, q.1 - points[i].1);
                (dx * dx + dy * dy).sqrt() < crowd_radius
            })
            .count()
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(crowding(i)), i));

    let mut placed: Vec<Option<Placement>> = vec![None; n];
    let mut taken: Vec<Rect> = Vec::with_capacity(n);
    for i in order {
        let (px, py) = points[i];
        let (w, h) = sizes[i];
        let mut best: Option<(f64, Placement)> = None;
        'search: for ring in 0..RINGS {
            let gap = marker + 3.0 + ring as f64 * RING_STEP;
            for (dx, dy) in DIRECTIONS {
                // The label's box sits on the side (dx, dy) of the point, `gap` pixels away,
                // centred on the point along an axis where the direction is 0.
                let x0 = match dx {
                    d if d > 0.0 => px + gap,
                    d if d < 0.0 => px - gap - w,
                    _ => px - w / 2.0,
                };
                let y0 = match dy {
                    d if d > 0.0 => py + gap,
                    d if d < 0.0 => py - gap - h,
                    _ => py - h / 2.0,
                };
                let rect = Rect {
                    x0,
                    y0,
                    x1: x0 + w,
                    y1: y0 + h,
                }
                .clamped_into(&bounds);
                let covered: f64 = taken.iter().chain(&markers).map(|r| rect.overlap(r)).sum();
                let (nx, ny) = rect.nearest_point((px, py));
                let candidate = Placement {
                    rect,
                    needs_leader: (nx - px).hypot(ny - py) > marker + LEADER_SLACK,
                };
                if covered == 0.0 {
                    best = Some((0.0, candidate));
                    break 'search;
                }
                if best.is_none_or(|(c, _)| covered < c) {
                    best = Some((covered, candidate));
                }
            }
        }
        let (_, placement) = best.expect("at least one candidate is tried");
        taken.push(placement.rect);
        placed[i] = Some(placement);
    }
    placed
        .into_iter()
        .map(|p| p.expect("every label placed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Rect = Rect {
        x0: 0.0,
        y0: 0.0,
        x1: 400.0,
        y1: 300.0,
    };

    fn overlaps(a: &Rect, b: &Rect) -> bool {
        a.overlap(b) > 0.0
    }

    fn inside(r: &Rect, b: &Rect) -> bool {
        r.x0 >= b.x0 && r.y0 >= b.y0 && r.x1 <= b.x1 && r.y1 <= b.y1
    }

    #[test]
    fn a_lone_label_goes_right_of_its_point() {
        let p = place_labels(&[(100.0, 100.0)], &[(60.0, 12.0)], BOUNDS, 5.0);
        assert_eq!(p[0].rect.x0, 108.0);
        assert_eq!(p[0].rect.y0, 94.0);
        assert!(!p[0].needs_leader);
    }

    #[test]
    fn a_label_at_the_right_edge_stays_inside() {
        let p = place_labels(&[(395.0, 150.0)], &[(120.0, 12.0)], BOUNDS, 5.0);
        assert!(inside(&p[0].rect, &BOUNDS), "{:?}", p[0]);
        // ... and does not cover its own point.
        assert!(p[0].rect.x1 <= 390.0, "{:?}", p[0]);
    }

    #[test]
    fn labels_of_a_tight_cluster_neither_overlap_nor_cover_points() {
        // Ten points within 20 px of each other, long labels: the situation of E1-map.png.
        let points: Vec<(f64, f64)> = (0..10)
            .map(|i| (200.0 + (i % 4) as f64 * 6.0, 150.0 + (i / 4) as f64 * 7.0))
            .collect();
        let sizes = vec![(110.0, 13.0); 10];
        let placed = place_labels(&points, &sizes, BOUNDS, 5.0);
        for (i, a) in placed.iter().enumerate() {
            assert!(inside(&a.rect, &BOUNDS), "label {i} {a:?}");
            for b in &placed[i + 1..] {
                assert!(!overlaps(&a.rect, &b.rect), "{a:?} overlaps {b:?}");
            }
            for &(x, y) in &points {
                let m = Rect {
                    x0: x - 5.0,
                    y0: y - 5.0,
                    x1: x + 5.0,
                    y1: y + 5.0,
                };
                assert!(!overlaps(&a.rect, &m), "label {i} covers point ({x}, {y})");
            }
        }
        assert!(placed.iter().any(|p| p.needs_leader));
    }

    #[test]
    fn placement_is_deterministic() {
        let points: Vec<(f64, f64)> = (0..15)
            .map(|i| (50.0 + (i * 37 % 300) as f64, 40.0 + (i * 53 % 220) as f64))
            .collect();
        let sizes: Vec<(f64, f64)> = (0..15).map(|i| (40.0 + i as f64 * 5.0, 12.0)).collect();
        assert_eq!(
            place_labels(&points, &sizes, BOUNDS, 4.0),
            place_labels(&points, &sizes, BOUNDS, 4.0)
        );
    }
}
