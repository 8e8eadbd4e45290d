//! `report.html` and `compare.html` (docs/design.md §10): one self-contained page each, no scripts and
//! no network; the charts are inline SVG from [`crate::svg`]. Deterministic: the same
//! run gives the same bytes (no timestamps, fixed number formats, sorted maps).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::compare::{Comparison, MAX_STEP_ROWS, capacity_cell};
use crate::expect::Better;
use crate::svg::{self, LaneEvent, Shape, XyChart, color, esc, fmt_time, thin_max};
use crate::view::RunView;

/// Points per series at most; longer runs are thinned keeping each stretch's peak.
const MAX_POINTS: usize = 1500;
/// Ticks per disruption lane at most.
const MAX_TICKS: usize = 2000;
/// Instance types shown in the mix; the rest are summed as `other`.
const MAX_TYPES: usize = 25;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:800px;color:#222;padding:0 12px}\
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:3px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\
td:first-child,th:first-child,.text{text-align:left}th{background:#f4f4f4}.better{color:#1a7f37}.worse{color:#c62828}\
.note{color:#666;font-size:13px}svg{display:block;margin:8px 0;max-width:100%;height:auto}";

/// A self-contained page with the reports' style (also `sweep.html`'s).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(x) => x.to_string(),
        None => String::new(),
    }
}

/// Every numeric leaf of the report, with its dotted path, in the report's order.
fn numeric_leaves(v: &Value, prefix: &str, out: &mut Vec<(String, f64)>) {
    match v {
        Value::Number(n) => out.push((prefix.to_string(), n.as_f64().unwrap_or(0.0))),
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                numeric_leaves(x, &p, out);
            }
        }
        _ => {}
    }
}

fn fmt_value(v: f64) -> String {
    crate::expect::num(v)
}

/// The minute samples as (t, y) for one column.
fn series(view: &RunView, f: impl Fn(&crate::Sample) -> f64) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> = view.samples.iter().map(|s| (s.t_s as f64, f(s))).collect();
    thin_max(&pts, MAX_POINTS)
}

fn markers(view: &RunView) -> Vec<(f64, String)> {
    view.steps
        .iter()
        .map(|s| (s.at_s, format!("{} at {}", s.label, fmt_time(s.at_s))))
        .collect()
}

/// (latency, fraction ≤ it) for a step CDF, at most ~500 points.
fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let mut pts = vec![(0.0, 0.0)];
    let k = n.min(500);
    for j in 1..=k {
        let idx = (j * n).div_ceil(k) - 1;
        pts.push((values[idx], (idx + 1) as f64 / n as f64));
    }
    pts
}

fn nodes_chart(view: &RunView) -> String {
    let mut ch = XyChart::new("Nodes by capacity type", "simulated time", "nodes", true);
    ch.x_max = Some(view.duration_s);
    let od = series(view, |s| s.nodes.saturating_sub(s.nodes_spot) as f64);
    let spot = series(view, |s| s.nodes_spot as f64);
    let xs: Vec<f64> = od.iter().map(|p| p.0).collect();
    ch.stacked(
        &xs,
        vec![
            (
                "on-demand".into(),
                color(0).into(),
                od.iter().map(|p| p.1).collect(),
            ),
            (
                "spot".into(),
                color(1).into(),
                spot.iter().map(|p| p.1).collect(),
            ),
        ],
    );
    ch.markers = markers(view);
    ch.render()
}

fn pods_chart(view: &RunView) -> String {
    let mut ch = XyChart::new("Pods", "simulated time", "pods", true);
    ch.x_max = Some(view.duration_s);
    ch.line(
        "running",
        color(2),
        series(view, |s| s.running_pods as f64),
        Shape::Line,
    );
    ch.line(
        "pending",
        color(3),
        series(view, |s| s.pending_pods as f64),
        Shape::Line,
    );
    ch.markers = markers(view);
    ch.render()
}

fn cost_chart(view: &RunView) -> String {
    let mut ch = XyChart::new("Cost accumulated", "simulated time", "USD", true);
    ch.x_max = Some(view.duration_s);
    ch.line("cost", color(4), series(view, |s| s.cost_usd), Shape::Line);
    ch.markers = markers(view);
    ch.render()
}

fn cdf_chart(views: &[&RunView]) -> String {
    let mut ch = XyChart::new(
        "Pod startup latency (creation → running; not started: until the end), cumulative",
        "startup latency (s)",
        "share of pods",
        false,
    );
    ch.y_max = Some(1.0);
    for (i, v) in views.iter().enumerate() {
        let name = if views.len() == 1 { "pods" } else { &v.label };
        ch.line(name, color(i), cdf(&v.startup_s), Shape::Step);
    }
    ch.render()
}

