//! What the cluster-autoscaler test crates share: loading a scenario from text, running it
//! under cluster-autoscaler, and reading the decision log.

use autoscale_sim::run::run_to_end;
use autoscale_sim::workload::{AutoscalerKind, Scenario};
use serde_json::Value;

pub const MIN: f64 = 60.0;

/// Load `yaml` (written to a temporary `scenario.yaml`), panicking with it when it does not load.
pub fn load(yaml: &str) -> Scenario {
    super::load_text(yaml).sc
}

/// Why `yaml` does not load (cluster-autoscaler's flags and node groups are checked at load).
pub fn load_err(yaml: &str) -> String {
    super::load_error(yaml)
}

/// A scenario document: `groups` and `flags` are YAML snippets under `clusterAutoscaler`,
/// `timeline` under `spec`, `manifests` follow.
pub fn scenario(
    name: &str,
    duration: &str,
    flags: &str,
    groups: &str,
    timeline: &str,
    extra_spec: &str,
    manifests: &str,
) -> String {
    format!(
        "apiVersion: autoscale-sim/v1alpha1\nkind: Scenario\nmetadata: {{name: {name}}}\nspec:\n  seed: 3\n  duration: {duration}\n  region: us-east-1\n  autoscaler: cluster-autoscaler\n{extra_spec}  clusterAutoscaler:\n    flags: {{{flags}}}\n    nodeGroups:\n{groups}  timeline:\n{timeline}---\n{manifests}"
    )
}

/// A run under cluster-autoscaler: the decision log and what the tests look at.
pub struct Outcome {
    pub decisions: Vec<Value>,
    pub unschedulable_at_end: u64,
    pub peak_nodes: u64,
    /// Each pod's bind time in seconds, by pod id.
    pub bound_s: Vec<Option<f64>>,
}

pub fn run_ca(sc: &Scenario) -> Outcome {
    let out = run_to_end(sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    Outcome {
        decisions: out
            .sim
            .decisions()
            .iter()
            .map(|l| serde_json::from_str(l).expect("decision lines are JSON"))
            .collect(),
        unschedulable_at_end: out.report.pods.unschedulable_at_end,
        peak_nodes: out.report.nodes.peak,
        bound_s: out
            .sim
            .cluster
            .pods
            .iter()
            .map(|p| p.bound_at.map(|t| t.as_secs_f64()))
            .collect(),
    }
}

/// The decision records of one kind (`scale-up`, `no-scale-down`, …).
pub fn events<'a>(o: &'a Outcome, kind: &str) -> Vec<&'a Value> {
    o.decisions.iter().filter(|e| e["event"] == kind).collect()
}

/// A record's time.
pub fn t(e: &Value) -> f64 {
    e["t_s"].as_f64().expect("t_s")
}
