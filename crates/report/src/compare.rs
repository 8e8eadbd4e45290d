//! Side-by-side figures of several runs of one scenario (docs/design.md §10): `compare.md` and
//! `compare.json`; `compare.html` is drawn by `html`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::expect::Better;
use crate::view::RunView;

/// One run of the comparison.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub label: String,
    pub autoscaler: String,
    /// The variant file, if the run is one.
    pub variant: Option<String>,
    /// Its report directory, relative to the comparison's.
    pub dir: String,
}

/// How a metric is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Usd,
    /// A small price (per vCPU-hour), shown to a hundredth of a cent.
    UsdRate,
    /// A fraction, shown as a percentage.
    Ratio,
    Count,
    PerHour,
    Hours,
    /// A number of unknown meaning (a report key added later).
    Plain,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Usd | Unit::UsdRate => "USD",
            Unit::Ratio => "ratio",
            Unit::Count => "count",
            Unit::PerHour => "per hour",
            Unit::Hours => "h",
            Unit::Plain => "",
        }
    }

    pub fn fmt(self, v: f64) -> String {
        match self {
            Unit::Seconds => format!("{v:.1} s"),
            Unit::Usd => format!("${v:.2}"),
            Unit::UsdRate => format!("${v:.4}"),
            Unit::Ratio => format!("{:.1} %", v * 100.0),
            Unit::Count | Unit::Plain if v == v.trunc() => format!("{v:.0}"),
            Unit::Count | Unit::PerHour | Unit::Hours | Unit::Plain => format!("{v:.2}"),
        }
    }

    /// A change, signed: `+3.2 s`, `−$0.40`, `+4.0 pp`.
    pub fn fmt_delta(self, d: f64) -> String {
        let sign = if d < 0.0 { "−" } else { "+" };
        let a = d.abs();
        match self {
            Unit::Seconds => format!("{sign}{a:.1} s"),
            Unit::Usd => format!("{sign}${a:.2}"),
            Unit::UsdRate => format!("{sign}${a:.4}"),
            Unit::Ratio => format!("{sign}{:.1} pp", a * 100.0),
            Unit::Count | Unit::Plain if a == a.trunc() => format!("{sign}{a:.0}"),
            _ => format!("{sign}{a:.2}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Metric {
    /// A report.json path, or a figure computed here (`average_nodes`, `spot_share_cost`, …).
    pub key: String,
    pub label: String,
    pub unit: Unit,
    pub better: Option<Better>,
    /// One per run; `None` when a run's report lacks it.
    pub values: Vec<Option<f64>>,
    /// Per run: the figure counts pods that never got there as waiting until the end, so it
    /// is a lower bound (shown `≥`).
    pub censored: Vec<bool>,
}

impl Metric {
    /// The run's cell as shown: [`cell`], with `≥` when the figure is a lower bound.
    pub fn cell(&self, i: usize) -> String {
        let c = cell(self.unit, &self.values, i);
        if self.censored.get(i).copied().unwrap_or(false) {
            format!("≥ {c}")
        } else {
            c
        }
    }

    pub fn any_censored(&self) -> bool {
        self.censored.iter().any(|c| *c)
    }
}

/// Under a table with a `≥` cell.
pub const CENSORED_NOTE: &str = "≥: that run had pods that never started; each counts as waiting until the end of the run, so the figure is a lower bound.";

/// Time to capacity after one timeline step, per run.
#[derive(Clone, Debug)]
pub struct CapacityRow {
    pub at_s: f64,
    pub step: String,
    /// `None`: pods were still pending at the end of the run.
    pub seconds: Vec<Option<f64>>,
}

#[derive(Clone, Debug)]
pub struct Comparison {
    pub scenario: String,
    pub runs: Vec<RunInfo>,
    pub metrics: Vec<Metric>,
    pub capacity: Vec<CapacityRow>,
}

/// Collect every numeric leaf under `v`, with dotted paths from `prefix`.
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(_) => out.push(prefix.to_string()),
        Value::Object(m) => {
            for (k, x) in m {
                leaves(x, &format!("{prefix}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// Adds metric rows, one value per run.
struct Rows<'a> {
    views: &'a [RunView],
    metrics: Vec<Metric>,
}

impl Rows<'_> {
    /// A number read from each run's report.json. A statistic whose sibling `censored` is
    /// above zero is marked as a lower bound.
    fn report(&mut self, key: &str, label: &str, unit: Unit, better: Option<Better>) {
        let values = self.views.iter().map(|v| v.num(key)).collect();
        self.push(key, label, unit, better, values);
        if let Some((parent, _)) = key.rsplit_once('.') {
            let sibling = format!("{parent}.censored");
            if let Some(m) = self.metrics.last_mut() {
                m.censored = self
                    .views
                    .iter()
                    .map(|v| v.num(&sibling).is_some_and(|n| n > 0.0))
                    .collect();
            }
        }
    }

    /// A figure computed from each run's data.
    fn computed(
        &mut self,
        key: &str,
        label: &str,
        unit: Unit,
        better: Option<Better>,
        f: impl Fn(&RunView) -> f64,
    ) {
        let values = self.views.iter().map(|v| Some(f(v))).collect();
        self.push(key, label, unit, better, values);
    }

    fn push(
        &mut self,
        key: &str,
        label: &str,
        unit: Unit,
        better: Option<Better>,
        values: Vec<Option<f64>>,
    ) {
        self.metrics.push(Metric {
            key: key.into(),
            label: label.into(),
            unit,
            better,
            censored: vec![false; values.len()],
            values,
        });
    }
}

/// The metrics and times to capacity of `views` (one per run, in `runs` order).
pub fn build(scenario: &str, runs: Vec<RunInfo>, views: &[RunView]) -> Comparison {
    use Better::{Higher, Lower};
    let mut r = Rows {
        views,
        metrics: Vec::new(),
    };
    for p in ["p50", "p90", "p99"] {
        r.report(
            &format!("pods.startup_latency_s.{p}"),
            &format!("startup latency {p}"),
            Unit::Seconds,
            Some(Lower),
        );
    }
    r.report(
        "pods.unschedulable_at_end",
        "pods unschedulable at end",
        Unit::Count,
        Some(Lower),
    );
    r.report(
        "pods.not_started_at_end",
        "pods not started at end",
        Unit::Count,
        Some(Lower),
    );
    // Node counts and actions get no judgement: fewer nodes or fewer removals is not better
    // in itself; what they cost and what they did to pods is judged below.
    r.report("nodes.peak", "peak nodes", Unit::Count, None);
    r.computed(
        "average_nodes",
        "average nodes",
        Unit::Plain,
        None,
        RunView::average_nodes,
    );
    r.report("nodes.node_hours", "node-hours", Unit::Hours, None);
    r.report("cost.total_usd", "cost", Unit::Usd, Some(Lower));
    r.report(
        "cost.per_requested_vcpu_hour",
        "cost per requested vCPU-hour",
        Unit::UsdRate,
        Some(Lower),
    );
    r.report("cost.on_demand_usd", "cost on-demand", Unit::Usd, None);
    r.report("cost.spot_usd", "cost spot", Unit::Usd, None);
    r.computed(
        "spot_share_node_hours",
        "spot share of node-hours",
        Unit::Ratio,
        None,
        RunView::spot_share,
    );
    r.computed(
        "spot_share_cost",
        "spot share of cost",
        Unit::Ratio,
        None,
        |v| {
            let total = v.num("cost.total_usd").unwrap_or(0.0);
            if total > 0.0 {
                v.num("cost.spot_usd").unwrap_or(0.0) / total
            } else {
                0.0
            }
        },
    );
    r.report(
        "utilization.cpu",
        "utilization cpu",
        Unit::Ratio,
        Some(Higher),
    );
    r.report(
        "utilization.memory",
        "utilization memory",
        Unit::Ratio,
        Some(Higher),
    );
    r.report(
        "utilization.daemonset_cpu",
        "DaemonSet share of cpu",
        Unit::Ratio,
        None,
    );
    // Every number under `disruption`: the known ones in reading order, then whatever else
    // the reports hold. Only pods disrupted are judged (fewer is better for the workload);
    // nodes removed and churn are actions.
    let mut keys: Vec<String> = [
        "pods_disrupted.total",
        "pods_disrupted.evicted",
        "pods_disrupted.reclaimed",
        "pods_disrupted.deleted_with_node",
        "recreated_pods",
        "nodes_removed.total",
        "nodes_removed.underutilized",
        "nodes_removed.empty",
        "nodes_removed.drifted",
        "nodes_removed.expired",
        "nodes_removed.interrupted",
        "nodes_removed.other",
        "spot_interruptions",
        "churn.launches_per_hour",
        "churn.terminations_per_hour",
    ]
    .iter()
    .map(|k| format!("disruption.{k}"))
    .collect();
    for v in views {
        if let Some(s) = v.report.get("disruption") {
            leaves(s, "disruption", &mut keys);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    for k in keys {
        let label = k.trim_start_matches("disruption.").replace(['_', '.'], " ");
        let better = k.starts_with("disruption.pods_disrupted.").then_some(Lower);
        r.report(&k, &label, Unit::Plain, better);
    }
    let metrics = r.metrics;

    let steps = views.first().map(|v| v.steps.clone()).unwrap_or_default();
    let at: Vec<f64> = steps.iter().map(|s| s.at_s).collect();
    let per_run: Vec<Vec<Option<f64>>> = views.iter().map(|v| v.times_to_capacity(&at)).collect();
    let capacity = steps
        .iter()
        .enumerate()
        .map(|(i, s)| CapacityRow {
            at_s: s.at_s,
            step: s.label.clone(),
            seconds: per_run.iter().map(|r| r[i]).collect(),
        })
        .collect();
    Comparison {
        scenario: scenario.to_string(),
        runs,
        metrics,
        capacity,
    }
}

/// `value (Δ, Δ%)` against the first run.
pub fn cell(unit: Unit, values: &[Option<f64>], i: usize) -> String {
    let Some(v) = values.get(i).copied().flatten() else {
        return "—".into();
    };
    let shown = unit.fmt(v);
    if i == 0 {
        return shown;
    }
    let Some(base) = values.first().copied().flatten() else {
        return shown;
    };
    let d = v - base;
    if d.abs() < 1e-9 {
        return format!("{shown} (=)");
    }
    if unit == Unit::Ratio || base.abs() < 1e-9 {
        return format!("{shown} ({})", unit.fmt_delta(d));
    }
    let pct = d / base.abs() * 100.0;
    let digits = if pct.abs() < 10.0 { 1 } else { 0 };
    format!(
        "{shown} ({}, {}{:.digits$} %)",
        unit.fmt_delta(d),
        if pct < 0.0 { "−" } else { "+" },
        pct.abs()
    )
}

/// Time to capacity as shown: seconds, or `never` when pods stayed pending.
pub fn capacity_cell(values: &[Option<f64>], i: usize) -> String {
    match (
        values.get(i).copied().flatten(),
        values.first().copied().flatten(),
    ) {
        (None, _) => "never".into(),
        (Some(v), Some(b)) if i > 0 && (v - b).abs() >= 0.05 => {
            format!("{v:.1} s ({})", Unit::Seconds.fmt_delta(v - b))
        }
        (Some(v), _) => format!("{v:.1} s"),
    }
}

/// At most this many timeline steps in the tables (compare.json has all).
pub const MAX_STEP_ROWS: usize = 50;

pub fn compare_md(c: &Comparison) -> String {
    let mut s = String::new();
    let base = c.runs.first().map(|r| r.label.as_str()).unwrap_or("");
    let _ = writeln!(s, "## {} — comparison\n", c.scenario);
    let _ = writeln!(
        s,
        "Each column is one run (its reports are in the directory of the same name); changes are against **{base}**.\n"
    );
    let head: Vec<String> = c.runs.iter().map(|r| md_escape(&r.label)).collect();
    let _ = writeln!(s, "| metric | {} |", head.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(c.runs.len()));
    for m in &c.metrics {
        let cells: Vec<String> = (0..c.runs.len()).map(|i| m.cell(i)).collect();
        let _ = writeln!(s, "| {} | {} |", md_escape(&m.label), cells.join(" | "));
    }
    if c.metrics.iter().any(Metric::any_censored) {
        let _ = writeln!(s, "\n{CENSORED_NOTE}");
    }
    if !c.capacity.is_empty() {
        let _ = writeln!(
            s,
            "\n### Time to capacity\n\nFrom each timeline step until no pod is pending (`never`: pods were still pending at the end).\n"
        );
        let _ = writeln!(s, "| at | step | {} |", head.join(" | "));
        let _ = writeln!(s, "|---|---|{}", "---:|".repeat(c.runs.len()));
        for row in c.capacity.iter().take(MAX_STEP_ROWS) {
            let cells: Vec<String> = (0..c.runs.len())
                .map(|i| capacity_cell(&row.seconds, i))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                crate::svg::fmt_time(row.at_s),
                md_escape(&row.step),
                cells.join(" | ")
            );
        }
        if c.capacity.len() > MAX_STEP_ROWS {
            let _ = writeln!(
                s,
                "\n…and {} more steps (see compare.json).",
                c.capacity.len() - MAX_STEP_ROWS
            );
        }
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `compare.json`: the runs, every metric with its values and changes against the first run,
/// the times to capacity, and each run's full `report.json`.
pub fn compare_json(c: &Comparison, views: &[RunView]) -> String {
    let metrics: Vec<Value> = c
        .metrics
        .iter()
        .map(|m| {
            let base = m.values.first().copied().flatten();
            let delta: Vec<Value> = m
                .values
                .iter()
                .map(|v| match (v, base) {
                    (Some(v), Some(b)) => json!(round6(v - b)),
                    _ => Value::Null,
                })
                .collect();
            let delta_pct: Vec<Value> = m
                .values
                .iter()
                .map(|v| match (v, base) {
                    (Some(v), Some(b)) if b.abs() > 1e-12 => json!(round6((v - b) / b.abs() * 100.0)),
                    _ => Value::Null,
                })
                .collect();
            json!({
                "key": m.key,
                "label": m.label,
                "unit": m.unit.as_str(),
                "better": m.better.map(|b| match b { Better::Lower => "lower", Better::Higher => "higher" }),
                "values": m.values.iter().map(|v| v.map(round6)).collect::<Vec<_>>(),
                "lower_bound": m.censored,
                "delta": delta,
                "delta_pct": delta_pct,
            })
        })
        .collect();
    let capacity: Vec<Value> = c
        .capacity
        .iter()
        .map(|r| {
            json!({
                "at_s": round6(r.at_s),
                "step": r.step,
                "seconds": r.seconds.iter().map(|v| v.map(round6)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let runs: Vec<Value> = c
        .runs
        .iter()
        .zip(views)
        .map(|(r, v)| {
            json!({
                "label": r.label,
                "autoscaler": r.autoscaler,
                "variant": r.variant,
                "dir": r.dir,
                "report": v.report,
            })
        })
        .collect();
    let doc = json!({
        "schema_version": 2,
        "scenario": c.scenario,
        "baseline": c.runs.first().map(|r| r.label.clone()),
        "runs": runs,
        "metrics": metrics,
        "time_to_capacity": capacity,
    });
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn round6(v: f64) -> f64 {
    crate::round(v, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_changes_against_the_first_run() {
        let vals = [Some(10.0), Some(12.5), None, Some(10.0)];
        assert_eq!(cell(Unit::Seconds, &vals, 0), "10.0 s");
        assert_eq!(cell(Unit::Seconds, &vals, 1), "12.5 s (+2.5 s, +25 %)");
        assert_eq!(cell(Unit::Seconds, &vals, 2), "—");
        assert_eq!(cell(Unit::Seconds, &vals, 3), "10.0 s (=)");
        assert_eq!(
            cell(Unit::Usd, &[Some(2.0), Some(1.5)], 1),
            "$1.50 (−$0.50, −25 %)"
        );
        assert_eq!(
            cell(Unit::Ratio, &[Some(0.2), Some(0.25)], 1),
            "25.0 % (+5.0 pp)"
        );
    }

    #[test]
    fn capacity_cells_say_never_when_pods_stayed_pending() {
        assert_eq!(capacity_cell(&[Some(30.0), None], 1), "never");
        assert_eq!(
            capacity_cell(&[Some(30.0), Some(45.0)], 1),
            "45.0 s (+15.0 s)"
        );
        assert_eq!(capacity_cell(&[Some(30.0), Some(45.0)], 0), "30.0 s");
    }

    fn view(label: &str, report: Value) -> RunView {
        RunView {
            label: label.into(),
            report,
            duration_s: 3600.0,
            samples: Vec::new(),
            nodes: Vec::new(),
            startup_s: Vec::new(),
            pending_deltas: Vec::new(),
            steps: Vec::new(),
        }
    }

    // docs/reports.md "compare": a latency that counts pods that never started is a lower
    // bound, and says so; only pods disrupted, not nodes removed, are judged.
    #[test]
    fn a_latency_with_pods_that_never_started_is_marked_as_a_lower_bound() {
        let views = [
            view(
                "karpenter",
                json!({"pods": {"startup_latency_s": {"p99": 40.0, "censored": 0}},
                       "disruption": {"nodes_removed": {"total": 3}, "pods_disrupted": {"total": 5}}}),
            ),
            view(
                "cluster-autoscaler",
                json!({"pods": {"startup_latency_s": {"p99": 3540.0, "censored": 4}},
                       "disruption": {"nodes_removed": {"total": 1}, "pods_disrupted": {"total": 2}}}),
            ),
        ];
        let c = build("s", Vec::new(), &views);
        let p99 = c
            .metrics
            .iter()
            .find(|m| m.key == "pods.startup_latency_s.p99")
            .expect("p99 row");
        assert_eq!(p99.censored, vec![false, true]);
        assert_eq!(p99.cell(0), "40.0 s");
        assert!(p99.cell(1).starts_with("≥ 3540.0 s"), "{}", p99.cell(1));
        let runs = views
            .iter()
            .map(|v| RunInfo {
                label: v.label.clone(),
                autoscaler: v.label.clone(),
                variant: None,
                dir: v.label.clone(),
            })
            .collect();
        let md = compare_md(&build("s", runs, &views));
        assert!(md.contains(CENSORED_NOTE), "{md}");
        let better = |k: &str| c.metrics.iter().find(|m| m.key == k).and_then(|m| m.better);
        assert_eq!(
            better("disruption.pods_disrupted.total"),
            Some(Better::Lower)
        );
        assert_eq!(better("disruption.nodes_removed.total"), None);
    }

    #[test]
    fn leaves_flatten_nested_numbers() {
        let mut out = Vec::new();
        leaves(
            &json!({"a": 1, "b": {"c": 2.5, "d": "x"}, "e": [1]}),
            "disruption",
            &mut out,
        );
        assert_eq!(out, vec!["disruption.a", "disruption.b.c"]);
    }
}
