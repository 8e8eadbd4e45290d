//! What `check` judges: a scenario's `expect` thresholds and a baseline `report.json`, both read
//! from `report.json` as a JSON tree so keys added to the report can be named without changes
//! here.

use std::collections::BTreeMap;

use serde_json::Value;

/// Bounds on one report key (`expect:` in a scenario): the run fails `check` outside them.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// The number at a dotted path of a report (`pods.startup_latency_s.p99`). Map keys may hold
/// dots (`nodes.by_instance_type.m5.xlarge`). A key missing from a count map (a parent named
/// `by_…`) reads as 0: no node of that type was launched.
pub fn lookup(report: &Value, path: &str) -> Option<f64> {
    let parts: Vec<&str> = path.split('.').collect();
    walk(report, &parts, "")
}

fn walk(cur: &Value, parts: &[&str], parent_key: &str) -> Option<f64> {
    if parts.is_empty() {
        return cur.as_f64();
    }
    let map = cur.as_object()?;
    // Shortest key first; a longer one only when the parts joined with dots are a key.
    for i in 1..=parts.len() {
        let key = parts[..i].join(".");
        if let Some(next) = map.get(&key)
            && let Some(v) = walk(next, &parts[i..], &key)
        {
            return Some(v);
        }
    }
    if parent_key.starts_with("by_") && map.values().all(Value::is_number) {
        return Some(0.0);
    }
    None
}

/// Which way a number gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The keys a baseline comparison looks at, and which way each gets worse. Kept short on
/// purpose: what a reviewer of an autoscaling change cares about (cost, how fast pods start,
/// how big the cluster got, whether pods were left behind, how well nodes are packed). Small
/// counts (disruptions, evictions) swing by large percentages on harmless changes and are left
/// to `expect` thresholds.
pub const BASELINE_KEYS: &[(&str, Better)] = &[
    ("cost.total_usd", Better::Lower),
    ("pods.startup_latency_s.p50", Better::Lower),
    ("pods.startup_latency_s.p90", Better::Lower),
    ("pods.startup_latency_s.p99", Better::Lower),
    ("pods.unschedulable_at_end", Better::Lower),
    ("pods.not_started_at_end", Better::Lower),
    ("nodes.peak", Better::Lower),
    ("nodes.node_hours", Better::Lower),
    ("utilization.cpu", Better::Higher),
    ("utilization.memory", Better::Higher),
];

/// Numbers closer than this are equal (float noise in values rounded to 3–4 decimals).
const EPS: f64 = 1e-9;

/// One judged item.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `expect` or `baseline`.
    pub kind: &'static str,
    pub key: String,
    pub value: Option<f64>,
    /// What it was held to: `max 90`, `min 0.2, max 0.9`, `baseline 3.1 ±5%`.
    pub limit: String,
    pub pass: bool,
    /// Why it failed, or a note (`improved by 12%`).
    pub message: String,
}

/// Evaluate the thresholds that apply to `autoscaler`: those under `all`, then its own.
pub fn evaluate_expect(
    report: &Value,
    autoscaler: &str,
    expect: &BTreeMap<String, BTreeMap<String, Threshold>>,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for group in ["all", autoscaler] {
        let Some(keys) = expect.get(group) else {
            continue;
        };
        for (key, t) in keys {
            let mut limit = Vec::new();
            if let Some(m) = t.min {
                limit.push(format!("min {}", num(m)));
            }
            if let Some(m) = t.max {
                limit.push(format!("max {}", num(m)));
            }
            let value = lookup(report, key);
            let (pass, message) = match value {
                None => (false, format!("{key} is not a number in report.json")),
                Some(v) if t.min.is_some_and(|m| v < m - EPS) => (
                    false,
                    format!(
                        "{} is below the minimum {}",
                        num(v),
                        num(t.min.unwrap_or(0.0))
                    ),
                ),
                Some(v) if t.max.is_some_and(|m| v > m + EPS) => (
                    false,
                    format!(
                        "{} is above the maximum {}",
                        num(v),
                        num(t.max.unwrap_or(0.0))
                    ),
                ),
                Some(_) => (true, String::new()),
            };
            out.push(Outcome {
                kind: "expect",
                key: key.clone(),
                value,
                limit: limit.join(", "),
                pass,
                message,
            });
        }
    }
    out
}

/// Compare `current` with `baseline` on [`BASELINE_KEYS`]: a key fails when it got worse by
/// more than `tolerance_pct` percent of the baseline value (so a baseline of 0 allows no
/// increase). Getting better never fails. Keys the baseline lacks are skipped (added since).
pub fn compare_baseline(current: &Value, baseline: &Value, tolerance_pct: f64) -> Vec<Outcome> {
    let tol = tolerance_pct / 100.0;
    let mut out = Vec::new();
    for (key, better) in BASELINE_KEYS {
        let Some(base) = lookup(baseline, key) else {
            continue;
        };
        let value = lookup(current, key);
        let limit = format!("baseline {} ±{}%", num(base), num(tolerance_pct));
        let Some(v) = value else {
            out.push(Outcome {
                kind: "baseline",
                key: key.to_string(),
                value,
                limit,
                pass: false,
                message: format!("{key} is in the baseline but not in report.json"),
            });
            continue;
        };
        let slack = tol * base.abs() + EPS;
        let worse = match better {
            Better::Lower => v - base,
            Better::Higher => base - v,
        };
        let change = if base.abs() > EPS {
            format!(" ({:+.1}%)", (v - base) / base.abs() * 100.0)
        } else {
            String::new()
        };
        let (pass, message) = if worse > slack {
            (
                false,
                format!(
                    "regressed: {} against {}{change}, beyond {}%",
                    num(v),
                    num(base),
                    num(tolerance_pct)
                ),
            )
        } else if -worse > slack {
            (
                true,
                format!(
                    "improved: {} against {}{change}; update the baseline",
                    num(v),
                    num(base)
                ),
            )
        } else {
            (true, String::new())
        };
        out.push(Outcome {
            kind: "baseline",
            key: key.to_string(),
            value,
            limit,
            pass,
            message,
        });
    }
    out
}

