//! Node termination, shared by both autoscalers: cordon, drain as the deleting controller's
//! `DrainOptions` say (Karpenter's tiered terminator, docs/model/karpenter.md §6;
//! cluster-autoscaler's eviction loop, docs/model/cluster-autoscaler.md §4.6), then terminate
//! the instance.

use asim_cluster::autoscaler::{DrainOptions, NodeEvent};
use asim_cluster::{EndReason, NodeId, OwnerKind, PodId, PodPhase};
use asim_core::cloud::{CloudRngs, InstanceId};
use asim_core::engine::SimTime;
use asim_core::k8s::taints::{Taint, TaintEffect};

use crate::{Event, Simulation};

/// How often a blocked drain retries its evictions.
pub(crate) const DRAIN_RETRY_MS: u64 = 5_000;
/// Karpenter's terminator requeues every second and finishes no earlier than `MinDrainTime`
/// after it started (docs/model/karpenter.md §6, §11).
pub(crate) const TIERED_DRAIN_RETRY_MS: u64 = 1_000;
pub(crate) const MIN_DRAIN_MS: u64 = 5_000;
/// A pod terminating for longer than this no longer holds up a drain (docs/model/karpenter.md §6, §11).
pub(crate) const STUCK_TERMINATING_MS: u64 = 60_000;

/// Per-node drain state of a node being deleted, or only drained.
pub(crate) struct Deletion {
    instance: Option<InstanceId>,
    opts: DrainOptions,
    started: SimTime,
    /// Drain only ([`Simulation::begin_drain`]): when the pods are gone the node stays,
    /// cordoned, and nothing is terminated.
    keep: bool,
}