/// Launched nodes per instance type, largest first, the tail summed.
/// Largest first, the tail beyond [`MAX_TYPES`] summed.
fn top_types(mut rows: Vec<(String, f64)>) -> Vec<(String, f64)> {
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if rows.len() > MAX_TYPES {
        let rest: f64 = rows[MAX_TYPES - 1..].iter().map(|r| r.1).sum();
        let n = rows.len() - (MAX_TYPES - 1);
        rows.truncate(MAX_TYPES - 1);
        rows.push((format!("{n} other types"), rest));
    }
    rows
}

/// Termination reasons in a fixed order of colours.
fn reason_colors(views: &[&RunView]) -> BTreeMap<String, String> {
    let mut reasons: Vec<String> = views
        .iter()
        .flat_map(|v| v.nodes.iter())
        .filter(|n| n.terminated_at.is_some())
        .map(reason_of)
        .collect();
    reasons.sort();
    reasons.dedup();
    reasons
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, color(i + 3).to_string()))
        .collect()
}

fn reason_of(n: &crate::NodeRecord) -> String {
    n.termination_reason
        .clone()
        .unwrap_or_else(|| "no reason recorded".into())
}

fn terminations(v: &RunView, colors: &BTreeMap<String, String>) -> Vec<LaneEvent> {
    v.nodes
        .iter()
        .filter_map(|n| {
            let t = n.terminated_at?.as_secs_f64();
            let reason = reason_of(n);
            Some((
                t,
                format!(
                    "{} ({}, {}) at {}: {reason}",
                    n.name,
                    n.instance_type,
                    n.capacity_type,
                    fmt_time(t)
                ),
                colors
                    .get(&reason)
                    .cloned()
                    .unwrap_or_else(|| "#555".into()),
            ))
        })
        .take(MAX_TICKS)
        .collect()
}

fn disruption_section(o: &mut String, views: &[&RunView], by_run: bool) {
    let colors = reason_colors(views);
    let _ = writeln!(o, "<h2>Disruptions</h2>");
    if colors.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">No node was terminated.</p>");
        return;
    }
    let x_max = views.iter().map(|v| v.duration_s).fold(0.0, f64::max);
    let lanes: Vec<(String, Vec<LaneEvent>)> = if by_run {
        views
            .iter()
            .map(|v| (v.label.clone(), terminations(v, &colors)))
            .collect()
    } else {
        let all = terminations(views[0], &colors);
        colors
            .iter()
            .map(|(reason, col)| {
                (
                    reason.clone(),
                    all.iter().filter(|e| &e.2 == col).cloned().collect(),
                )
            })
            .collect()
    };
    let legend: Vec<(String, String)> = colors.into_iter().collect();
    let _ = writeln!(
        o,
        "<p class=\"note\">Node terminations on the time axis, coloured by reason (hover a mark for the node).</p>"
    );
    o.push_str(&svg::lanes_chart(
        "Node terminations",
        x_max,
        &lanes,
        &legend,
    ));
    o.push('\n');
}

