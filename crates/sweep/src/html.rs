//! `sweep.html`: one self-contained page (inline SVG, no scripts, no network), in the style of
//! `report.html`. The ranking, the cost-vs-latency and cost-vs-disruption fronts with the
//! variants that miss a constraint greyed and the base marked, and the main effects.

use std::fmt::Write as _;

use asim_report::html::page;
use asim_report::svg::{esc, fmt_num, nice_ticks};

use crate::plan::Plan;
use crate::summary::{COST, DISRUPTED, Effect, LATENCY, Summary, round3, table_keys};
use crate::{fmt_value, yaml};

const W: f64 = 760.0;
const H: f64 = 320.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 46.0;
const FEASIBLE: &str = "#4e79a7";
const FRONT: &str = "#e15759";
const GREY: &str = "#bab0ac";
const BASE: &str = "#f28e2b";

fn c(v: f64) -> String {
    format!("{:.1}", (v * 10.0).round() / 10.0)
}

/// Axis ticks over [lo, hi] at a round step; the axis is widened to the outer ticks.
fn axis(lo: f64, hi: f64) -> (f64, f64, Vec<f64>, f64) {
    let (lo, hi) = if hi - lo > 1e-9 {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let (step, _) = nice_ticks(hi - lo, 5);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let n = ((end - start) / step).round() as usize;
    let ticks = (0..=n).map(|i| start + i as f64 * step).collect();
    (start, end.max(start + step), ticks, step)
}

/// A scatter of every variant with both values: the front joined by a line, the feasible
/// variants blue, the others grey, the base as an orange diamond.
fn scatter(plan: &Plan, s: &Summary, y_key: &str, front: &[usize], title: &str) -> String {
    let pts: Vec<(usize, f64, f64)> = s
        .variants
        .iter()
        .filter_map(|v| Some((v.index, v.mean(COST)?, v.mean(y_key)?)))
        .collect();
    let mut o = String::new();
    if pts.is_empty() {
        return o;
    }
    let (x0, x1, xt, xs) = axis(
        pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
    );
    let (y0, y1, yt, ys) = axis(
        pts.iter().map(|p| p.2).fold(f64::INFINITY, f64::min),
        pts.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max),
    );
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP + ph - (y - y0) / (y1 - y0) * ph;
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{}" font-family="sans-serif" font-size="11">"#,
        esc(title)
    );
    let _ = write!(
        o,
        r#"<text x="{}" y="18" font-size="13" font-weight="bold">{}</text>"#,
        c(LEFT),
        esc(title)
    );
    for t in &xt {
        let x = sx(*t);
        let _ = write!(
            o,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#eee"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            c(x),
            c(TOP),
            c(TOP + ph),
            c(TOP + ph + 14.0),
            fmt_num(*t, xs)
        );
    }
    for t in &yt {
        let y = sy(*t);
        let _ = write!(
            o,
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#eee"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>"##,
            c(LEFT),
            c(y),
            c(LEFT + pw),
            c(LEFT - 6.0),
            c(y + 4.0),
            fmt_num(*t, ys)
        );
    }
    let _ = write!(
        o,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">cost.total_usd ($, mean over seeds)</text><text transform="translate(14 {}) rotate(-90)" text-anchor="middle">{}</text>"##,
        c(LEFT),
        c(TOP),
        c(pw),
        c(ph),
        c(LEFT + pw / 2.0),
        c(H - 8.0),
        c(TOP + ph / 2.0),
        esc(y_key)
    );
    // The front, cheapest first.
    let line: Vec<String> = front
        .iter()
        .filter_map(|&i| pts.iter().find(|p| p.0 == i))
        .map(|p| format!("{},{}", c(sx(p.1)), c(sy(p.2))))
        .collect();
    if line.len() > 1 {
        let _ = write!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{FRONT}" stroke-width="1.5"/>"#,
            line.join(" ")
        );
    }
    // Greyed first, so the feasible points draw on top.
    let mut order: Vec<&(usize, f64, f64)> = pts.iter().collect();
    order.sort_by_key(|p| (s.variants[p.0].feasible, front.contains(&p.0), p.0));
    let mut labels: Vec<((f64, f64), String)> = Vec::new();
    for &&(i, x, y) in &order {
        let v = &s.variants[i];
        let (px, py) = (sx(x), sy(y));
        let tip = format!(
            "{} — {}: ${}, {} {}{}",
            v.label,
            plan.variants[i].description,
            fmt_value(x),
            y_key,
            fmt_value(y),
            if v.feasible {
                String::new()
            } else {
                format!(" (misses {})", v.violated.join(", "))
            }
        );
        if v.baseline {
            let _ = write!(
                o,
                r##"<path d="M{} {}l6 6l-6 6l-6 -6z" fill="{BASE}" stroke="#333"><title>{}</title></path>"##,
                c(px),
                c(py - 6.0),
                esc(&tip)
            );
        } else {
            let fill = if !v.feasible {
                GREY
            } else if front.contains(&i) {
                FRONT
            } else {
                FEASIBLE
            };
            let _ = write!(
                o,
                r#"<circle cx="{}" cy="{}" r="4" fill="{fill}"><title>{}</title></circle>"#,
                c(px),
                c(py),
                esc(&tip)
            );
        }
        if v.baseline || front.contains(&i) || v.rank == Some(1) {
            // Variants that land on the same spot share one label.
            let at = (px, py);
            match labels
                .iter_mut()
                .find(|(p, _)| c(p.0) == c(at.0) && c(p.1) == c(at.1))
            {
                Some((_, text)) => {
                    text.push_str(", ");
                    text.push_str(&v.label);
                }
                None => labels.push((at, v.label.clone())),
            }
        }
    }
    for ((x, y), text) in &labels {
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" font-size="10">{}</text>"#,
            c(x + 7.0),
            c(y - 5.0),
            esc(text)
        );
    }
    // Legend.
    let items = [
        (FRONT, "on the front"),
        (FEASIBLE, "meets the constraints"),
        (GREY, "misses a constraint or failed"),
        (BASE, "base scenario"),
    ];
    let mut lx = LEFT + 8.0;
    for (col, label) in items {
        let _ = write!(
            o,
            r#"<circle cx="{}" cy="{}" r="4" fill="{col}"/><text x="{}" y="{}">{}</text>"#,
            c(lx),
            c(TOP + 10.0),
            c(lx + 7.0),
            c(TOP + 14.0),
            label
        );
        lx += 14.0 + label.len() as f64 * 5.8;
    }
    o.push_str("</svg>\n");
    o
}

