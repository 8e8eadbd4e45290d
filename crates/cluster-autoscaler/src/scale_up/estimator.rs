//! Scale-up's scheduling simulations (docs/model/cluster-autoscaler.md §2.4, §3.3): CA's own
//! snapshot of the cluster (Ready nodes plus one template node per upcoming node), the filter
//! that drops pending pods that fit there (cluster-autoscaler:
//! core/podlistprocessor/filter_out_schedulable.go), equivalence groups
//! (core/scaleup/equivalence/groups.go), and the first-fit-decreasing binpacking estimator per
//! node group template (estimator/binpacking_estimator.go).
//!
//! Predicates checked in these simulations: taints/tolerations, node selector and required node
//! affinity, resources, host ports, `DoNotSchedule` topology spread, and required pod
//! affinity and anti-affinity (a required affinity term is met only in a domain that holds a
//! matching pod, real or placed earlier in the simulation, or anywhere for the first pod of a
//! group whose term matches itself, as kube-scheduler's InterPodAffinity filter has it).

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use asim_cluster::free_capacity::{Free, FreeCapacity, core};
use asim_cluster::pod::{HOSTNAME_KEY, HostPort, PodAffinityTerm, TopologySpread, ZONE_KEY};
use asim_cluster::{Cluster, NodeId, OwnerKind, PodId, PodTemplate};
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::Taint;

use crate::nodegroup::{Template, matches_affinity, tolerates};
use crate::scale_down::planner::expendable_requests;

/// One node of CA's simulated snapshot: a real node, an upcoming template node, or a new
/// template node added by the estimator.
#[derive(Clone, Debug)]
pub struct SimNode<'a> {
    /// The `kubernetes.io/hostname` domain (unique per simulated node).
    pub hostname: Hostname<'a>,
    pub labels: &'a Labels,
    pub taints: &'a [Taint],
    pub allocatable: &'a Resources,
    pub used: Resources,
    pub ports: Vec<HostPort>,
    pub real: Option<NodeId>,
    /// An estimator node that received at least one pending pod.
    pub has_pods: bool,
    /// The zone label, looked up on first use: zonal spreading asks for it on every node a
    /// pod is tried on, and the label map's keys share long prefixes.
    zone: OnceCell<Option<&'a str>>,
}

impl SimNode<'_> {
    /// Allocatable − used, in CPU, memory, pods and ephemeral storage (`free_capacity`).
    fn free(&self) -> Free {
        let (a, u) = (self.allocatable, &self.used);
        [
            a.cpu_m - u.cpu_m,
            a.memory - u.memory,
            a.pods - u.pods,
            a.ephemeral_storage - u.ephemeral_storage,
        ]
    }

    fn domain(&self, key: &str) -> Option<&str> {
        if key == HOSTNAME_KEY {
            Some(match &self.hostname {
                Hostname::Real(n) => Cluster::hostname(n),
                Hostname::Simulated(h) => h,
            })
        } else if key == ZONE_KEY {
            *self
                .zone
                .get_or_init(|| self.labels.get(ZONE_KEY).map(String::as_str))
        } else {
            self.labels.get(key).map(String::as_str)
        }
    }
}

/// A snapshot node's hostname: a real node's is read only when a pod's topology asks for it
/// (few do; the snapshot is made on every loop over every node).
#[derive(Clone, Debug)]
pub enum Hostname<'a> {
    Real(&'a asim_cluster::Node),
    Simulated(String),
}

/// CA's cluster snapshot for one loop.
#[derive(Clone, Debug, Default)]
pub struct Snapshot<'a> {
    pub nodes: Vec<SimNode<'a>>,
    /// Pending pods placed in this simulation: (node index, template).
    placements: Vec<(usize, &'a PodTemplate)>,
}

