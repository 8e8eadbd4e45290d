//! The runs of a sweep, written down: what every output needs to know about the sweep, free of
//! paths on the machine that ran it, so that a shard carries it to `merge`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use asim_workload::load::{self, RawScenario};
use asim_workload::set::{Override, Seg, Target};
use asim_workload::sweep::{Direction, Sweep};
use asim_workload::{AutoscalerKind, Scenario};

use crate::{RunResult, SWEEP_SCHEMA_VERSION, SweepError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanParameter {
    pub name: String,
    pub path: String,
    /// The base scenario's value at the path (none when the base does not set it).
    pub base: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanVariant {
    pub label: String,
    /// One value per parameter; empty for the base.
    pub values: Vec<Value>,
    pub description: String,
}

impl PlanVariant {
    pub fn is_base(&self) -> bool {
        self.values.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanConstraint {
    pub key: String,
    pub op: String,
    pub bound: f64,
}

impl PlanConstraint {
    pub fn holds(&self, x: f64) -> bool {
        let b = self.bound;
        match self.op.as_str() {
            "<=" => x <= b,
            "<" => x < b,
            ">=" => x >= b,
            ">" => x > b,
            _ => (x - b).abs() <= 1e-9 * b.abs().max(1.0),
        }
    }

    pub fn text(&self) -> String {
        format!("{} {} {}", self.key, self.op, crate::fmt_value(self.bound))
    }
}

/// Everything the outputs say about the sweep itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub schema_version: u32,
    pub name: String,
    /// The base scenario as the sweep file names it.
    pub scenario: String,
    pub scenario_name: String,
    pub autoscaler: String,
    pub seeds: Vec<u64>,
    pub parameters: Vec<PlanParameter>,
    pub variants: Vec<PlanVariant>,
    pub minimize: bool,
    pub objective: String,
    pub constraints: Vec<PlanConstraint>,
    /// `--set` overrides every variant (the base included) ran with.
    pub base_overrides: Vec<String>,
}

impl Plan {
    pub fn new(sweep: &Sweep, base: &[Override]) -> Result<Plan, SweepError> {
        let raw = load::read_scenario(&sweep.scenario)
            .map_err(|e| SweepError::Input(format!("the base scenario: {e}")))?;
        let opts = asim_workload::set::LoadOptions {
            variants: Vec::new(),
            overrides: base.to_vec(),
            limits: sweep.limits,
        };
        let scenario = Scenario::load_with(&sweep.scenario, &opts)
            .map_err(|e| SweepError::Input(format!("the base scenario: {e}")))?;
        let kind = sweep.autoscaler.unwrap_or(scenario.default_autoscaler);
        let parameters = sweep
            .parameters
            .iter()
            .map(|p| PlanParameter {
                name: p.name.clone(),
                path: p.path_text.clone(),
                base: base_value(&raw, &p.target, &p.path),
            })
            .collect();
        let variants = sweep
            .variants
            .iter()
            .map(|v| PlanVariant {
                label: v.label.clone(),
                values: v.values.clone(),
                description: describe(sweep, v),
            })
            .collect();
        Ok(Plan {
            schema_version: SWEEP_SCHEMA_VERSION,
            name: sweep.name.clone(),
            scenario: normalize(&sweep.scenario),
            scenario_name: scenario.name.clone(),
            autoscaler: kind.as_str().to_string(),
            seeds: sweep.seed_list(scenario.seed),
            parameters,
            variants,
            minimize: sweep.objective.direction == Direction::Minimize,
            objective: sweep.objective.key.clone(),
            constraints: sweep
                .constraints
                .iter()
                .map(|c| PlanConstraint {
                    key: c.key.clone(),
                    op: c.op.as_str().to_string(),
                    bound: c.bound,
                })
                .collect(),
            base_overrides: base.iter().map(|o| o.raw.clone()).collect(),
        })
    }

    /// Every (variant, seed index), variant-major; with a shard `(i, n)`, those whose position
    /// in that list is i modulo n (round robin, so every shard gets a share of each variant).
    pub fn runs(&self, shard: Option<(usize, usize)>) -> Vec<(usize, usize)> {
        let all = (0..self.variants.len()).flat_map(|v| (0..self.seeds.len()).map(move |s| (v, s)));
        match shard {
            None => all.collect(),
            Some((i, n)) => all
                .enumerate()
                .filter(|(k, _)| k % n == i)
                .map(|(_, r)| r)
                .collect(),
        }
    }

    pub fn total_runs(&self) -> usize {
        self.variants.len() * self.seeds.len()
    }

    fn kind(&self) -> AutoscalerKind {
        match self.autoscaler.as_str() {
            "karpenter" => AutoscalerKind::Karpenter,
            "cluster-autoscaler" => AutoscalerKind::ClusterAutoscaler,
            _ => AutoscalerKind::None,
        }
    }
}

/// `name=value, …` (the base: `base scenario`).
fn describe(sweep: &Sweep, v: &asim_workload::sweep::Variant) -> String {
    if v.is_base() {
        return "base scenario".into();
    }
    sweep
        .parameters
        .iter()
        .zip(&v.values)
        .map(|(p, x)| format!("{}={}", p.name, crate::yaml::flow(x)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `scenarios/sweeps/../x.yaml` → `scenarios/x.yaml`, with `/` on every platform: the path
/// the outputs print for commands to copy.
fn normalize(p: &std::path::Path) -> String {
    use std::path::Component;
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir if parts.last().is_some_and(|l| l != "..") => {
                parts.pop();
            }
            Component::CurDir => {}
            Component::RootDir => parts.push(String::new()),
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// The value at `path` in the base scenario's document, before any override.
fn base_value(raw: &RawScenario, target: &Target, path: &[Seg]) -> Option<Value> {
    let text = match target {
        Target::Scenario => raw.text.to_string(),
        Target::Manifest {
            kind,
            namespace,
            name,
        } => raw
            .manifests
            .iter()
            .find(|m| {
                m.object.kind() == kind
                    && &m.name == name
                    && namespace.as_ref().is_none_or(|ns| &m.namespace == ns)
            })?
            .text
            .to_string(),
    };
    let tree: Value = serde_saphyr::from_str(&text).ok()?;
    get_in(&tree, path).cloned()
}

/// The value at `path`, picking `[field=value]` items as `set_in` does.
pub(crate) fn get_in<'a>(doc: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = doc;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.get(k)?,
            Seg::Index(i) => cur.get(*i)?,
            Seg::Match { field, value } => cur
                .as_array()?
                .iter()
                .find(|it| asim_workload::set::item_matches(it, field, value))?,
        };
    }
    Some(cur)
}

/// Run variant `v` on seed index `s`. A variant the scenario refuses, a run error, and even a
/// panic in the simulation become this run's error: the other runs go on.
pub(crate) fn execute(
    sweep: &Sweep,
    plan: &Plan,
    base: &[Override],
    v: usize,
    s: usize,
    cancel: Option<&'static AtomicBool>,
) -> RunResult {
    let seed = plan.seeds[s];
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let outcome = catch_unwind(AssertUnwindSafe(
        || -> Result<BTreeMap<String, f64>, String> {
            let mut scenario = sweep
                .scenario_for(&sweep.variants[v], base)
                .map_err(|e| e.to_string())?;
            scenario.seed = seed;
            if cancelled() {
                return Err("interrupted".into());
            }
            let output = asim_sim::run::run(&scenario, plan.kind(), |_, _| {
                if cancelled() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .map_err(|e| e.to_string())?;
            if output.meta.stopped_at_seconds.is_some() {
                return Err("interrupted".into());
            }
            Ok(numeric_values(&output.report))
        },
    ))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("internal error (a bug: please report it): {what}"))
    });
    match outcome {
        Ok(values) => RunResult {
            variant: v,
            seed_index: s,
            seed,
            values: Some(values),
            error: None,
        },
        Err(e) => RunResult {
            variant: v,
            seed_index: s,
            seed,
            values: None,
            error: Some(e),
        },
    }
}

/// Every numeric leaf of the report that every report has (map entries such as
/// `nodes.by_instance_type.*` vary from run to run and are left out).
fn numeric_values(report: &asim_report::Report) -> BTreeMap<String, f64> {
    let keys: BTreeSet<String> = asim_report::numeric_keys();
    let mut out = BTreeMap::new();
    let Ok(v) = serde_json::to_value(report) else {
        return out;
    };
    for key in keys {
        let mut cur = &v;
        let mut found = true;
        for part in key.split('.') {
            match cur.get(part) {
                Some(next) => cur = next,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if found && let Some(x) = cur.as_f64() {
            out.insert(key, x);
        }
    }
    out
}
