//! The entity diagram: a box per entity listing its properties, arrows for to-one relations
//! (solid) and standalone relations (dashed), drawn as SVG text.
//!
//! The layout is layered and deterministic: an entity sits one layer below the lowest entity it
//! points to, so arrows mostly point up; a layer wider than [`MAX_ROW_WIDTH`] wraps into more
//! rows, and an entity's place in its layer follows the entities it points to. Text is
//! monospace so box widths can be computed without measuring.

use std::collections::BTreeMap;
use std::fmt::Write;

use shared_types::admin::schema::SchemaEntity;

const CHAR_W: f64 = 7.2;
const LABEL_CHAR_W: f64 = 6.6;
const LINE_H: f64 = 17.0;
const HEAD_H: f64 = 26.0;
const PAD: f64 = 10.0;
const GAP_X: f64 = 84.0;
const GAP_Y: f64 = 80.0;
/// Room around the boxes, also for the lanes of relations that bypass a row.
const MARGIN: f64 = 44.0;
/// Distance of a bypass lane from the outermost box, and between lanes.
const LANE_GAP: f64 = 14.0;
const MIN_BOX_W: f64 = 150.0;
/// Longest property line before it is cut with an ellipsis.
const MAX_LINE_CHARS: usize = 40;
/// Rows wrap before they get wider than this.
const MAX_ROW_WIDTH: f64 = 1100.0;

/// The diagram of `entities` as a standalone SVG document.
pub fn svg(entities: &[SchemaEntity]) -> String {
    let layout = Layout::new(entities);
    layout.render(entities)
}

/// A relation drawn as an arrow from `from` to `to` (indexes into the entity list).
struct Edge {
    from: usize,
    to: usize,
    label: String,
    standalone: bool,
}

#[derive(Clone, Copy, Default)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn cx(&self) -> f64 {
        self.x + self.w / 2.0
    }
    fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// One end of an edge on a side of a box; `along` is where the other end lies, which orders
/// the ends sharing the side.
struct EdgeEnd {
    along: f64,
    edge: usize,
    start: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

struct Layout {
    boxes: Vec<Rect>,
    /// The row of each box.
    row_of: Vec<usize>,
    /// Each row's extent (top, bottom, left of its first box, right of its last).
    rows: Vec<(f64, f64, f64, f64)>,
    edges: Vec<Edge>,
    width: f64,
    height: f64,
}

impl Layout {
    fn new(entities: &[SchemaEntity]) -> Layout {
        let index: BTreeMap<&str, usize> = entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.as_str(), i))
            .collect();
        let mut edges = Vec::new();
        for (from, entity) in entities.iter().enumerate() {
            for p in &entity.properties {
                if let Some(to) = p.relation_target.as_deref().and_then(|t| index.get(t)) {
                    edges.push(Edge {
                        from,
                        to: *to,
                        label: p.name.clone(),
                        standalone: false,
                    });
                }
            }
            for r in &entity.relations {
                if let Some(to) = r.target_entity.as_deref().and_then(|t| index.get(t)) {
                    edges.push(Edge {
                        from,
                        to: *to,
                        label: format!("{} (n:m)", r.name),
                        standalone: true,
                    });
                }
            }
        }

        let sizes: Vec<(f64, f64)> = entities.iter().map(box_size).collect();
        let ranks = ranks(entities.len(), &edges);
        let max_rank = ranks.iter().copied().max().unwrap_or(0);

        // Place layer by layer; within a layer, order by where the pointed-to entities stand.
        let mut column_of = vec![0.0f64; entities.len()];
        let mut rows: Vec<Vec<usize>> = Vec::new();
        for rank in 0..=max_rank {
            let mut layer: Vec<usize> = (0..entities.len()).filter(|&i| ranks[i] == rank).collect();
            let key = |i: usize| {
                let targets: Vec<f64> = edges
                    .iter()
                    .filter(|e| e.from == i && e.to != i && ranks[e.to] < rank)
                    .map(|e| column_of[e.to])
                    .collect();
                if targets.is_empty() {
                    f64::MAX
                } else {
                    targets.iter().sum::<f64>() / targets.len() as f64
                }
            };
            let keys: BTreeMap<usize, f64> = layer.iter().map(|&i| (i, key(i))).collect();
            layer.sort_by(|a, b| keys[a].total_cmp(&keys[b]).then(a.cmp(b)));
            let mut row = Vec::new();
            let mut row_width = 0.0;
            for i in layer {
                let w = sizes[i].0;
                if !row.is_empty() && row_width + GAP_X + w > MAX_ROW_WIDTH {
                    rows.push(std::mem::take(&mut row));
                    row_width = 0.0;
                }
                row_width += if row.is_empty() { w } else { GAP_X + w };
                column_of[i] = row.len() as f64;
                row.push(i);
            }
            if !row.is_empty() {
                rows.push(row);
            }
        }

