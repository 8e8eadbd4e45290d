//! From a finished run's data to `report.json`'s [`Report`] (docs/reports.md). The report
//! crate reads the run through [`RunData`] only: it never sees the simulation or the
//! autoscaler, so the same numbers mean the same thing whichever autoscaler ran.

use asim_cluster::{Cluster, OwnerKind, PodPhase};
use asim_core::cloud::CostBreakdown;
use asim_core::engine::SimTime;

use crate::{
    Churn, CostReport, DisruptionReport, NeverScheduled, NodesReport, PodsReport, Recorder, Report,
    SCHEMA_VERSION, Stats, Utilization, round,
};

/// What a finished run hands to the report.
pub struct RunData<'a> {
    pub scenario: &'a str,
    pub autoscaler: &'a str,
    pub seed: u64,
    /// The end of the simulated time.
    pub end: SimTime,
    pub cluster: &'a Cluster,
    pub recorder: &'a Recorder,
    /// The bill up to `end`.
    pub cost: CostBreakdown,
}

/// The report of a finished run.
pub fn assemble(run: &RunData<'_>) -> Report {
    let end = run.end;
    let mut pods = PodsReport {
        created: run.cluster.pods.len() as u64,
        ..Default::default()
    };
    let (mut sched, mut startup, mut replacement) = (Vec::new(), Vec::new(), Vec::new());
    let mut recreated = 0u64;
    for p in &run.cluster.pods {
        // DaemonSet pods are placed by their controller, not scheduled: their zero waits
        // would only dilute the latency of the workload.
        if p.owner == OwnerKind::DaemonSet {
            if p.bound_at.is_some() {
                pods.scheduled += 1;
            }
            if p.phase == PodPhase::Running {
                pods.running_at_end += 1;
            }
            continue;
        }
        if let Some(b) = p.bound_at {
            pods.scheduled += 1;
            sched.push(b - p.created_at);
        }
        if let Some(r) = p.running_at {
            startup.push(r - p.created_at);
            if p.replaces_evicted {
                replacement.push(r - p.created_at);
            }
        }
        if p.replaces_evicted {
            recreated += 1;
        }
        match p.phase {
            PodPhase::Evicted => pods.evicted += 1,
            PodPhase::Succeeded => pods.succeeded += 1,
            PodPhase::Running => pods.running_at_end += 1,
            PodPhase::Pending if p.unschedulable_since.is_some() => {
                pods.unschedulable_at_end += 1;
                if pods.never_scheduled.len() < 100 && p.bound_at.is_none() {
                    pods.never_scheduled.push(NeverScheduled {
                        pod: format!("{}/{}", p.namespace(), p.name),
                        reason: p.unschedulable_reason.clone().unwrap_or_default(),
                    });
                }
            }
            _ => {}
        }
    }
    pods.scheduling_latency_s = Stats::from_ms(sched);
    pods.startup_latency_s = Stats::from_ms(startup);
    pods.replacement_startup_latency_s = Stats::from_ms(replacement);

    let mut nodes = NodesReport {
        launched: run.recorder.nodes.len() as u64,
        peak: run.recorder.peak_nodes,
        ..Default::default()
    };
    let mut node_ms: u128 = 0;
    for n in &run.recorder.nodes {
        if n.terminated_at.is_some() {
            nodes.terminated += 1;
        }
        let stop = n.terminated_at.unwrap_or(end).min(end);
        node_ms += u128::from(stop - n.launched_at);
        *nodes
            .by_instance_type
            .entry(n.instance_type.clone())
            .or_insert(0) += 1;
        *nodes
            .by_capacity_type
            .entry(n.capacity_type.clone())
            .or_insert(0) += 1;
        *nodes.by_zone.entry(n.zone.clone()).or_insert(0) += 1;
    }
    nodes.node_hours = round(node_ms as f64 / 3_600_000.0, 4);
    let c = &run.cost;
    let (cpu, mem) = run.recorder.utilization();
    let hours = (end.0 as f64 / 3_600_000.0).max(1e-9);
    let (launched, terminated) = (nodes.launched, nodes.terminated);
    let d = &run.recorder.disruptions;
    let get = |k: &str| d.get(k).copied().unwrap_or(0);
    Report {
        schema_version: SCHEMA_VERSION,
        scenario: run.scenario.to_string(),
        autoscaler: run.autoscaler.to_string(),
        seed: run.seed,
        duration_s: end.0 / 1000,
        pods,
        nodes,
        cost: CostReport {
            total_usd: round(c.total_usd, 4),
            on_demand_usd: round(c.on_demand_usd, 4),
            spot_usd: round(c.spot_usd, 4),
        },
        utilization: Utilization {
            cpu: round(cpu, 4),
            memory: round(mem, 4),
        },
        disruption: DisruptionReport {
            consolidations: get("consolidation"),
            emptiness: get("emptiness"),
            drift: get("drift"),
            expiration: get("expiration"),
            spot_interruptions: run.recorder.spot_interruptions,
            interruption: get("interruption"),
            evicted_pods: run.recorder.evicted_pods,
            recreated_pods: recreated,
            churn: Churn {
                launches_per_hour: round(launched as f64 / hours, 4),
                terminations_per_hour: round(terminated as f64 / hours, 4),
            },
        },
    }
}