impl<'a> Snapshot<'a> {
    /// Ready, schedulable real nodes (the nodes kube-scheduler could use), without the pods
    /// whose priority is below `expendable_cutoff` (`FilterOutExpendablePods`, §2.4).
    pub fn from_cluster(cluster: &'a Cluster, expendable_cutoff: i32) -> Snapshot<'a> {
        let nodes = cluster
            .nodes()
            .filter(|n| n.schedulable())
            .map(|n| SimNode {
                hostname: Hostname::Real(n),
                labels: &n.labels,
                taints: &n.taints,
                allocatable: &n.allocatable,
                used: {
                    let mut used = n.requested.clone();
                    used.sub(&expendable_requests(n, expendable_cutoff));
                    used
                },
                ports: n.host_ports.clone(),
                real: Some(n.id),
                has_pods: false,
                zone: OnceCell::new(),
            })
            .collect();
        Snapshot {
            nodes,
            placements: Vec::new(),
        }
    }

    /// Add `count` template nodes named `{prefix}-{i}` (upcoming or estimator nodes).
    pub fn add_template_nodes(&mut self, t: &'a Template, prefix: &str, count: u32) {
        for i in 0..count {
            self.nodes.push(template_node(t, format!("{prefix}-{i}")));
        }
    }

    fn place(&mut self, node: usize, t: &'a PodTemplate, topo: &mut Topology<'a>) {
        let n = &mut self.nodes[node];
        n.used.add(&t.requests);
        n.ports.extend(t.host_ports.iter().cloned());
        n.has_pods = true;
        topo.placed(t, n);
        self.placements.push((node, t));
    }
}

fn template_node(t: &Template, hostname: String) -> SimNode<'_> {
    SimNode {
        hostname: Hostname::Simulated(hostname),
        labels: &t.labels,
        taints: &t.taints,
        allocatable: &t.allocatable,
        used: t.daemonset.clone(),
        ports: Vec::new(),
        real: None,
        has_pods: false,
        zone: OnceCell::new(),
    }
}

/// Pending pods that are equivalent for scheduling: same owner and same spec (`Arc` identity
/// of the template), in priority order (§3.3 "equivalence groups").
#[derive(Clone, Debug)]
pub struct PodGroup<'a> {
    pub template: &'a Arc<PodTemplate>,
    pub pods: Vec<PodId>,
}

/// Group `pods` (already in the order CA processes them) into equivalence groups, ordered by
/// their first pod.
pub fn equivalence_groups<'a>(cluster: &'a Cluster, pods: &[PodId]) -> Vec<PodGroup<'a>> {
    let mut index: BTreeMap<(OwnerKind, u32, usize), usize> = BTreeMap::new();
    let mut out: Vec<PodGroup<'a>> = Vec::new();
    for &p in pods {
        let pod = cluster.pod(p);
        let key = (
            pod.owner,
            pod.owner_index,
            Arc::as_ptr(&pod.template) as usize,
        );
        match index.get(&key) {
            Some(&i) => out[i].pods.push(p),
            None => {
                index.insert(key, out.len());
                out.push(PodGroup {
                    template: &pod.template,
                    pods: vec![p],
                });
            }
        }
    }
    out
}

// ---- topology: spread constraints and anti-affinity -------------------------------------------

struct Spread<'a> {
    c: &'a TopologySpread,
    counts: BTreeMap<String, i64>,
    self_match: bool,
}

struct Anti<'a> {
    term: &'a PodAffinityTerm,
    domains: BTreeSet<String>,
    self_match: bool,
}

/// A required pod-affinity term: the domains that hold a matching pod, and whether any pod
/// matches at all (kube-scheduler's InterPodAffinity lets the first pod of a group whose
/// term matches itself go anywhere when no matching pod exists yet).
struct Aff<'a> {
    term: &'a PodAffinityTerm,
    domains: BTreeSet<String>,
    any: bool,
    self_match: bool,
}

/// Domain counts for one equivalence group's `DoNotSchedule` spread constraints and required
/// anti-affinity terms, from the real cluster plus this simulation's placements.
struct Topology<'a> {
    namespace: &'a str,
    spread: Vec<Spread<'a>>,
    anti: Vec<Anti<'a>>,
    aff: Vec<Aff<'a>>,
}

impl<'a> Topology<'a> {
    fn is_empty(&self) -> bool {
        self.spread.is_empty() && self.anti.is_empty() && self.aff.is_empty()
    }