        let row_widths: Vec<f64> = rows
            .iter()
            .map(|row| {
                row.iter().map(|&i| sizes[i].0).sum::<f64>()
                    + GAP_X * (row.len().saturating_sub(1)) as f64
            })
            .collect();
        let inner_width = row_widths.iter().copied().fold(0.0, f64::max);
        // Self relations loop out to the right of their box.
        let loop_room = if edges.iter().any(|e| e.from == e.to) {
            60.0
        } else {
            0.0
        };
        let mut boxes = vec![Rect::default(); entities.len()];
        let mut row_of = vec![0; entities.len()];
        let mut extents = Vec::with_capacity(rows.len());
        let mut y = MARGIN;
        for (r, (row, row_width)) in rows.iter().zip(&row_widths).enumerate() {
            let mut x = MARGIN + (inner_width - row_width) / 2.0;
            let height = row.iter().map(|&i| sizes[i].1).fold(0.0, f64::max);
            extents.push((y, y + height, x, x + row_width));
            for &i in row {
                row_of[i] = r;
                boxes[i] = Rect {
                    x,
                    y,
                    w: sizes[i].0,
                    h: sizes[i].1,
                };
                x += sizes[i].0 + GAP_X;
            }
            y += height + GAP_Y;
        }
        let height = if rows.is_empty() {
            2.0 * MARGIN
        } else {
            y - GAP_Y + MARGIN
        };
        Layout {
            boxes,
            row_of,
            rows: extents,
            edges,
            width: inner_width + 2.0 * MARGIN + loop_room,
            height,
        }
    }

    fn render(&self, entities: &[SchemaEntity]) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="schema-diagram" data-test="schema-diagram" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="12"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6b7a"/></marker></defs><rect width="100%" height="100%" fill="#ffffff"/>"##,
            w = self.width,
            h = self.height
        );
        let paths = self.edge_paths();
        for (edge, (d, _)) in self.edges.iter().zip(&paths) {
            let dash = if edge.standalone {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = write!(
                out,
                r##"<path class="edge" d="{d}" fill="none" stroke="#5f6b7a" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>"##
            );
        }
        for (i, entity) in entities.iter().enumerate() {
            self.render_box(&mut out, entity, self.boxes[i]);
        }
        // Labels last, so no box or line covers them.
        for (edge, (_, (x, y))) in self.edges.iter().zip(&paths) {
            let w = label_width(&edge.label);
            let _ = write!(
                out,
                r##"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="15" rx="3" fill="#ffffff" fill-opacity="0.9"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#1f6feb">{}</text>"##,
                x - w / 2.0,
                y - 8.0,
                y + 3.5,
                escape(&edge.label)
            );
        }
        out.push_str("</svg>");
        out
    }

    fn render_box(&self, out: &mut String, entity: &SchemaEntity, r: Rect) {
        let _ = write!(
            out,
            r##"<g class="entity" data-entity="{name}"><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="6" fill="#ffffff" stroke="#1f6feb" stroke-width="1.4"/><path d="M{x:.1},{hy:.1} h{w:.1}" stroke="#1f6feb"/><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{HEAD_H}" rx="6" fill="#e8f0fe"/><text x="{cx:.1}" y="{ty:.1}" text-anchor="middle" font-weight="700" fill="#1d2330">{name}</text>"##,
            name = escape(&entity.name),
            x = r.x,
            y = r.y,
            w = r.w,
            h = r.h,
            hy = r.y + HEAD_H,
            cx = r.cx(),
            ty = r.y + 17.0
        );
        for (k, p) in entity.properties.iter().enumerate() {
            let (name, ty) = property_line(p);
            let y = r.y + HEAD_H + 4.0 + LINE_H * (k as f64 + 0.75);
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{y:.1}" fill="#1d2330">{}</text><text x="{:.1}" y="{y:.1}" text-anchor="end" fill="#5f6b7a">{}</text>"##,
                r.x + PAD,
                escape(&name),
                r.x + r.w - PAD,
                escape(&ty)
            );
        }
        out.push_str("</g>");
    }

    /// Each edge's SVG path and the point for its label.
    fn edge_paths(&self) -> Vec<(String, (f64, f64))> {
        // Which side of each box every edge leaves and enters by.
        let sides: Vec<(Side, Side)> = self
            .edges
            .iter()
            .map(|e| {
                let (a, b) = (self.boxes[e.from], self.boxes[e.to]);
                if e.from == e.to {
                    (Side::Right, Side::Right)
                } else if b.bottom() <= a.y {
                    (Side::Top, Side::Bottom)
                } else if b.y >= a.bottom() {
                    (Side::Bottom, Side::Top)
                } else if b.x >= a.x {
                    (Side::Right, Side::Left)
                } else {
                    (Side::Left, Side::Right)
                }
            })
            .collect();
        // Spread the ends that share a side of a box, ordered by the other end's position.
        let mut slots: BTreeMap<(usize, Side), Vec<EdgeEnd>> = BTreeMap::new();
        for (k, (e, (from_side, to_side))) in self.edges.iter().zip(&sides).enumerate() {
            let (a, b) = (self.boxes[e.from], self.boxes[e.to]);
            let along = |r: Rect, side: Side| match side {
                Side::Top | Side::Bottom => r.cx(),
                Side::Left | Side::Right => r.y + r.h / 2.0,
            };
            slots
                .entry((e.from, *from_side))
                .or_default()
                .push(EdgeEnd {
                    along: along(b, *from_side),
                    edge: k,
                    start: true,
                });
            slots.entry((e.to, *to_side)).or_default().push(EdgeEnd {
                along: along(a, *to_side),
                edge: k,
                start: false,
            });
        }
        let mut ends = vec![((0.0, 0.0), (0.0, 0.0)); self.edges.len()];
        for ((i, side), mut list) in slots {
            list.sort_by(|a, b| {
                a.along
                    .total_cmp(&b.along)
                    .then(a.edge.cmp(&b.edge))
                    .then(a.start.cmp(&b.start))
            });
            let r = self.boxes[i];
            let n = list.len() as f64;
            for (slot, end) in list.into_iter().enumerate() {
                let f = (slot as f64 + 1.0) / (n + 1.0);
                let point = match side {
                    Side::Top => (r.x + r.w * f, r.y),
                    Side::Bottom => (r.x + r.w * f, r.bottom()),
                    Side::Left => (r.x, r.y + r.h * f),
                    Side::Right => (r.x + r.w, r.y + r.h * f),
                };
                if end.start {
                    ends[end.edge].0 = point;
                } else {
                    ends[end.edge].1 = point;
                }
            }
        }
        let mut lanes = (0usize, 0usize);
        self.edges
            .iter()
            .zip(&sides)
            .zip(ends)
            .map(|((e, (from_side, _)), ((x0, y0), (x3, y3)))| {
                if e.from == e.to {
                    let (c1, c2) = ((x0 + 50.0, y0), (x3 + 50.0, y3));
                    let (d, (_, y)) = curve((x0, y0), c1, c2, (x3, y3));
                    // The label starts just right of the box, inside the loop.
                    let half = label_width(&e.label) / 2.0;
                    return (d, (x0 + 4.0 + half, y));
                }
                if matches!(from_side, Side::Left | Side::Right) {
                    let dx = (x3 - x0) / 2.0;
                    return curve((x0, y0), (x0 + dx, y0), (x3 - dx, y3), (x3, y3));
                }
                match self.bypass(e, &mut lanes) {
                    // Around the rows in between, along a lane outside them.
                    Some((lane, top, bottom)) => {
                        let (ya, yb) = if y3 < y0 {
                            (bottom + 16.0, top - 16.0)
                        } else {
                            (top - 16.0, bottom + 16.0)
                        };
                        let (m1, m2) = ((y0 + ya) / 2.0, (yb + y3) / 2.0);
                        let d = format!(
                            "M{x0:.1},{y0:.1} C{x0:.1},{m1:.1} {lane:.1},{m1:.1} {lane:.1},{ya:.1} \
                             L{lane:.1},{yb:.1} C{lane:.1},{m2:.1} {x3:.1},{m2:.1} {x3:.1},{y3:.1}"
                        );
                        // The label sits in the gap next to the source, where no box is.
                        (d, ((x0 + lane) / 2.0, m1))
                    }
                    None => {
                        let dy = (y3 - y0) / 2.0;
                        curve((x0, y0), (x0, y0 + dy), (x3, y3 - dy), (x3, y3))
                    }
                }
            })
            .collect()
    }

    /// For an edge between rows that are not neighbours, the lane (an x outside every box of
    /// the rows in between) and the extent (top, bottom) of those rows; `None` when the rows
    /// are neighbours. `lanes` counts the lanes used on the left and right so far.
    fn bypass(&self, e: &Edge, lanes: &mut (usize, usize)) -> Option<(f64, f64, f64)> {
        let (a, b) = (self.row_of[e.from], self.row_of[e.to]);
        let between = &self.rows[a.min(b) + 1..a.max(b)];
        if between.is_empty() {
            return None;
        }
        let top = between.iter().map(|r| r.0).fold(f64::MAX, f64::min);
        let bottom = between.iter().map(|r| r.1).fold(0.0, f64::max);
        let left = between.iter().map(|r| r.2).fold(f64::MAX, f64::min);
        let right = between.iter().map(|r| r.3).fold(0.0, f64::max);
        let middle = (self.boxes[e.from].cx() + self.boxes[e.to].cx()) / 2.0;
        let lane = if middle - left <= right - middle {
            lanes.0 += 1;
            left - LANE_GAP * lanes.0 as f64
        } else {
            lanes.1 += 1;
            right + LANE_GAP * lanes.1 as f64
        };
        Some((lane.clamp(4.0, self.width - 4.0), top, bottom))
    }
}

