//! The kube-scheduler binder: filter, score, bind (docs/design.md §7).
//!
//! One *pass* tries every queued pending pod that is not parked in the unschedulable pool
//! (`queue`, docs/model/scheduler.md §4), highest priority first then oldest (the active
//! queue's order), against the nodes in kube-scheduler's order until it has found its share of
//! feasible ones (every node under 100 nodes; `node_tree`, docs/model/scheduler.md §5). Filters: taints, node selector and required
//! node affinity (with the zone of the pod's volumes, docs/model/scheduler.md §3), resources, host ports, topology spread (`DoNotSchedule`), required pod affinity
//! and anti-affinity (both directions). Scores: NodeResourcesFit (LeastAllocated by default or
//! MostAllocated), BalancedAllocation, preferred node affinity and PreferNoSchedule taints, with
//! kube-scheduler's default plugin weights. Ties go to the oldest node searched (kube-scheduler
//! picks at random; we stay deterministic). Pods that fit nowhere are marked Unschedulable with a
//! kube-scheduler-style reason, which is what both autoscalers react to, and parked until a
//! cluster event that could help them.

pub mod node_tree;
mod preemption;
pub mod queue;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::free_capacity::{core, covers};
use asim_core::engine::SimTime;
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::TaintEffect;

use super::pod::{HOSTNAME_KEY, PodAffinityTerm, PodTemplate, TopologySpread, WhenUnsatisfiable};
use super::{Cluster, Node, NodeId, Pod, PodId};
use queue::{ClusterEvent, EventSet};

/// kube-scheduler's `NodeResourcesFit` scoring strategy (`spec.scheduler.scoring`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub enum Scoring {
    #[default]
    LeastAllocated,
    MostAllocated,
}

#[derive(Clone, Debug, Default)]
pub struct SchedulerSettings {
    pub scoring: Scoring,
    /// `percentageOfNodesToScore` (1–100; `None`: kube-scheduler's adaptive default), on
    /// clusters of 100 nodes or more ([`node_tree`]).
    pub percentage_of_nodes_to_score: Option<u32>,
}

/// Why one node rejected a pod; aggregated into the pod's Unschedulable message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reject {
    NotReady,
    Unschedulable,
    Taint,
    NodeAffinity,
    /// VolumeZone / VolumeBinding: the node is outside the zone of a volume the pod mounts.
    VolumeZone,
    Insufficient(&'static str),
    HostPort,
    TopologySpread,
    PodAffinity,
    PodAntiAffinity,
}

impl Reject {
    /// `==`, without comparing the resource names of two `Insufficient` byte by byte when
    /// they are the same constant.
    fn same(self, other: Reject) -> bool {
        match (self, other) {
            (Reject::Insufficient(a), Reject::Insufficient(b)) => std::ptr::eq(a, b) || a == b,
            (a, b) => a == b,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Reject::NotReady => "node(s) were not ready".into(),
            Reject::Unschedulable => "node(s) were unschedulable".into(),
            Reject::Taint => "node(s) had untolerated taint".into(),
            Reject::NodeAffinity => "node(s) didn't match Pod's node affinity/selector".into(),
            Reject::VolumeZone => "node(s) had volume node affinity conflict".into(),
            Reject::Insufficient(r) => format!("Insufficient {r}"),
            Reject::HostPort => "node(s) didn't have free ports for the requested pod ports".into(),
            Reject::TopologySpread => "node(s) didn't match pod topology spread constraints".into(),
            Reject::PodAffinity => "node(s) didn't match pod affinity rules".into(),
            Reject::PodAntiAffinity => "node(s) didn't match pod anti-affinity rules".into(),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassResult {
    pub bound: Vec<(PodId, NodeId)>,
    /// Pods marked Unschedulable for the first time in this pass.
    pub newly_unschedulable: Vec<PodId>,
    /// Preemptions decided in this pass (the preemptor is nominated to the node; the caller
    /// deletes the victims gracefully).
    pub preempted: Vec<Preemption>,
}

/// One preemption: `preemptor` waits on `node` (its `nominatedNodeName`) for `victims` to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preemption {
    pub preemptor: PodId,
    pub node: NodeId,
    pub victims: Vec<PodId>,
}

/// A pending pod nominated to a node, whose requests the binder keeps free there for pods of
/// lower or equal priority: (node index, priority, pod, core requests).
type Nomination = (usize, i32, PodId, [i64; 4]);

/// The requests that nominated pods other than `pod` with priority ≥ `priority` hold on node
/// index `node` (kube-scheduler's `addGhostNominatedPods`, kubernetes:
/// pkg/scheduler/framework/runtime/framework.go).
fn reserved(nominated: &[Nomination], node: usize, pod: PodId, priority: i32) -> [i64; 4] {
    let mut r = [0i64; 4];
    for (n, prio, p, req) in nominated {
        if *n == node && *p != pod && *prio >= priority {
            for k in 0..4 {
                r[k] += req[k];
            }
        }
    }
    r
}

/// Templates whose fixed-filter verdicts are kept from one pass to the next (each holds one
/// entry per node ever added).
const MAX_CACHED_VERDICTS: usize = 64;

/// Per template (by address, the entry holding the template alive): per node id, `None` where
/// there is no node, else the first fixed filter that rejects it, if any; and the node's last
/// score for the template ([`Scored`]).
#[allow(clippy::type_complexity)]
pub(crate) type Verdicts = Vec<(
    Arc<PodTemplate>,
    Vec<Option<Option<Reject>>>,
    Vec<Cell<Scored>>,
)>;

/// A node's score for a template and the node's free CPU and memory it was computed at. A
/// score reads the node's requested and allocatable CPU and memory, its labels and its
/// taints, and the template: with the node's free CPU and memory the same (allocatable never
/// changes) and its labels and taints as they were (`Cluster::node_verdicts_version`), it
/// is the same score. The pods of a
/// Deployment's scale-up are placed one after another, each scoring the same few hundred
/// nodes of which only the last one chosen has changed: the floating-point score was an
/// eighth of a 5,000-node day under cluster-autoscaler.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scored {
    cpu: i64,
    memory: i64,
    score: i64,
}

const UNSCORED: Scored = Scored {
    cpu: i64::MIN,
    memory: i64::MIN,
    score: 0,
};

/// A failed attempt: the Unschedulable message, the events that may help (docs/model/scheduler.md
/// §4) and the event count when it was decided.
type Failure = (Arc<str>, EventSet, u64);

/// Facts about a pod's placement that are the same for every node, computed once per attempt.
struct PodContext {
    /// For each DoNotSchedule spread constraint: its counts, as an index into the pass's
    /// [`SpreadCache`].
    spread: Vec<usize>,
    /// Per required affinity term: domains that hold a matching pod (None = no matching pod
    /// anywhere, and the pod matches itself: the first pod of a group may go anywhere).
    affinity: Vec<Option<BTreeSet<String>>>,
    /// Per required anti-affinity term: domains that hold a matching pod.
    anti_affinity: Vec<BTreeSet<String>>,
    /// (topologyKey, domain) pairs that existing pods' anti-affinity forbids for this pod.
    forbidden: BTreeSet<(String, String)>,
}

/// One spread constraint's view of the cluster: matching pods per eligible domain, and the
/// global minimum the skew is measured against. Domains are indexed, and each node's domain is
/// looked up once, so a placement check is two array reads.
struct SpreadState {
    max_skew: i64,
    min_domains: Option<u32>,
    /// Per node id: the index of its value of the topology key ([`NO_DOMAIN`]: none).
    node_domain: Vec<u32>,
    /// The index of each value of the topology key, for a node that joins later.
    names: BTreeMap<String, u32>,
    /// Per domain: matching pods on eligible nodes.
    counts: Vec<i64>,
    /// Per domain: how many eligible nodes are in it (only domains with one count toward the
    /// minimum).
    eligible: Vec<u32>,
    min: i64,
}

const NO_DOMAIN: u32 = u32::MAX;

impl SpreadState {
    fn set_min(&mut self) {
        let eligible = || {
            self.counts
                .iter()
                .zip(&self.eligible)
                .filter(|(_, e)| **e > 0)
                .map(|(c, _)| *c)
        };
        self.min = eligible().min().unwrap_or(0);
        if let Some(md) = self.min_domains
            && (eligible().count() as u32) < md
        {
            self.min = 0;
        }
    }

