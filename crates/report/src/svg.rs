//! Chart primitives for the HTML reports: inline SVG text drawn by our own code (no scripts, no
//! network), with axes, units and a legend. Numbers are printed with fixed decimals so the same
//! data gives the same bytes.

use std::fmt::Write as _;

use asim_core::math;

/// Colours for series, in order (colour-blind-friendly Tableau 10).
pub const PALETTE: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#bab0ac",
];

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escape text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A coordinate, 1 decimal (sub-pixel precision is noise).
fn c(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// `1h30m`, `45m`, `90s`, `2d`: a time-axis label.
pub fn fmt_time(s: f64) -> String {
    let s = s.round() as i64;
    if s == 0 {
        return "0".into();
    }
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut o = String::new();
    if d > 0 {
        let _ = write!(o, "{d}d");
    }
    if h > 0 {
        let _ = write!(o, "{h}h");
    }
    if m > 0 {
        let _ = write!(o, "{m}m");
    }
    if sec > 0 {
        let _ = write!(o, "{sec}s");
    }
    o
}

/// A number for a tick or a table: no more decimals than `step` needs.
pub fn fmt_num(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-math::log10(step)).ceil().clamp(0.0, 6.0) as usize
    };
    let s = format!("{v:.decimals$}");
    if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// Ticks at 1, 2 or 5 × 10^k covering [0, max], about `n` of them.
pub fn nice_ticks(max: f64, n: usize) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / n.max(1) as f64;
    let mag = math::pow(10.0, math::log10(raw).floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let top = (max / step).ceil() * step;
    let count = (top / step).round() as usize;
    (step, (0..=count).map(|i| i as f64 * step).collect())
}

/// Time ticks at round durations, about `n` of them over [0, max] seconds.
pub fn time_ticks(max: f64, n: usize) -> Vec<f64> {
    const STEPS: &[f64] = &[
        1.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0, 604_800.0,
    ];
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let step = STEPS
        .iter()
        .copied()
        .find(|s| max / s <= n as f64)
        .unwrap_or(604_800.0);
    let count = (max / step).floor() as usize;
    (0..=count).map(|i| i as f64 * step).collect()
}

/// What one series draws.
#[derive(Clone, Debug)]
pub enum Shape {
    Line,
    /// Horizontal then vertical (a CDF, a count that holds until the next sample).
    Step,
    Dashed,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    pub shape: Shape,
}

/// A band between two curves (a stacked area).
#[derive(Clone, Debug)]
pub struct Band {
    pub name: String,
    pub color: String,
    /// (x, lower, upper)
    pub points: Vec<(f64, f64, f64)>,
}

/// An x–y chart: lines, stacked bands, vertical markers.
#[derive(Clone, Debug)]
pub struct XyChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// The x axis is simulated seconds, labelled as durations.
    pub x_time: bool,
    pub x_max: Option<f64>,
    pub y_max: Option<f64>,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    /// (x, label): dashed vertical lines (timeline steps).
    pub markers: Vec<(f64, String)>,
}

pub const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 46.0;

