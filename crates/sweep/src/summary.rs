//! Per-variant summaries over the seeds, the ranking, the Pareto fronts and the main effects.
//!
//! A variant meets a constraint when the **mean over its seeds** does (the spread is shown
//! beside it); a variant with a failed run is not ranked. Ties in the objective go to the
//! earlier variant, so the ranking is a total order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::RunResult;
use crate::plan::Plan;

/// The cost axis of the fronts.
pub const COST: &str = "cost.total_usd";
/// The latency axis.
pub const LATENCY: &str = "pods.startup_latency_s.p99";
/// The disruption axis.
pub const DISRUPTED: &str = "disruption.pods_disrupted.total";

/// Mean and spread of one report key over a variant's seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (0 with one seed).
    pub sd: f64,
}

impl Stat {
    fn of(xs: &[f64]) -> Option<Stat> {
        if xs.is_empty() {
            return None;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = if xs.len() > 1 {
            xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Some(Stat {
            mean: round6(mean),
            min: xs.iter().copied().fold(f64::INFINITY, f64::min),
            max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            sd: round6(var.sqrt()),
        })
    }
}

/// Six decimals, so that the written numbers do not depend on the last bits of a sum.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Clone, Debug, Serialize)]
pub struct VariantSummary {
    pub index: usize,
    pub label: String,
    pub description: String,
    pub baseline: bool,
    /// Parameter name → value (empty for the base).
    pub settings: BTreeMap<String, Value>,
    pub runs: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Meets every constraint (on the mean over seeds), with every run done.
    pub feasible: bool,
    /// The constraints it misses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violated: Vec<String>,
    /// 1 for the best feasible variant.
    pub rank: Option<usize>,
    pub metrics: BTreeMap<String, Stat>,
}

impl VariantSummary {
    pub fn mean(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).map(|s| s.mean)
    }

    /// `12.3 ± 0.4` (mean ± standard deviation over seeds), the mean alone for one seed, `—`
    /// when the key has no value.
    pub fn cell(&self, key: &str, seeds: usize) -> String {
        match self.metrics.get(key) {
            None => "—".into(),
            Some(s) if seeds > 1 => format!(
                "{} ± {}",
                crate::fmt_value(round3(s.mean)),
                crate::fmt_value(round3(s.sd))
            ),
            Some(s) => crate::fmt_value(round3(s.mean)),
        }
    }

    /// Why it is not ranked: failed runs, missed constraints.
    pub fn notes(&self) -> String {
        let mut notes = Vec::new();
        if self.failed > 0 {
            notes.push(format!(
                "{} run{} failed",
                self.failed,
                if self.failed == 1 { "" } else { "s" }
            ));
        }
        if !self.violated.is_empty() {
            notes.push(format!("misses {}", self.violated.join(", ")));
        }
        notes.join("; ")
    }
}

/// Three decimals, for tables.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// The report keys the variant tables show: the objective, cost, p99 startup, pods disrupted,
/// then every constrained key, each once.
pub(crate) fn table_keys(plan: &Plan) -> Vec<&str> {
    let mut keys: Vec<&str> = vec![plan.objective.as_str()];
    for k in [COST, LATENCY, DISRUPTED]
        .into_iter()
        .chain(plan.constraints.iter().map(|c| c.key.as_str()))
    {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// How one parameter's values move the results, averaged over the other parameters.
#[derive(Clone, Debug, Serialize)]
pub struct Effect {
    pub parameter: String,
    pub levels: Vec<Level>,
    /// Largest minus smallest level mean of the objective.
    pub objective_spread: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Level {
    pub value: String,
    pub variants: usize,
    /// Mean over the variants at this level of: the objective, cost, p99 startup, pods disrupted.
    pub objective: f64,
    pub cost: f64,
    pub latency_p99: f64,
    pub disrupted: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub variants: Vec<VariantSummary>,
    /// Feasible variants, best first.
    pub ranking: Vec<usize>,
    pub best: Option<usize>,
    /// Variants on the cost vs p99-startup front (feasible ones, cheapest first).
    pub pareto_cost_latency: Vec<usize>,
    /// Variants on the cost vs pods-disrupted front.
    pub pareto_cost_disruption: Vec<usize>,
    pub effects: Vec<Effect>,
    /// The objective of the best variant and of the base on each seed: with common random
    /// numbers a seed's difference is the change's alone, so "better on every seed" means more
    /// than a better mean.
    pub best_vs_base: Vec<SeedPair>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeedPair {
    pub seed: u64,
    pub base: f64,
    pub best: f64,
}

impl Summary {
    /// The ranked variants, then the others in variant order: the tables' row order.
    pub fn display_order(&self) -> Vec<usize> {
        let mut order = self.ranking.clone();
        order.extend(
            self.variants
                .iter()
                .filter(|v| v.rank.is_none())
                .map(|v| v.index),
        );
        order
    }

    pub fn new(plan: &Plan, results: &[RunResult]) -> Summary {
        let mut by_variant: Vec<Vec<&RunResult>> = vec![Vec::new(); plan.variants.len()];
        for r in results {
            if let Some(list) = by_variant.get_mut(r.variant) {
                list.push(r);
            }
        }
        let variants: Vec<VariantSummary> = plan
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let runs = &by_variant[i];
                let mut per_key: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
                let mut errors = Vec::new();
                for r in runs {
                    match (&r.values, &r.error) {
                        (Some(vals), _) => {
                            for (k, x) in vals {
                                per_key.entry(k.as_str()).or_default().push(*x);
                            }
                        }
                        (None, e) => errors.push(format!(
                            "seed {}: {}",
                            r.seed,
                            e.as_deref().unwrap_or("failed")
                        )),
                    }
                }
                let metrics: BTreeMap<String, Stat> = per_key
                    .into_iter()
                    .filter_map(|(k, xs)| Stat::of(&xs).map(|s| (k.to_string(), s)))
                    .collect();
                let complete = errors.is_empty() && runs.len() == plan.seeds.len();
                let violated: Vec<String> = plan
                    .constraints
                    .iter()
                    .filter(|c| !metrics.get(&c.key).is_some_and(|s| c.holds(s.mean)))
                    .map(|c| c.text())
                    .collect();
                VariantSummary {
                    index: i,
                    label: v.label.clone(),
                    description: v.description.clone(),
                    baseline: v.is_base(),
                    settings: plan
                        .parameters
                        .iter()
                        .zip(&v.values)
                        .map(|(p, x)| (p.name.clone(), x.clone()))
                        .collect(),
                    runs: runs.len(),
                    failed: errors.len(),
                    feasible: complete && violated.is_empty(),
                    errors,
                    violated,
                    rank: None,
                    metrics,
                }
            })
            .collect();

        let obj = |v: &VariantSummary| v.mean(&plan.objective).unwrap_or(f64::NAN);
        let mut ranking: Vec<usize> = variants
            .iter()
            .filter(|v| v.feasible && obj(v).is_finite())
            .map(|v| v.index)
            .collect();
        ranking.sort_by(|&a, &b| {
            let (x, y) = (obj(&variants[a]), obj(&variants[b]));
            let ord = if plan.minimize {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            };
            ord.then(a.cmp(&b))
        });
        let mut variants = variants;
        for (r, &i) in ranking.iter().enumerate() {
            variants[i].rank = Some(r + 1);
        }
        let front = |y: &str| pareto(&variants, COST, y);
        let best = ranking.first().copied();
        let objective_on = |v: usize, seed: usize| {
            by_variant[v]
                .iter()
                .find(|r| r.seed_index == seed)
                .and_then(|r| r.values.as_ref()?.get(&plan.objective).copied())
        };
        let base = plan.variants.iter().position(|v| v.is_base());
        let best_vs_base = match (best, base) {
            (Some(b), Some(o)) if b != o => (0..plan.seeds.len())
                .filter_map(|s| {
                    Some(SeedPair {
                        seed: plan.seeds[s],
                        base: objective_on(o, s)?,
                        best: objective_on(b, s)?,
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        Summary {
            best,
            best_vs_base,
            pareto_cost_latency: front(LATENCY),
            pareto_cost_disruption: front(DISRUPTED),
            effects: effects(plan, &variants),
            ranking,
            variants,
        }
    }
}

/// The feasible variants no other feasible variant beats on both `x` and `y` (lower is
/// better on both), by increasing `x`.
fn pareto(variants: &[VariantSummary], x: &str, y: &str) -> Vec<usize> {
    let pts: Vec<(usize, f64, f64)> = variants
        .iter()
        .filter(|v| v.feasible)
        .filter_map(|v| Some((v.index, v.mean(x)?, v.mean(y)?)))
        .collect();
    let mut front: Vec<(usize, f64, f64)> = pts
        .iter()
        .filter(|(i, a, b)| {
            !pts.iter()
                .any(|(j, c, d)| j != i && c <= a && d <= b && (c < a || d < b))
        })
        .copied()
        .collect();
    front.sort_by(|p, q| {
        p.1.total_cmp(&q.1)
            .then(p.2.total_cmp(&q.2))
            .then(p.0.cmp(&q.0))
    });
    front.into_iter().map(|p| p.0).collect()
}

/// Levels with more distinct values than this are grouped into bins.
const MAX_LEVELS: usize = 8;
const BINS: usize = 4;

fn effects(plan: &Plan, variants: &[VariantSummary]) -> Vec<Effect> {
    let done: Vec<&VariantSummary> = variants
        .iter()
        .filter(|v| !v.baseline && v.failed == 0 && v.runs > 0)
        .collect();
    let mut out = Vec::new();
    for (p, param) in plan.parameters.iter().enumerate() {
        // The level of each variant: its value, or a bin of numeric values when there are many.
        let value_of = |v: &VariantSummary| plan.variants[v.index].values.get(p).cloned();
        let mut distinct: Vec<String> = done
            .iter()
            .filter_map(|v| value_of(v).map(|x| crate::yaml::flow(&x)))
            .collect();
        distinct.sort();
        distinct.dedup();
        let numeric: Option<Vec<f64>> = done
            .iter()
            .map(|v| value_of(v).and_then(|x| level_number(&x)))
            .collect();
        let binned = distinct.len() > MAX_LEVELS && numeric.is_some();
        let (lo, hi) = numeric.as_ref().map_or((0.0, 0.0), |xs| {
            (
                xs.iter().copied().fold(f64::INFINITY, f64::min),
                xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        });
        let width = (hi - lo) / BINS as f64;
        let mut groups: BTreeMap<(usize, String), Vec<&VariantSummary>> = BTreeMap::new();
        for (k, v) in done.iter().enumerate() {
            let Some(x) = value_of(v) else { continue };
            let key = if binned && width > 0.0 {
                let xs = numeric.as_ref().map_or(0.0, |n| n[k]);
                let b = (((xs - lo) / width) as usize).min(BINS - 1);
                let a = lo + b as f64 * width;
                (
                    b,
                    format!("{} – {}", crate::fmt_value(a), crate::fmt_value(a + width)),
                )
            } else {
                // Order levels as the sweep file lists them: by first appearance.
                let text = crate::yaml::flow(&x);
                let first = plan
                    .variants
                    .iter()
                    .position(|pv| pv.values.get(p).map(crate::yaml::flow).as_ref() == Some(&text))
                    .unwrap_or(0);
                (first, text)
            };
            groups.entry(key).or_default().push(v);
        }
        let mean = |vs: &[&VariantSummary], key: &str| {
            let xs: Vec<f64> = vs.iter().filter_map(|v| v.mean(key)).collect();
            if xs.is_empty() {
                f64::NAN
            } else {
                round6(xs.iter().sum::<f64>() / xs.len() as f64)
            }
        };
        let levels: Vec<Level> = groups
            .into_iter()
            .map(|((_, value), vs)| Level {
                value,
                variants: vs.len(),
                objective: mean(&vs, &plan.objective),
                cost: mean(&vs, COST),
                latency_p99: mean(&vs, LATENCY),
                disrupted: mean(&vs, DISRUPTED),
            })
            .collect();
        let objs: Vec<f64> = levels
            .iter()
            .map(|l| l.objective)
            .filter(|x| x.is_finite())
            .collect();
        let spread = if objs.is_empty() {
            0.0
        } else {
            objs.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                - objs.iter().copied().fold(f64::INFINITY, f64::min)
        };
        out.push(Effect {
            parameter: param.name.clone(),
            levels,
            objective_spread: round6(spread),
        });
    }
    out
}

/// A value as a number for binning: numbers, and durations in seconds.
fn level_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => asim_core::k8s::duration::parse_duration(s)
            .ok()
            .map(|ms| ms as f64 / 1000.0),
        _ => None,
    }
}