/// The width of an edge label's background.
fn label_width(label: &str) -> f64 {
    label.chars().count() as f64 * LABEL_CHAR_W + 8.0
}

/// A cubic curve's path and its midpoint (t = 0.5), which carries the label.
fn curve(p0: (f64, f64), c1: (f64, f64), c2: (f64, f64), p3: (f64, f64)) -> (String, (f64, f64)) {
    let mid = (
        (p0.0 + 3.0 * c1.0 + 3.0 * c2.0 + p3.0) / 8.0,
        (p0.1 + 3.0 * c1.1 + 3.0 * c2.1 + p3.1) / 8.0,
    );
    let d = format!(
        "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
        p0.0, p0.1, c1.0, c1.1, c2.0, c2.1, p3.0, p3.1
    );
    (d, mid)
}

/// The layer of each entity: 0 for an entity that points nowhere, else one more than the
/// highest layer of the entities it points to. Cycles are cut where the search meets an entity
/// it is still inside.
fn ranks(n: usize, edges: &[Edge]) -> Vec<usize> {
    fn visit(i: usize, edges: &[Edge], rank: &mut [Option<usize>], active: &mut [bool]) -> usize {
        if let Some(r) = rank[i] {
            return r;
        }
        active[i] = true;
        let mut r = 0;
        for e in edges.iter().filter(|e| e.from == i && e.to != i) {
            if !active[e.to] {
                r = r.max(visit(e.to, edges, rank, active) + 1);
            }
        }
        active[i] = false;
        rank[i] = Some(r);
        r
    }
    let mut rank = vec![None; n];
    let mut active = vec![false; n];
    (0..n)
        .map(|i| visit(i, edges, &mut rank, &mut active))
        .collect()
}