    fn new(t: &'a PodTemplate, cluster: &Cluster, snap: &Snapshot<'a>) -> Topology<'a> {
        use asim_cluster::pod::WhenUnsatisfiable;
        let mut topo = Topology {
            namespace: &t.namespace,
            spread: t
                .spread
                .iter()
                .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
                .map(|c| Spread {
                    c,
                    counts: BTreeMap::new(),
                    self_match: c.selector.matches(&t.labels),
                })
                .collect(),
            anti: t
                .anti_affinity
                .iter()
                .map(|term| Anti {
                    term,
                    domains: BTreeSet::new(),
                    self_match: term.selector.matches(&t.labels),
                })
                .collect(),
            aff: t
                .affinity
                .iter()
                .map(|term| Aff {
                    term,
                    domains: BTreeSet::new(),
                    any: false,
                    self_match: term.selector.matches(&t.labels),
                })
                .collect(),
        };
        if topo.is_empty() {
            return topo;
        }
        // Real pods, by their node's domain. Spread counts only nodes the pod could use
        // (nodeAffinityPolicy: Honor). A node's pods are active (terminal pods leave it) and
        // share a few templates: each selector is matched once per template, and a node's
        // matching pods are counted from its per-template counts.
        let mut selects: Vec<(usize, *const PodTemplate, bool)> = Vec::new();
        let mut matching = |which: usize,
                            node: &asim_cluster::Node,
                            sel: &asim_core::k8s::selector::LabelSelector|
         -> i64 {
            let mut n = 0;
            for (other, count) in &node.pod_templates {
                let ptr = Arc::as_ptr(other);
                let hit = match selects.iter().find(|(w, p, _)| *w == which && *p == ptr) {
                    Some(&(_, _, hit)) => hit,
                    None => {
                        let hit = other.namespace == t.namespace && sel.matches(&other.labels);
                        selects.push((which, ptr, hit));
                        hit
                    }
                };
                if hit {
                    n += i64::from(*count);
                }
            }
            debug_assert_eq!(
                n,
                node.pods
                    .iter()
                    .filter(|p| {
                        let p = cluster.pod(**p);
                        p.is_active() && p.namespace() == t.namespace && sel.matches(p.labels())
                    })
                    .count() as i64,
                "a node's pod templates disagree with its pods"
            );
            n
        };
        let (n_spread, n_anti) = (topo.spread.len(), topo.anti.len());
        for node in cluster.nodes() {
            for (i, s) in topo.spread.iter_mut().enumerate() {
                if node.deleting || !matches_affinity(t, &node.labels) {
                    continue;
                }
                let Some(d) = node.labels.get(&s.c.topology_key) else {
                    continue;
                };
                let n = matching(i, node, &s.c.selector);
                *s.counts.entry(d.clone()).or_insert(0) += n;
            }
            for (i, a) in topo.anti.iter_mut().enumerate() {
                let Some(d) = node.labels.get(&a.term.topology_key) else {
                    continue;
                };
                if matching(n_spread + i, node, &a.term.selector) > 0 {
                    a.domains.insert(d.clone());
                }
            }
            for (i, a) in topo.aff.iter_mut().enumerate() {
                if matching(n_spread + n_anti + i, node, &a.term.selector) > 0 {
                    a.any = true;
                    if let Some(d) = node.labels.get(&a.term.topology_key) {
                        a.domains.insert(d.clone());
                    }
                }
            }
        }
        // Simulated nodes are domains too; earlier placements count.
        for n in &snap.nodes {
            topo.add_domain(t, n);
        }
        for &(i, placed) in &snap.placements {
            if placed.namespace != t.namespace {
                continue;
            }
            let n = &snap.nodes[i];
            for s in &mut topo.spread {
                if s.c.selector.matches(&placed.labels)
                    && let Some(d) = n.domain(&s.c.topology_key)
                {
                    *s.counts.entry(d.to_string()).or_insert(0) += 1;
                }
            }
            for a in &mut topo.anti {
                if a.term.selector.matches(&placed.labels)
                    && let Some(d) = n.domain(&a.term.topology_key)
                {
                    a.domains.insert(d.to_string());
                }
            }
            for a in &mut topo.aff {
                if a.term.selector.matches(&placed.labels) {
                    a.any = true;
                    if let Some(d) = n.domain(&a.term.topology_key) {
                        a.domains.insert(d.to_string());
                    }
                }
            }
        }
        topo
    }

    /// A node joins the snapshot: its domain is eligible for spreading.
    fn add_domain(&mut self, t: &PodTemplate, n: &SimNode<'_>) {
        if !matches_affinity(t, n.labels) {
            return;
        }
        for s in &mut self.spread {
            if let Some(d) = n.domain(&s.c.topology_key) {
                s.counts.entry(d.to_string()).or_insert(0);
            }
        }
    }

    fn allows(&self, n: &SimNode<'_>) -> bool {
        for s in &self.spread {
            let Some(d) = n.domain(&s.c.topology_key) else {
                return false;
            };
            let min = s.counts.values().copied().min().unwrap_or(0);
            let count = s.counts.get(d).copied().unwrap_or(0);
            if count + i64::from(s.self_match) - min > i64::from(s.c.max_skew) {
                return false;
            }
        }
        for a in &self.anti {
            if let Some(d) = n.domain(&a.term.topology_key)
                && a.domains.contains(d)
            {
                return false;
            }
        }
        for a in &self.aff {
            let Some(d) = n.domain(&a.term.topology_key) else {
                return false;
            };
            if !a.domains.contains(d) && (a.any || !a.self_match) {
                return false;
            }
        }
        true
    }

    fn placed(&mut self, t: &PodTemplate, n: &SimNode<'_>) {
        if t.namespace != self.namespace {
            return;
        }
        for s in &mut self.spread {
            if s.self_match
                && let Some(d) = n.domain(&s.c.topology_key)
            {
                *s.counts.entry(d.to_string()).or_insert(0) += 1;
            }
        }
        for a in &mut self.anti {
            if a.self_match
                && let Some(d) = n.domain(&a.term.topology_key)
            {
                a.domains.insert(d.to_string());
            }
        }
        for a in &mut self.aff {
            if a.self_match {
                a.any = true;
                if let Some(d) = n.domain(&a.term.topology_key) {
                    a.domains.insert(d.to_string());
                }
            }
        }
    }
}