    fn domain_of(&self, node: &Node) -> Option<usize> {
        match self.node_domain.get(node.id.0 as usize) {
            Some(&d) if d != NO_DOMAIN => Some(d as usize),
            _ => None,
        }
    }

    /// Take `node` in under the constraint `c` of template `t`, as a fresh count would find
    /// it: its domain (new or not) and, if the node is eligible, one more eligible node and
    /// its matching pods there. The node must not be counted already (it joined, or
    /// [`SpreadState::take_out`] took it out). The minimum is left to the caller
    /// ([`SpreadState::set_min`]).
    fn take_in(&mut self, t: &PodTemplate, c: &TopologySpread, node: &Node) {
        let Some(domain) = node.labels.get(&c.topology_key) else {
            return;
        };
        let d = match self.names.get(domain.as_str()) {
            Some(&d) => d,
            None => {
                let d = self.counts.len() as u32;
                self.names.insert(domain.clone(), d);
                self.counts.push(0);
                self.eligible.push(0);
                d
            }
        };
        let i = node.id.0 as usize;
        if self.node_domain.len() <= i {
            self.node_domain.resize(i + 1, NO_DOMAIN);
        }
        self.node_domain[i] = d;
        if !node.deleting && Cluster::labels_match_affinity(t, &node.labels) {
            self.eligible[d as usize] += 1;
            self.counts[d as usize] += matching_pods(t, c, node);
        }
    }

    /// Take `node` out, as it was counted: with the labels and deletion mark it had then
    /// (its pods are the same).
    fn take_out(
        &mut self,
        t: &PodTemplate,
        c: &TopologySpread,
        node: &Node,
        labels: &Labels,
        deleting: bool,
    ) {
        let i = node.id.0 as usize;
        let Some(d) = self.node_domain.get_mut(i) else {
            return;
        };
        let d = std::mem::replace(d, NO_DOMAIN);
        if d != NO_DOMAIN && !deleting && Cluster::labels_match_affinity(t, labels) {
            self.eligible[d as usize] -= 1;
            self.counts[d as usize] -= matching_pods(t, c, node);
        }
    }
}

/// The pods on `node` that constraint `c` of template `t` counts.
fn matching_pods(t: &PodTemplate, c: &TopologySpread, node: &Node) -> i64 {
    node.pod_templates
        .iter()
        .filter(|(other, _)| other.namespace == t.namespace && c.selector.matches(&other.labels))
        .map(|(_, n)| i64::from(*n))
        .sum()
}

/// The spread counts per (template, constraint): every pod of a template sees the same counts,
/// which change only when a pod binds or ends or a node changes. They are counted once, kept
/// up to date by [`SpreadCache::count`] for each pod bound within a pass and, between passes,
/// for each pod bound or ended and each node that joined, changed or went since
/// ([`SpreadKept`]) — instead of being recounted over every node for each pass (one pass per
/// pod arrival: pods × nodes over a day).
#[derive(Default)]
pub(crate) struct SpreadCache {
    entries: Vec<SpreadEntry>,
}

/// The spread counts kept from one pass to the next, brought up to date with the nodes that
/// joined and the pods bound to or ended on a node since (the journal, applied at the next
/// pass), and with each node patched or removed (applied at once, after the journal: a
/// journalled pod is counted by what its node is when the journal is applied).
#[derive(Default)]
pub(crate) struct SpreadKept {
    cache: Option<SpreadCache>,
    /// What happened since the cache was kept, in order.
    journal: Vec<Journalled>,
}

enum Journalled {
    /// A pod of the template was bound to (+1) or left (−1) the node.
    Pod(Arc<PodTemplate>, NodeId, i64),
    /// The node joined.
    NodeAdded(NodeId),
}

/// Templates whose spread counts are kept between passes, and pod events journalled before the
/// kept counts are dropped instead (counting afresh is then the cheaper).
const MAX_KEPT_SPREAD: usize = 64;
const MAX_SPREAD_JOURNAL: usize = 100_000;

impl SpreadKept {
    /// A pod of template `t` was bound to (`delta` 1) or left (−1) `node` outside a pass.
    pub(crate) fn journal(&mut self, t: &Arc<PodTemplate>, node: NodeId, delta: i64) {
        self.push(|| Journalled::Pod(Arc::clone(t), node, delta));
    }

    /// `node` joined the cluster (a node joins without pods).
    pub(crate) fn node_added(&mut self, node: NodeId) {
        self.push(|| Journalled::NodeAdded(node));
    }

    /// Apply the journal to the kept counts, reading each node as it is now.
    pub(crate) fn flush(&mut self, nodes: &[Option<Node>]) {
        let journal = std::mem::take(&mut self.journal);
        let Some(cache) = &mut self.cache else {
            return;
        };
        let node = |id: NodeId| nodes.get(id.0 as usize).and_then(Option::as_ref);
        for entry in &journal {
            match entry {
                Journalled::Pod(t, id, delta) => {
                    if let Some(n) = node(*id) {
                        cache.count(t, n, *delta);
                    }
                }
                Journalled::NodeAdded(id) => {
                    if let Some(n) = node(*id) {
                        cache.node_added(n);
                    }
                }
            }
        }
    }

    /// `node`'s labels or deletion mark were `labels` and `deleting` when the counts last took
    /// it in (the journal flushed before the patch): take it out as it was and in as it is.
    pub(crate) fn node_changed(&mut self, node: &Node, labels: &Labels, deleting: bool) {
        debug_assert!(self.journal.is_empty(), "flushed before the patch");
        if let Some(cache) = &mut self.cache {
            for e in &mut cache.entries {
                let c = &e.template.spread[e.constraint];
                e.state.take_out(&e.template, c, node, labels, deleting);
                e.state.take_in(&e.template, c, node);
                e.state.set_min();
            }
        }
    }

