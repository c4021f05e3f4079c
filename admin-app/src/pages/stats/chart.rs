//! A time-series chart drawn as SVG: lines, min-max bands, time and value axes, and a legend
//! with the values at the point under the pointer (else the newest).

use leptos::html;
use leptos::prelude::*;
use shared_types::admin::stats::Unit;

use crate::format;

/// Line colours, in the order lines are added to a chart.
pub const PALETTE: [&str; 7] = [
    "#1f6feb", "#e36209", "#2e7d32", "#8250df", "#c62828", "#0a7f8c", "#9a6700",
];

/// Everything one chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    pub title: String,
    /// What the values count, for axis labels and the readout.
    pub unit: Unit,
    /// Length of one interval in milliseconds.
    pub interval_ms: i64,
    /// Intervals the x axis spans (the server's retention at this resolution).
    pub retained: u32,
    /// Start of each interval in ms since the Unix epoch, oldest first.
    pub timestamps: Vec<i64>,
    /// The last interval is still running.
    pub last_partial: bool,
    pub lines: Vec<Line>,
}

/// One series on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub color: &'static str,
    /// One value per timestamp.
    pub values: Vec<f64>,
    /// The lowest and highest sample per timestamp (gauges), drawn as a band around the line.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

impl ChartSpec {
    /// The newest value of the first line: the top of its band if it has one (so a rising
    /// gauge shows its new level at once), else its value.
    pub fn latest(&self) -> Option<f64> {
        let line = self.lines.first()?;
        match &line.band {
            Some((_, max)) => max.last().copied(),
            None => line.values.last().copied(),
        }
    }
}

/// A chart card: title, readout, the SVG plot and the legend. `test_id` becomes the card's
/// `data-test`; the card also carries `data-latest` (see [`ChartSpec::latest`]).
#[component]
pub fn Chart(
    #[prop(into)] spec: Signal<ChartSpec>,
    #[prop(into)] test_id: String,
    caption: Option<String>,
) -> impl IntoView {
    let hover = RwSignal::new(None::<usize>);
    let plot = NodeRef::<html::Div>::new();
    let geometry = Memo::new(move |_| spec.with(Geometry::of));

    let on_move = move |ev: leptos::ev::MouseEvent| {
        let Some(div) = plot.get_untracked() else {
            return;
        };
        let width = f64::from(div.client_width().max(1));
        let x = f64::from(ev.offset_x()) / width * VIEW_W;
        let index = geometry.with_untracked(|g| g.nearest(x));
        hover.set(index);
    };

    let latest = move || {
        spec.with(ChartSpec::latest)
            .map(|v| trim(v, 3))
            .unwrap_or_default()
    };
    // The point the readout and the legend show: the one under the pointer, else the newest.
    let shown = move |s: &ChartSpec| {
        hover
            .get()
            .or_else(|| s.timestamps.len().checked_sub(1))
            .filter(|i| *i < s.timestamps.len())
    };
    let readout = move || spec.with(|s| shown(s).and_then(|i| point_time(s, i)));
    let legend = move || {
        spec.with(|s| {
            let index = shown(s);
            s.lines
                .iter()
                .map(|line| {
                    let value = index
                        .and_then(|i| line.values.get(i))
                        .map(|v| value_text(*v, s.unit));
                    let band = line.band.as_ref().map(|(lo, hi)| {
                        let range =
                            index
                                .and_then(|i| Some((lo.get(i)?, hi.get(i)?)))
                                .map(|(lo, hi)| {
                                    format!(
                                        "{}–{}",
                                        value_text(*lo, s.unit),
                                        value_text(*hi, s.unit)
                                    )
                                });
                        view! {
                            <span>
                                <span class="swatch band" style:background=line.color></span>
                                "min–max "
                                <strong>{range}</strong>
                            </span>
                        }
                    });
                    view! {
                        <span>
                            <span class="swatch" style:background=line.color></span>
                            {line.label.clone()} " "
                            <strong>{value}</strong>
                        </span>
                        {band}
                    }
                })
                .collect_view()
        })
    };

    view! {
        <div class="chart" data-test=test_id data-latest=latest>
            <h3>{move || spec.with(|s| s.title.clone())}</h3>
            {caption.map(|c| view! { <div class="chart-caption">{c}</div> })}
            <div class="chart-readout">{readout}</div>
            <div
                class="chart-plot"
                node_ref=plot
                on:mousemove=on_move
                on:mouseleave=move |_| hover.set(None)
            >
                {move || spec.with(|s| geometry.with(|g| svg(s, g, hover.get())))}
            </div>
            <div class="legend">{legend}</div>
        </div>
    }
}