/// A number as a person writes it: no trailing zeros, at most 4 decimals.
pub fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "pods": {"unschedulable_at_end": 0, "startup_latency_s": {"p50": 2.5, "p90": 4.0, "p99": 20.0}},
            "nodes": {"peak": 6, "node_hours": 12.0, "by_instance_type": {"m5.xlarge": 6}, "by_capacity_type": {"on-demand": 6}},
            "cost": {"total_usd": 2.304},
            "utilization": {"cpu": 0.36, "memory": 0.18}
        })
    }

    #[test]
    fn lookup_reads_nested_keys_and_dotted_map_keys() {
        let r = report();
        assert_eq!(lookup(&r, "pods.startup_latency_s.p99"), Some(20.0));
        assert_eq!(lookup(&r, "nodes.by_instance_type.m5.xlarge"), Some(6.0));
        assert_eq!(lookup(&r, "nodes.by_capacity_type.spot"), Some(0.0));
        assert_eq!(lookup(&r, "cost.totl_usd"), None);
        assert_eq!(lookup(&r, "nodes"), None);
    }

    fn thresholds(
        group: &str,
        key: &str,
        min: Option<f64>,
        max: Option<f64>,
    ) -> BTreeMap<String, BTreeMap<String, Threshold>> {
        let mut inner = BTreeMap::new();
        inner.insert(key.to_string(), Threshold { min, max });
        let mut e = BTreeMap::new();
        e.insert(group.to_string(), inner);
        e
    }

    #[test]
    fn expect_fails_above_max_and_below_min() {
        let r = report();
        let o = evaluate_expect(
            &r,
            "none",
            &thresholds("none", "cost.total_usd", None, Some(2.0)),
        );
        assert_eq!(o.len(), 1);
        assert!(!o[0].pass);
        assert!(
            o[0].message.contains("above the maximum 2"),
            "{}",
            o[0].message
        );
        let o = evaluate_expect(
            &r,
            "none",
            &thresholds("all", "utilization.cpu", Some(0.5), None),
        );
        assert!(!o[0].pass && o[0].message.contains("below the minimum 0.5"));
        let o = evaluate_expect(
            &r,
            "none",
            &thresholds("all", "nodes.peak", Some(6.0), Some(6.0)),
        );
        assert!(o[0].pass);
        assert_eq!(o[0].limit, "min 6, max 6");
    }

    #[test]
    fn expect_for_another_autoscaler_is_not_applied() {
        let o = evaluate_expect(
            &report(),
            "none",
            &thresholds("karpenter", "nodes.peak", None, Some(1.0)),
        );
        assert!(o.is_empty());
    }

    #[test]
    fn expect_on_a_missing_key_fails() {
        let o = evaluate_expect(
            &report(),
            "none",
            &thresholds("all", "disruption.drift", None, Some(1.0)),
        );
        assert!(!o[0].pass);
    }

    #[test]
    fn baseline_fails_only_beyond_tolerance_in_the_worse_direction() {
        let base = report();
        let mut cur = report();
        cur["cost"]["total_usd"] = json!(2.4); // +4.2 %
        assert!(compare_baseline(&cur, &base, 5.0).iter().all(|o| o.pass));
        cur["cost"]["total_usd"] = json!(2.5); // +8.5 %
        let o = compare_baseline(&cur, &base, 5.0);
        let cost = o.iter().find(|o| o.key == "cost.total_usd").unwrap();
        assert!(!cost.pass);
        assert!(cost.message.contains("regressed"), "{}", cost.message);
        // Cheaper is better: never a failure.
        cur["cost"]["total_usd"] = json!(1.0);
        assert!(compare_baseline(&cur, &base, 5.0).iter().all(|o| o.pass));
        // Utilization falling is worse.
        cur["utilization"]["cpu"] = json!(0.30);
        let o = compare_baseline(&cur, &base, 5.0);
        assert!(!o.iter().find(|o| o.key == "utilization.cpu").unwrap().pass);
    }

    #[test]
    fn baseline_of_zero_allows_no_increase() {
        let base = report();
        let mut cur = report();
        cur["pods"]["unschedulable_at_end"] = json!(1);
        let o = compare_baseline(&cur, &base, 50.0);
        assert!(
            !o.iter()
                .find(|o| o.key == "pods.unschedulable_at_end")
                .unwrap()
                .pass
        );
    }

    #[test]
    fn num_drops_trailing_zeros() {
        assert_eq!(num(2.0), "2");
        assert_eq!(num(2.304), "2.304");
        assert_eq!(num(0.1 + 0.2), "0.3");
    }
}