impl XyChart {
    pub fn new(title: &str, x_label: &str, y_label: &str, x_time: bool) -> XyChart {
        XyChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_time,
            x_max: None,
            y_max: None,
            series: Vec::new(),
            bands: Vec::new(),
            markers: Vec::new(),
        }
    }

    pub fn line(&mut self, name: &str, color: &str, points: Vec<(f64, f64)>, shape: Shape) {
        self.series.push(Series {
            name: name.into(),
            color: color.into(),
            points,
            shape,
        });
    }

    /// Stack `layers` (name, colour, y per x) on top of each other over `xs`.
    pub fn stacked(&mut self, xs: &[f64], layers: Vec<(String, String, Vec<f64>)>) {
        let mut base = vec![0.0; xs.len()];
        for (name, color, ys) in layers {
            let points = xs
                .iter()
                .zip(&base)
                .zip(&ys)
                .map(|((x, lo), y)| (*x, *lo, lo + y))
                .collect::<Vec<_>>();
            for (b, y) in base.iter_mut().zip(&ys) {
                *b += y;
            }
            self.bands.push(Band {
                name,
                color,
                points,
            });
        }
    }

    pub fn render(&self) -> String {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)));
        let x_max = self
            .x_max
            .unwrap_or_else(|| xs.fold(0.0, f64::max))
            .max(1e-9);
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.bands.iter().flat_map(|b| b.points.iter().map(|p| p.2)));
        let data_y = ys.fold(0.0, f64::max);
        let (y_step, y_ticks) = nice_ticks(self.y_max.unwrap_or(data_y), 5);
        let y_top = y_ticks.last().copied().unwrap_or(1.0).max(1e-9);
        let pw = WIDTH - LEFT - RIGHT;
        let ph = HEIGHT - TOP - BOTTOM;
        let sx = |x: f64| LEFT + (x / x_max).clamp(0.0, 1.0) * pw;
        let sy = |y: f64| TOP + ph - (y / y_top).clamp(0.0, 1.0) * ph;

        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}" font-family="sans-serif" font-size="11">"#,
            c(WIDTH),
            c(HEIGHT),
            c(WIDTH),
            c(HEIGHT),
            esc(&self.title)
        );
        let _ = write!(
            o,
            r#"<text x="{}" y="16" font-size="13" font-weight="bold">{}</text>"#,
            c(LEFT),
            esc(&self.title)
        );
        // Legend, right-aligned on the title line's next row.
        let names: Vec<(&str, &str)> = self
            .bands
            .iter()
            .map(|b| (b.name.as_str(), b.color.as_str()))
            .chain(
                self.series
                    .iter()
                    .map(|s| (s.name.as_str(), s.color.as_str())),
            )
            .filter(|(n, _)| !n.is_empty())
            .collect();
        let mut lx = LEFT;
        for (name, col) in &names {
            let _ = write!(
                o,
                r#"<rect x="{}" y="23" width="10" height="10" fill="{}"/><text x="{}" y="32">{}</text>"#,
                c(lx),
                col,
                c(lx + 14.0),
                esc(name)
            );
            lx += 24.0 + 6.5 * name.chars().count() as f64;
        }
        // The dotted markers get a legend entry too: without it they read as grid lines.
        if !self.markers.is_empty() {
            let _ = write!(
                o,
                r##"<line x1="{}" y1="28" x2="{}" y2="28" stroke="#555" stroke-dasharray="2 3"/><text x="{}" y="32">timeline step (hover for it)</text>"##,
                c(lx),
                c(lx + 12.0),
                c(lx + 16.0)
            );
        }
        // Grid and y axis.
        for t in &y_ticks {
            let y = sy(*t);
            let _ = write!(
                o,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e4e4e4"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                c(LEFT),
                c(y),
                c(LEFT + pw),
                c(y),
                c(LEFT - 6.0),
                c(y + 4.0),
                fmt_num(*t, y_step)
            );
        }
        // x axis.
        let x_ticks: Vec<f64> = if self.x_time {
            time_ticks(x_max, 8)
        } else {
            nice_ticks(x_max, 8).1
        };
        let x_step = if x_ticks.len() > 1 {
            x_ticks[1] - x_ticks[0]
        } else {
            1.0
        };
        for t in x_ticks.iter().filter(|t| **t <= x_max * 1.000_001) {
            let x = sx(*t);
            let label = if self.x_time {
                fmt_time(*t)
            } else {
                fmt_num(*t, x_step)
            };
            let _ = write!(
                o,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">{}</text>"##,
                c(x),
                c(TOP + ph),
                c(x),
                c(TOP + ph + 4.0),
                c(x),
                c(TOP + ph + 16.0),
                label
            );
        }
        let _ = write!(
            o,
            r##"<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#666"/><line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#666"/>"##,
            l = c(LEFT),
            r = c(LEFT + pw),
            t = c(TOP),
            b = c(TOP + ph)
        );
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            c(LEFT + pw / 2.0),
            c(HEIGHT - 8.0),
            esc(&self.x_label)
        );
        let _ = write!(
            o,
            r#"<text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            c(TOP + ph / 2.0),
            esc(&self.y_label)
        );
        for b in &self.bands {
            if b.points.is_empty() {
                continue;
            }
            let mut pts: Vec<String> = b
                .points
                .iter()
                .map(|(x, _, hi)| format!("{},{}", c(sx(*x)), c(sy(*hi))))
                .collect();
            pts.extend(
                b.points
                    .iter()
                    .rev()
                    .map(|(x, lo, _)| format!("{},{}", c(sx(*x)), c(sy(*lo)))),
            );
            let _ = write!(
                o,
                r#"<polygon points="{}" fill="{}" fill-opacity="0.75" stroke="none"><title>{}</title></polygon>"#,
                pts.join(" "),
                b.color,
                esc(&b.name)
            );
        }
        for s in &self.series {
            if s.points.is_empty() {
                continue;
            }
            let mut pts = Vec::with_capacity(s.points.len() * 2);
            let mut prev: Option<(f64, f64)> = None;
            for (x, y) in &s.points {
                if let (Shape::Step, Some((_, py))) = (&s.shape, prev) {
                    pts.push(format!("{},{}", c(sx(*x)), c(sy(py))));
                }
                pts.push(format!("{},{}", c(sx(*x)), c(sy(*y))));
                prev = Some((*x, *y));
            }
            let dash = if matches!(s.shape, Shape::Dashed) {
                r#" stroke-dasharray="5 3""#
            } else {
                ""
            };
            let _ = write!(
                o,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"{dash}><title>{}</title></polyline>"#,
                pts.join(" "),
                s.color,
                esc(&s.name)
            );
        }
        for (x, label) in &self.markers {
            let px = sx(*x);
            let _ = write!(
                o,
                r##"<line x1="{x}" y1="{t}" x2="{x}" y2="{b}" stroke="#555" stroke-dasharray="2 3"><title>{}</title></line>"##,
                esc(label),
                x = c(px),
                t = c(TOP),
                b = c(TOP + ph)
            );
        }
        o.push_str("</svg>");
        o
    }
}

