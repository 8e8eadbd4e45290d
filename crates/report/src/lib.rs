//! What a run reports (docs/design.md §10): the [`Recorder`] that streams facts during the run, the
//! [`Report`] computed from them at the end, and the writers for `report.json`, `report.md`
//! and the CSV files.

mod assemble;
pub mod compare;
pub mod expect;
pub mod html;
pub mod output;
mod recorder;
pub mod svg;
pub mod view;
mod writers;

use std::collections::BTreeMap;

use serde::Serialize;

pub use assemble::{RunData, assemble};
pub use recorder::{NodeRecord, Recorder, Sample};
pub use writers::{
    RUN_OUTPUTS, RunMeta, decisions_digest, report_json, report_md, write_files, write_outputs,
};

pub const SCHEMA_VERSION: u32 = 1;

/// Summary statistics of a sample, in seconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

impl Stats {
    /// Nearest-rank percentiles over `values` (ms), reported in seconds rounded to the ms.
    pub fn from_ms(mut values: Vec<u64>) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        values.sort_unstable();
        let n = values.len();
        let rank = |p: f64| {
            let idx = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[idx] as f64 / 1000.0
        };
        let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
        Stats {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: values[n - 1] as f64 / 1000.0,
            mean: round((sum as f64 / n as f64) / 1000.0, 3),
            count: n as u64,
        }
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    let r = (x * m).round() / m;
    if r == 0.0 { 0.0 } else { r }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NeverScheduled {
    pub pod: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PodsReport {
    pub created: u64,
    pub scheduled: u64,
    pub unschedulable_at_end: u64,
    pub evicted: u64,
    pub succeeded: u64,
    pub running_at_end: u64,
    pub scheduling_latency_s: Stats,
    pub startup_latency_s: Stats,
    /// Startup latency of pods created to replace evicted ones.
    pub replacement_startup_latency_s: Stats,
    pub never_scheduled: Vec<NeverScheduled>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct NodesReport {
    pub launched: u64,
    pub terminated: u64,
    pub peak: u64,
    pub node_hours: f64,
    pub by_instance_type: BTreeMap<String, u64>,
    pub by_capacity_type: BTreeMap<String, u64>,
    pub by_zone: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CostReport {
    pub total_usd: f64,
    pub on_demand_usd: f64,
    pub spot_usd: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Utilization {
    pub cpu: f64,
    pub memory: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DisruptionReport {
    /// Nodes removed by consolidation (multi- and single-node; cluster-autoscaler's drained
    /// scale-downs too).
    pub consolidations: u64,
    /// Empty nodes removed.
    pub emptiness: u64,
    pub drift: u64,
    pub expiration: u64,
    /// Spot instances the cloud reclaimed.
    pub spot_interruptions: u64,
    /// Nodes Karpenter deleted on an interruption event (spot warning, scheduled change…).
    pub interruption: u64,
    pub evicted_pods: u64,
    /// Pods created to replace evicted ones; their wait is `pods.replacement_startup_latency_s`.
    pub recreated_pods: u64,
    /// Node launches and terminations per simulated hour.
    pub churn: Churn,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Churn {
    pub launches_per_hour: f64,
    pub terminations_per_hour: f64,
}

/// `report.json`. Keys are part of the contract (docs/design.md §10): add, never rename without a
/// `schema_version` bump.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub schema_version: u32,
    pub scenario: String,
    pub autoscaler: String,
    pub seed: u64,
    pub duration_s: u64,
    pub pods: PodsReport,
    pub nodes: NodesReport,
    pub cost: CostReport,
    pub utilization: Utilization,
    pub disruption: DisruptionReport,
}

/// Every numeric leaf of `report.json`, as a dotted path (`pods.startup_latency_s.p99`).
pub fn numeric_keys() -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Number(_) => {
                out.insert(prefix.to_string());
            }
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(v, &p, out);
                }
            }
            _ => {}
        }
    }
    let r = Report {
        schema_version: SCHEMA_VERSION,
        scenario: String::new(),
        autoscaler: String::new(),
        seed: 0,
        duration_s: 0,
        pods: PodsReport::default(),
        nodes: NodesReport::default(),
        cost: CostReport::default(),
        utilization: Utilization::default(),
        disruption: DisruptionReport::default(),
    };
    let mut out = std::collections::BTreeSet::new();
    if let Ok(v) = serde_json::to_value(&r) {
        walk(&v, "", &mut out);
    }
    out.remove("schema_version");
    out.remove("seed");
    out
}

impl Report {
    /// The numeric value at a dotted path (`pods.startup_latency_s.p99`), for `expect`/`check`.
    pub fn value_at(&self, path: &str) -> Option<f64> {
        let v = serde_json::to_value(self).ok()?;
        let mut cur = &v;
        for part in path.split('.') {
            cur = cur.get(part)?;
        }
        cur.as_f64()
    }
}
