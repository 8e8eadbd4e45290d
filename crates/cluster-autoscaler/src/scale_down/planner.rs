//! The scale-down planner (docs/model/cluster-autoscaler.md §4; cluster-autoscaler:
//! core/scaledown/planner/planner.go, core/scaledown/unneeded/nodes.go,
//! simulator/utilization, simulator/drainability): which nodes are unneeded (utilization at or
//! below the threshold and every pod that must move has somewhere to go), how long they have
//! been, which pods block removal (§4.3), and which unneeded nodes may be deleted now (§4.4).

use std::collections::{BTreeMap, BTreeSet};

use asim_cluster::free_capacity::{FreeCapacity, core};
use asim_cluster::pod::{HOSTNAME_KEY, SAFE_TO_EVICT};
use asim_cluster::{Cluster, Node, NodeId, OwnerKind, Pod, PodId, PodPhase, PodTemplate};
use asim_core::engine::SimTime;
use asim_core::k8s::resources::{NVIDIA_GPU, Resources};

use crate::decision::Unremovable;
use crate::flags::ScaleDownSettings;
use crate::nodegroup::{GroupId, NodeGroups, TO_BE_DELETED_TAINT, matches_affinity, tolerates};

/// Annotation listing the local volumes that may be lost (§4.3).
pub const SAFE_TO_EVICT_LOCAL_VOLUMES: &str =
    "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes";

/// Why a pod keeps its node (§4.3), or why a node is not removable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Blocker {
    NotReplicated,
    UnmovableKubeSystemPod,
    NotSafeToEvictAnnotation,
    LocalStorageRequested,
    NotEnoughPdb,
    MinReplicasReached,
    NoPlaceToMovePods,
}

impl Blocker {
    /// CA's `UnremovableReason` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocker::NotReplicated => "NotReplicated",
            Blocker::UnmovableKubeSystemPod => "UnmovableKubeSystemPod",
            Blocker::NotSafeToEvictAnnotation => "NotSafeToEvictAnnotation",
            Blocker::LocalStorageRequested => "LocalStorageRequested",
            Blocker::NotEnoughPdb => "NotEnoughPdb",
            Blocker::MinReplicasReached => "MinReplicasReached",
            Blocker::NoPlaceToMovePods => "NoPlaceToMovePods",
        }
    }
}

/// What draining does with one pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Goes with the node (DaemonSet, mirror, terminal, terminating, expendable).
    Skip,
    /// Evicted, needs a place on another node.
    Move,
}

/// The drainability rules in their order (`simulator/drainability/rules`, §4.3).
pub fn drainability(
    pod: &Pod,
    cluster: &Cluster,
    s: &ScaleDownSettings,
    now: SimTime,
) -> Result<Drain, Blocker> {
    let t = &pod.template;
    // Mirror pods, long-terminating and terminal pods stay out of it.
    if pod.owner == OwnerKind::Node || !pod.is_active() || pod.phase == PodPhase::Terminating {
        return Ok(Drain::Skip);
    }
    if pod.owner == OwnerKind::DaemonSet {
        return Ok(Drain::Skip);
    }
    // Expendable pods never block (§2.4 / §4.3); they are evicted without a new place.
    if is_expendable(t, s.expendable_priority_cutoff) {
        return Ok(Drain::Skip);
    }
    // safe-to-evict: "true" overrides the controller, kube-system and local-storage rules.
    let safe = t.annotation(SAFE_TO_EVICT) == Some("true");
    if !safe {
        let replicated = match pod.owner {
            OwnerKind::ReplicaSet | OwnerKind::StatefulSet | OwnerKind::Job => true,
            OwnerKind::None => false,
            // Other controller kinds only with --skip-nodes-with-custom-controller-pods=false.
            _ => !s.skip_nodes_with_custom_controller_pods,
        };
        if !replicated {
            return Err(Blocker::NotReplicated);
        }
        if s.skip_nodes_with_system_pods
            && t.namespace == "kube-system"
            && !has_pdb(pod, cluster)
            && now.since(pod.created_at) < s.blocking_system_pod_ms
        {
            return Err(Blocker::UnmovableKubeSystemPod);
        }
    }
    if t.annotation(SAFE_TO_EVICT) == Some("false") {
        return Err(Blocker::NotSafeToEvictAnnotation);
    }
    if !safe && s.skip_nodes_with_local_storage && has_blocking_local_storage(t) {
        return Err(Blocker::LocalStorageRequested);
    }
    if cluster.pdb_blocking(pod.id).is_some() {
        return Err(Blocker::NotEnoughPdb);
    }
    if s.min_replica_count > 0
        && matches!(pod.owner, OwnerKind::ReplicaSet | OwnerKind::StatefulSet)
        && cluster
            .replica_sets
            .get(pod.owner_index as usize)
            .is_some_and(|rc| rc.replicas < s.min_replica_count)
    {
        return Err(Blocker::MinReplicasReached);
    }
    Ok(Drain::Move)
}