/// `report.html` for one run.
pub fn report_html(view: &RunView) -> String {
    let r = &view.report;
    let title = format!("{} — {}", s(r, "scenario"), s(r, "autoscaler"));
    let mut o = String::new();
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        o,
        "<p class=\"note\">seed {} · {} simulated · autoscale-sim {}</p>",
        esc(&s(r, "seed")),
        fmt_time(view.duration_s),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(o, "<table><tr><th>summary</th><th>value</th></tr>");
    let num = |k: &str| view.num(k).unwrap_or(0.0);
    let rows = [
        (
            "pods created / scheduled / not started at end".to_string(),
            format!(
                "{} / {} / {}",
                num("pods.created"),
                num("pods.scheduled"),
                num("pods.not_started_at_end")
            ),
        ),
        (
            "startup latency p50 / p90 / p99".to_string(),
            format!(
                "{}{:.1} s / {:.1} s / {:.1} s",
                // Pods that never started count until the end: a lower bound.
                if num("pods.startup_latency_s.censored") > 0.0 {
                    "≥ "
                } else {
                    ""
                },
                num("pods.startup_latency_s.p50"),
                num("pods.startup_latency_s.p90"),
                num("pods.startup_latency_s.p99")
            ),
        ),
        (
            "nodes launched / terminated / peak".to_string(),
            format!(
                "{} / {} / {}",
                num("nodes.launched"),
                num("nodes.terminated"),
                num("nodes.peak")
            ),
        ),
        (
            "cost total (on-demand / spot)".to_string(),
            format!(
                "${:.2} (${:.2} / ${:.2})",
                num("cost.total_usd"),
                num("cost.on_demand_usd"),
                num("cost.spot_usd")
            ),
        ),
        (
            "cost per requested vCPU-hour".to_string(),
            format!("${:.4}", num("cost.per_requested_vcpu_hour")),
        ),
        (
            "utilization cpu / memory (DaemonSets apart)".to_string(),
            format!(
                "{:.1} % / {:.1} % (+ {:.1} % / {:.1} %)",
                num("utilization.cpu") * 100.0,
                num("utilization.memory") * 100.0,
                num("utilization.daemonset_cpu") * 100.0,
                num("utilization.daemonset_memory") * 100.0
            ),
        ),
        (
            "pods disrupted (evicted / reclaimed / deleted with node)".to_string(),
            format!(
                "{} ({} / {} / {})",
                num("disruption.pods_disrupted.total"),
                num("disruption.pods_disrupted.evicted"),
                num("disruption.pods_disrupted.reclaimed"),
                num("disruption.pods_disrupted.deleted_with_node")
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
    }
    let _ = writeln!(o, "</table>");
    let _ = writeln!(o, "<h2>Nodes</h2>\n{}", nodes_chart(view));
    let _ = writeln!(o, "<h2>Pods</h2>\n{}", pods_chart(view));
    let _ = writeln!(o, "<h2>Cost</h2>\n{}", cost_chart(view));
    let _ = writeln!(o, "<h2>Startup latency</h2>");
    if view.startup_s.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">No pod reached running.</p>");
    } else {
        let _ = writeln!(o, "{}", cdf_chart(&[view]));
    }
    let _ = writeln!(o, "<h2>Instance types</h2>");
    // Every node, static ones included (`nodes.by_instance_type` counts launched ones only).
    let mut per_type: BTreeMap<String, f64> = BTreeMap::new();
    for n in &view.nodes {
        *per_type.entry(n.instance_type.clone()).or_insert(0.0) += 1.0;
    }
    let mix = top_types(per_type.into_iter().collect());
    if mix.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">No node.</p>");
    } else {
        let _ = writeln!(
            o,
            "{}",
            svg::hbar_chart(
                "Nodes per instance type (launched and static)",
                "nodes",
                &mix,
                color(0)
            )
        );
    }
    disruption_section(&mut o, &[view], false);
    let _ = writeln!(
        o,
        "<h2>Every number in report.json</h2>\n<table><tr><th>key</th><th>value</th></tr>"
    );
    let mut leaves = Vec::new();
    numeric_leaves(r, "", &mut leaves);
    for (k, v) in leaves {
        if k.starts_with("nodes.by_instance_type.") {
            continue; // in the chart above
        }
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), fmt_value(v));
    }
    let _ = writeln!(o, "</table>");
    page(&title, &o)
}