// Helpers below.

/// The SVG's coordinate system; the element scales to the card's width.
const VIEW_W: f64 = 420.0;
const VIEW_H: f64 = 190.0;
const MARGIN_TOP: f64 = 8.0;
const MARGIN_RIGHT: f64 = 12.0;
const MARGIN_BOTTOM: f64 = 22.0;
/// Value axis ticks aimed for (the nice rounding may give one more or less).
const Y_TICKS: f64 = 4.0;
/// Width of one character of an axis label, to size the left margin.
const CHAR_W: f64 = 6.2;

/// Where everything goes: the plot area, both scales and the tick labels.
#[derive(Debug, Clone, PartialEq)]
struct Geometry {
    left: f64,
    /// Time at the left and right edge of the plot, ms.
    t0: f64,
    t1: f64,
    y0: f64,
    y1: f64,
    y_ticks: Vec<(f64, String)>,
    x_ticks: Vec<(f64, String)>,
    timestamps: Vec<i64>,
}

impl Geometry {
    fn of(spec: &ChartSpec) -> Geometry {
        let iv = spec.interval_ms.max(1);
        let t1 = spec.timestamps.last().copied().unwrap_or_else(now_ms);
        let span = iv * i64::from(spec.retained.max(2) - 1);
        let t0 = t1 - span;

        let values = spec.lines.iter().flat_map(|l| {
            let band = l.band.iter().flat_map(|(lo, hi)| lo.iter().chain(hi));
            l.values.iter().chain(band).copied()
        });
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        // Counts start at zero; a sequence number is read against its own recent range.
        let lo = if spec.unit == Unit::Seq && lo.is_finite() {
            lo
        } else {
            0.0
        };
        let hi = if hi.is_finite() { hi } else { 0.0 };
        let (y0, y1, step) = nice_scale(lo, hi, spec.unit);
        let mut y_ticks = Vec::new();
        let mut v = y0;
        while v <= y1 + step / 2.0 {
            y_ticks.push((v, axis_value(v, spec.unit)));
            v += step;
        }
        let widest = y_ticks
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(1);
        let left = 10.0 + CHAR_W * widest as f64;

        let (every, style) = x_tick_style(iv);
        let offset = if style == TimeStyle::Date {
            0
        } else {
            local_offset_ms()
        };
        let step = iv * every;
        let mut x_ticks = Vec::new();
        let mut t = (t0 + offset).div_euclid(step) * step - offset;
        while t <= t1 {
            if t >= t0 {
                x_ticks.push((t as f64, time_label(t, style)));
            }
            t += step;
        }

        Geometry {
            left,
            t0: t0 as f64,
            t1: t1 as f64,
            y0,
            y1,
            y_ticks,
            x_ticks,
            timestamps: spec.timestamps.clone(),
        }
    }

    fn x(&self, t: f64) -> f64 {
        let width = VIEW_W - MARGIN_RIGHT - self.left;
        self.left + (t - self.t0) / (self.t1 - self.t0).max(1.0) * width
    }

    fn y(&self, v: f64) -> f64 {
        let height = VIEW_H - MARGIN_TOP - MARGIN_BOTTOM;
        VIEW_H - MARGIN_BOTTOM - (v - self.y0) / (self.y1 - self.y0).max(f64::EPSILON) * height
    }

    /// The point nearest to the SVG x coordinate `x`, if `x` is over the plot.
    fn nearest(&self, x: f64) -> Option<usize> {
        if x < self.left - 4.0 || self.timestamps.is_empty() {
            return None;
        }
        let width = VIEW_W - MARGIN_RIGHT - self.left;
        let t = self.t0 + (x - self.left) / width * (self.t1 - self.t0);
        self.timestamps
            .iter()
            .enumerate()
            .min_by(|(_, a), (_, b)| (**a as f64 - t).abs().total_cmp(&(**b as f64 - t).abs()))
            .map(|(i, _)| i)
    }
}

