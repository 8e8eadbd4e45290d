//! kube-scheduler's PostFilter, the DefaultPreemption plugin (docs/model/scheduler.md §2):
//! when a pod fits nowhere, find a node where evicting pods of strictly lower priority makes it
//! fit, choose the fewest and least important victims there, and nominate the pod to it.
//! (kubernetes: pkg/scheduler/framework/plugins/defaultpreemption/default_preemption.go,
//! pkg/scheduler/framework/preemption/preemption.go.)

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Nomination, PassState, Preemption, SpreadCache, core, reserved};
use crate::pod::{OwnerKind, PodPhase, PreemptionPolicy};
use crate::{Cluster, NodeId, PodId};

/// upstream `minCandidateNodesPercentage` and `minCandidateNodesAbsolute` (DefaultPreemptionArgs
/// defaults, kubernetes: pkg/scheduler/apis/config/v1/defaults.go; docs/model/scheduler.md §2):
/// the dry run stops once it has this many candidates, one of them without a PDB
/// violation.
const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// One node's dry run: the victims and how many of them a PDB protects.
struct Candidate {
    node: NodeId,
    victims: Vec<PodId>,
    pdb_violations: usize,
}

/// What a node's pods look like before a dry run removes some: restored exactly afterwards.
struct Saved {
    node: crate::Node,
    anti_affinity: Vec<PodId>,
}

