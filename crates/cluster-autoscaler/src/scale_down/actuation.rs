//! Scale-down actuation (docs/model/cluster-autoscaler.md §4.4–§4.6; cluster-autoscaler:
//! core/scaledown/actuation/actuator.go, drain.go, softtaint.go): the soft
//! `DeletionCandidateOfClusterAutoscaler` taints, which unneeded nodes go now within the
//! parallelism budgets and min sizes, the `ToBeDeletedByClusterAutoscaler` taint, and the
//! drain and its failure.
//!
//! A drain retries blocked evictions every 5 s (CA: every 10 s) until `--max-pod-eviction-time`
//! (2 min) after it began; then it fails as in §4.6 step 6: the node is untainted and
//! uncordoned, pods already evicted stay evicted, and the node is not considered again for
//! `--unremovable-node-recheck-timeout` (5 min, the FAQ's "extra 5 minutes" after a failed
//! removal, §7). As in CA, an asynchronous drain failure does not start
//! `--scale-down-delay-after-failure`, which only a synchronous `StartDeletion` error sets (there
//! is none in the simulator).

use std::collections::{BTreeMap, BTreeSet};

use asim_cluster::autoscaler::Ctx;
use asim_cluster::{Cluster, NodeId, OwnerKind, PodPhase};
use asim_core::engine::SimTime;
use asim_core::k8s::taints::{Taint, TaintEffect};

use crate::decision::{
    AbortReason, Decision, DecisionLog, DrainFailure, ScaleDownKind, Unremovable,
};
use crate::flags::Flags;
use crate::nodegroup::{
    DELETION_CANDIDATE_TAINT, GroupId, NodeGroup, NodeGroups, TO_BE_DELETED_TAINT,
};
use crate::timer::Timer;

use super::planner::{Planner, Unneeded, is_expendable};

/// A node CA is deleting.
#[derive(Clone, Copy, Debug)]
struct Deleting {
    group: GroupId,
    drain: bool,
}

impl Deleting {
    /// The report's disruption key for this deletion: the closest Karpenter term (crate docs).
    fn reason(self) -> &'static str {
        if self.drain {
            "consolidation"
        } else {
            "emptiness"
        }
    }
}

/// The actuator's state: the deletions in flight and the soft-tainted nodes.
#[derive(Clone, Debug, Default)]
pub struct Actuator {
    deleting: BTreeMap<NodeId, Deleting>,
    soft_tainted: BTreeSet<NodeId>,
}

impl Actuator {
    pub fn is_deleting(&self, node: NodeId) -> bool {
        self.deleting.contains_key(&node)
    }