    /// `node` is going, its pods still on it (the journal flushed first): take it out. The
    /// ends of its pods, journalled next, find no node and count nothing. A domain stays
    /// named when its last node goes (empty, it counts for nothing); counts whose names have
    /// come to outnumber the `live` nodes twice over (a hostname spread on a cluster that
    /// replaces its nodes all day) are dropped, to be counted afresh.
    pub(crate) fn node_removed(&mut self, node: &Node, live: usize) {
        debug_assert!(self.journal.is_empty(), "flushed before the removal");
        if let Some(cache) = &mut self.cache {
            for e in &mut cache.entries {
                let c = &e.template.spread[e.constraint];
                e.state
                    .take_out(&e.template, c, node, &node.labels, node.deleting);
                e.state.set_min();
            }
            cache
                .entries
                .retain(|e| e.state.names.len() <= 2 * live + 64);
        }
    }

    fn push(&mut self, entry: impl FnOnce() -> Journalled) {
        if self.cache.is_none() {
            return;
        }
        if self.journal.len() >= MAX_SPREAD_JOURNAL {
            self.cache = None;
            self.journal.clear();
            return;
        }
        self.journal.push(entry());
    }
}

struct SpreadEntry {
    template: Arc<PodTemplate>,
    /// Index of the constraint in the template's `spread`.
    constraint: usize,
    state: SpreadState,
}

impl SpreadCache {
    /// A pod of template `t` has just been bound to `node` (`delta` 1) or left it (−1): count
    /// it where it matches.
    fn count(&mut self, t: &PodTemplate, node: &Node, delta: i64) {
        if node.deleting {
            return;
        }
        for e in &mut self.entries {
            let c = &e.template.spread[e.constraint];
            if t.namespace == e.template.namespace
                && c.selector.matches(&t.labels)
                && Cluster::node_matches_affinity(&e.template, node)
                && let Some(d) = e.state.domain_of(node)
            {
                e.state.counts[d] += delta;
                e.state.set_min();
            }
        }
    }

    /// `node` has just joined: every constraint's domains and eligibility take it in.
    fn node_added(&mut self, node: &Node) {
        for e in &mut self.entries {
            e.state
                .take_in(&e.template, &e.template.spread[e.constraint], node);
            e.state.set_min();
        }
    }
}

/// A node's allocatable − requested for cpu, memory, pods and ephemeral storage: what
/// `Cluster::free` holds per node, for the binder to read before it reads the node.
pub(crate) fn free_of(node: &Node) -> [i64; 4] {
    let (a, r) = (&node.allocatable, &node.requested);
    [
        a.cpu_m - r.cpu_m,
        a.memory - r.memory,
        a.pods - r.pods,
        a.ephemeral_storage - r.ephemeral_storage,
    ]
}

/// What one scheduling pass knows about every node, in arrays indexed by node id, so that the
/// loop over all nodes for each pod reads a few bytes per node instead of each `Node`:
/// per template, the verdict of the filters that cannot change within a pass (Ready, cordoned
/// or deleting, taints, node affinity). (Each node's free core resources are the cluster's,
/// `Cluster::free`, kept current on every change of a node's requests.)
#[derive(Default)]
struct PassState {
    /// Per template: the fixed filters' verdict on each node ([`Verdicts`]).
    verdicts: Verdicts,
    /// Pending pods nominated to a node (after preempting there), kept current in the pass.
    nominated: Vec<Nomination>,
    /// Pods chosen as victims earlier in this pass: still on their node, no longer victims.
    victims: BTreeSet<PodId>,
    /// The lowest priority of a pod bound when the pass began, counted on the first failure:
    /// a pod of no higher priority has no victim anywhere. (Pods bound later in the pass have
    /// at least the priority of every pod still to be tried: never their victims.)
    lowest_bound_priority: std::cell::Cell<Option<Option<i32>>>,
}

impl PassState {
    /// `nominated`: the pending pods with a nominated node, in `pending`'s order.
    fn new(cluster: &Cluster, nominated: &[PodId]) -> PassState {
        let nominated = nominated
            .iter()
            .filter_map(|p| {
                let pod = cluster.pod(*p);
                let n = pod.nominated_node?;
                Some((
                    n.0 as usize,
                    pod.template.priority,
                    pod.id,
                    core(&pod.template.requests),
                ))
            })
            .collect();
        PassState {
            verdicts: Vec::new(),
            nominated,
            victims: BTreeSet::new(),
            lowest_bound_priority: std::cell::Cell::new(None),
        }
    }

    /// The index in `verdicts` of `t`'s fixed-filter verdicts, computing them on first use.
    fn verdicts_of(&mut self, cluster: &Cluster, t: &Arc<PodTemplate>) -> usize {
        if let Some(i) = self.verdicts.iter().position(|(x, _, _)| Arc::ptr_eq(x, t)) {
            return i;
        }
        let mut v = vec![None; cluster.nodes.len()];
        for node in cluster.nodes() {
            v[node.id.0 as usize] = Some(Cluster::fixed_filter(t, node).err());
        }
        let scores = vec![Cell::new(UNSCORED); cluster.nodes.len()];
        self.verdicts.push((Arc::clone(t), v, scores));
        self.verdicts.len() - 1
    }
}

impl Cluster {
    /// Does `node`'s labels satisfy the pod's node selector and required node affinity?
    pub fn node_matches_affinity(t: &PodTemplate, node: &Node) -> bool {
        Self::labels_match_affinity(t, &node.labels)
    }

    /// [`Cluster::node_matches_affinity`] for a node with these labels.
    pub fn labels_match_affinity(t: &PodTemplate, labels: &Labels) -> bool {
        t.node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && (t.required_terms.is_empty()
                || t.required_terms.iter().any(|r| r.matches_labels(labels)))
    }

    /// Whether the node's taints and labels admit the pod at all, whatever it has free: the
    /// TaintToleration and NodeAffinity filters. An autoscaler that launched a node for a pod
    /// the node does not admit has disagreed with kube-scheduler.
    pub fn node_admits(t: &PodTemplate, node: &Node) -> Result<(), Reject> {
        let untolerated = node.taints.iter().any(|taint| {
            taint.effect != TaintEffect::PreferNoSchedule
                && !t.tolerations.iter().any(|tol| tol.tolerates(taint))
        });
        if untolerated {
            return Err(Reject::Taint);
        }
        if !Self::node_matches_affinity(t, node) {
            return Err(Reject::NodeAffinity);
        }
        Ok(())
    }

    /// The filters whose verdict cannot change within a scheduling pass: NodeUnschedulable
    /// (Ready, cordoned, deleting), TaintToleration, NodeAffinity — in kube-scheduler's order.
    fn fixed_filter(t: &PodTemplate, node: &Node) -> Result<(), Reject> {
        if !node.ready {
            return Err(Reject::NotReady);
        }
        if node.unschedulable || node.deleting {
            return Err(Reject::Unschedulable);
        }
        match Self::node_admits(t, node) {
            // The zone of the pod's volumes is in its (derived) node affinity; a node outside it
            // gets VolumeZone's reason (kubernetes:
            // pkg/scheduler/framework/plugins/volumezone/volume_zone.go, docs/model/scheduler.md §3).
            // [simplification] Also when the node fails the pod's own affinity too, which
            // upstream reports as NodeAffinity.
            Err(Reject::NodeAffinity)
                if t.volume_zones.as_ref().is_some_and(|z| {
                    !node
                        .label(super::pod::ZONE_KEY)
                        .is_some_and(|nz| z.iter().any(|v| v == nz))
                }) =>
            {
                Err(Reject::VolumeZone)
            }
            r => r,
        }
    }