/// A node-local volume not named in `safe-to-evict-local-volumes` (a comma-separated list of
/// volume names, taken as written: cluster-autoscaler: `utils/drain/drain.go`,
/// `HasBlockingLocalStorage`; §4.3).
fn has_blocking_local_storage(t: &PodTemplate) -> bool {
    let listed: BTreeSet<&str> = t
        .annotation(SAFE_TO_EVICT_LOCAL_VOLUMES)
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    t.local_volumes.iter().any(|v| !listed.contains(v.as_str()))
}

fn has_pdb(pod: &Pod, cluster: &Cluster) -> bool {
    cluster
        .pdbs
        .iter()
        .any(|p| p.namespace == pod.template.namespace && p.selector.matches(pod.labels()))
}

/// Is this pod expendable: priority below `--expendable-pods-priority-cutoff` (§2.4;
/// cluster-autoscaler: `utils/pod/pod.go`, `IsExpendablePod`)? CA leaves such pods out of its
/// cluster snapshot (`core/static_autoscaler.go`, `FilterOutExpendablePods`): they hold no room
/// in its simulations, count in no utilization and never need a new home.
pub fn is_expendable(t: &PodTemplate, cutoff: i32) -> bool {
    t.priority < cutoff
}

/// The requests of the expendable pods on `node`: room CA's snapshot sees as free.
pub fn expendable_requests(node: &Node, cutoff: i32) -> Resources {
    let mut r = Resources::default();
    for (t, n) in &node.pod_templates {
        if is_expendable(t, cutoff) {
            for _ in 0..*n {
                r.add(&t.requests);
            }
        }
    }
    r
}

/// `utilization.Calculate` (§4.2): the higher of CPU and memory requests over allocatable;
/// GPU nodes use GPU utilization only; expendable pods are not in the snapshot, so they count
/// for nothing. Returns (utilization, is_gpu_node).
pub fn utilization(node: &Node, cluster: &Cluster, s: &ScaleDownSettings) -> (f64, bool) {
    let gpus = node.allocatable.get(NVIDIA_GPU);
    let mut requested = node.requested.clone();
    requested.sub(&expendable_requests(node, s.expendable_priority_cutoff));
    let mut alloc = node.allocatable.clone();
    let ignore = |p: &Pod| {
        (s.ignore_daemonsets_utilization && p.owner == OwnerKind::DaemonSet)
            || (s.ignore_mirror_pods_utilization && p.owner == OwnerKind::Node)
    };
    if s.ignore_daemonsets_utilization || s.ignore_mirror_pods_utilization {
        for p in &node.pods {
            let pod = cluster.pod(*p);
            if ignore(pod) && !is_expendable(&pod.template, s.expendable_priority_cutoff) {
                requested.sub(&pod.template.requests);
                alloc.sub(&pod.template.requests);
            }
        }
    }
    let frac = |r: i64, a: i64| if a > 0 { r as f64 / a as f64 } else { 0.0 };
    if gpus > 0 {
        return (frac(requested.get(NVIDIA_GPU), alloc.get(NVIDIA_GPU)), true);
    }
    (
        frac(requested.cpu_m, alloc.cpu_m).max(frac(requested.memory, alloc.memory)),
        false,
    )
}

/// A destination for pods moved off a node being removed (scale-down simulation).
#[derive(Clone, Debug)]
struct Dest {
    id: NodeId,
    free: Resources,
}

/// A node found unneeded in the last pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Unneeded {
    pub since: SimTime,
    pub group: GroupId,
    pub empty: bool,
    pub ready: bool,
    pub utilization: f64,
}