impl Simulation<'_> {
    /// Cordon, taint and drain a node, then terminate its instance. Evictions respect PDBs and
    /// retry every few seconds (every second for Karpenter's tiered drain).
    pub(crate) fn begin_deletion(
        &mut self,
        now: SimTime,
        node: NodeId,
        reason: String,
        opts: DrainOptions,
    ) {
        // A drain-only drain is taken over by the deletion; a deletion is never restarted.
        if self.deletions.get(&node).is_some_and(|d| !d.keep) {
            return;
        }
        self.deletions.remove(&node);
        let Some(mut n) = self.cluster.node_mut(node) else {
            return;
        };
        n.unschedulable = true;
        n.deleting = true;
        if let Some(key) = opts.taint
            && !n.taints.iter().any(|t| t.key == key)
        {
            n.taints.push(Taint {
                key: key.into(),
                value: None,
                effect: TaintEffect::NoSchedule,
            });
        }
        let instance = n.instance.map(InstanceId);
        drop(n);
        if let Some(&rec) = self.node_records.get(&node) {
            self.recorder.nodes[rec]
                .termination_reason
                .get_or_insert_with(|| reason.clone());
        }
        self.start_drain(now, node, instance, opts, false);
    }

    /// Cordon a node and drain it as `opts` say, leaving the node and its instance in place
    /// (`Ctx::cordon_and_drain`): not a disruption of its own, so nothing is counted. Ignored
    /// for a node already draining or being deleted.
    pub(crate) fn begin_drain(&mut self, now: SimTime, node: NodeId, opts: DrainOptions) {
        if self.deletions.contains_key(&node) {
            return;
        }
        let Some(mut n) = self.cluster.node_mut(node) else {
            return;
        };
        if n.deleting {
            return;
        }
        n.unschedulable = true;
        let instance = n.instance.map(InstanceId);
        drop(n);
        self.start_drain(now, node, instance, opts, true);
    }

    /// Track the node's drain (`keep`: drain only) and take its first step.
    fn start_drain(
        &mut self,
        now: SimTime,
        node: NodeId,
        instance: Option<InstanceId>,
        opts: DrainOptions,
        keep: bool,
    ) {
        self.deletions.insert(
            node,
            Deletion {
                instance,
                opts,
                started: now,
                keep,
            },
        );
        self.drain(now, node);
    }

    /// The autoscaler gave up on a drain (cluster-autoscaler's `--max-pod-eviction-time`,
    /// docs/model/cluster-autoscaler.md §4.6 step 6): the node is uncordoned and stays; the
    /// disruption it was counted as did not happen. A pending `Drain` event finds nothing.
    pub(crate) fn abort_drain(&mut self, now: SimTime, node: NodeId) {
        // Once the instance is being terminated (`instance: None`) there is nothing to undo.
        if self
            .deletions
            .get(&node)
            .is_none_or(|d| d.instance.is_none())
        {
            return;
        }
        let taint = self.deletions.remove(&node).and_then(|d| d.opts.taint);
        if let Some(mut n) = self.cluster.node_mut(node) {
            n.unschedulable = false;
            n.deleting = false;
            if let Some(key) = taint {
                n.taints.retain(|t| t.key != key);
            }
        }
        if let Some(&rec) = self.node_records.get(&node) {
            self.recorder.nodes[rec].termination_reason = None;
        }
        self.request_pass(now);
    }

    /// One drain step: evict what may be evicted now; when nothing is left, terminate.
    pub(crate) fn drain(&mut self, now: SimTime, node: NodeId) {
        let Some(d) = self.deletions.get(&node) else {
            return;
        };
        let (opts, started, keep) = (d.opts, d.started, d.keep);
        let Some(n) = self.cluster.node(node) else {
            self.deletions.remove(&node);
            return;
        };
        let pods: Vec<PodId> = n.pods.iter().copied().collect();
        let remaining = if opts.tiered {
            self.drain_tiered(now, &pods, opts)
        } else {
            let mut remaining = 0;
            for p in pods {
                let pod = self.cluster.pod(p);
                if pod.owner == OwnerKind::DaemonSet || pod.phase == PodPhase::Terminating {
                    if pod.phase == PodPhase::Terminating {
                        remaining += 1;
                    }
                    continue;
                }
                if self.cluster.pdb_blocking(p).is_some() {
                    remaining += 1;
                    continue;
                }
                self.terminate_pod_capped(now, p, EndReason::Evicted, opts.max_grace_ms);
                remaining += 1;
            }
            remaining
        };
        let (retry, min_end) = match opts.tiered {
            true => (TIERED_DRAIN_RETRY_MS, started + MIN_DRAIN_MS),
            false => (DRAIN_RETRY_MS, now),
        };
        if remaining > 0 || now < min_end {
            let at = if remaining > 0 { now + retry } else { min_end };
            self.queue.schedule(at, Event::Drain(node));
            return;
        }
        let Some(d) = self.deletions.remove(&node) else {
            return;
        };
        if keep {
            // Drained: the node stays cordoned until someone deletes it or its instance goes.
            return;
        }
        match d.instance {
            Some(i) => {
                let [latency, spot, alloc] = self.rng.cloud();
                let mut rngs = CloudRngs {
                    latency,
                    spot,
                    alloc,
                };
                // An Auto Scaling group member goes through TerminateInstanceInAutoScalingGroup
                // with the desired-capacity decrement (cluster-autoscaler.md §5.5), or the
                // group would replace it; at min size the plain terminate lets it do so.
                let in_asg = self.cloud.instance(i).is_some_and(|v| v.asg.is_some());
                let result = match in_asg {
                    true => self
                        .cloud
                        .terminate_instance_in_asg(now.0, i, true, &mut rngs)
                        .or_else(|_| self.cloud.terminate_instances(now.0, &[i], &mut rngs)),
                    false => self.cloud.terminate_instances(now.0, &[i], &mut rngs),
                };
                match result {
                    Ok(notices) => {
                        self.schedule_cloud_timers();
                        for n in notices {
                            self.handle_notice(now, n);
                        }
                    }
                    Err(e) => tracing::warn!("terminate {i}: {e}"),
                }
                // The node object goes when the instance reports terminated.
                self.deletions.insert(
                    node,
                    Deletion {
                        instance: None,
                        opts: DrainOptions::default(),
                        started,
                        keep: false,
                    },
                );
            }
            None => {
                self.drop_pinned(now, node);
                self.count_pods_lost(node, false);
                let owners = self.cluster.remove_node(node, now);
                for c in owners {
                    self.reconcile(now, c, true);
                }
                if let Some(&rec) = self.node_records.get(&node) {
                    self.recorder.nodes[rec].terminated_at.get_or_insert(now);
                }
                self.with_ctx(now, |a, ctx| a.on_node_event(ctx, node, NodeEvent::Deleted));
            }
        }
    }

    /// Karpenter's terminator (docs/model/karpenter.md §6): the pods waiting for eviction are the
    /// active ones that neither are static pods nor tolerate the disrupted taint nor have been
    /// terminating for over a minute. They go in tiers — non-critical non-DaemonSet, non-critical
    /// DaemonSet, critical non-DaemonSet, critical DaemonSet — each tier only once the previous
    /// one is gone. `do-not-disrupt` pods are not evicted but still wait; PDBs are respected
    /// until the `terminationGracePeriod` deadline, from which a pod is deleted so that its own
    /// grace period ends by the deadline. Returns how many pods are still waiting.
    pub(crate) fn drain_tiered(
        &mut self,
        now: SimTime,
        pods: &[PodId],
        opts: DrainOptions,
    ) -> usize {
        let disrupted = opts.taint.map(|key| Taint {
            key: key.into(),
            value: None,
            effect: TaintEffect::NoSchedule,
        });
        let mut waiting: Vec<(u8, PodId)> = Vec::new();
        for &p in pods {
            let pod = self.cluster.pod(p);
            if pod.phase.is_terminal()
                || pod.owner == OwnerKind::Node
                || pod
                    .template
                    .tolerations
                    .iter()
                    .any(|t| disrupted.as_ref().is_some_and(|d| t.tolerates(d)))
            {
                continue;
            }
            if pod.phase == PodPhase::Terminating
                && pod
                    .terminating_since
                    .is_some_and(|t| now.0.saturating_sub(t.0) > STUCK_TERMINATING_MS)
            {
                continue;
            }
            let critical = matches!(
                pod.template.priority_class_name.as_deref(),
                Some("system-cluster-critical" | "system-node-critical")
            );
            let ds = pod.owner == OwnerKind::DaemonSet;
            waiting.push((u8::from(critical) * 2 + u8::from(ds), p));
        }
        let Some(tier) = waiting.iter().map(|(t, _)| *t).min() else {
            return 0;
        };
        for &(t, p) in &waiting {
            let pod = self.cluster.pod(p);
            if pod.phase == PodPhase::Terminating {
                continue;
            }
            let grace = pod.template.termination_grace_ms.max(1_000);
            if let Some(deadline) = opts.deadline
                && now.0 + grace >= deadline.0
            {
                // Past `deadline − grace`: deleted whatever blocks it, with what time is left.
                let left = deadline.0.saturating_sub(now.0).max(1_000);
                self.terminate_pod_capped(now, p, EndReason::Evicted, Some(left));
                continue;
            }
            if t != tier || pod.do_not_disrupt_active(now) || self.cluster.pdb_blocking(p).is_some()
            {
                continue;
            }
            self.terminate_pod_capped(now, p, EndReason::Evicted, opts.max_grace_ms);
        }
        waiting.len()
    }

    /// Count the pods that go with a node that is removed now (docs/reports.md
    /// `disruption.pods_disrupted`): one whose eviction had begun counts as evicted, one still
    /// starting or running as reclaimed (its spot instance taken back) or deleted with the
    /// node. DaemonSet and static pods belong to the node and are not counted.
    pub(crate) fn count_pods_lost(&mut self, node: NodeId, reclaimed: bool) {
        let Some(n) = self.cluster.node(node) else {
            return;
        };
        for p in &n.pods {
            let pod = self.cluster.pod(*p);
            if matches!(pod.owner, OwnerKind::DaemonSet | OwnerKind::Node) {
                continue;
            }
            match pod.phase {
                PodPhase::Terminating if pod.end_reason == Some(EndReason::Evicted) => {
                    self.recorder.pods_evicted += 1;
                }
                PodPhase::Starting | PodPhase::Running if reclaimed => {
                    self.recorder.pods_reclaimed += 1;
                }
                PodPhase::Starting | PodPhase::Running => {
                    self.recorder.pods_deleted_with_node += 1;
                }
                _ => {}
            }
        }
    }

    /// The DaemonSet controller deletes the pods of a node that is gone.
    pub(crate) fn drop_pinned(&mut self, now: SimTime, node: NodeId) {
        for p in self.ds_pinned.remove(&node).unwrap_or_default() {
            self.cluster.end_pod(p, now, PodPhase::Deleted);
        }
    }
}