fn effects_table(plan: &Plan, effects: &[Effect]) -> String {
    let mut o = String::new();
    // The objective's own column only when it is not one of the three shown anyway; the best
    // level is marked in the column that holds it.
    let own = ![COST, LATENCY, DISRUPTED].contains(&plan.objective.as_str());
    let _ = write!(
        o,
        "<div style=\"overflow-x:auto\"><table><tr><th>parameter</th><th>value</th><th>variants</th>{}<th>cost ($)</th><th>p99 startup (s)</th><th>pods disrupted</th></tr>",
        if own {
            format!("<th>{}</th>", esc(&plan.objective))
        } else {
            String::new()
        }
    );
    for e in effects {
        let best = e
            .levels
            .iter()
            .map(|l| l.objective)
            .filter(|x| x.is_finite())
            .fold(None::<f64>, |acc, x| {
                Some(match acc {
                    None => x,
                    Some(a) if (plan.minimize && x < a) || (!plan.minimize && x > a) => x,
                    Some(a) => a,
                })
            });
        for (k, l) in e.levels.iter().enumerate() {
            let name = if k == 0 {
                format!(
                    "<td class=\"text\" rowspan=\"{}\">{}<br><span class=\"note\">moves it by {}</span></td>",
                    e.levels.len(),
                    esc(&e.parameter),
                    fmt_value(round3(e.objective_spread))
                )
            } else {
                String::new()
            };
            let mark = |key: &str| {
                if key == plan.objective && Some(l.objective) == best && e.levels.len() > 1 {
                    " class=\"better\""
                } else {
                    ""
                }
            };
            let _ = write!(
                o,
                "<tr>{name}<td class=\"text\">{}</td><td>{}</td>{}<td{}>{}</td><td{}>{}</td><td{}>{}</td></tr>",
                esc(&l.value),
                l.variants,
                if own {
                    format!(
                        "<td{}>{}</td>",
                        mark(&plan.objective),
                        fmt_value(round3(l.objective))
                    )
                } else {
                    String::new()
                },
                mark(COST),
                fmt_value(round3(l.cost)),
                mark(LATENCY),
                fmt_value(round3(l.latency_p99)),
                mark(DISRUPTED),
                fmt_value(round3(l.disrupted))
            );
        }
    }
    o.push_str("</table></div>\n");
    o
}