/// The planner's memory between loops (`unneeded.Nodes`, the unremovable-node cache).
#[derive(Clone, Debug, Default)]
pub struct Planner {
    pub unneeded: BTreeMap<NodeId, Unneeded>,
    /// Nodes found unremovable because of their pods (or a failed removal), and when to look
    /// again (§4.4).
    pub unremovable: BTreeMap<NodeId, (SimTime, Unremovable)>,
    /// Why each candidate the last pass looked at is not unneeded: the reasons of the
    /// unremovable cache (kept while a node waits for its recheck, so that its status does
    /// not flip to `RecentlyUnremovable` and back every 5 minutes), `NotUnderutilized`,
    /// `ScaleDownUnreadyDisabled`.
    pub reasons: BTreeMap<NodeId, Unremovable>,
    /// Per node id: what the planner derived from the node's pods, with the
    /// `Node::pods_version` it holds for (`NodeFacts`).
    facts: Vec<Option<NodeFacts>>,
}

/// What a planner pass derives from one node's pods and keeps while they are as they were
/// (`Node::pods_version`, which every pod joining, leaving or changing phase on the node
/// moves; a node's allocatable never changes): its utilization under the settings it was
/// computed with, and its room as a destination (free plus its expendable pods' requests).
/// Every loop computed both for every node of the cluster.
#[derive(Clone, Debug)]
struct NodeFacts {
    pods_version: u64,
    /// The settings it read → (utilization, GPU node).
    utilization: Option<(UtilizationKey, (f64, bool))>,
    /// (expendable cutoff) → room as a destination.
    dest_free: Option<(i32, Resources)>,
}

/// What [`utilization`] reads of the settings: the expendable cutoff and whether DaemonSet and
/// mirror pods are ignored.
type UtilizationKey = (i32, bool, bool);

impl Planner {
    /// The kept facts of `node`, emptied if its pods changed since.
    fn facts_of(&mut self, node: &Node) -> &mut NodeFacts {
        let i = node.id.0 as usize;
        if self.facts.len() <= i {
            self.facts.resize(i + 1, None);
        }
        let slot = &mut self.facts[i];
        if slot
            .as_ref()
            .is_some_and(|f| f.pods_version != node.pods_version)
        {
            *slot = None;
        }
        slot.get_or_insert(NodeFacts {
            pods_version: node.pods_version,
            utilization: None,
            dest_free: None,
        })
    }

    /// [`utilization`], kept per node while its pods and the settings it reads hold.
    fn utilization_of(
        &mut self,
        node: &Node,
        cluster: &Cluster,
        s: &ScaleDownSettings,
    ) -> (f64, bool) {
        let key = (
            s.expendable_priority_cutoff,
            s.ignore_daemonsets_utilization,
            s.ignore_mirror_pods_utilization,
        );
        let f = self.facts_of(node);
        if let Some((k, u)) = f.utilization
            && k == key
        {
            debug_assert_eq!(u, utilization(node, cluster, s), "stale utilization");
            return u;
        }
        let u = utilization(node, cluster, s);
        f.utilization = Some((key, u));
        u
    }

    /// A destination's room: free plus its expendable pods' requests, kept per node while
    /// its pods hold.
    fn dest_free_of(&mut self, node: &Node, cutoff: i32) -> Resources {
        let f = self.facts_of(node);
        let fresh = || {
            let mut free = node.free();
            free.add(&expendable_requests(node, cutoff));
            free
        };
        if let Some((c, r)) = &f.dest_free
            && *c == cutoff
        {
            debug_assert_eq!(*r, fresh(), "stale destination room");
            return r.clone();
        }
        let free = fresh();
        f.dest_free = Some((cutoff, free.clone()));
        free
    }
}

/// A candidate under the threshold: utilization, readiness, and its pods to move or why not.
type Evaluated = (Candidate, f64, bool, Result<Vec<PodId>, Unremovable>);

/// One removal candidate: a node of an autoscaled group not already at min size.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub node: NodeId,
    pub group: GroupId,
}