/// `compare.html`: the comparison's tables and each chart with one series per run.
pub fn compare_html(c: &Comparison, views: &[RunView]) -> String {
    let title = format!("{} — comparison", c.scenario);
    let refs: Vec<&RunView> = views.iter().collect();
    let mut o = String::new();
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    let base = c.runs.first().map(|r| r.label.as_str()).unwrap_or("");
    let _ = writeln!(
        o,
        "<p class=\"note\">Changes are against <b>{}</b>; green is better, red is worse. Each run's own report: {}.</p>",
        esc(base),
        c.runs
            .iter()
            .map(|r| format!(
                "<a href=\"{}/report.html\">{}</a>",
                esc(&r.dir),
                esc(&r.label)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let head: String = c
        .runs
        .iter()
        .map(|r| format!("<th>{}</th>", esc(&r.label)))
        .collect();
    let _ = writeln!(o, "<table><tr><th>metric</th>{head}</tr>");
    for m in &c.metrics {
        let _ = write!(o, "<tr><td>{}</td>", esc(&m.label));
        for i in 0..c.runs.len() {
            let class = match (m.better, m.values.get(i).copied().flatten(), m.values[0]) {
                (Some(b), Some(v), Some(base)) if i > 0 && (v - base).abs() > 1e-9 => {
                    let better = match b {
                        Better::Lower => v < base,
                        Better::Higher => v > base,
                    };
                    if better {
                        " class=\"better\""
                    } else {
                        " class=\"worse\""
                    }
                }
                _ => "",
            };
            let _ = write!(o, "<td{class}>{}</td>", esc(&m.cell(i)));
        }
        let _ = writeln!(o, "</tr>");
    }
    let _ = writeln!(o, "</table>");
    if c.metrics.iter().any(crate::compare::Metric::any_censored) {
        let _ = writeln!(
            o,
            "<p class=\"note\">{}</p>",
            esc(crate::compare::CENSORED_NOTE)
        );
    }
    if !c.capacity.is_empty() {
        let _ = writeln!(
            o,
            "<h2>Time to capacity</h2>\n<p class=\"note\">From each timeline step until no pod is pending; <i>never</i>: pods were still pending at the end.</p>\n<table><tr><th>at</th><th class=\"text\">step</th>{head}</tr>"
        );
        for row in c.capacity.iter().take(MAX_STEP_ROWS) {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"text\">{}</td>",
                fmt_time(row.at_s),
                esc(&row.step)
            );
            for i in 0..c.runs.len() {
                let _ = write!(o, "<td>{}</td>", esc(&capacity_cell(&row.seconds, i)));
            }
            let _ = writeln!(o, "</tr>");
        }
        let _ = writeln!(o, "</table>");
        if c.capacity.len() > MAX_STEP_ROWS {
            let _ = writeln!(
                o,
                "<p class=\"note\">…and {} more steps (see compare.json).</p>",
                c.capacity.len() - MAX_STEP_ROWS
            );
        }
    }
    let x_max = views.iter().map(|v| v.duration_s).fold(0.0, f64::max);
    let over_runs = |title: &str, unit: &str, f: &dyn Fn(&crate::Sample) -> f64| {
        let mut ch = XyChart::new(title, "simulated time", unit, true);
        ch.x_max = Some(x_max);
        for (i, v) in views.iter().enumerate() {
            ch.line(&v.label, color(i), series(v, f), Shape::Line);
        }
        if let Some(v) = views.first() {
            ch.markers = markers(v);
        }
        ch.render()
    };
    let _ = writeln!(
        o,
        "<h2>Nodes</h2>\n{}",
        over_runs("Nodes", "nodes", &|s| s.nodes as f64)
    );
    // A flat zero line with fractional ticks says less than a sentence.
    if views
        .iter()
        .any(|v| v.samples.iter().any(|s| s.nodes_spot > 0))
    {
        let _ = writeln!(
            o,
            "{}",
            over_runs("Spot nodes", "nodes", &|s| s.nodes_spot as f64)
        );
    } else {
        let _ = writeln!(o, "<p class=\"note\">No run had a spot node.</p>");
    }
    let _ = writeln!(
        o,
        "<h2>Pods</h2>\n{}",
        over_runs("Pending pods", "pods", &|s| s.pending_pods as f64)
    );
    let _ = writeln!(
        o,
        "{}",
        over_runs("Running pods", "pods", &|s| s.running_pods as f64)
    );
    let _ = writeln!(
        o,
        "<h2>Cost</h2>\n{}",
        over_runs("Cost accumulated", "USD", &|s| s.cost_usd)
    );
    let _ = writeln!(o, "<h2>Startup latency</h2>\n{}", cdf_chart(&refs));
    // Instance types: a table, one column per run.
    let mut types: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        if let Some(m) = v
            .report
            .pointer("/nodes/by_instance_type")
            .and_then(Value::as_object)
        {
            for (k, n) in m {
                types
                    .entry(k.clone())
                    .or_insert_with(|| vec![0.0; views.len()])[i] = n.as_f64().unwrap_or(0.0);
            }
        }
    }
    let mut types: Vec<(String, Vec<f64>)> = types.into_iter().collect();
    types.sort_by(|a, b| {
        let (sa, sb): (f64, f64) = (a.1.iter().sum(), b.1.iter().sum());
        sb.total_cmp(&sa).then_with(|| a.0.cmp(&b.0))
    });
    let _ = writeln!(
        o,
        "<h2>Instance types</h2>\n<table><tr><th>nodes launched</th>{head}</tr>"
    );
    for (t, counts) in types.iter().take(MAX_TYPES) {
        let cells: String = counts
            .iter()
            .map(|n| format!("<td>{}</td>", fmt_value(*n)))
            .collect();
        let _ = writeln!(o, "<tr><td>{}</td>{cells}</tr>", esc(t));
    }
    let _ = writeln!(o, "</table>");
    if types.len() > MAX_TYPES {
        let _ = writeln!(
            o,
            "<p class=\"note\">…and {} more types.</p>",
            types.len() - MAX_TYPES
        );
    }
    disruption_section(&mut o, &refs, true);
    page(&title, &o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Step;
    use crate::{NodeRecord, Sample};
    use asim_core::engine::SimTime;

    fn sample(t: u64, nodes: u64, spot: u64, pending: u64) -> Sample {
        Sample {
            t_s: t,
            nodes,
            nodes_ready: nodes,
            nodes_spot: spot,
            pending_pods: pending,
            running_pods: 10,
            cost_rate_usd_per_hour: 1.0,
            cost_usd: t as f64 / 3600.0,
            cpu_utilization: 0.5,
            memory_utilization: 0.4,
        }
    }

    fn view() -> RunView {
        RunView {
            label: "karpenter".into(),
            report: serde_json::json!({
                "scenario": "demo <x>", "autoscaler": "karpenter", "seed": 3, "duration_s": 600,
                "pods": {"created": 20, "startup_latency_s": {"p50": 3.0}},
                "nodes": {"by_instance_type": {"m5.large": 2, "c5.xlarge": 1}},
                "disruption": {"nodes_removed": {"underutilized": 1}}
            }),
            duration_s: 600.0,
            samples: (0..=10)
                .map(|i| sample(i * 60, 2 + i % 2, i % 2, 0))
                .collect(),
            nodes: vec![NodeRecord {
                name: "n1".into(),
                instance_type: "m5.large".into(),
                zone: "us-east-1a".into(),
                capacity_type: "spot".into(),
                owner: "nodepool/default".into(),
                price_per_hour: 0.03,
                launched_at: SimTime(0),
                registered_at: Some(SimTime(30_000)),
                ready_at: Some(SimTime(40_000)),
                terminated_at: Some(SimTime(300_000)),
                termination_reason: Some("consolidation".into()),
            }],
            startup_s: vec![1.0, 2.0, 3.0, 40.0],
            pending_deltas: Vec::new(),
            steps: vec![Step {
                at_s: 120.0,
                label: "scale web to 30".into(),
            }],
        }
    }

    #[test]
    fn report_page_is_self_contained_with_every_chart() {
        let h = report_html(&view());
        assert!(h.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            h.matches("<svg").count(),
            6,
            "nodes, pods, cost, cdf, mix, disruptions"
        );
        assert!(!h.contains("<script"));
        assert!(
            !h.contains("http://")
                || h.matches("http://").count()
                    == h.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
        );
        assert!(h.contains("demo &lt;x&gt; — karpenter"));
        assert!(h.contains("consolidation"));
        assert!(h.contains("disruption.nodes_removed.underutilized"));
        assert!(h.contains("scale web to 30 at 2m"));
    }

    fn compare_page(views: &[RunView]) -> String {
        let runs = views
            .iter()
            .map(|v| crate::compare::RunInfo {
                label: v.label.clone(),
                autoscaler: v.label.clone(),
                variant: None,
                dir: v.label.clone(),
            })
            .collect();
        compare_html(&crate::compare::build("demo", runs, views), views)
    }

    #[test]
    fn compare_page_draws_the_spot_chart_only_when_a_run_had_spot_nodes() {
        let with_spot = view();
        let mut no_spot = view();
        no_spot.label = "cluster-autoscaler".into();
        for s in &mut no_spot.samples {
            s.nodes_spot = 0;
        }
        let h = compare_page(&[with_spot, no_spot.clone()]);
        assert!(h.contains("aria-label=\"Spot nodes\""));
        assert!(!h.contains("No run had a spot node."));
        let h = compare_page(&[no_spot]);
        assert!(!h.contains("aria-label=\"Spot nodes\""));
        assert!(h.contains("No run had a spot node."));
    }

    #[test]
    fn compare_page_left_aligns_the_step_names_and_explains_the_markers() {
        let h = compare_page(&[view()]);
        assert!(h.contains("<td class=\"text\">scale web to 30</td>"), "{h}");
        assert!(h.contains("timeline step (hover for it)"));
    }

    #[test]
    fn report_page_is_deterministic() {
        assert_eq!(report_html(&view()), report_html(&view()));
    }

    #[test]
    fn cdf_ends_at_one_and_is_thinned() {
        let vals: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let c = cdf(&vals);
        assert!(c.len() <= 501);
        assert_eq!(c.last(), Some(&(9999.0, 1.0)));
    }

    #[test]
    fn instance_mix_sums_the_tail() {
        let rows: Vec<(String, f64)> = (0..30).map(|i| (format!("t{i:02}"), 1.0)).collect();
        let mix = top_types(rows);
        assert_eq!(mix.len(), MAX_TYPES);
        assert_eq!(mix.last().unwrap().1, 6.0);
    }
}