    /// NodeResourcesFit for the core resources, against the node's free resources from
    /// `Cluster::free` (no need to read the node).
    fn core_fit(r: &Resources, free: &[i64; 4]) -> Result<(), Reject> {
        use asim_core::k8s::resources::{CPU, EPHEMERAL_STORAGE, MEMORY, PODS};
        let exceeded = if r.cpu_m > free[0] {
            CPU
        } else if r.memory > free[1] {
            MEMORY
        } else if r.pods > free[2] {
            PODS
        } else if r.ephemeral_storage > free[3] {
            EPHEMERAL_STORAGE
        } else {
            return Ok(());
        };
        Err(Reject::Insufficient(exceeded))
    }

    /// The rest of NodeResourcesFit (extended resources) and NodePorts.
    fn node_fit(t: &PodTemplate, node: &Node) -> Result<(), Reject> {
        if !t.requests.extended.is_empty()
            && let Some(name) = node
                .requested
                .first_exceeded(&t.requests, &node.allocatable)
        {
            return Err(Reject::Insufficient(name));
        }
        if t.host_ports.iter().any(|hp| node.host_port_in_use(hp)) {
            return Err(Reject::HostPort);
        }
        Ok(())
    }

    /// Active bound pods in `namespace` matching `term`'s selector, by their node's domain.
    fn domains_with_matching_pods(
        &self,
        namespace: &str,
        term: &PodAffinityTerm,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for node in self.nodes() {
            let Some(domain) = node.labels.get(&term.topology_key) else {
                continue;
            };
            if out.contains(domain) {
                continue;
            }
            let hit = node
                .pod_templates
                .iter()
                .any(|(t, _)| t.namespace == namespace && term.selector.matches(&t.labels));
            if hit {
                out.insert(domain.clone());
            }
        }
        out
    }

    /// Count the pods `c` selects per eligible domain: nodes that carry the key and pass the
    /// pod's node affinity (nodeAffinityPolicy: Honor, nodeTaintsPolicy: Ignore — the
    /// defaults), nodes being deleted excluded. Pods are counted per template, with the
    /// selector evaluated once per template.
    fn spread_state(&self, t: &PodTemplate, c: &TopologySpread) -> SpreadState {
        let mut names: BTreeMap<String, u32> = BTreeMap::new();
        let mut node_domain = vec![NO_DOMAIN; self.nodes.len()];
        let mut counts: Vec<i64> = Vec::new();
        let mut eligible: Vec<u32> = Vec::new();
        let mut selects: Vec<(*const PodTemplate, bool)> = Vec::new();
        for node in self.nodes() {
            let Some(domain) = node.labels.get(&c.topology_key) else {
                continue;
            };
            let d = match names.get(domain.as_str()) {
                Some(&d) => d,
                None => {
                    counts.push(0);
                    eligible.push(0);
                    let d = counts.len() as u32 - 1;
                    names.insert(domain.clone(), d);
                    d
                }
            };
            node_domain[node.id.0 as usize] = d;
            if node.deleting || !Self::node_matches_affinity(t, node) {
                continue;
            }
            eligible[d as usize] += 1;
            for (other, count) in &node.pod_templates {
                let ptr = Arc::as_ptr(other);
                let hit = match selects.iter().find(|(p, _)| *p == ptr) {
                    Some(&(_, hit)) => hit,
                    None => {
                        let hit =
                            other.namespace == t.namespace && c.selector.matches(&other.labels);
                        selects.push((ptr, hit));
                        hit
                    }
                };
                if hit {
                    counts[d as usize] += i64::from(*count);
                }
            }
        }
        let mut state = SpreadState {
            max_skew: i64::from(c.max_skew),
            min_domains: c.min_domains,
            node_domain,
            names,
            counts,
            eligible,
            min: 0,
        };
        state.set_min();
        state
    }

    /// The cache index of the counts of constraint `i` of `pod`'s template, counting them if
    /// this pass has not yet.
    fn spread_index(&self, cache: &mut SpreadCache, pod: &Pod, i: usize) -> usize {
        let t = &pod.template;
        if let Some(j) = cache
            .entries
            .iter()
            .position(|e| e.constraint == i && Arc::ptr_eq(&e.template, t))
        {
            return j;
        }
        let state = self.spread_state(t, &t.spread[i]);
        cache.entries.push(SpreadEntry {
            template: Arc::clone(t),
            constraint: i,
            state,
        });
        cache.entries.len() - 1
    }