impl Planner {
    /// `UpdateClusterState`: re-evaluate every candidate; the unneeded clock of a node that
    /// stays unneeded keeps running, one that is not unneeded this pass drops out. Candidates
    /// are taken empty first, then previously unneeded, then the rest; at most
    /// `unneeded_limit` nodes are accepted. Pods of accepted nodes are placed on the remaining
    /// nodes, so a later candidate only counts what is left (§4.5 FAQ example).
    pub fn update(
        &mut self,
        cluster: &Cluster,
        candidates: &[Candidate],
        groups: &NodeGroups,
        flags: &ScaleDownSettings,
        now: SimTime,
    ) {
        self.unremovable.retain(|_, (at, _)| *at > now);
        self.reasons.clear();
        let limit = self.unneeded_limit(flags);
        // Per candidate: pods to move or a blocker.
        let mut evaluated: Vec<Evaluated> = Vec::new();
        for &c in candidates {
            let Some(node) = cluster.node(c.node) else {
                continue;
            };
            if let Some((_, why)) = self.unremovable.get(&c.node) {
                self.reasons.insert(c.node, why.clone());
                continue;
            }
            // The group's ASG tags may override the thresholds (§4.2).
            let s = &flags.with(&groups[c.group].options);
            if !node.ready && !s.unready_enabled {
                self.reasons
                    .insert(c.node, Unremovable::ScaleDownUnreadyDisabled);
                continue;
            }
            let (u, gpu) = self.utilization_of(node, cluster, s);
            let threshold = if gpu {
                s.gpu_utilization_threshold
            } else {
                s.utilization_threshold
            };
            if u > threshold {
                self.reasons
                    .insert(c.node, Unremovable::NotUnderutilized { utilization: u });
                continue;
            }
            let mut to_move = Vec::new();
            let mut blocked = None;
            for p in &node.pods {
                let pod = cluster.pod(*p);
                match drainability(pod, cluster, s, now) {
                    Ok(Drain::Move) => to_move.push(*p),
                    Ok(Drain::Skip) => {}
                    Err(b) => {
                        blocked = Some(Unremovable::BlockedByPod {
                            pod: format!("{}/{}", pod.namespace(), pod.name),
                            rule: b.as_str(),
                        });
                        break;
                    }
                }
            }
            let r = match blocked {
                Some(b) => Err(b),
                None => Ok(to_move),
            };
            evaluated.push((c, u, node.ready, r));
        }
        // Empty first, then previously unneeded, then the rest (node order).
        evaluated.sort_by_key(|(c, _, _, r)| {
            let empty = matches!(r, Ok(v) if v.is_empty());
            (!empty, !self.unneeded.contains_key(&c.node), c.node)
        });

        let list: Vec<Dest> = cluster
            .nodes()
            .filter(|n| n.schedulable() && !n.taints.iter().any(|t| t.key == TO_BE_DELETED_TAINT))
            .map(|n| Dest {
                id: n.id,
                free: self.dest_free_of(n, flags.expendable_priority_cutoff),
            })
            .collect();
        let mut dests = Dests {
            room: FreeCapacity::new(list.iter().map(|d| core(&d.free))),
            list,
        };
        let mut next: BTreeMap<NodeId, Unneeded> = BTreeMap::new();
        for (c, u, ready, r) in evaluated {
            if next.len() >= limit {
                break;
            }
            let recheck = now + flags.unremovable_recheck_ms;
            let to_move = match r {
                Err(why) => {
                    self.reasons.insert(c.node, why.clone());
                    self.unremovable.insert(c.node, (recheck, why));
                    continue;
                }
                Ok(v) => v,
            };
            let empty = to_move.is_empty();
            if !empty && !place_all(cluster, c.node, &to_move, &mut dests) {
                let why = Unremovable::NoPlaceToMovePods;
                self.reasons.insert(c.node, why.clone());
                self.unremovable.insert(c.node, (recheck, why));
                continue;
            }
            dests.remove(c.node);
            let since = self.unneeded.get(&c.node).map_or(now, |x| x.since);
            next.insert(
                c.node,
                Unneeded {
                    since,
                    group: c.group,
                    empty,
                    ready,
                    utilization: u,
                },
            );
        }
        self.unneeded = next;
    }

    /// `unneededNodesLimit`: min(unneeded + 2N, N × unneeded-time / loop + N), N = parallelism.
    fn unneeded_limit(&self, s: &ScaleDownSettings) -> usize {
        let n = s.max_scale_down_parallelism as usize;
        let limit = self.unneeded.len() + 2 * n;
        let loop_ms = s.scan_interval_ms.max(1);
        let u = s.unneeded_ms.max(loop_ms);
        let upper = n * (u / loop_ms) as usize + n;
        limit.min(upper).max(1)
    }

    /// Unneeded nodes whose time has come (10 min, or the unready time for unready nodes;
    /// either may be overridden by the group's ASG tags, §4.2).
    pub fn removable_now(
        &self,
        groups: &NodeGroups,
        s: &ScaleDownSettings,
        now: SimTime,
    ) -> Vec<(NodeId, Unneeded)> {
        self.unneeded
            .iter()
            .filter(|(_, u)| now.since(u.since) >= needed_ms(u, groups, s))
            .map(|(n, u)| (*n, u.clone()))
            .collect()
    }

