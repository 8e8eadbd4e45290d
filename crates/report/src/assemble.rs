//! From a finished run's data to `report.json`'s [`Report`] (docs/reports.md). The report
//! crate reads the run through [`RunData`] only: it never sees the simulation or the
//! autoscaler, so the same numbers mean the same thing whichever autoscaler ran.

use asim_cluster::{Cluster, OwnerKind, PodPhase};
use asim_core::cloud::CostBreakdown;
use asim_core::engine::SimTime;

use crate::{
    Churn, CostReport, DisruptionReport, NeverScheduled, NodeRecord, NodesRemoved, NodesReport,
    PodsDisrupted, PodsReport, Recorder, Report, SCHEMA_VERSION, Stats, Utilization, round,
};

/// Was the node there from the start (`staticNodes`, a Node manifest) rather than launched
/// by an autoscaler?
pub fn is_static(n: &NodeRecord) -> bool {
    n.owner == "static" || n.owner == "manifest"
}

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
    // Waits still running at the end (right-censored): `end − created`.
    let (mut sched_c, mut startup_c, mut replacement_c) = (Vec::new(), Vec::new(), Vec::new());
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
        // Alive at the end and not yet bound / running: still waiting.
        let waiting = matches!(p.phase, PodPhase::Pending | PodPhase::Starting);
        if let Some(b) = p.bound_at {
            pods.scheduled += 1;
            sched.push(b - p.created_at);
        } else if waiting {
            sched_c.push(end - p.created_at);
        }
        if let Some(r) = p.running_at {
            startup.push(r - p.created_at);
            if p.replaces_evicted {
                replacement.push(r - p.created_at);
            }
        } else if waiting {
            pods.not_started_at_end += 1;
            startup_c.push(end - p.created_at);
            if p.replaces_evicted {
                replacement_c.push(end - p.created_at);
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
                        reason: p
                            .unschedulable_reason
                            .as_deref()
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    pods.scheduling_latency_s = Stats::censored_from_ms(sched, sched_c);
    pods.startup_latency_s = Stats::censored_from_ms(startup, startup_c);
    pods.replacement_startup_latency_s = Stats::censored_from_ms(replacement, replacement_c);

    let mut nodes = NodesReport {
        peak: run.recorder.peak_nodes,
        ..Default::default()
    };
    let mut removed = NodesRemoved::default();
    let mut node_ms: u128 = 0;
    for n in &run.recorder.nodes {
        let stop = n.terminated_at.unwrap_or(end).min(end);
        node_ms += u128::from(stop - n.launched_at);
        match n.termination_reason.as_deref() {
            Some(reason) => *removal_cause(&mut removed, reason) += 1,
            None if n.terminated_at.is_some() => removed.other += 1,
            None => {}
        }
        if is_static(n) {
            nodes.static_nodes += 1;
            continue;
        }
        nodes.launched += 1;
        if n.terminated_at.is_some() {
            nodes.terminated += 1;
        }
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
    removed.total = removed.underutilized
        + removed.empty
        + removed.drifted
        + removed.expired
        + removed.interrupted
        + removed.other;
    let i = run.recorder.integrals();
    let frac = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    // millicore·ms → vCPU-hours.
    let requested_vcpu_hours = i.requested_cpu_m / 1000.0 / 3_600_000.0;
    let hours = (end.0 as f64 / 3_600_000.0).max(1e-9);
    let (launched, terminated) = (nodes.launched, nodes.terminated);
    let r = run.recorder;
    let disrupted = PodsDisrupted {
        total: r.pods_evicted + r.pods_reclaimed + r.pods_deleted_with_node,
        evicted: r.pods_evicted,
        reclaimed: r.pods_reclaimed,
        deleted_with_node: r.pods_deleted_with_node,
    };
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
            per_requested_vcpu_hour: round(frac(c.total_usd, requested_vcpu_hours), 4),
        },
        utilization: Utilization {
            cpu: round(frac(i.requested_cpu_m, i.allocatable_cpu_m), 4),
            memory: round(frac(i.requested_memory, i.allocatable_memory), 4),
            daemonset_cpu: round(frac(i.daemonset_cpu_m, i.allocatable_cpu_m), 4),
            daemonset_memory: round(frac(i.daemonset_memory, i.allocatable_memory), 4),
        },
        disruption: DisruptionReport {
            nodes_removed: removed,
            pods_disrupted: disrupted,
            spot_interruptions: r.spot_interruptions,
            recreated_pods: recreated,
            churn: Churn {
                launches_per_hour: round(launched as f64 / hours, 4),
                terminations_per_hour: round(terminated as f64 / hours, 4),
            },
        },
    }
}

/// The `disruption.nodes_removed` counter for a node's termination reason: Karpenter's
/// disruption reasons and cluster-autoscaler's scale-down kinds under one set of names.
fn removal_cause<'a>(removed: &'a mut NodesRemoved, reason: &str) -> &'a mut u64 {
    match reason {
        "consolidation" => &mut removed.underutilized,
        "emptiness" => &mut removed.empty,
        "drift" => &mut removed.drifted,
        "expiration" => &mut removed.expired,
        "interruption" | "spot-interruption" => &mut removed.interrupted,
        _ => &mut removed.other,
    }
}
