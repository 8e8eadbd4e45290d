//! Streams the facts a report needs while the simulation runs; O(1) work per call.

use asim_core::engine::SimTime;

/// One row of `timeseries.csv`, taken every simulated minute.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub t_s: u64,
    pub nodes: u64,
    pub nodes_ready: u64,
    pub nodes_spot: u64,
    pub pending_pods: u64,
    pub running_pods: u64,
    pub cost_rate_usd_per_hour: f64,
    pub cost_usd: f64,
    pub cpu_utilization: f64,
    pub memory_utilization: f64,
}

/// One row of `nodes.csv`: a node's life.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRecord {
    pub name: String,
    pub instance_type: String,
    pub zone: String,
    pub capacity_type: String,
    pub owner: String,
    pub price_per_hour: f64,
    pub launched_at: SimTime,
    pub registered_at: Option<SimTime>,
    pub ready_at: Option<SimTime>,
    pub terminated_at: Option<SimTime>,
    /// Why it went: `spot-interruption`, `consolidation`, `emptiness`, `drift`, `expiration`, …
    pub termination_reason: Option<String>,
}

/// Cluster-wide totals over Ready nodes, integrated over time for utilization.
#[derive(Default)]
pub struct Recorder {
    pub samples: Vec<Sample>,
    pub nodes: Vec<NodeRecord>,
    pub peak_nodes: u64,
    pub evicted_pods: u64,
    pub spot_interruptions: u64,
    pub disruptions: std::collections::BTreeMap<String, u64>,
    last_t: u64,
    cur: [i64; 4],
    /// ∫ requested cpu, ∫ allocatable cpu, ∫ requested memory, ∫ allocatable memory (unit·ms).
    integrals: [f64; 4],
}

impl Recorder {
    /// Account for the totals that held since the last call, then remember the new ones.
    /// `totals` = [requested cpu, allocatable cpu, requested memory, allocatable memory].
    pub fn integrate(&mut self, now: SimTime, totals: [i64; 4]) {
        let dt = now.0.saturating_sub(self.last_t) as f64;
        if dt > 0.0 {
            for (acc, v) in self.integrals.iter_mut().zip(self.cur) {
                *acc += v as f64 * dt;
            }
        }
        self.last_t = now.0;
        self.cur = totals;
    }

    /// Time-weighted requested / allocatable over the run: (cpu, memory).
    pub fn utilization(&self) -> (f64, f64) {
        let frac = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        (
            frac(self.integrals[0], self.integrals[1]),
            frac(self.integrals[2], self.integrals[3]),
        )
    }

    pub fn note_nodes(&mut self, live: u64) {
        self.peak_nodes = self.peak_nodes.max(live);
    }

    pub fn count_disruption(&mut self, reason: &str) {
        *self.disruptions.entry(reason.to_string()).or_insert(0) += 1;
    }

    /// Take back a disruption that did not happen (an aborted drain).
    pub fn uncount_disruption(&mut self, reason: &str) {
        if let Some(n) = self.disruptions.get_mut(reason) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.disruptions.remove(reason);
            }
        }
    }
}