/// The node-local predicates: taints, node affinity, resources, host ports.
pub fn fits_static(t: &PodTemplate, n: &SimNode<'_>) -> bool {
    tolerates(t, n.taints)
        && matches_affinity(t, n.labels)
        && n.used.fits_with(&t.requests, n.allocatable)
        && !t.host_ports.iter().any(|hp| n.ports.contains(hp))
}

fn fits(t: &PodTemplate, n: &SimNode<'_>, topo: &Topology<'_>) -> bool {
    fits_static(t, n) && (topo.is_empty() || topo.allows(n))
}

/// `FilterOutSchedulable` (§2.4): place pending pods, highest priority first, on the snapshot's
/// free space (real nodes and upcoming template nodes); return the groups of pods that do not
/// fit and how many pods did.
pub fn filter_out_schedulable<'a>(
    snap: &mut Snapshot<'a>,
    cluster: &'a Cluster,
    groups: Vec<PodGroup<'a>>,
) -> (Vec<PodGroup<'a>>, usize) {
    let mut remaining = Vec::new();
    let mut absorbed = 0;
    // The nodes' free core resources, so that the search for a node that fits jumps over
    // those without room (they fail the resources predicate whatever else holds): the node
    // found is the scan's.
    let mut room = FreeCapacity::new(snap.nodes.iter().map(SimNode::free));
    for g in groups {
        let t: &'a PodTemplate = g.template;
        let mut topo = Topology::new(t, cluster, snap);
        let simple = topo.is_empty();
        let mut by_domain = ByDomain::for_topology(&topo, snap);
        let need = core(&t.requests);
        // For simple pods a node that rejected one copy rejects the next (space only shrinks).
        let mut cursor = 0;
        let mut left = Vec::new();
        for k in 0..g.pods.len() {
            let found = match &by_domain {
                Some(parts) => parts.first_fit(&need, t, snap, &topo),
                None => {
                    let mut at = if simple { cursor } else { 0 };
                    loop {
                        let Some(j) = room.first_fit(at, &need) else {
                            break None;
                        };
                        if fits(t, &snap.nodes[j], &topo) {
                            break Some(j);
                        }
                        at = j + 1;
                    }
                }
            };
            match found {
                Some(j) => {
                    snap.place(j, t, &mut topo);
                    let free = snap.nodes[j].free();
                    room.set(j, free);
                    if let Some(parts) = &mut by_domain {
                        parts.set(j, free);
                    }
                    absorbed += 1;
                    cursor = j;
                }
                None => {
                    // Identical pods fail identically: the rest of the group stays pending.
                    left.extend_from_slice(&g.pods[k..]);
                    break;
                }
            }
        }
        if !left.is_empty() {
            remaining.push(PodGroup {
                template: g.template,
                pods: left,
            });
        }
    }
    (remaining, absorbed)
}