    pub fn forget(&mut self, node: NodeId) {
        self.unneeded.remove(&node);
        self.unremovable.remove(&node);
    }
}

/// How long `u` must stay unneeded before it may go: `scale-down-unneeded-time`, or
/// `scale-down-unready-time` when unready, each possibly from the group's tags.
pub fn needed_ms(u: &Unneeded, groups: &NodeGroups, s: &ScaleDownSettings) -> u64 {
    let o = &groups[u.group].options;
    if u.ready {
        o.unneeded_ms.unwrap_or(s.unneeded_ms)
    } else {
        o.unready_ms.unwrap_or(s.unready_ms)
    }
}

/// The destinations of a planner pass in node order, and their free core resources indexed
/// (`asim_cluster::free_capacity`) so that a pod's search jumps over the nodes without room:
/// on a large cluster most candidates' pods have nowhere to go, and a scan read every node
/// for each of them. The node found is still the first in order that takes the pod.
struct Dests {
    list: Vec<Dest>,
    room: FreeCapacity,
}

impl Dests {
    /// Node `id` is to be removed: it takes no pods from the later candidates.
    fn remove(&mut self, id: NodeId) {
        if let Ok(i) = self.list.binary_search_by_key(&id, |d| d.id) {
            self.room.exclude([i]);
        }
    }

    fn consume(&mut self, i: usize, r: &Resources) {
        self.list[i].free.sub(r);
        self.room.set(i, core(&self.list[i].free));
    }

    fn give_back(&mut self, i: usize, r: &Resources) {
        self.list[i].free.add(r);
        self.room.set(i, core(&self.list[i].free));
    }
}

/// Can every pod in `pods` go to some other node (not `from`, not one already to be removed)?
/// Each pod takes the first destination in node order that accepts it; on success the
/// destinations' free space is consumed.
fn place_all(cluster: &Cluster, from: NodeId, pods: &[PodId], dests: &mut Dests) -> bool {
    let mut trial: Vec<(usize, &PodTemplate)> = Vec::new();
    let mut ok = true;
    for &p in pods {
        let t = &cluster.pod(p).template;
        let need = core(&t.requests);
        let mut at = 0;
        let found = loop {
            let Some(i) = dests.room.first_fit(at, &need) else {
                break None;
            };
            let d = &dests.list[i];
            if d.id != from
                && t.requests.fits_in(&d.free)
                && cluster
                    .node(d.id)
                    .is_some_and(|n| dest_accepts(cluster, n, t))
            {
                break Some(i);
            }
            at = i + 1;
        };
        match found {
            Some(i) => {
                dests.consume(i, &t.requests);
                trial.push((i, t));
            }
            None => {
                ok = false;
                break;
            }
        }
    }
    if !ok {
        for (i, t) in trial {
            dests.give_back(i, &t.requests);
        }
    }
    ok
}

/// Taints, node affinity, host ports and hostname anti-affinity on a real destination node.
fn dest_accepts(cluster: &Cluster, n: &Node, t: &PodTemplate) -> bool {
    if !tolerates(t, &n.taints) || !matches_affinity(t, &n.labels) {
        return false;
    }
    if t.host_ports.iter().any(|hp| n.host_port_in_use(hp)) {
        return false;
    }
    for term in &t.anti_affinity {
        if term.topology_key == HOSTNAME_KEY
            && n.pods.iter().any(|p| {
                let o = cluster.pod(*p);
                o.is_active() && o.namespace() == t.namespace && term.selector.matches(o.labels())
            })
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn settings() -> ScaleDownSettings {
        ScaleDownSettings::default()
    }

    #[test]
    fn unneeded_limit_follows_parallelism() {
        let p = Planner::default();
        assert_eq!(p.unneeded_limit(&settings()), 20);
    }

    #[test]
    fn removable_needs_the_unneeded_time_and_more_when_unready() {
        let mut p = Planner::default();
        let u = |ready| Unneeded {
            since: SimTime(0),
            group: GroupId(0),
            empty: true,
            ready,
            utilization: 0.0,
        };
        p.unneeded.insert(NodeId(1), u(true));
        p.unneeded.insert(NodeId(2), u(false));
        let s = settings();
        let groups = NodeGroups::for_test(1);
        assert!(p.removable_now(&groups, &s, SimTime(599_999)).is_empty());
        let r = p.removable_now(&groups, &s, SimTime(600_000));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, NodeId(1));
        assert_eq!(p.removable_now(&groups, &s, SimTime(1_200_000)).len(), 2);
    }
}