    /// The group of each deletion in flight.
    pub fn deleting_groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.deleting.values().map(|d| d.group)
    }

    /// Soft `DeletionCandidateOfClusterAutoscaler` taints on unneeded nodes, at most
    /// `--max-bulk-soft-taint-count` new ones per loop; removed once a node is needed (§4.5).
    pub fn update_soft_taints(&mut self, ctx: &mut Ctx<'_>, planner: &Planner, flags: &Flags) {
        let stale: Vec<NodeId> = self
            .soft_tainted
            .iter()
            .copied()
            .filter(|n| !planner.unneeded.contains_key(n))
            .collect();
        for n in stale {
            self.soft_tainted.remove(&n);
            ctx.untaint(n, |t| t.key == DELETION_CANDIDATE_TAINT);
        }
        let mut added = 0;
        let unneeded: Vec<NodeId> = planner.unneeded.keys().copied().collect();
        for n in unneeded {
            if added >= flags.max_bulk_soft_taint_count {
                break;
            }
            if self.soft_tainted.contains(&n) {
                continue;
            }
            let soft = Taint::new(
                DELETION_CANDIDATE_TAINT,
                None,
                TaintEffect::PreferNoSchedule,
            );
            if ctx.taint(n, soft) {
                self.soft_tainted.insert(n);
                added += 1;
            }
        }
    }

    /// `NodesToDelete` + budgets (§4.5): of the nodes `removable_at` let through (min sizes and
    /// resource minimums already counted, §4.4), empty nodes first up to the parallelism
    /// left, then at most `--max-drain-parallelism` drains in flight. Returns whether a
    /// deletion started.
    pub fn start_deletions(
        &mut self,
        ctx: &mut Ctx<'_>,
        removable: &[(NodeId, Unneeded)],
        planner: &mut Planner,
        groups: &mut NodeGroups,
        flags: &Flags,
        log: &mut DecisionLog,
    ) -> bool {
        let now = ctx.now;
        let s = &flags.scale_down;
        if removable.is_empty() {
            return false;
        }
        let in_progress = self.deleting.len() as u32;
        let drains = self.deleting.values().filter(|d| d.drain).count() as u32;
        let mut left = s.max_scale_down_parallelism.saturating_sub(in_progress);
        let mut chosen: Vec<(NodeId, GroupId, bool, f64, u64)> = Vec::new();
        let mut empty_taken = 0u32;
        for (node, u) in removable.iter().filter(|(_, u)| u.empty) {
            if left == 0 || s.max_empty_bulk_delete.is_some_and(|m| empty_taken >= m) {
                break;
            }
            let g = u.group;
            if group_cooldown(&groups[g], flags, now) {
                continue;
            }
            left -= 1;
            empty_taken += 1;
            chosen.push((*node, g, false, u.utilization, now.since(u.since)));
        }
        let mut drain_left = left.min(s.max_drain_parallelism.saturating_sub(drains));
        for (node, u) in removable.iter().filter(|(_, u)| !u.empty) {
            if drain_left == 0 {
                break;
            }
            let g = u.group;
            if group_cooldown(&groups[g], flags, now) {
                continue;
            }
            drain_left -= 1;
            chosen.push((*node, g, true, u.utilization, now.since(u.since)));
        }
        let mut started = false;
        for (node, g, drain, util, unneeded_ms) in chosen {
            let Some(mut n) = ctx.patch_node(node) else {
                continue;
            };
            // Taint synchronously before anything is drained (§4.6 step 1).
            n.taints.retain(|t| t.key != DELETION_CANDIDATE_TAINT);
            n.taints.push(Taint::new(
                TO_BE_DELETED_TAINT,
                None,
                TaintEffect::NoSchedule,
            ));
            if flags.cordon_node_before_terminating {
                n.unschedulable = true;
            }
            let name = n.name.clone();
            drop(n);
            self.soft_tainted.remove(&node);
            planner.forget(node);
            self.deleting.insert(node, Deleting { group: g, drain });
            started = true;
            groups[g].last_scale_down = Some(now);
            Timer::Delete(node).set(ctx, now + flags.node_delete_delay_after_taint_ms);
            log.log(
                now,
                Decision::ScaleDown {
                    node: name,
                    group: groups[g].name.clone(),
                    kind: if drain {
                        ScaleDownKind::Drain
                    } else {
                        ScaleDownKind::Empty
                    },
                    utilization: util,
                    unneeded_s: unneeded_ms / 1000,
                },
            );
        }
        started
    }

    /// After `--node-delete-delay-after-taint`: an empty node that got pods meanwhile is given
    /// back; otherwise the simulator drains it (grace capped at
    /// `--max-graceful-termination-sec`) and terminates its instance in the ASG.
    pub fn delete_after_taint(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: NodeId,
        flags: &Flags,
        log: &mut DecisionLog,
    ) {
        let Some(d) = self.deleting.get(&node).copied() else {
            return;
        };
        let Some(n) = ctx.cluster().node(node) else {
            self.deleting.remove(&node);
            return;
        };
        if !d.drain {
            let cluster: &Cluster = ctx.cluster();
            // Expendable pods are not in CA's snapshot (§2.4): they do not make a node non-empty.
            let cutoff = flags.expendable_pods_priority_cutoff;
            let got_pods = n.pods.iter().any(|p| {
                let pod = cluster.pod(*p);
                pod.is_active()
                    && pod.owner != OwnerKind::DaemonSet
                    && pod.owner != OwnerKind::Node
                    && !is_expendable(&pod.template, cutoff)
            });
            if got_pods {
                let name = n.name.clone();
                ctx.untaint(node, |t| t.key == TO_BE_DELETED_TAINT);
                ctx.uncordon(node);
                self.deleting.remove(&node);
                log.log(
                    ctx.now,
                    Decision::ScaleDownAborted {
                        node: name,
                        reason: AbortReason::PodsArrived,
                    },
                );
                return;
            }
        }
        ctx.delete_node_with_grace(node, d.reason(), flags.max_graceful_termination_ms);
        if d.drain {
            // Evictions are retried until `--max-pod-eviction-time` (§4.6 step 3).
            let deadline = ctx.now + flags.max_pod_eviction_ms;
            Timer::EvictionDeadline(node).set(ctx, deadline);
        }
    }

    /// `--max-pod-eviction-time` after a drain began: if a pod is still not evicted (its PDB
    /// allowed no disruption the whole time), the drain fails — `AbortNodeDeletion` /
    /// `CleanUpAndRecordFailedScaleDownEvent` (§4.6 step 6): the `ToBeDeletedByClusterAutoscaler`
    /// taint goes, the node is uncordoned and kept, and the next loop judges it afresh.
    pub fn check_eviction_deadline(
        &mut self,
        ctx: &mut Ctx<'_>,
        node: NodeId,
        flags: &Flags,
        groups: &NodeGroups,
        planner: &mut Planner,
        log: &mut DecisionLog,
    ) {
        if !self.deleting.get(&node).is_some_and(|d| d.drain) {
            return;
        }
        let Some(n) = ctx.cluster().node(node) else {
            return;
        };
        let cluster: &Cluster = ctx.cluster();
        let stuck: Vec<String> = n
            .pods
            .iter()
            .map(|p| cluster.pod(*p))
            .filter(|p| {
                p.is_active() && p.phase != PodPhase::Terminating && p.owner != OwnerKind::DaemonSet
            })
            .map(|p| format!("{}/{}", p.namespace(), p.name))
            .collect();
        if stuck.is_empty() {
            // Every pod was evicted: what is left is waiting for them to terminate.
            return;
        }
        let name = n.name.clone();
        ctx.abort_drain(node);
        ctx.untaint(node, |t| t.key == TO_BE_DELETED_TAINT);
        ctx.uncordon(node);
        let d = self.deleting.remove(&node);
        let group = d.map(|d| groups[d.group].name.clone());
        // FAQ: after a failed attempt to remove a node CA waits an extra 5 minutes before
        // considering it again (§4.6, §7: the unremovable-node recheck timeout).
        let recheck = ctx.now + flags.scale_down.unremovable_recheck_ms;
        planner
            .unremovable
            .insert(node, (recheck, Unremovable::RecentlyUnremovable));
        log.log(
            ctx.now,
            Decision::ScaleDownFailed {
                node: name,
                group,
                reason: DrainFailure::EvictionTimeout,
                pods: stuck,
            },
        );
    }

    /// A node is gone: forget it. Returns its group if CA was deleting it.
    pub fn node_deleted(&mut self, node: NodeId) -> Option<GroupId> {
        self.soft_tainted.remove(&node);
        self.deleting.remove(&node).map(|d| d.group)
    }
}

/// `--scale-down-delay-type-local`: the delays after a scale-up or a deletion apply to the
/// group alone (§4.1).
fn group_cooldown(g: &NodeGroup, flags: &Flags, now: SimTime) -> bool {
    if !flags.delay_type_local {
        return false;
    }
    let within = |t: Option<SimTime>, d: u64| t.is_some_and(|t| now < t + d);
    within(g.last_scale_up, flags.delay_after_add_ms)
        || within(g.last_scale_down, flags.delay_after_delete_ms)
}
