//! The workload drivers: the controllers that create pods (Deployments, StatefulSets, Jobs,
//! DaemonSets, generators, traces), the timeline's actions, and a pod's end.

use std::collections::BTreeSet;
use std::sync::Arc;

use asim_cluster::{
    Cluster, ControllerRef, DaemonSetController, EndReason, JobController, NodeId, OwnerKind,
    PodId, ReplicaController,
};
use asim_core::engine::{SimTime, Stream};
use asim_core::k8s::taints::TaintEffect;
use asim_core::math;
use asim_workload::{Action, DurationDist, WorkloadKind};

use crate::{Event, Simulation};

impl Simulation<'_> {
    pub(crate) fn next_gap(&mut self, rate_per_ms: f64) -> u64 {
        // Poisson arrivals: exponential gaps. A rate that is not a positive number never
        // arrives again (far enough out that adding it to the clock cannot overflow).
        if !(rate_per_ms.is_finite() && rate_per_ms > 0.0) {
            return u64::MAX / 4;
        }
        let gap = math::exp1(self.rng.get(Stream::Workload)) / rate_per_ms;
        (gap.round().max(1.0) as u64).min(u64::MAX / 4)
    }

    pub(crate) fn create_workload(&mut self, now: SimTime, idx: usize, occurrence: u32) {
        let w = &self.scenario.workloads[idx];
        let name = if occurrence > 0 || matches!(w.kind, WorkloadKind::Job { .. }) && !w.at_start {
            format!("{}-{}", w.name, occurrence + 1)
        } else {
            w.name.clone()
        };
        let template = Arc::clone(&w.template);
        let ctrl = match &w.kind {
            WorkloadKind::Deployment { replicas } | WorkloadKind::StatefulSet { replicas } => {
                let kind = if matches!(w.kind, WorkloadKind::Deployment { .. }) {
                    OwnerKind::ReplicaSet
                } else {
                    OwnerKind::StatefulSet
                };
                self.cluster.replica_sets.push(ReplicaController {
                    kind,
                    name,
                    namespace: w.namespace.clone(),
                    replicas: *replicas,
                    template,
                    pods: BTreeSet::new(),
                    terminating: 0,
                    next_ordinal: 0,
                    claim_templates: w.claim_templates.clone(),
                });
                Some(ControllerRef::Replicas(
                    self.cluster.replica_sets.len() as u32 - 1,
                ))
            }
            WorkloadKind::Job {
                completions,
                parallelism,
            } => {
                self.cluster.jobs.push(JobController {
                    name,
                    namespace: w.namespace.clone(),
                    completions: *completions,
                    parallelism: *parallelism,
                    succeeded: 0,
                    template,
                    pods: BTreeSet::new(),
                    next_ordinal: 0,
                });
                Some(ControllerRef::Job(self.cluster.jobs.len() as u32 - 1))
            }
            WorkloadKind::Pod => {
                let id = self
                    .cluster
                    .create_pod(now, name, template, OwnerKind::None, 0, false);
                self.pod_created(now, id);
                None
            }
            WorkloadKind::DaemonSet => {
                self.cluster.daemonsets.push(DaemonSetController {
                    name,
                    namespace: w.namespace.clone(),
                    template,
                });
                let ds = self.cluster.daemonsets.len() - 1;
                let ready: Vec<NodeId> = self
                    .cluster
                    .nodes()
                    .filter(|n| n.ready)
                    .map(|n| n.id)
                    .collect();
                for node in ready {
                    self.place_daemon_pod(now, ds, node);
                }
                Some(ControllerRef::DaemonSet(ds as u32))
            }
        };
        if let Some(c) = ctrl {
            self.controllers.insert(idx, c);
            self.reconcile(now, c, false);
        }
    }

    pub(crate) fn reconcile(&mut self, now: SimTime, ctrl: ControllerRef, replaces_evicted: bool) {
        let (created, deleted) = self.cluster.reconcile(ctrl, now, replaces_evicted);
        for p in created {
            self.pod_created(now, p);
        }
        for p in deleted {
            self.terminate_pod(now, p, EndReason::Deleted);
        }
    }

    pub(crate) fn pod_created(&mut self, now: SimTime, pod: PodId) {
        // Stage 0: kube-scheduler takes the pod into its queue (docs/model/latency.md §3).
        let d = self
            .latency
            .unschedulable_mark
            .sample(self.rng.get(Stream::Pods));
        self.queue.schedule(now + d, Event::PodQueued(pod));
    }

    pub(crate) fn terminate_pod(&mut self, now: SimTime, pod: PodId, reason: EndReason) {
        self.terminate_pod_capped(now, pod, reason, None);
    }

    /// `terminate_pod` with the grace period capped at `max_grace_ms` (an eviction's
    /// `gracePeriodSeconds`).
    pub(crate) fn terminate_pod_capped(
        &mut self,
        now: SimTime,
        pod: PodId,
        reason: EndReason,
        max_grace_ms: Option<u64>,
    ) {
        // A pending pod ends at once (None); a bound one leaves after its grace period.
        if let Some(grace) = self.cluster.begin_termination(pod, now, reason) {
            let grace = max_grace_ms.map_or(grace, |c| grace.min(c));
            // Most pods exit well within their grace period; we take a tenth of it, at
            // least a second ([assumption]: SIGTERM handling time is not modelled).
            let d = (grace / 10).max(1000).min(grace.max(1000));
            self.queue.schedule(now + d, Event::PodGone(pod));
        }
    }

    pub(crate) fn place_daemon_pod(&mut self, now: SimTime, ds: usize, node: NodeId) {
        let d = &self.cluster.daemonsets[ds];
        let t = Arc::clone(&d.template);
        let Some(n) = self.cluster.node(node) else {
            return;
        };
        let tolerated = n.taints.iter().all(|taint| {
            taint.effect == TaintEffect::PreferNoSchedule
                || t.tolerations.iter().any(|tol| tol.tolerates(taint))
        });
        if !tolerated || !Cluster::node_matches_affinity(&t, n) {
            return;
        }
        let name = format!("{}-{}", d.name, n.name);
        let fits = n.requested.fits_with(&t.requests, &n.allocatable);
        let id = self
            .cluster
            .create_pod(now, name, t, OwnerKind::DaemonSet, ds as u32, false);
        if fits {
            self.cluster.pod_mut(id).queued = true;
            self.cluster.bind(id, node, now);
            self.pod_bound(now, id, node);
        } else {
            // The DaemonSet controller pins its pod to the node; it stays Pending there.
            let node_name = self
                .cluster
                .node(node)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let p = self.cluster.pod_mut(id);
            p.unschedulable_since = Some(now);
            p.unschedulable_reason =
                Some(format!("DaemonSet pod does not fit on node {node_name}").into());
            self.ds_pinned.entry(node).or_default().push(id);
        }
    }

    pub(crate) fn pod_bound(&mut self, now: SimTime, pod: PodId, node: NodeId) {
        let p = self.cluster.pod(pod);
        let mut d = self.latency.pod_start.sample(self.rng.get(Stream::Pods));
        if let Some(n) = self.cluster.node(node) {
            for img in &p.template.images {
                if img.size > 0 && !n.images.contains(&img.name) {
                    d += self
                        .latency
                        .sample_image_pull(self.rng.get(Stream::Pods), img.size);
                }
            }
        }
        self.queue.schedule(now + d, Event::PodRunning(pod));
    }

    pub(crate) fn after_pod_end(
        &mut self,
        now: SimTime,
        ctrl: Option<ControllerRef>,
        evicted: bool,
    ) {
        if let Some(c) = ctrl {
            self.reconcile(now, c, evicted);
        }
        self.request_pass(now);
    }

    pub(crate) fn apply_action(&mut self, now: SimTime, i: usize) {
        let action = self.scenario.timeline[i].action.clone();
        match action {
            Action::Scale { workload, replicas } => {
                let Some(ctrl) = self.controllers.get(&workload).copied() else {
                    return;
                };
                match ctrl {
                    ControllerRef::Replicas(r) => {
                        self.cluster.replica_sets[r as usize].replicas = replicas
                    }
                    ControllerRef::Job(j) => self.cluster.jobs[j as usize].parallelism = replicas,
                    ControllerRef::DaemonSet(_) => return,
                }
                self.reconcile(now, ctrl, false);
            }
            Action::Apply {
                workload,
                occurrence,
            } => self.create_workload(now, workload, occurrence),
            Action::Delete { workload } => {
                let Some(ctrl) = self.controllers.remove(&workload) else {
                    return;
                };
                let pods: Vec<PodId> = match ctrl {
                    ControllerRef::Replicas(r) => {
                        self.cluster.replica_sets[r as usize].replicas = 0;
                        self.cluster.replica_sets[r as usize]
                            .pods
                            .iter()
                            .copied()
                            .collect()
                    }
                    ControllerRef::Job(j) => {
                        self.cluster.jobs[j as usize].completions = 0;
                        self.cluster.jobs[j as usize].pods.iter().copied().collect()
                    }
                    ControllerRef::DaemonSet(d) => self
                        .cluster
                        .pods
                        .iter()
                        .filter(|p| {
                            p.owner == OwnerKind::DaemonSet && p.owner_index == d && p.is_active()
                        })
                        .map(|p| p.id)
                        .collect(),
                };
                for p in pods {
                    self.terminate_pod(now, p, EndReason::Deleted);
                }
            }
            Action::Configure(change) => {
                // The autoscaler that owns the change's type acts on it (Karpenter: drift,
                // docs/model/karpenter.md §4.5); the others ignore it.
                self.with_ctx(now, |a, ctx| a.on_config_change(ctx, &change));
            }
        }
    }
}

pub(crate) fn sample_duration(d: &DurationDist, rng: &mut impl rand::Rng) -> u64 {
    match d {
        DurationDist::Constant(c) => c.0,
        DurationDist::Exponential { mean } => {
            let rate = 1.0 / (mean.0.max(1) as f64);
            if !(rate.is_finite() && rate > 0.0) {
                return mean.0;
            }
            (math::exp1(rng) / rate).round() as u64
        }
        DurationDist::Lognormal { median, sigma } => {
            let mu = math::ln(median.0.max(1) as f64);
            if !(sigma.is_finite() && *sigma >= 0.0) {
                return median.0;
            }
            math::lognormal(rng, mu, *sigma).round() as u64
        }
    }
}
