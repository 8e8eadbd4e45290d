//! Streams the facts a report needs while the simulation runs; O(1) work per call.

use asim_cluster::Totals;
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

/// Time integrals of [`Totals`] (unit·ms): what utilization and the cost per requested
/// vCPU-hour are computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Integrals {
    pub requested_cpu_m: f64,
    pub requested_memory: f64,
    pub daemonset_cpu_m: f64,
    pub daemonset_memory: f64,
    pub allocatable_cpu_m: f64,
    pub allocatable_memory: f64,
}

/// What the run records for its report as it goes.
#[derive(Default)]
pub struct Recorder {
    pub samples: Vec<Sample>,
    pub nodes: Vec<NodeRecord>,
    pub peak_nodes: u64,
    /// Pods that lost their node, by cause (docs/reports.md `disruption.pods_disrupted`):
    /// evicted (an eviction began: drain, consolidation, interruption handling),
    pub pods_evicted: u64,
    /// still running when their spot instance was reclaimed,
    pub pods_reclaimed: u64,
    /// still running when their node was deleted for another reason.
    pub pods_deleted_with_node: u64,
    /// Two-minute spot interruption warnings the cloud sent.
    pub spot_interruptions: u64,
    last_t: u64,
    cur: Totals,
    integrals: Integrals,
}

impl Recorder {
    /// Account for the totals that held since the last call, then remember the new ones.
    pub fn integrate(&mut self, now: SimTime, totals: Totals) {
        let dt = now.0.saturating_sub(self.last_t) as f64;
        if dt > 0.0 {
            let (c, i) = (&self.cur, &mut self.integrals);
            i.requested_cpu_m += c.requested_cpu_m as f64 * dt;
            i.requested_memory += c.requested_memory as f64 * dt;
            i.daemonset_cpu_m += c.daemonset_cpu_m as f64 * dt;
            i.daemonset_memory += c.daemonset_memory as f64 * dt;
            i.allocatable_cpu_m += c.allocatable_cpu_m as f64 * dt;
            i.allocatable_memory += c.allocatable_memory as f64 * dt;
        }
        self.last_t = now.0;
        self.cur = totals;
    }

    /// The integrals up to the last [`Recorder::integrate`].
    pub fn integrals(&self) -> Integrals {
        self.integrals
    }

    pub fn note_nodes(&mut self, live: u64) {
        self.peak_nodes = self.peak_nodes.max(live);
    }
}