impl Cluster {
    /// `PodEligibleToPreemptOthers` then `DryRunPreemption` and `SelectCandidate`: the node
    /// and victims for `pid`, or `None` when it may not preempt or nothing would make it fit.
    pub(super) fn preempt(&mut self, pid: PodId, pass: &PassState) -> Option<Preemption> {
        let pod = self.pod(pid);
        let prio = pod.template.priority;
        if pod.template.preemption_policy == PreemptionPolicy::Never {
            return None;
        }
        // A pod already nominated to a node where lower-priority pods are still terminating
        // waits for them rather than preempting again.
        if let Some(n) = pod.nominated_node.and_then(|n| self.node(n)) {
            let waiting = n.pods.iter().any(|p| {
                let v = self.pod(*p);
                v.phase == PodPhase::Terminating && v.template.priority < prio
            });
            if waiting {
                return None;
            }
        }
        // Cheap exit: no bound pod anywhere has a lower priority.
        let lowest = match pass.lowest_bound_priority.get() {
            Some(l) => l,
            None => {
                let l = self.bound_priorities.keys().next().copied();
                debug_assert_eq!(
                    l,
                    self.nodes()
                        .flat_map(|n| n.pod_templates.iter().map(|(t, _)| t.priority))
                        .min(),
                    "Cluster::bound_priorities is stale"
                );
                pass.lowest_bound_priority.set(Some(l));
                l
            }
        };
        if lowest.is_none_or(|l| l >= prio) {
            return None;
        }
        let template = Arc::clone(&pod.template);
        let node_ids: Vec<NodeId> = self
            .nodes()
            .filter(|n| Self::fixed_filter(&template, n).is_ok())
            .map(|n| n.id)
            .collect();
        let want = (self.node_count() * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
            .max(MIN_CANDIDATE_NODES_ABSOLUTE);
        let mut candidates: Vec<Candidate> = Vec::new();
        for node in node_ids {
            if let Some(c) = self.select_victims_on_node(pid, node, pass) {
                candidates.push(c);
            }
            let non_violating = candidates.iter().any(|c| c.pdb_violations == 0);
            if non_violating && candidates.len() >= want {
                break;
            }
        }
        let best = self.pick_one_node(candidates)?;
        Some(Preemption {
            preemptor: pid,
            node: best.node,
            victims: best.victims,
        })
    }

    /// `SelectVictimsOnNode`: remove every pod of lower priority; if the preemptor then fits,
    /// reprieve them one by one, most important first (PDB-protected ones before the rest),
    /// keeping each whose return still lets it fit. DaemonSet and static pods are never victims
    /// ([simplification]: upstream considers them, and their controller puts them back).
    fn select_victims_on_node(
        &mut self,
        pid: PodId,
        node: NodeId,
        pass: &PassState,
    ) -> Option<Candidate> {
        let prio = self.pod(pid).template.priority;
        let n = self.node(node)?;
        let mut potential: Vec<PodId> = n
            .pods
            .iter()
            .copied()
            .filter(|p| {
                let v = self.pod(*p);
                matches!(v.phase, PodPhase::Starting | PodPhase::Running)
                    && !matches!(v.owner, OwnerKind::DaemonSet | OwnerKind::Node)
                    && v.template.priority < prio
                    && !pass.victims.contains(p)
            })
            .collect();
        if potential.is_empty() {
            return None;
        }
        // Necessary for a fit, and cheap: the core resources with every victim gone.
        let reserve = reserved(&pass.nominated, node.0 as usize, pid, prio);
        let (a, r) = (core(&n.allocatable), core(&n.requested));
        let mut free = [0i64; 4];
        for k in 0..4 {
            free[k] = a[k] - r[k] - reserve[k];
        }
        for p in &potential {
            let v = core(&self.pod(*p).template.requests);
            for k in 0..4 {
                free[k] += v[k];
            }
        }
        if Self::core_fit(&self.pod(pid).template.requests, &free).is_err() {
            return None;
        }
        // `MoreImportantPod`: higher priority, then the earlier start.
        potential.sort_by_key(|p| {
            let v = self.pod(*p);
            (
                Reverse(v.template.priority),
                v.running_at.or(v.bound_at).unwrap_or(v.created_at),
                v.id,
            )
        });
        let saved = Saved {
            node: n.clone(),
            anti_affinity: potential
                .iter()
                .copied()
                .filter(|p| self.anti_affinity_pods.contains(p))
                .collect(),
        };
        // PDB budgets are read before the dry run takes pods off the node's books.
        let (violating, non_violating) = self.split_by_pdb(&potential);
        for &p in &potential {
            self.detach(node, p);
        }
        if !self.fits_now(pid, node, reserve) {
            self.restore(node, saved);
            return None;
        }
        let mut victims = Vec::new();
        let mut pdb_violations = 0;
        for (p, protected) in violating
            .iter()
            .map(|p| (*p, true))
            .chain(non_violating.iter().map(|p| (*p, false)))
        {
            self.attach(node, p);
            if !self.fits_now(pid, node, reserve) {
                self.detach(node, p);
                victims.push(p);
                pdb_violations += usize::from(protected);
            }
        }
        self.restore(node, saved);
        Some(Candidate {
            node,
            victims,
            pdb_violations,
        })
    }

    /// `filterPodsWithPDBViolation`: walking the pods in order, each takes one disruption from
    /// every PDB that selects it; a pod that finds a budget exhausted would violate it.
    fn split_by_pdb(&self, pods: &[PodId]) -> (Vec<PodId>, Vec<PodId>) {
        if self.pdbs.is_empty() {
            return (Vec::new(), pods.to_vec());
        }
        let counts = self.pdb_pod_counts();
        let mut allowed: Vec<i64> = self
            .pdbs
            .iter()
            .zip(&counts)
            .map(|(pdb, &(expected, healthy))| pdb.disruptions_allowed(expected, healthy))
            .collect();
        let (mut violating, mut fine) = (Vec::new(), Vec::new());
        for &p in pods {
            let v = self.pod(p);
            let mut violates = false;
            for (pdb, left) in self.pdbs.iter().zip(allowed.iter_mut()) {
                if pdb.namespace == v.template.namespace && pdb.selector.matches(v.labels()) {
                    *left -= 1;
                    violates |= *left < 0;
                }
            }
            if violates {
                violating.push(p);
            } else {
                fine.push(p);
            }
        }
        (violating, fine)
    }

    /// `pickOneNodeForPreemption`: fewest PDB violations, then the lowest highest-victim
    /// priority, the smallest sum of victim priorities, the fewest victims, the latest start
    /// among the highest-priority victims; then the oldest node (upstream takes the first of
    /// a map's order; we stay deterministic).
    fn pick_one_node(&self, candidates: Vec<Candidate>) -> Option<Candidate> {
        candidates.into_iter().min_by_key(|c| {
            let prios = c.victims.iter().map(|p| self.pod(*p).template.priority);
            let highest = prios.clone().max().unwrap_or(i32::MIN);
            // Each priority is shifted by 2^31 to be ≥ 0, as upstream does, so that more victims
            // of the same negative priority never make a smaller sum.
            let sum: i64 = prios.map(|p| i64::from(p) + (1i64 << 31)).sum();
            let earliest_start = c
                .victims
                .iter()
                .map(|p| self.pod(*p))
                .filter(|v| v.template.priority == highest)
                .map(|v| v.running_at.or(v.bound_at).unwrap_or(v.created_at))
                .min();
            (
                c.pdb_violations,
                highest,
                sum,
                c.victims.len(),
                Reverse(earliest_start),
                c.node,
            )
        })
    }

    /// Would `pid` pass every filter on `node` as it stands, with `reserve` held for nominated
    /// pods? The binder's own filters, computed afresh (victims may have left the node).
    fn fits_now(&self, pid: PodId, node: NodeId, reserve: [i64; 4]) -> bool {
        let pod = self.pod(pid);
        let t = &pod.template;
        let Some(n) = self.node(node) else {
            return false;
        };
        if Self::fixed_filter(t, n).is_err() {
            return false;
        }
        let (a, r) = (core(&n.allocatable), core(&n.requested));
        let free = [
            a[0] - r[0] - reserve[0],
            a[1] - r[1] - reserve[1],
            a[2] - r[2] - reserve[2],
            a[3] - r[3] - reserve[3],
        ];
        if Self::core_fit(&t.requests, &free).is_err() || Self::node_fit(t, n).is_err() {
            return false;
        }
        let needs_ctx = !t.spread.is_empty()
            || !t.affinity.is_empty()
            || !t.anti_affinity.is_empty()
            || !self.anti_affinity_pods.is_empty();
        if !needs_ctx {
            return true;
        }
        let mut cache = SpreadCache::default();
        let ctx = self.pod_context(pod, &mut cache);
        self.dynamic_filter(t, &ctx, &cache, n).is_ok()
    }

    /// Take a bound pod off its node's books for a dry run (the pod record is untouched).
    fn detach(&mut self, node: NodeId, p: PodId) {
        let t = Arc::clone(&self.pods[p.0 as usize].template);
        self.anti_affinity_pods.remove(&p);
        let Some(n) = self.nodes[node.0 as usize].as_mut() else {
            return;
        };
        n.pods.remove(&p);
        n.pods_version += 1;
        self.node_stamps.touch(node);
        n.requested.sub(&t.requests);
        self.free[node.0 as usize] = super::free_of(n);
        self.node_tree.set_room(node, self.free[node.0 as usize]);
        if let Some(i) = n.pod_templates.iter().position(|(x, _)| Arc::ptr_eq(x, &t)) {
            n.pod_templates[i].1 -= 1;
            if n.pod_templates[i].1 == 0 {
                n.pod_templates.swap_remove(i);
            }
        }
        for hp in &t.host_ports {
            if let Some(i) = n.host_ports.iter().position(|h| h == hp) {
                n.host_ports.swap_remove(i);
            }
        }
    }

    /// Undo [`Cluster::detach`] for one pod (order of the node's lists aside: see `restore`).
    fn attach(&mut self, node: NodeId, p: PodId) {
        let t = Arc::clone(&self.pods[p.0 as usize].template);
        if !t.anti_affinity.is_empty() {
            self.anti_affinity_pods.insert(p);
        }
        let Some(n) = self.nodes[node.0 as usize].as_mut() else {
            return;
        };
        n.pods.insert(p);
        n.pods_version += 1;
        self.node_stamps.touch(node);
        n.requested.add(&t.requests);
        self.free[node.0 as usize] = super::free_of(n);
        self.node_tree.set_room(node, self.free[node.0 as usize]);
        match n.pod_templates.iter_mut().find(|(x, _)| Arc::ptr_eq(x, &t)) {
            Some((_, c)) => *c += 1,
            None => n.pod_templates.push((Arc::clone(&t), 1)),
        }
        n.host_ports.extend(t.host_ports.iter().cloned());
    }

    /// Put a node back exactly as it was before a dry run.
    fn restore(&mut self, node: NodeId, saved: Saved) {
        self.free[node.0 as usize] = super::free_of(&saved.node);
        self.node_tree.set_room(node, self.free[node.0 as usize]);
        self.nodes[node.0 as usize] = Some(saved.node);
        self.anti_affinity_pods.extend(saved.anti_affinity);
    }

    /// Set the preemptor's `nominatedNodeName`; nominations of lower-priority pods to the same
    /// node lapse (upstream clears them, `prepareCandidate` → `ClearNominatedNodeName`).
    pub(super) fn nominate(&mut self, pre: &Preemption, pass: &mut PassState) {
        self.generation += 1;
        self.preemptions += 1;
        let prio = self.pods[pre.preemptor.0 as usize].template.priority;
        let lower: BTreeSet<PodId> = pass
            .nominated
            .iter()
            .filter(|(n, p, _, _)| *n == pre.node.0 as usize && *p < prio)
            .map(|(_, _, id, _)| *id)
            .collect();
        for p in &lower {
            self.pods[p.0 as usize].nominated_node = None;
        }
        // Room held for a nomination is released (the lower ones, or the preemptor's earlier
        // one): pods that found it held may fit now (docs/model/scheduler.md §4).
        if !lower.is_empty() || self.pods[pre.preemptor.0 as usize].nominated_node.is_some() {
            self.queue
                .record(super::queue::ClusterEvent::AssignedPodDelete);
        }
        pass.nominated
            .retain(|(_, _, id, _)| !lower.contains(id) && *id != pre.preemptor);
        let pod = &mut self.pods[pre.preemptor.0 as usize];
        pod.nominated_node = Some(pre.node);
        let entry: Nomination = (
            pre.node.0 as usize,
            prio,
            pre.preemptor,
            core(&pod.template.requests),
        );
        pass.nominated.push(entry);
        pass.victims.extend(pre.victims.iter().copied());
    }
}