/// Horizontal bars: one row per label.
pub fn hbar_chart(title: &str, unit: &str, rows: &[(String, f64)], color: &str) -> String {
    let row_h = 18.0;
    let label_w = 150.0;
    let h = TOP + BOTTOM + row_h * rows.len().max(1) as f64 - 20.0;
    let pw = WIDTH - label_w - RIGHT - 60.0;
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
    let (step, ticks) = nice_ticks(max, 5);
    let top = ticks.last().copied().unwrap_or(1.0).max(1e-9);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11"><text x="{l}" y="16" font-size="13" font-weight="bold">{t}</text>"#,
        w = c(WIDTH),
        h = c(h),
        l = c(LEFT),
        t = esc(title)
    );
    let y0 = 28.0;
    let axis_y = y0 + row_h * rows.len() as f64 + 2.0;
    for t in &ticks {
        let x = label_w + t / top * pw;
        let _ = write!(
            o,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#e4e4e4"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            c(y0),
            c(axis_y),
            c(axis_y + 13.0),
            fmt_num(*t, step),
            x = c(x)
        );
    }
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = y0 + row_h * i as f64;
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect><text x="{}" y="{}">{}</text>"#,
            c(label_w - 6.0),
            c(y + 12.0),
            esc(label),
            c(label_w),
            c(y + 2.0),
            c(v / top * pw),
            c(row_h - 4.0),
            color,
            esc(label),
            bar_value(*v),
            c(label_w + v / top * pw + 4.0),
            c(y + 12.0),
            bar_value(*v)
        );
    }
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text></svg>"#,
        c(label_w + pw / 2.0),
        c(axis_y + 30.0),
        esc(unit)
    );
    o
}

/// One event on a lane: time (s), tooltip, colour.
pub type LaneEvent = (f64, String, String);

