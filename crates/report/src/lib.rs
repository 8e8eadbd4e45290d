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

pub use assemble::{RunData, assemble, is_static};
pub use recorder::{Integrals, NodeRecord, Recorder, Sample};
pub use writers::{
    RUN_OUTPUTS, RunMeta, decisions_digest, report_json, report_md, write_files, write_outputs,
};

/// 2: latencies count pods that never got there (censored); `disruption` reports nodes
/// removed and pods disrupted by cause; utilization over Ready node-time without DaemonSets;
/// `nodes.launched` and churn only count nodes an autoscaler launched (docs/reports.md).
pub const SCHEMA_VERSION: u32 = 2;

/// Keys of report schema 1 that schema 2 renamed, with what to use instead (docs/reports.md).
pub const RENAMED_KEYS: &[(&str, &str)] = &[
    (
        "disruption.consolidations",
        "disruption.nodes_removed.underutilized",
    ),
    ("disruption.emptiness", "disruption.nodes_removed.empty"),
    ("disruption.drift", "disruption.nodes_removed.drifted"),
    ("disruption.expiration", "disruption.nodes_removed.expired"),
    (
        "disruption.interruption",
        "disruption.nodes_removed.interrupted",
    ),
    (
        "disruption.evicted_pods",
        "disruption.pods_disrupted.evicted",
    ),
];

/// Summary statistics of a sample, in seconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Stats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
    /// Of `count`, pods that had not got there when the run ended: each counts as waiting
    /// until the end (`end − created`), a lower bound of its real value.
    pub censored: u64,
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
            censored: 0,
        }
    }

    /// [`Stats::from_ms`] over `values` and the right-censored `censored` (waits still
    /// running at the end, each `end − created`) together.
    pub fn censored_from_ms(mut values: Vec<u64>, censored: Vec<u64>) -> Stats {
        let n = censored.len() as u64;
        values.extend(censored);
        Stats {
            censored: n,
            ..Stats::from_ms(values)
        }
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = asim_core::math::pow10(digits);
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
    /// Pods alive at the end that never started running (pending, or bound and starting).
    pub not_started_at_end: u64,
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
    /// Nodes an autoscaler launched (not `staticNodes` or Node manifests); the `by_…` keys
    /// break them down.
    pub launched: u64,
    /// Of those, terminated by the end.
    pub terminated: u64,
    /// Nodes there from the start (`staticNodes`, Node manifests).
    #[serde(rename = "static")]
    pub static_nodes: u64,
    /// Live nodes at most, all of them.
    pub peak: u64,
    /// All nodes, as billed.
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
    /// `total_usd` per vCPU-hour requested by workload (non-DaemonSet) pods on Ready nodes.
    pub per_requested_vcpu_hour: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Utilization {
    /// Workload (non-DaemonSet) requests / allocatable, over Ready node-time.
    pub cpu: f64,
    pub memory: f64,
    /// DaemonSet requests / allocatable, over Ready node-time.
    pub daemonset_cpu: f64,
    pub daemonset_memory: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DisruptionReport {
    /// Nodes whose removal began, by why — the same causes for both autoscalers.
    pub nodes_removed: NodesRemoved,
    /// Workload pods that lost their node, by how.
    pub pods_disrupted: PodsDisrupted,
    /// Two-minute spot interruption warnings the cloud sent.
    pub spot_interruptions: u64,
    /// Pods created to replace evicted ones; their wait is `pods.replacement_startup_latency_s`.
    pub recreated_pods: u64,
    /// Autoscaler-launched nodes launched and terminated per simulated hour.
    pub churn: Churn,
}

/// Nodes removed by cause: Karpenter's disruption reasons and cluster-autoscaler's scale-down
/// kinds mapped onto one set of names (docs/reports.md).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct NodesRemoved {
    pub total: u64,
    /// Karpenter's consolidation (multi- and single-node); cluster-autoscaler's drained
    /// scale-down of an underutilized node.
    pub underutilized: u64,
    /// Empty nodes: Karpenter's emptiness, cluster-autoscaler's empty scale-down.
    pub empty: u64,
    pub drifted: u64,
    pub expired: u64,
    /// Interruptions: Karpenter's interruption handling, or the spot instance reclaimed.
    pub interrupted: u64,
    /// Anything else (a registration timeout, a node deleted by the timeline).
    pub other: u64,
}

/// Pods that lost their node, by how.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PodsDisrupted {
    pub total: u64,
    /// Evicted (graceful): drains, consolidation, interruption handling.
    pub evicted: u64,
    /// Still running when their spot instance was reclaimed.
    pub reclaimed: u64,
    /// Still running when their node was deleted otherwise.
    pub deleted_with_node: u64,
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