fn svg(spec: &ChartSpec, g: &Geometry, hover: Option<usize>) -> impl IntoView + use<> {
    let bottom = VIEW_H - MARGIN_BOTTOM;
    let right = VIEW_W - MARGIN_RIGHT;
    let grid = g
        .y_ticks
        .iter()
        .map(|(v, label)| {
            let y = g.y(*v);
            view! {
                <line class="grid" x1=g.left x2=right y1=y y2=y></line>
                <text class="axis-label" x=g.left - 5.0 y=y + 3.5 text-anchor="end">
                    {label.clone()}
                </text>
            }
        })
        .collect_view();
    let x_ticks = g
        .x_ticks
        .iter()
        .map(|(t, label)| {
            let x = g.x(*t);
            // A label that would stick out of the picture is left off; its tick stays.
            let half = label.chars().count() as f64 * CHAR_W / 2.0;
            let label = (x - half >= 0.0 && x + half <= VIEW_W).then(|| label.clone());
            view! {
                <line class="axis" x1=x x2=x y1=bottom y2=bottom + 4.0></line>
                <text class="axis-label" x=x y=bottom + 15.0 text-anchor="middle">
                    {label}
                </text>
            }
        })
        .collect_view();
    let empty = spec.timestamps.is_empty().then(|| {
        view! {
            <text class="empty-label" x=(g.left + right) / 2.0 y=VIEW_H / 2.0 text-anchor="middle">
                "No data at this resolution yet"
            </text>
        }
    });
    let segments = segments(&spec.timestamps, spec.interval_ms);
    let lines = spec
        .lines
        .iter()
        .map(|line| draw_line(spec, g, &segments, line))
        .collect_view();
    let guide = hover.and_then(|i| spec.timestamps.get(i)).map(|t| {
        let x = g.x(*t as f64);
        view! { <line class="guide" x1=x x2=x y1=MARGIN_TOP y2=bottom></line> }
    });

    view! {
        <svg
            viewBox=format!("0 0 {VIEW_W} {VIEW_H}")
            role="img"
            aria-label=spec.title.clone()
            preserveAspectRatio="xMidYMid meet"
        >
            {grid}
            <line class="axis" x1=g.left x2=right y1=bottom y2=bottom></line>
            <line class="axis" x1=g.left x2=g.left y1=MARGIN_TOP y2=bottom></line>
            {x_ticks}
            {lines}
            {guide}
            {empty}
        </svg>
    }
}

/// One line: its band (if any), the finished intervals solid, the running one dashed, and a dot
/// on the newest point.
fn draw_line(
    spec: &ChartSpec,
    g: &Geometry,
    segments: &[(usize, usize)],
    line: &Line,
) -> impl IntoView + use<> {
    let n = spec.timestamps.len();
    let consistent = line.values.len() == n
        && line
            .band
            .as_ref()
            .is_none_or(|(lo, hi)| lo.len() == n && hi.len() == n);
    if n == 0 || !consistent {
        return ().into_any();
    }
    let points = |values: &[f64], a: usize, b: usize| -> Vec<(f64, f64)> {
        spec.timestamps[a..=b]
            .iter()
            .zip(&values[a..=b])
            .map(|(t, v)| (g.x(*t as f64), g.y(*v)))
            .collect()
    };
    let band = line.band.as_ref().map(|(lo, hi)| {
        let d: String = segments
            .iter()
            .map(|&(a, b)| {
                let mut outline = points(hi, a, b);
                outline.extend(points(lo, a, b).into_iter().rev());
                // A lone interval gets a narrow bar instead of a flat outline.
                if a == b {
                    let ((x, top), (_, low)) = (outline[0], outline[1]);
                    outline = vec![
                        (x - 3.0, top),
                        (x + 3.0, top),
                        (x + 3.0, low),
                        (x - 3.0, low),
                    ];
                }
                format!("{}Z", path(&outline))
            })
            .collect();
        view! { <path class="band" d=d fill=line.color></path> }
    });
    // The running interval is drawn apart, dashed, as its value still grows.
    let solid_end = if spec.last_partial && n >= 2 {
        n - 2
    } else {
        n - 1
    };
    let d: String = segments
        .iter()
        .filter(|&&(a, _)| a <= solid_end)
        .map(|&(a, b)| path(&points(&line.values, a, b.min(solid_end))))
        .collect();
    let running = (solid_end < n - 1 && segments.iter().any(|&(a, b)| a < n - 1 && b == n - 1))
        .then(|| {
            let d = path(&points(&line.values, n - 2, n - 1));
            view! { <path class="line running" d=d stroke=line.color></path> }
        });
    let (x, y) = points(&line.values, n - 1, n - 1)[0];
    view! {
        {band}
        <path class="line" d=d stroke=line.color></path>
        {running}
        <circle cx=x cy=y r="2.5" fill=line.color></circle>
    }
    .into_any()
}

/// An SVG path through `points`.
fn path(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { 'M' } else { 'L' }))
        .collect()
}