/// Width and height of an entity's box.
fn box_size(entity: &SchemaEntity) -> (f64, f64) {
    let widest = entity
        .properties
        .iter()
        .map(|p| {
            let (name, ty) = property_line(p);
            name.chars().count() + ty.chars().count() + 2
        })
        .chain(std::iter::once(entity.name.chars().count() + 2))
        .max()
        .unwrap_or(0);
    let w = (widest as f64 * CHAR_W + 2.0 * PAD).max(MIN_BOX_W);
    let h = HEAD_H + 8.0 + LINE_H * entity.properties.len().max(1) as f64;
    (w, h)
}

/// A property's name (with a key for the ID) and its type (a relation's target), cut so a
/// line stays within [`MAX_LINE_CHARS`].
fn property_line(p: &shared_types::admin::schema::SchemaProperty) -> (String, String) {
    let ty = match &p.relation_target {
        Some(target) => format!("→ {target}"),
        None => p.type_name.clone(),
    };
    let mut name = p.name.clone();
    if p.flag_names.iter().any(|f| f == "ID") {
        name.push_str(" (id)");
    }
    let room = MAX_LINE_CHARS.saturating_sub(ty.chars().count() + 2).max(8);
    if name.chars().count() > room {
        name = name.chars().take(room - 1).collect::<String>() + "…";
    }
    (name, ty)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