    fn pod_context(&self, pod: &Pod, cache: &mut SpreadCache) -> PodContext {
        let t = &pod.template;
        let spread = (0..t.spread.len())
            .filter(|&i| t.spread[i].when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
            .map(|i| self.spread_index(cache, pod, i))
            .collect();
        let affinity = t
            .affinity
            .iter()
            .map(|term| {
                let d = self.domains_with_matching_pods(&t.namespace, term);
                if d.is_empty() && term.selector.matches(&t.labels) {
                    None
                } else {
                    Some(d)
                }
            })
            .collect();
        let anti_affinity = t
            .anti_affinity
            .iter()
            .map(|term| self.domains_with_matching_pods(&t.namespace, term))
            .collect();
        let mut forbidden = BTreeSet::new();
        for other in &self.anti_affinity_pods {
            let o = self.pod(*other);
            let Some(node) = o.node.and_then(|n| self.node(n)) else {
                continue;
            };
            for term in &o.template.anti_affinity {
                if o.namespace() == t.namespace
                    && term.selector.matches(&t.labels)
                    && let Some(d) = node.labels.get(&term.topology_key)
                {
                    forbidden.insert((term.topology_key.clone(), d.clone()));
                }
            }
        }
        PodContext {
            spread,
            affinity,
            anti_affinity,
            forbidden,
        }
    }

    fn dynamic_filter(
        &self,
        t: &PodTemplate,
        ctx: &PodContext,
        cache: &SpreadCache,
        node: &Node,
    ) -> Result<(), Reject> {
        for s in ctx.spread.iter().map(|&i| &cache.entries[i].state) {
            let Some(d) = s.domain_of(node) else {
                return Err(Reject::TopologySpread);
            };
            let count = s.counts[d];
            // A new hostname domain starts at 0; for other keys an unseen domain is not eligible.
            let self_match = 1;
            if count + self_match - s.min > s.max_skew {
                return Err(Reject::TopologySpread);
            }
        }
        for (term, domains) in t.affinity.iter().zip(&ctx.affinity) {
            if let Some(domains) = domains {
                match node.labels.get(&term.topology_key) {
                    Some(d) if domains.contains(d) => {}
                    _ => return Err(Reject::PodAffinity),
                }
            }
        }
        for (term, domains) in t.anti_affinity.iter().zip(&ctx.anti_affinity) {
            if let Some(d) = node.labels.get(&term.topology_key)
                && domains.contains(d)
            {
                return Err(Reject::PodAntiAffinity);
            }
        }
        if !ctx.forbidden.is_empty() {
            for (k, v) in &node.labels {
                if ctx.forbidden.contains(&(k.clone(), v.clone())) {
                    return Err(Reject::PodAntiAffinity);
                }
            }
        }
        Ok(())
    }

    fn score(&self, t: &PodTemplate, node: &Node) -> i64 {
        let frac = |req: i64, alloc: i64| {
            if alloc <= 0 {
                1.0
            } else {
                (req as f64 / alloc as f64).min(1.0)
            }
        };
        let cpu = frac(
            node.requested.cpu_m + t.requests.cpu_m,
            node.allocatable.cpu_m,
        );
        let mem = frac(
            node.requested.memory + t.requests.memory,
            node.allocatable.memory,
        );
        let fit = match self.scheduler_settings.scoring {
            Scoring::LeastAllocated => ((1.0 - cpu) + (1.0 - mem)) / 2.0 * 100.0,
            Scoring::MostAllocated => (cpu + mem) / 2.0 * 100.0,
        };
        let balanced = (1.0 - (cpu - mem).abs() / 2.0) * 100.0;
        let preferred: i64 = t
            .preferred_terms
            .iter()
            .filter(|(_, r)| r.matches_labels(&node.labels))
            .map(|(w, _)| i64::from(*w))
            .sum();
        let prefer_no_schedule = node
            .taints
            .iter()
            .filter(|taint| {
                taint.effect == TaintEffect::PreferNoSchedule
                    && !t.tolerations.iter().any(|tol| tol.tolerates(taint))
            })
            .count() as i64;
        // Default plugin weights: NodeResourcesFit 1, BalancedAllocation 1, NodeAffinity 2,
        // TaintToleration 3. Preferred-affinity weights (1–100 each) are used unnormalised.
        (fit * 1000.0) as i64 + (balanced * 1000.0) as i64 + preferred * 2 * 1000
            - prefer_no_schedule * 3 * 100_000
    }

    /// Choose the best node for `pod`, or return the rejection counts; and how many nodes the
    /// search looked at. The search goes through `list` (kube-scheduler's node order) from
    /// `start` and stops once it has found as many nodes that pass every filter as
    /// kube-scheduler looks for (docs/model/scheduler.md §5); only those are scored.
    fn place(
        &self,
        pod: &Pod,
        cache: &mut SpreadCache,
        pass: &mut PassState,
        list: &[NodeId],
        start: usize,
    ) -> (Result<NodeId, BTreeMap<Reject, usize>>, usize) {
        let t = &pod.template;
        let needs_ctx = !t.spread.is_empty()
            || !t.affinity.is_empty()
            || !t.anti_affinity.is_empty()
            || !self.anti_affinity_pods.is_empty();
        let ctx = needs_ctx.then(|| self.pod_context(pod, cache));
        let cache = &*cache;
        let vi = pass.verdicts_of(self, t);
        let pass = &*pass;
        let verdicts = &pass.verdicts[vi].1;
        let scores = &pass.verdicts[vi].2;
        // The node's score, reused while its free CPU and memory are as they were ([`Scored`]).
        let score = |id: NodeId, node: &Node| -> i64 {
            let i = id.0 as usize;
            let f = &self.free[i];
            let last = scores[i].get();
            if last.cpu == f[0] && last.memory == f[1] {
                debug_assert_eq!(last.score, self.score(t, node), "stale score");
                return last.score;
            }
            let s = self.score(t, node);
            scores[i].set(Scored {
                cpu: f[0],
                memory: f[1],
                score: s,
            });
            s
        };
        // Every filter, in kube-scheduler's order; a node is read only once the arrays say it
        // may fit.
        let filter = |id: NodeId| -> Result<&Node, Reject> {
            let i = id.0 as usize;
            let fit = match verdicts.get(i) {
                None | Some(None) => return Err(Reject::NotReady),
                Some(Some(Some(r))) => Err(*r),
                Some(Some(None)) if pass.nominated.is_empty() => {
                    Self::core_fit(&t.requests, &self.free[i])
                }
                Some(Some(None)) => {
                    let r = reserved(&pass.nominated, i, pod.id, t.priority);
                    let f = self.free[i];
                    let free = [f[0] - r[0], f[1] - r[1], f[2] - r[2], f[3] - r[3]];
                    Self::core_fit(&t.requests, &free)
                }
            };
            fit?;
            // A verdict exists only for a live node.
            let node = self.nodes[i].as_ref().ok_or(Reject::NotReady)?;
            debug_assert_eq!(self.free[i], free_of(node), "Cluster::free is stale");
            Self::node_fit(t, node)?;
            if let Some(ctx) = &ctx {
                self.dynamic_filter(t, ctx, cache, node)?;
            }
            Ok(node)
        };
        // A pod nominated to a node that now fits it goes there, unscored and without a search
        // (kube-scheduler's `evaluateNominatedNode`, kubernetes: pkg/scheduler/schedule_one.go).
        if let Some(n) = pod.nominated_node
            && filter(n).is_ok()
        {
            return (Ok(n), 0);
        }
        let all = list.len();
        let to_find = node_tree::num_feasible_nodes_to_find(
            self.scheduler_settings.percentage_of_nodes_to_score,
            all,
        );
        let mut best: Option<(i64, NodeId)> = None;
        let mut feasible = 0;
        let start = start.min(all);
        #[cfg(test)]
        if node_tree::READ_EVERY_NODE.with(std::cell::Cell::get) {
            // The search before the index, node by node: what the tests compare it with.
            let (mut rejects, mut processed) = (Vec::new(), 0);
            for &id in list[start..].iter().chain(&list[..start]) {
                processed += 1;
                match filter(id) {
                    Ok(node) => {
                        let s = score(id, node);
                        if best.is_none_or(|(b, bid)| s > b || (s == b && id < bid)) {
                            best = Some((s, id));
                        }
                        feasible += 1;
                        if feasible == to_find {
                            break;
                        }
                    }
                    Err(r) => tally(&mut rejects, r),
                }
            }
            let outcome = best.map(|(_, id)| id);
            return (
                outcome.ok_or_else(|| rejects.into_iter().collect()),
                processed,
            );
        }
        // From `start` round to just before it, reading only the nodes with room for the
        // pod's core requests (`free_capacity`): the others fail NodeResourcesFit, if not an
        // earlier filter, so the feasible nodes found and where the search stops are the same.
        let need = core(&t.requests);
        let mut before = 0;
        for (from, to) in [(start, all), (0, start)] {
            let mut q = from;
            while q < to {
                let id = list[q];
                // The next node is read directly while it has room (on a cluster with room,
                // most do); the index is asked only to jump over those without.
                if !covers(&self.free[id.0 as usize], &need) {
                    match self.node_tree.first_with_room(q + 1, to, &need) {
                        Some(next) => q = next,
                        None => break,
                    }
                    continue;
                }
                if let Ok(node) = filter(id) {
                    let s = score(id, node);
                    // Ties go to the oldest node (kube-scheduler picks one at random).
                    if best.is_none_or(|(b, bid)| s > b || (s == b && id < bid)) {
                        best = Some((s, id));
                    }
                    feasible += 1;
                    if feasible == to_find {
                        let chosen = best.map_or(id, |(_, b)| b);
                        return (Ok(chosen), before + q - from + 1);
                    }
                }
                q += 1;
            }
            before += to - from;
        }
        if let Some((_, id)) = best {
            return (Ok(id), all);
        }
        // No node fits: read every node for why it does not (the order does not matter for
        // the counts).
        let mut rejects: Vec<(Reject, usize)> = Vec::new();
        for &id in list {
            match filter(id) {
                Ok(_) => debug_assert!(false, "the room index skipped a feasible node"),
                Err(r) => tally(&mut rejects, r),
            }
        }
        (Err(rejects.into_iter().collect()), all)
    }

    /// One scheduling pass over the queued pending pods that are not parked in the
    /// unschedulable pool (docs/model/scheduler.md §4).
    pub fn schedule_pass(&mut self, now: SimTime) -> PassResult {
        // The pending pods with a nomination (few, so the lapse check below and the pass's
        // nominated room read them rather than every pending pod again), and the queued ones:
        // one read of each pending pod (thousands wait for capacity on a large cluster).
        let mut nominated: Vec<PodId> = Vec::new();
        let mut queued: Vec<PodId> = Vec::new();
        for &p in &self.pending {
            let pod = self.pod(p);
            if pod.nominated_node.is_some() {
                nominated.push(p);
            }
            if pod.queued {
                queued.push(p);
            }
        }
        // A nomination to a node that is gone or no longer takes pods lapses. First, so that
        // the room it held counts as released for the pool below.
        let lapsed: Vec<PodId> = nominated
            .iter()
            .copied()
            .filter(|p| {
                self.pod(*p).nominated_node.is_some_and(|n| {
                    self.node(n)
                        .is_none_or(|n| n.deleting || n.unschedulable || !n.ready)
                })
            })
            .collect();
        if !lapsed.is_empty() {
            self.queue.record(ClusterEvent::AssignedPodDelete);
        }
        for &p in &lapsed {
            self.pod_mut(p).nominated_node = None;
        }
        nominated.retain(|p| !lapsed.contains(p));
        // After the lapses: the event they record may release parked pods.
        queued.retain(|p| !self.queue.is_parked(*p, now));
        let mut order = queued;
        // Active queue order: priority (desc), then creation time, then id.
        order.sort_by_key(|p| {
            let pod = self.pod(*p);
            (
                std::cmp::Reverse(pod.template.priority),
                pod.created_at,
                pod.id,
            )
        });
        let mut result = PassResult::default();
        // Every queued pod parked: nothing to try, and no need to look at the nodes.
        if order.is_empty() {
            return result;
        }
        // Pods with only resource/affinity/taint constraints fail the same way as their
        // template-mates or as any pod requesting at least as much: skip them within a pass.
        // Per template: why, and for the pool the events that may help and the event count
        // when it failed.
        let mut failed_templates: BTreeMap<usize, Failure> = BTreeMap::new();
        let verdicts_version = self.node_verdicts_version;
        let mut spread = self.kept_spread();
        let mut pass = PassState::new(self, &nominated);
        // The fixed-filter verdicts of earlier passes hold while no node was added, changed or
        // removed: they read only the nodes' readiness, cordon, deletion, taints and labels.
        {
            let mut cache = self.verdict_cache.borrow_mut();
            if cache.0 == verdicts_version {
                pass.verdicts = std::mem::take(&mut cache.1);
                #[cfg(debug_assertions)]
                for (t, v, _) in &pass.verdicts {
                    for node in self.nodes() {
                        debug_assert_eq!(
                            v.get(node.id.0 as usize).copied().flatten(),
                            Some(Self::fixed_filter(t, node).err()),
                            "stale fixed-filter verdict"
                        );
                    }
                }
            }
        }
        // Pods waiting for new nodes fail on the same nodes for the same reasons, one after
        // another: the last message is kept with the tallies it was made from, and reused
        // while they are equal (formatting it for each pod was most of a pass with thousands
        // of pods pending).
        let mut last_message: Option<(usize, BTreeMap<Reject, usize>, Arc<str>)> = None;
        // Pods with topology rules fail as a template-mate did while nothing has been bound
        // or nominated since: `place` reads the pod's template, the nodes and their pods, and
        // the pass's nominations (which only binds and nominations change), and of the pod
        // itself only its own nomination — so pods without one share the outcome. Per
        // template: (binds and nominations when it failed, why).
        let mut changes = 0u64;
        let mut failed_unchanged: BTreeMap<usize, (u64, Failure)> = BTreeMap::new();
        // kube-scheduler's node order (no node is added or removed within a pass).
        let list = self.node_tree.take_list(&self.free);
        for pid in order {
            let mut searched = None;
            let pod = self.pod(pid);
            let t = &pod.template;
            let simple = t.spread.is_empty()
                && t.affinity.is_empty()
                && t.anti_affinity.is_empty()
                && self.anti_affinity_pods.is_empty();
            let key = Arc::as_ptr(t) as usize;
            let unnominated = pod.nominated_node.is_none()
                && !pass.nominated.iter().any(|&(_, _, p, _)| p == pid);
            let unchanged = failed_unchanged
                .get(&key)
                .filter(|(at, _)| unnominated && *at == changes);
            let outcome = match (failed_templates.get(&key), unchanged) {
                (Some(failed), _) if simple => Err(failed.clone()),
                (_, Some((_, failed))) => Err(failed.clone()),
                _ => {
                    let start = self.node_tree.next_start(list.len());
                    let (outcome, processed) =
                        self.place(pod, &mut spread, &mut pass, &list, start);
                    searched = Some((start, processed));
                    outcome.map_err(|rejects| {
                        let seq = self.queue.seq();
                        // The plugins that rejected it decide what may wake it; with no node to
                        // reject it, any event may.
                        let wake = if rejects.is_empty() {
                            EventSet::ALL
                        } else {
                            rejects
                                .keys()
                                .fold(EventSet::default(), |w, r| w.union(r.wake_events()))
                        };
                        let total = self.node_count();
                        if let Some((n, r, message)) = &last_message
                            && *n == total
                            && *r == rejects
                        {
                            return (message.clone(), wake, seq);
                        }
                        let mut parts: Vec<String> = rejects
                            .iter()
                            .map(|(r, n)| format!("{n} {}", r.describe()))
                            .collect();
                        parts.sort();
                        let message: Arc<str> = if total == 0 {
                            "0/0 nodes are available: no nodes".into()
                        } else {
                            format!("0/{total} nodes are available: {}", parts.join(", ")).into()
                        };
                        last_message = Some((total, rejects, message.clone()));
                        (message, wake, seq)
                    })
                }
            };
            // The next search starts after the nodes this one looked at.
            if let Some((start, processed)) = searched {
                self.node_tree.advance(start, processed, list.len());
            }
            match outcome {
                Ok(node) => {
                    self.bind(pid, node, now);
                    pass.nominated.retain(|(_, _, p, _)| *p != pid);
                    if !spread.entries.is_empty()
                        && let Some(n) = self.node(node)
                    {
                        spread.count(&self.pod(pid).template, n, 1);
                    }
                    result.bound.push((pid, node));
                    changes += 1;
                }
                Err((reason, wake, seq)) => {
                    if simple {
                        failed_templates.insert(key, (reason.clone(), wake, seq));
                    } else if unnominated {
                        failed_unchanged.insert(key, (changes, (reason.clone(), wake, seq)));
                    }
                    // PostFilter: DefaultPreemption.
                    if let Some(pre) = self.preempt(pid, &pass) {
                        self.nominate(&pre, &mut pass);
                        changes += 1;
                        result.preempted.push(pre);
                    }
                    let p = self.pod_mut(pid);
                    if p.unschedulable_since.is_none() {
                        p.unschedulable_since = Some(now);
                        result.newly_unschedulable.push(pid);
                    }
                    p.unschedulable_reason = Some(reason);
                    let nominated = p.nominated_node.is_some();
                    // Into the unschedulable pool, unless it waits on a nominated node for its
                    // victims to go (it binds on the pass after they are gone).
                    if !nominated {
                        self.queue.park(pid, now, wake, seq);
                    }
                }
            }
        }
        self.node_tree.put_list(list);
        // Kept for the next pass while the nodes stay as they are (nothing in a pass adds,
        // changes or removes a node); a bounded number of templates, the oldest dropped first.
        if self.node_verdicts_version == verdicts_version {
            let mut verdicts = std::mem::take(&mut pass.verdicts);
            if verdicts.len() > MAX_CACHED_VERDICTS {
                verdicts.drain(..verdicts.len() - MAX_CACHED_VERDICTS);
            }
            *self.verdict_cache.borrow_mut() = (verdicts_version, verdicts);
        }
        // Kept for the next pass (nothing in a pass patches or removes a node).
        if !spread.entries.is_empty() {
            if spread.entries.len() > MAX_KEPT_SPREAD {
                spread
                    .entries
                    .drain(..spread.entries.len() - MAX_KEPT_SPREAD);
            }
            self.spread_kept.cache = Some(spread);
        }
        result
    }

    /// The spread counts kept from the last pass, brought up to date ([`SpreadKept`]).
    fn kept_spread(&mut self) -> SpreadCache {
        self.spread_kept.flush(&self.nodes);
        self.spread_kept.cache.take().unwrap_or_default()
    }

    /// Hostname of a node, as used for `kubernetes.io/hostname` domains.
    pub fn hostname(node: &Node) -> &str {
        node.labels
            .get(HOSTNAME_KEY)
            .map(String::as_str)
            .unwrap_or(&node.name)
    }
}

/// Count one more node rejected for `r`. Few distinct reasons: a short list, not a map, in
/// the loop over every node.
fn tally(rejects: &mut Vec<(Reject, usize)>, r: Reject) {
    match rejects.iter_mut().rev().find(|(x, _)| x.same(r)) {
        Some((_, n)) => *n += 1,
        None => rejects.push((r, 1)),
    }
}

/// Sum of requests of a set of templates (test helper and DaemonSet overhead).
pub fn sum_requests<'a>(templates: impl Iterator<Item = &'a PodTemplate>) -> Resources {
    let mut r = Resources::default();
    for t in templates {
        r.add(&t.requests);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EndReason, NodeOwner, OwnerKind, PodPhase};
    use asim_core::k8s::selector::LabelSelector;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// A pod of template 0 (zonal spread) or 1 (same labels, no constraint) arrives.
        Create(usize),
        /// A bound pod ends (the nth of the bound ones, modulo their number).
        End(usize),
        /// A node joins zone z (zone 3 has no node at first).
        AddNode(usize),
        /// A node starts being deleted (a Node/Update).
        Delete(usize),
        /// A node goes, with whatever pods are still on it.
        Remove(usize),
        /// A pending pod is bound outside a pass (as a DaemonSet pod is placed).
        Bind(usize),
        /// A node loses or gains a taint, is uncordoned or becomes Ready (Node/Updates that
        /// move no spread count).
        Relax(usize),
        /// A node is patched through `node_mut`: nothing changed (as Karpenter's
        /// initialization checks), a label added, or its zone label moved.
        Patch(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..2usize).prop_map(Op::Create),
            3 => (0..64usize).prop_map(Op::End),
            1 => (0..4usize).prop_map(Op::AddNode),
            1 => (0..64usize).prop_map(Op::Delete),
            1 => (0..64usize).prop_map(Op::Remove),
            1 => (0..64usize).prop_map(Op::Bind),
            1 => (0..64usize).prop_map(Op::Relax),
            1 => (0..64usize).prop_map(Op::Patch),
        ]
    }

    fn node(i: usize, zone: usize) -> Node {
        let mut labels = Labels::new();
        labels.insert(crate::pod::ZONE_KEY.into(), format!("z{zone}"));
        labels.insert(HOSTNAME_KEY.into(), format!("n{i}"));
        let mut r = Resources::new(4_000, 16 << 30);
        r.pods = 3;
        Node::new(
            format!("n{i}"),
            labels,
            Vec::new(),
            r.clone(),
            r,
            NodeOwner::Unmanaged,
            None,
            SimTime(0),
            true,
        )
    }

    /// Per domain name with an eligible node or a pod counted: (pods counted, eligible
    /// nodes). Kept counts may hold a domain whose nodes are all gone (nothing in it) and
    /// number domains in another order than a fresh count.
    fn counted(s: &SpreadState) -> BTreeMap<String, (i64, u32)> {
        s.names
            .iter()
            .map(|(name, &d)| (name.clone(), (s.counts[d as usize], s.eligible[d as usize])))
            .filter(|(_, c)| *c != (0, 0))
            .collect()
    }

    fn domain_name(s: &SpreadState, n: &Node) -> Option<String> {
        let d = s.domain_of(n)?;
        s.names
            .iter()
            .find(|(_, i)| **i as usize == d)
            .map(|(k, _)| k.clone())
    }

    proptest! {
        /// The spread counts kept between passes (docs/performance.md, step 20) equal counts
        /// made afresh, and the fixed-filter verdicts kept equal a fresh filter (step 70),
        /// whatever pods were bound and ended and nodes added, deleted, relaxed or patched
        /// between the passes.
        #[test]
        fn kept_spread_counts_equal_a_fresh_count(ops in proptest::collection::vec(op(), 1..80)) {
            let mut c = Cluster::default();
            let mut labels = Labels::new();
            labels.insert("app".into(), "web".into());
            let selector = LabelSelector { match_labels: labels.clone(), ..Default::default() };
            let mut requests = Resources::new(500, 1 << 30);
            requests.pods = 1;
            let spread = PodTemplate {
                namespace: "default".into(),
                labels: labels.clone(),
                requests: requests.clone(),
                spread: vec![TopologySpread {
                    max_skew: 1,
                    topology_key: crate::pod::ZONE_KEY.into(),
                    when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                    selector,
                    min_domains: None,
                }],
                ..Default::default()
            };
            let plain = PodTemplate { namespace: "default".into(), labels, requests, ..Default::default() };
            let templates = [Arc::new(spread), Arc::new(plain)];
            let mut nodes = 0;
            for z in 0..3 {
                c.add_node(node(nodes, z));
                nodes += 1;
            }
            for (step, op) in ops.into_iter().enumerate() {
                let now = SimTime(step as u64 * 1_000);
                match op {
                    Op::Create(t) => {
                        let p = c.create_pod(now, format!("p{step}"), Arc::clone(&templates[t]), OwnerKind::None, 0, false);
                        c.pod_mut(p).queued = true;
                    }
                    Op::End(i) => {
                        let bound: Vec<PodId> = c.nodes().flat_map(|n| n.pods.iter().copied()).collect();
                        if !bound.is_empty() {
                            let p = bound[i % bound.len()];
                            c.begin_termination(p, now, EndReason::Deleted);
                            c.end_pod(p, now, PodPhase::Deleted);
                        }
                    }
                    Op::AddNode(z) => {
                        let mut n = node(nodes, z);
                        if nodes % 2 == 1 {
                            // Joins not Ready, cordoned and tainted, for `Relax` to change.
                            n.ready = false;
                            n.unschedulable = true;
                            n.taints.push(asim_core::k8s::taints::Taint {
                                key: "example.com/startup".into(),
                                value: None,
                                effect: TaintEffect::NoSchedule,
                            });
                        }
                        c.add_node(n);
                        nodes += 1;
                    }
                    Op::Delete(i) => {
                        let id = NodeId((i % nodes) as u32);
                        if let Some(mut n) = c.node_mut(id) {
                            n.deleting = true;
                        }
                    }
                    Op::Bind(i) => {
                        let pending: Vec<PodId> = c.pending_pods().collect();
                        if !pending.is_empty() {
                            c.bind(pending[i % pending.len()], NodeId((i % nodes) as u32), now);
                        }
                    }
                    Op::Remove(i) => {
                        c.remove_node(NodeId((i % nodes) as u32), now);
                    }
                    Op::Patch(i) => {
                        let id = NodeId((i % nodes) as u32);
                        if let Some(mut n) = c.node_mut(id) {
                            match i % 3 {
                                0 => {}
                                1 => {
                                    n.labels.insert("example.com/initialized".into(), "true".into());
                                }
                                _ => {
                                    n.labels.insert(crate::pod::ZONE_KEY.into(), format!("z{}", i % 4));
                                }
                            }
                        }
                    }
                    Op::Relax(i) => {
                        let id = NodeId((i % nodes) as u32);
                        match i % 4 {
                            0 => c.mark_ready(id, now),
                            1 => c.uncordon(id),
                            2 => {
                                c.untaint(id, |_| true);
                            }
                            _ => {
                                c.taint(
                                    id,
                                    asim_core::k8s::taints::Taint {
                                        key: "example.com/soft".into(),
                                        value: None,
                                        effect: TaintEffect::PreferNoSchedule,
                                    },
                                );
                            }
                        }
                    }
                }
                c.schedule_pass(now);
                // What the next pass would start from: the kept counts with the journal of
                // pods bound and ended since applied (none if a node changed since).
                let kept = c.kept_spread();
                for e in &kept.entries {
                    let fresh = c.spread_state(&e.template, &e.template.spread[e.constraint]);
                    prop_assert_eq!(counted(&e.state), counted(&fresh), "counts after step {}", step);
                    for n in c.nodes() {
                        prop_assert_eq!(domain_name(&e.state, n), domain_name(&fresh, n), "domain of {:?}", n.id);
                    }
                    prop_assert_eq!(e.state.min, fresh.min);
                }
                if !kept.entries.is_empty() {
                    c.spread_kept.cache = Some(kept);
                }
                // The verdicts the next pass would reuse are those of a fresh filter.
                let cache = c.verdict_cache.borrow();
                if cache.0 == c.node_verdicts_version {
                    for (t, v, scores) in &cache.1 {
                        for n in c.nodes() {
                            let i = n.id.0 as usize;
                            prop_assert_eq!(
                                v.get(i).copied().flatten(),
                                Some(Cluster::fixed_filter(t, n).err()),
                                "verdict after step {}", step
                            );
                            let kept = scores[i].get();
                            if kept.cpu == c.free[i][0] && kept.memory == c.free[i][1] {
                                prop_assert_eq!(kept.score, c.score(t, n), "score after step {}", step);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Bind `pods` (cpu m, memory MiB) pass by pass on a cluster of `nodes` nodes of mixed
    /// sizes over three zones; the bindings, each pod's Unschedulable message and where each
    /// search started.
    fn search_outcomes(nodes: &[(i64, i64)], pods: &[(i64, i64, bool)]) -> Vec<String> {
        let mut c = Cluster::default();
        for (i, &(cpu, mem)) in nodes.iter().enumerate() {
            let mut n = node(i, i % 3);
            let mut r = Resources::new(cpu, mem << 20);
            r.pods = 110;
            n.allocatable = r.clone();
            n.capacity = r;
            c.add_node(n);
        }
        let mut out = Vec::new();
        for (step, &(cpu, mem, end)) in pods.iter().enumerate() {
            let now = SimTime(step as u64 * 1_000);
            if end {
                let bound: Vec<PodId> = c.nodes().flat_map(|n| n.pods.iter().copied()).collect();
                if let Some(&p) = bound.get(step % bound.len().max(1)) {
                    c.begin_termination(p, now, EndReason::Deleted);
                    c.end_pod(p, now, PodPhase::Deleted);
                }
                continue;
            }
            let mut requests = Resources::new(cpu, mem << 20);
            requests.pods = 1;
            let t = PodTemplate {
                namespace: "default".into(),
                requests,
                ..Default::default()
            };
            let p = c.create_pod(
                now,
                format!("p{step}"),
                Arc::new(t),
                OwnerKind::None,
                0,
                false,
            );
            c.pod_mut(p).queued = true;
            out.push(format!("start {}", c.node_tree.next_start(c.node_count())));
            let r = c.schedule_pass(now);
            out.push(format!("{:?}", r.bound));
            out.push(format!("{:?}", c.pod(p).unschedulable_reason));
        }
        out
    }

    proptest! {
        /// kube-scheduler's node search (docs/model/scheduler.md §5) reads only the nodes with
        /// room for the pod's core requests (`free_capacity`): it binds the same pods to the
        /// same nodes, words the same failures and starts the next search at the same node as
        /// a search that reads every node — on clusters past 100 nodes, where it stops early,
        /// and for pods no node has room for.
        #[test]
        fn the_node_search_finds_what_reading_every_node_finds(
            nodes in proptest::collection::vec((500i64..16_000, 512i64..32_768), 100..180),
            pods in proptest::collection::vec(
                (prop_oneof![9 => 100i64..4_000, 1 => 12_000i64..20_000], 128i64..8_192, proptest::bool::weighted(0.2)),
                1..150,
            ),
        ) {
            let indexed = search_outcomes(&nodes, &pods);
            node_tree::READ_EVERY_NODE.with(|r| r.set(true));
            let every = search_outcomes(&nodes, &pods);
            node_tree::READ_EVERY_NODE.with(|r| r.set(false));
            prop_assert_eq!(indexed, every);
        }
    }
}