pub(crate) fn sweep_html(plan: &Plan, s: &Summary) -> String {
    let seeds = plan.seeds.len();
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<h1>Sweep {}</h1>\n<p class=\"note\">{} on <code>{}</code> · {} variants × {} seed{} · {} <code>{}</code>{}</p>",
        esc(&plan.name),
        esc(&plan.autoscaler),
        esc(&plan.scenario),
        plan.variants.len(),
        seeds,
        if seeds == 1 { "" } else { "s" },
        if plan.minimize {
            "minimise"
        } else {
            "maximise"
        },
        esc(&plan.objective),
        if plan.constraints.is_empty() {
            String::new()
        } else {
            format!(
                " subject to {}",
                plan.constraints
                    .iter()
                    .map(|c| format!("<code>{}</code>", esc(&c.text())))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    match s.best {
        Some(i) => {
            let v = &s.variants[i];
            let _ = writeln!(
                b,
                "<p><b>Best: {}</b> — {}. Its manifests and what they change: <code>best/</code>.</p>",
                esc(&v.label),
                esc(&v.description)
            );
        }
        None => {
            let _ = writeln!(b, "<p><b>No variant meets every constraint.</b></p>");
        }
    }
    b.push_str("<h2>Trade-offs</h2>\n");
    b.push_str(&scatter(
        plan,
        s,
        LATENCY,
        &s.pareto_cost_latency,
        "Cost vs p99 pod startup latency",
    ));
    b.push_str(&scatter(
        plan,
        s,
        DISRUPTED,
        &s.pareto_cost_disruption,
        "Cost vs pods disrupted",
    ));
    b.push_str("<p class=\"note\">Lower-left is better on both. The line joins the variants no other variant meeting every constraint beats on both axes.</p>\n");

    b.push_str("<h2>Variants</h2>\n<div style=\"overflow-x:auto\"><table><tr><th>rank</th><th>variant</th>");
    for p in &plan.parameters {
        let _ = write!(b, "<th>{}</th>", esc(&p.name));
    }
    let keys = table_keys(plan);
    for k in &keys {
        let _ = write!(b, "<th>{}</th>", esc(k));
    }
    b.push_str("<th>notes</th></tr>\n");
    for i in s.display_order() {
        let v = &s.variants[i];
        let style = if v.feasible {
            ""
        } else {
            " style=\"color:#999\""
        };
        let _ = write!(
            b,
            "<tr{style}><td>{}</td><td class=\"text\">{}{}</td>",
            v.rank.map_or("—".to_string(), |r| r.to_string()),
            esc(&v.label),
            if v.baseline { " (base)" } else { "" }
        );
        for (k, _) in plan.parameters.iter().enumerate() {
            let _ = write!(
                b,
                "<td class=\"text\">{}</td>",
                esc(&plan.variants[i]
                    .values
                    .get(k)
                    .map_or("(base)".to_string(), yaml::flow))
            );
        }
        for k in &keys {
            let _ = write!(b, "<td>{}</td>", esc(&v.cell(k, seeds)));
        }
        let _ = writeln!(b, "<td class=\"text\">{}</td></tr>", esc(&v.notes()));
    }
    b.push_str("</table></div>\n<p class=\"note\">Mean over seeds ± standard deviation; a constraint holds when the mean meets it.</p>\n");
    if !s.effects.is_empty() {
        b.push_str("<h2>Main effects</h2>\n<p class=\"note\">For each parameter, the mean over the variants at each of its values (the other parameters averaged over; the base left out). The best value for the objective in green.</p>\n");
        b.push_str(&effects_table(plan, &s.effects));
    }
    page(&format!("Sweep {}", plan.name), &b)
}