/// Runs of consecutive intervals `(first, last)`: a missing interval (the server was not
/// running) breaks the line.
fn segments(timestamps: &[i64], interval_ms: i64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=timestamps.len() {
        if i == timestamps.len() || timestamps[i] - timestamps[i - 1] > interval_ms {
            out.push((start, i - 1));
            start = i;
        }
    }
    out
}

/// The time of one point, above the plot.
fn point_time(spec: &ChartSpec, i: usize) -> Option<String> {
    let (_, style) = x_tick_style(spec.interval_ms);
    let mut out = time_label(*spec.timestamps.get(i)?, style.long());
    if spec.last_partial && i + 1 == spec.timestamps.len() {
        out.push_str(" (running)");
    }
    Some(out)
}

/// A value in the legend: exact, with its unit.
fn value_text(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => format::bytes(v.max(0.0) as u64),
        _ if v.fract() == 0.0 && v >= 0.0 => format::count(v as u64),
        _ => trim(v, 2),
    }
}

/// A value on the axis: short (`1.5k`, `2 MiB`).
fn axis_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Bytes => {
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut v = v;
            let mut u = 0;
            while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
                v /= 1024.0;
                u += 1;
            }
            format!("{} {}", trim(v, 1), UNITS[u])
        }
        Unit::Seq => format::count(v.max(0.0) as u64),
        Unit::Count | Unit::Clients => {
            let (scaled, suffix) = if v.abs() >= 1e9 {
                (v / 1e9, "G")
            } else if v.abs() >= 1e6 {
                (v / 1e6, "M")
            } else if v.abs() >= 1e4 {
                (v / 1e3, "k")
            } else {
                (v, "")
            };
            format!("{}{suffix}", trim(scaled, 1))
        }
    }
}

/// `v` with at most `decimals` decimals and no trailing zeros.
fn trim(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// A value range `(low, high, step)` covering `lo..=hi` with round steps: 1, 2, 2.5 or 5 times
/// a power of ten (of 1024 for bytes), whole numbers for counts.
fn nice_scale(lo: f64, hi: f64, unit: Unit) -> (f64, f64, f64) {
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON {
        (lo, lo + 1.0)
    } else {
        (lo, hi)
    };
    let base = if unit == Unit::Bytes {
        let mut base = 1.0;
        while hi / base >= 1024.0 {
            base *= 1024.0;
        }
        base
    } else {
        1.0
    };
    let raw = (hi - lo) / base / Y_TICKS;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normal = raw / magnitude;
    let nice = if normal <= 1.0 {
        1.0
    } else if normal <= 2.0 {
        2.0
    } else if normal <= 2.5 {
        2.5
    } else if normal <= 5.0 {
        5.0
    } else {
        10.0
    };
    // Counts, clients and sequence numbers are whole.
    let step = (nice * magnitude * base).max(1.0);
    ((lo / step).floor() * step, (hi / step).ceil() * step, step)
}

/// How times on the x axis are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeStyle {
    Seconds,
    Minutes,
    /// UTC dates: day intervals are UTC days.
    Date,
    /// Date and minutes, for the readout of hour intervals.
    DateMinutes,
}

impl TimeStyle {
    /// The style of the readout, which has room for more.
    fn long(self) -> TimeStyle {
        match self {
            TimeStyle::Minutes => TimeStyle::DateMinutes,
            other => other,
        }
    }
}

/// Every how many intervals a tick goes, and how it is written.
fn x_tick_style(interval_ms: i64) -> (i64, TimeStyle) {
    match interval_ms {
        ..=1_000 => (10, TimeStyle::Seconds),
        1_001..=60_000 => (10, TimeStyle::Minutes),
        60_001..=3_600_000 => (4, TimeStyle::Minutes),
        _ => (5, TimeStyle::Date),
    }
}

fn time_label(ms: i64, style: TimeStyle) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    match style {
        TimeStyle::Seconds => format!(
            "{:02}:{:02}:{:02}",
            date.get_hours(),
            date.get_minutes(),
            date.get_seconds()
        ),
        TimeStyle::Minutes => format!("{:02}:{:02}", date.get_hours(), date.get_minutes()),
        TimeStyle::DateMinutes => format!(
            "{:02}-{:02} {:02}:{:02}",
            date.get_month() + 1,
            date.get_date(),
            date.get_hours(),
            date.get_minutes()
        ),
        TimeStyle::Date => format!("{:02}-{:02}", date.get_utc_month() + 1, date.get_utc_date()),
    }
}

/// Local time minus UTC in ms, so that ticks fall on round local times.
fn local_offset_ms() -> i64 {
    let minutes = js_sys::Date::new_0().get_timezone_offset();
    -(minutes as i64) * 60_000
}

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}