/// The snapshot's nodes split by their domain of a group's one spread constraint's key, each
/// domain with its own free-capacity index, for `FilterOutSchedulable`'s search.
///
/// A pod under a zonal `DoNotSchedule` constraint is tried on the snapshot's nodes in order
/// from the first, and every node with room in a zone that the skew rules out is read and
/// rejected: on a 5,000-node cluster, thousands per pending pod. When the constraint is the
/// group's only topology rule, whether a node passes it depends on the node's domain alone,
/// so the first node in a domain that has room and passes the node-local predicates decides
/// for the whole domain: the node the scan would find is the earliest of those that the
/// constraint allows. Each domain's first such node is found through its index.
struct ByDomain {
    /// Per domain: its nodes' snapshot indices, ascending, and their free resources.
    parts: Vec<(Vec<usize>, FreeCapacity)>,
    /// Per snapshot node: its domain and its position there (none without the key: such a
    /// node fails the constraint).
    slot: Vec<Option<(usize, usize)>>,
}

/// Domains beyond which a key is not worth splitting on (`kubernetes.io/hostname`: one per
/// node); the scan is used instead.
const MAX_SPLIT_DOMAINS: usize = 64;

impl ByDomain {
    fn for_topology(topo: &Topology<'_>, snap: &Snapshot<'_>) -> Option<ByDomain> {
        #[cfg(test)]
        if SCAN_EVERY_NODE.with(std::cell::Cell::get) {
            return None;
        }
        let [s] = topo.spread.as_slice() else {
            return None;
        };
        if !topo.anti.is_empty() || !topo.aff.is_empty() {
            return None;
        }
        let key = s.c.topology_key.as_str();
        if key == HOSTNAME_KEY {
            return None;
        }
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut slot = vec![None; snap.nodes.len()];
        for (j, n) in snap.nodes.iter().enumerate() {
            let Some(d) = n.domain(key) else {
                continue;
            };
            let next = index.len();
            let d = *index.entry(d).or_insert(next);
            if d == members.len() {
                if d == MAX_SPLIT_DOMAINS {
                    return None;
                }
                members.push(Vec::new());
            }
            slot[j] = Some((d, members[d].len()));
            members[d].push(j);
        }
        let parts = members
            .into_iter()
            .map(|m| {
                let room = FreeCapacity::new(m.iter().map(|&j| snap.nodes[j].free()));
                (m, room)
            })
            .collect();
        Some(ByDomain { parts, slot })
    }