/// A bar's value: whole numbers without decimals.
fn bar_value(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Events on a time axis, one lane each: (lane label, events); `legend` names the colours.
pub fn lanes_chart(
    title: &str,
    x_max: f64,
    lanes: &[(String, Vec<LaneEvent>)],
    legend: &[(String, String)],
) -> String {
    let lane_h = 22.0;
    let label_w = 170.0;
    let pw = WIDTH - label_w - RIGHT;
    let x_max = x_max.max(1e-9);
    let y0 = 40.0;
    let axis_y = y0 + lane_h * lanes.len().max(1) as f64;
    let h = axis_y + 40.0;
    let sx = |x: f64| label_w + (x / x_max).clamp(0.0, 1.0) * pw;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" font-family="sans-serif" font-size="11"><text x="{l}" y="16" font-size="13" font-weight="bold">{t}</text>"#,
        w = c(WIDTH),
        h = c(h),
        l = c(LEFT),
        t = esc(title)
    );
    let mut lx = LEFT;
    for (name, col) in legend {
        let _ = write!(
            o,
            r#"<rect x="{}" y="23" width="10" height="10" fill="{}"/><text x="{}" y="32">{}</text>"#,
            c(lx),
            col,
            c(lx + 14.0),
            esc(name)
        );
        lx += 24.0 + 6.5 * name.chars().count() as f64;
    }
    for t in time_ticks(x_max, 8) {
        let x = sx(t);
        let _ = write!(
            o,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#e4e4e4"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"##,
            c(y0),
            c(axis_y),
            c(axis_y + 13.0),
            fmt_time(t),
            x = c(x)
        );
    }
    for (i, (label, events)) in lanes.iter().enumerate() {
        let y = y0 + lane_h * i as f64;
        let _ = write!(
            o,
            r##"<text x="{}" y="{}" text-anchor="end">{} ({})</text><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>"##,
            c(label_w - 6.0),
            c(y + 15.0),
            esc(label),
            events.len(),
            c(label_w),
            c(y + lane_h / 2.0),
            c(label_w + pw),
            c(y + lane_h / 2.0)
        );
        for (t, tip, col) in events {
            let x = sx(*t);
            let _ = write!(
                o,
                r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{}" stroke-width="2"><title>{}</title></line>"#,
                c(y + 3.0),
                c(y + lane_h - 3.0),
                esc(col),
                esc(tip),
                x = c(x)
            );
        }
    }
    let _ = write!(
        o,
        r##"<line x1="{}" y1="{a}" x2="{}" y2="{a}" stroke="#666"/><text x="{}" y="{}" text-anchor="middle">simulated time</text></svg>"##,
        c(label_w),
        c(label_w + pw),
        c(label_w + pw / 2.0),
        c(axis_y + 30.0),
        a = c(axis_y)
    );
    o
}

/// Keep at most `max` points, taking the largest y of each run of points it merges (so peaks
/// stay visible).
pub fn thin_max(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|ch| {
            ch.iter()
                .copied()
                .fold((ch[0].0, f64::MIN), |(x, m), (_, y)| (x, m.max(y)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_cover_the_maximum_with_round_steps() {
        let (step, t) = nice_ticks(37.0, 5);
        assert_eq!(step, 10.0);
        assert_eq!(t, vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        let (step, t) = nice_ticks(0.43, 5);
        assert!((step - 0.1).abs() < 1e-12);
        assert_eq!(t.len(), 6);
        assert_eq!(nice_ticks(0.0, 5).1.last(), Some(&1.0));
    }

    #[test]
    fn time_ticks_use_round_durations() {
        assert_eq!(
            time_ticks(3600.0, 8),
            (0..=6).map(|i| i as f64 * 600.0).collect::<Vec<_>>()
        );
        assert_eq!(fmt_time(5400.0), "1h30m");
        assert_eq!(fmt_time(0.0), "0");
        assert_eq!(fmt_time(90_000.0), "1d1h");
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let mut ch = XyChart::new("a <b> & \"c\"", "t", "y", true);
        ch.line("x<y", color(0), vec![(0.0, 1.0), (60.0, 2.0)], Shape::Line);
        let s = ch.render();
        assert!(s.contains("a &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(s.contains("x&lt;y"));
        assert!(!s.contains("<b>"));
    }

    #[test]
    fn step_series_hold_the_previous_value() {
        let mut ch = XyChart::new("t", "x", "y", false);
        ch.x_max = Some(10.0);
        ch.y_max = Some(10.0);
        ch.line("s", color(0), vec![(0.0, 0.0), (10.0, 10.0)], Shape::Step);
        let s = ch.render();
        // (0,0) → (10,0) → (10,10): three points, the middle one at the old height.
        let pts = s.split("polyline points=\"").nth(1).unwrap();
        let pts: Vec<&str> = pts.split('"').next().unwrap().split(' ').collect();
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[1].split(',').nth(1), pts[0].split(',').nth(1));
    }

    #[test]
    fn thin_max_keeps_peaks() {
        let pts: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64, if i == 57 { 99.0 } else { 1.0 }))
            .collect();
        let t = thin_max(&pts, 10);
        assert_eq!(t.len(), 10);
        assert!(t.iter().any(|p| p.1 == 99.0));
    }

    #[test]
    fn rendering_is_deterministic() {
        let build = || {
            let mut ch = XyChart::new("n", "t", "y", true);
            ch.stacked(
                &[0.0, 60.0, 120.0],
                vec![
                    ("on-demand".into(), color(0).into(), vec![1.0, 2.0, 3.0]),
                    ("spot".into(), color(1).into(), vec![0.0, 1.0, 1.0]),
                ],
            );
            ch.markers.push((60.0, "scale".into()));
            ch.render()
        };
        assert_eq!(build(), build());
        assert!(build().contains("<polygon"));
    }
}
