//! What the HTML report and `compare` read from one finished run: `report.json` as a generic
//! JSON tree (so keys added to [`Report`] flow through without changes here), the minute
//! samples, the node records, the pods' startup latencies and pending-count changes, and the
//! scenario's timeline steps.

use serde_json::Value;

use crate::{NodeRecord, Report, Sample};
use asim_cluster::Cluster;

/// A timeline step, for markers and time-to-capacity.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at_s: f64,
    pub label: String,
}

/// One run, ready to chart and compare.
#[derive(Clone, Debug)]
pub struct RunView {
    /// The run's name in a comparison (`karpenter`, a variant's file stem), or the autoscaler.
    pub label: String,
    pub report: Value,
    pub duration_s: f64,
    pub samples: Vec<Sample>,
    pub nodes: Vec<NodeRecord>,
    /// Startup latencies (running − created), seconds, ascending.
    pub startup_s: Vec<f64>,
    /// Pending-pod count changes `(ms, +1 created / −1 bound or ended unbound)`, by time.
    pub pending_deltas: Vec<(u64, i64)>,
    pub steps: Vec<Step>,
}

impl RunView {
    pub fn new(
        label: &str,
        report: &Report,
        samples: &[Sample],
        nodes: &[NodeRecord],
        cluster: &Cluster,
    ) -> RunView {
        // The same pods as `pods.startup_latency_s`: no DaemonSet pods, and a pod still
        // waiting at the end counts until the end.
        let end_ms = report.duration_s * 1000;
        let mut startup_s: Vec<f64> = cluster
            .pods
            .iter()
            .filter(|p| p.owner != asim_cluster::OwnerKind::DaemonSet)
            .filter_map(|p| {
                let waiting = matches!(
                    p.phase,
                    asim_cluster::PodPhase::Pending | asim_cluster::PodPhase::Starting
                );
                let to = p.running_at.map(|r| r.0).or(waiting.then_some(end_ms))?;
                Some(to.saturating_sub(p.created_at.0) as f64 / 1000.0)
            })
            .collect();
        startup_s.sort_by(f64::total_cmp);
        let mut pending_deltas = Vec::with_capacity(cluster.pods.len() * 2);
        for p in &cluster.pods {
            pending_deltas.push((p.created_at.0, 1));
            if let Some(left) = p.bound_at.or(p.ended_at) {
                pending_deltas.push((left.0, -1));
            }
        }
        pending_deltas.sort_unstable();
        RunView {
            label: label.to_string(),
            report: serde_json::to_value(report).unwrap_or(Value::Null),
            duration_s: report.duration_s as f64,
            samples: samples.to_vec(),
            nodes: nodes.to_vec(),
            startup_s,
            pending_deltas,
            steps: Vec::new(),
        }
    }

    /// Add the scenario's timeline steps (markers on the charts, time to capacity), in time
    /// order.
    pub fn with_steps(mut self, steps: Vec<Step>) -> RunView {
        self.steps = steps;
        self
    }

    /// The number at a dotted report path (see [`crate::expect::lookup`]).
    pub fn num(&self, path: &str) -> Option<f64> {
        crate::expect::lookup(&self.report, path)
    }

    /// Seconds from `at_s` until no pod is pending (not bound), counting the pods created at
    /// `at_s` itself; 0 if none is pending just after it; `None` if pods are still pending at
    /// the end of the run.
    pub fn time_to_capacity(&self, at_s: f64) -> Option<f64> {
        self.times_to_capacity(&[at_s])[0]
    }

    /// [`RunView::time_to_capacity`] for many instants, in one pass over the pods.
    pub fn times_to_capacity(&self, at_s: &[f64]) -> Vec<Option<f64>> {
        // The pending count after all changes at each distinct instant.
        let mut times: Vec<u64> = Vec::new();
        let mut counts: Vec<i64> = Vec::new();
        let mut pending = 0i64;
        for &(t, d) in &self.pending_deltas {
            pending += d;
            if times.last() == Some(&t) {
                if let Some(c) = counts.last_mut() {
                    *c = pending;
                }
            } else {
                times.push(t);
                counts.push(pending);
            }
        }
        // The first instant at or after each index when nothing is pending.
        let mut next_zero: Vec<Option<u64>> = vec![None; times.len()];
        let mut next = None;
        for i in (0..times.len()).rev() {
            if counts[i] <= 0 {
                next = Some(times[i]);
            }
            next_zero[i] = next;
        }
        at_s.iter()
            .map(|a| {
                let at = (a * 1000.0).round() as u64;
                // The last instant at or before `at`.
                let i = times.partition_point(|t| *t <= at);
                if i == 0 || counts[i - 1] <= 0 {
                    return Some(0.0);
                }
                next_zero
                    .get(i)
                    .copied()
                    .flatten()
                    .map(|t| (t - at) as f64 / 1000.0)
            })
            .collect()
    }

    /// Node-hours of each record up to the end of the run.
    pub fn node_hours(&self, n: &NodeRecord) -> f64 {
        let end = (self.duration_s * 1000.0) as u64;
        let stop = n.terminated_at.map_or(end, |t| t.0.min(end));
        stop.saturating_sub(n.launched_at.0) as f64 / 3_600_000.0
    }

    /// Mean of the minute samples' node count.
    pub fn average_nodes(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.iter().map(|s| s.nodes as f64).sum::<f64>() / self.samples.len() as f64
    }

    /// Spot share of node-hours.
    pub fn spot_share(&self) -> f64 {
        let (mut spot, mut all) = (0.0, 0.0);
        for n in &self.nodes {
            let h = self.node_hours(n);
            all += h;
            if n.capacity_type == "spot" {
                spot += h;
            }
        }
        if all > 0.0 { spot / all } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(deltas: Vec<(u64, i64)>) -> RunView {
        RunView {
            label: "x".into(),
            report: Value::Null,
            duration_s: 3600.0,
            samples: Vec::new(),
            nodes: Vec::new(),
            startup_s: Vec::new(),
            pending_deltas: deltas,
            steps: Vec::new(),
        }
    }

    #[test]
    fn time_to_capacity_counts_until_pending_returns_to_zero() {
        // Two pods created at 600 s, bound at 630 s and 645 s.
        let v = view(vec![
            (600_000, 1),
            (600_000, 1),
            (630_000, -1),
            (645_000, -1),
        ]);
        assert_eq!(v.time_to_capacity(600.0), Some(45.0));
        // Nothing pending just after 700 s.
        assert_eq!(v.time_to_capacity(700.0), Some(0.0));
    }

    #[test]
    fn time_to_capacity_is_none_when_pods_stay_pending() {
        let v = view(vec![(600_000, 1), (600_000, 1), (630_000, -1)]);
        assert_eq!(v.time_to_capacity(600.0), None);
    }

    #[test]
    fn a_pod_created_and_bound_in_the_same_millisecond_is_never_pending() {
        let v = view(vec![(5_000, 1), (5_000, -1)]);
        assert_eq!(v.time_to_capacity(5.0), Some(0.0));
    }
}