    /// The first node in snapshot order that takes a pod of `t` (room for `need`, the
    /// node-local predicates, the constraint): in each domain, the first node with room
    /// that passes the node-local predicates, if the constraint allows its domain.
    fn first_fit(
        &self,
        need: &Free,
        t: &PodTemplate,
        snap: &Snapshot<'_>,
        topo: &Topology<'_>,
    ) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (members, room) in &self.parts {
            let mut at = 0;
            while let Some(p) = room.first_fit(at, need) {
                let j = members[p];
                if best.is_some_and(|b| j > b) {
                    break;
                }
                let n = &snap.nodes[j];
                if fits_static(t, n) {
                    if topo.allows(n) {
                        best = Some(j);
                    }
                    break;
                }
                at = p + 1;
            }
        }
        best
    }

    /// Snapshot node `j`'s free resources changed.
    fn set(&mut self, j: usize, free: Free) {
        if let Some((d, p)) = self.slot[j] {
            self.parts[d].1.set(p, free);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: `FilterOutSchedulable` scans the nodes in order for every pod, as it did before
    /// [`ByDomain`], to compare with it.
    static SCAN_EVERY_NODE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What the estimator found for one node group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// New nodes that received at least one pod.
    pub node_count: u32,
    pub pods: Vec<PodId>,
}

/// `BinpackingNodeEstimator.Estimate` (§3.3): first-fit decreasing onto fresh copies of
/// `template`, adding at most `limit` nodes. Pod groups are ordered by
/// `cpu/alloc_cpu + mem/alloc_mem` of the template, largest first. For each pod: any node
/// added so far; else the last added node; else a new node — unless the last added node is
/// still empty, in which case the pod cannot fit a fresh node and estimation for it stops.
/// With `fastpath`, the last group packs one node and extrapolates `ceil(pods / per_node)`.
pub fn estimate<'a>(
    template: &'a Template,
    group_name: &str,
    groups: &[&PodGroup<'a>],
    base: &Snapshot<'a>,
    cluster: &'a Cluster,
    limit: u32,
    fastpath: bool,
) -> Estimate {
    let alloc = &template.allocatable;
    let score = |t: &PodTemplate| {
        let f = |r: i64, a: i64| if a > 0 { r as f64 / a as f64 } else { 0.0 };
        f(t.requests.cpu_m, alloc.cpu_m) + f(t.requests.memory, alloc.memory)
    };
    let mut ordered: Vec<&&PodGroup<'a>> = groups.iter().collect();
    ordered.sort_by(|a, b| score(b.template).total_cmp(&score(a.template)));

    let mut snap = base.clone();
    let first_new = snap.nodes.len();
    let mut added = 0u32;
    let mut last: Option<usize> = None;
    let mut helped = Vec::new();
    let n_groups = ordered.len();
    for (gi, g) in ordered.into_iter().enumerate() {
        let t: &'a PodTemplate = g.template;
        let mut topo = Topology::new(t, cluster, &snap);
        let simple = topo.is_empty();
        // Existing new nodes first, first fit; stop at the first pod that fits none.
        let mut k = 0;
        let mut cursor = first_new;
        while k < g.pods.len() {
            let start = if simple { cursor } else { first_new };
            let Some(j) = (start..snap.nodes.len()).find(|&j| fits(t, &snap.nodes[j], &topo))
            else {
                break;
            };
            snap.place(j, t, &mut topo);
            helped.push(g.pods[k]);
            cursor = j;
            k += 1;
        }
        let rest = &g.pods[k..];
        if fastpath && gi + 1 == n_groups && simple && !rest.is_empty() {
            // Pack one fresh node, then extrapolate.
            if added >= limit {
                continue;
            }
            let mut probe = template_node(template, format!("template-{group_name}-fast"));
            let mut per_node = 0usize;
            while per_node < rest.len() && fits_static(t, &probe) {
                probe.used.add(&t.requests);
                probe.ports.extend(t.host_ports.iter().cloned());
                per_node += 1;
            }
            if per_node == 0 {
                continue;
            }
            let want = rest.len().div_ceil(per_node) as u32;
            let nodes = want.min(limit - added);
            added += nodes;
            let n_pods = (nodes as usize * per_node).min(rest.len());
            helped.extend_from_slice(&rest[..n_pods]);
            continue;
        }
        for &p in rest {
            if let Some(l) = last
                && fits(t, &snap.nodes[l], &topo)
            {
                snap.place(l, t, &mut topo);
                helped.push(p);
                continue;
            }
            if last.is_some_and(|l| !snap.nodes[l].has_pods) {
                break;
            }
            if added >= limit {
                break;
            }
            let node = template_node(template, format!("template-{group_name}-{added}"));
            topo.add_domain(t, &node);
            snap.nodes.push(node);
            added += 1;
            let l = snap.nodes.len() - 1;
            last = Some(l);
            if !fits(t, &snap.nodes[l], &topo) {
                break;
            }
            snap.place(l, t, &mut topo);
            helped.push(p);
        }
    }
    let with_pods = snap.nodes[first_new..]
        .iter()
        .filter(|n| n.has_pods)
        .count() as u32;
    let fast_nodes = added - (snap.nodes.len() - first_new) as u32;
    Estimate {
        node_count: with_pods + fast_nodes,
        pods: helped,
    }
}

/// Can a pod of this group run on a fresh node of `template` (static predicates only)?
pub fn fits_empty_template(t: &PodTemplate, template: &Template) -> bool {
    let n = template_node(template, "probe".into());
    fits_static(t, &n)
}

/// The first static predicate a fresh node of `template` fails for this pod, in
/// kube-scheduler's words (the reasons CA's `NotTriggerScaleUp` event quotes per group);
/// `None` if it fits.
pub fn why_not_fit(t: &PodTemplate, template: &Template) -> Option<&'static str> {
    let n = template_node(template, "probe".into());
    if !tolerates(t, n.taints) {
        return Some("node(s) had untolerated taint");
    }
    if !matches_affinity(t, n.labels) {
        return Some("node(s) didn't match Pod's node affinity/selector");
    }
    if t.host_ports.iter().any(|hp| n.ports.contains(hp)) {
        return Some("node(s) didn't have free ports for the requested pod ports");
    }
    let (r, used, a) = (&t.requests, &n.used, n.allocatable);
    if used.cpu_m + r.cpu_m > a.cpu_m {
        return Some("Insufficient cpu");
    }
    if used.memory + r.memory > a.memory {
        return Some("Insufficient memory");
    }
    if used.ephemeral_storage + r.ephemeral_storage > a.ephemeral_storage {
        return Some("Insufficient ephemeral-storage");
    }
    if used.pods + r.pods > a.pods {
        return Some("Too many pods");
    }
    if !used.fits_with(r, a) {
        // An extended resource: GPUs on AWS.
        return Some("Insufficient extended resource");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use asim_cluster::pod::PodTemplate;

    fn template(cpu_m: i64, mem: i64) -> Template {
        Template::for_test(cpu_m, mem)
    }

    fn pod_template(cpu_m: i64, mem: i64) -> Arc<PodTemplate> {
        let mut r = Resources::new(cpu_m, mem);
        r.pods = 1;
        Arc::new(PodTemplate {
            namespace: "default".into(),
            requests: r,
            ..Default::default()
        })
    }

    #[test]
    fn estimator_packs_first_fit_decreasing_onto_template_nodes() {
        let cluster = Cluster::default();
        let t = template(4000, 16 << 30);
        let big = pod_template(3000, 1 << 30);
        let small = pod_template(500, 1 << 30);
        let big_pods: Vec<PodId> = (0..3).map(PodId).collect();
        let small_pods: Vec<PodId> = (3..9).map(PodId).collect();
        let g_small = PodGroup {
            template: &small,
            pods: small_pods,
        };
        let g_big = PodGroup {
            template: &big,
            pods: big_pods,
        };
        let base = Snapshot::default();
        // Small first in the input; FFD packs the 3-CPU pods first, then two 0.5-CPU pods fill
        // each node's last CPU: 3 nodes hold 3 big + 6 small.
        let est = estimate(&t, "g", &[&g_small, &g_big], &base, &cluster, 100, false);
        assert_eq!(est.node_count, 3);
        assert_eq!(est.pods.len(), 9);
    }

    #[test]
    fn estimator_respects_the_node_limit() {
        let cluster = Cluster::default();
        let t = template(1000, 16 << 30);
        let p = pod_template(1000, 1 << 30);
        let g = PodGroup {
            template: &p,
            pods: (0..10).map(PodId).collect(),
        };
        let est = estimate(&t, "g", &[&g], &Snapshot::default(), &cluster, 4, false);
        assert_eq!(est.node_count, 4);
        assert_eq!(est.pods.len(), 4);
    }

    #[test]
    fn estimator_gives_up_on_pods_larger_than_a_fresh_node() {
        let cluster = Cluster::default();
        let t = template(1000, 16 << 30);
        let p = pod_template(2000, 1 << 30);
        let g = PodGroup {
            template: &p,
            pods: (0..10).map(PodId).collect(),
        };
        let est = estimate(&t, "g", &[&g], &Snapshot::default(), &cluster, 100, false);
        assert_eq!(est, Estimate::default());
    }

    #[test]
    fn fastpath_extrapolates_from_one_packed_node() {
        let cluster = Cluster::default();
        let t = template(4000, 16 << 30);
        let p = pod_template(1000, 1 << 30);
        let g = PodGroup {
            template: &p,
            pods: (0..10).map(PodId).collect(),
        };
        let est = estimate(&t, "g", &[&g], &Snapshot::default(), &cluster, 100, true);
        assert_eq!(est.node_count, 3);
        assert_eq!(est.pods.len(), 10);
    }

    #[test]
    fn filter_absorbs_pods_onto_upcoming_template_nodes() {
        let cluster = Cluster::default();
        let t = template(2000, 16 << 30);
        let p = pod_template(1000, 1 << 30);
        let g = PodGroup {
            template: &p,
            pods: (0..5).map(PodId).collect(),
        };
        let mut snap = Snapshot::default();
        snap.add_template_nodes(&t, "upcoming", 2);
        let (left, absorbed) = filter_out_schedulable(&mut snap, &cluster, vec![g]);
        assert_eq!(absorbed, 4);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].pods, vec![PodId(4)]);
    }

    /// A zonally spread group after a plain one, on nodes of random sizes in up to three
    /// zones (and some without a zone label), placed with [`ByDomain`] and with the
    /// node-by-node scan: the same pods on the same nodes in the same order, the same left.
    fn placements_of(
        nodes: &[(usize, i64, i64)],
        plain: usize,
        spread: usize,
        cpu_m: i64,
        skew: u32,
        self_match: bool,
        scan: bool,
    ) -> (Vec<usize>, Vec<Vec<PodId>>, usize) {
        use asim_cluster::pod::{TopologySpread, WhenUnsatisfiable};
        use asim_core::k8s::selector::LabelSelector;
        let templates: Vec<Template> = nodes
            .iter()
            .map(|&(zone, cores, used_m)| {
                let mut t = template(cores * 1000, 64 << 30);
                if zone < 3 {
                    t.labels.insert(ZONE_KEY.into(), format!("z{zone}"));
                }
                t.daemonset = Resources::new(used_m.min(cores * 1000), 0);
                t
            })
            .collect();
        let mut web = Labels::new();
        web.insert("app".into(), "web".into());
        let mut labels = Labels::new();
        if self_match {
            labels = web.clone();
        }
        let mut requests = Resources::new(cpu_m, 1 << 30);
        requests.pods = 1;
        let spread_t = Arc::new(PodTemplate {
            namespace: "default".into(),
            labels,
            requests,
            spread: vec![TopologySpread {
                max_skew: skew,
                topology_key: ZONE_KEY.into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                selector: LabelSelector {
                    match_labels: web,
                    ..Default::default()
                },
                min_domains: None,
            }],
            ..Default::default()
        });
        let plain_t = pod_template(700, 1 << 30);
        let cluster = Cluster::default();
        let mut snap = Snapshot::default();
        for (i, t) in templates.iter().enumerate() {
            snap.add_template_nodes(t, &format!("n{i}"), 1);
        }
        let groups = vec![
            PodGroup {
                template: &plain_t,
                pods: (0..plain as u32).map(PodId).collect(),
            },
            PodGroup {
                template: &spread_t,
                pods: (plain as u32..(plain + spread) as u32).map(PodId).collect(),
            },
        ];
        SCAN_EVERY_NODE.with(|c| c.set(scan));
        let (left, absorbed) = filter_out_schedulable(&mut snap, &cluster, groups);
        SCAN_EVERY_NODE.with(|c| c.set(false));
        let placed = snap.placements.iter().map(|(j, _)| *j).collect();
        (placed, left.into_iter().map(|g| g.pods).collect(), absorbed)
    }

    proptest::proptest! {
        #[test]
        fn the_domain_search_places_what_the_node_scan_places(
            nodes in proptest::collection::vec((0..4usize, 1..9i64, 0..6000i64), 1..40),
            plain in 0..20usize,
            spread in 1..40usize,
            cpu_m in 100..3000i64,
            skew in 1..3u32,
            self_match in proptest::bool::ANY,
        ) {
            let split = placements_of(&nodes, plain, spread, cpu_m, skew, self_match, false);
            let scan = placements_of(&nodes, plain, spread, cpu_m, skew, self_match, true);
            proptest::prop_assert_eq!(split, scan);
        }
    }
}
