//! The topology a scheduling simulation starts from (docs/model/karpenter.md §1.7): the
//! domains each key can take — from the NodePools, their instance types and the existing
//! nodes — and the pods already bound to existing nodes, counted toward spread, affinity and
//! anti-affinity.
//!
//! Consolidation runs many simulations per pass over the same cluster, each without a few
//! candidate nodes (§4.6). Building this from the cluster for each of them cost a string hash
//! per label of every node and a record per bound pod — most of a day's run at a thousand
//! nodes. A [`TopologySeed`] is built once per pass, from labels interned once per node and
//! per pod template and carried from pass to pass ([`SeedCache`]), with bound pods counted per
//! template; [`TopologySeed::topology`] then gives each simulation its topology with array
//! operations only: the same universe and the same counts as building it afresh without the
//! excluded nodes. The topology that excludes nothing is recorded once per seed, and each
//! simulation copies it and takes its few excluded nodes out (their pods, and the domains no
//! other node gives), rather than recording the hundreds of other nodes again.

use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use asim_cluster::pod::PodTemplate;
use asim_cluster::{Cluster, NodeId};
use asim_core::k8s::requirements::NodeSelectorOperator;
use asim_core::k8s::selector::Labels;

use crate::instancetype::{CAPACITY_TYPE, ZONE};
use crate::provisioning::scheduling::{ExistingNode, Template, type_domains};
use crate::provisioning::topology::{DomId, KeyId, KindId, Topology};

/// Interned (key, value) pairs of a node's labels.
type Doms = Vec<(KeyId, DomId)>;

/// One pass's shared starting point for its simulations' topologies.
pub struct TopologySeed {
    /// Every value below interned, nothing recorded, no universe; frozen.
    topology: Topology,
    /// The keys a planned claim's single-valued requirements give domains for (zone, capacity
    /// type, the NodePools' `In` keys), sorted by name.
    keys: Vec<(String, KeyId)>,
    /// Domains of those keys from the NodePools and their instance types.
    template_universe: Vec<(KeyId, DomId)>,
    /// Per existing node (the scheduler's list, any order): its values of those keys.
    existing_universe: Vec<(Option<NodeId>, Doms)>,
    /// Nodes with active pods, in the cluster's node order.
    bound: Vec<BoundPods>,
    /// Per existing node with a Node: every label interned, as a placement records them.
    node_doms: HashMap<NodeId, Arc<[(KeyId, DomId)]>>,
    /// The topology of a simulation that leaves out no node, without and with the bound pods
    /// recorded, built on first use: each simulation copies it and takes out its excluded
    /// nodes, rather than recording every other node again.
    whole: [OnceCell<Whole>; 2],
}

/// [`TopologySeed::topology`] with nothing excluded, and what it takes to exclude a node.
struct Whole {
    topology: Topology,
    /// Per bound node: its range of the topology's placed entries.
    placed: HashMap<NodeId, (usize, usize)>,
    /// Per node: the universe domains it gives, each once.
    gives: HashMap<NodeId, Doms>,
    /// Per universe domain: how many nodes give it (`u32::MAX` when a NodePool does, which
    /// no exclusion removes).
    givers: HashMap<(KeyId, DomId), u32>,
}

/// The active pods of one node, interned.
struct BoundPods {
    node: NodeId,
    /// Every label of the node.
    doms: Doms,
    /// Pods without required anti-affinity, counted per kind.
    counts: Vec<(KindId, i64)>,
    /// Pods with required anti-affinity, per template (they add the symmetric rule).
    anti: Vec<(KindId, Arc<PodTemplate>, i64)>,
}

/// What a pass's seed takes over from the previous pass's: the interned values (frozen) and,
/// per node and per pod template, their interned labels. Nodes' labels only grow (registration,
/// initialization), so a node's entry holds while its label count is unchanged. Interned ids
/// never reach output, so carrying them across passes changes nothing a user sees.
#[derive(Default)]
pub struct SeedCache {
    topology: Topology,
    /// Per node: (label count, every label interned).
    nodes: HashMap<NodeId, (usize, Arc<[(KeyId, DomId)]>)>,
    /// Per pod template, by address (the entry keeps the template alive, so an address is
    /// never reused while it is a key): its kind.
    kinds: HashMap<usize, (Arc<PodTemplate>, KindId)>,
}

impl SeedCache {
    /// A node's labels, interned (from the cache while its labels are unchanged).
    fn node_doms(
        &mut self,
        topology: &mut Topology,
        node: NodeId,
        labels: &Labels,
    ) -> &Arc<[(KeyId, DomId)]> {
        let fresh = self
            .nodes
            .get(&node)
            .is_none_or(|(n, _)| *n != labels.len());
        if fresh {
            let doms = topology.domain_ids(labels);
            self.nodes.insert(node, (labels.len(), doms.into()));
        }
        &self.nodes[&node].1
    }

    fn kind(&mut self, topology: &mut Topology, template: &Arc<PodTemplate>) -> KindId {
        let key = Arc::as_ptr(template) as usize;
        if let Some((_, k)) = self.kinds.get(&key) {
            return *k;
        }
        let k = topology.kind_id(&template.namespace, &template.labels);
        self.kinds.insert(key, (Arc::clone(template), k));
        k
    }
}

impl TopologySeed {
    /// `cluster` supplies the bound pods of the existing nodes' Nodes; without it (a solve
    /// that starts from nodes alone, as in tests) nothing is recorded. `cache` carries interned
    /// labels from one pass to the next.
    pub fn new(
        templates: &[Template],
        existing: &[ExistingNode],
        cluster: Option<&Cluster>,
        cache: &mut SeedCache,
    ) -> Self {
        let mut topology = std::mem::take(&mut cache.topology);
        let mut names = BTreeSet::new();
        let mut template_universe = Vec::new();
        let mut add = |topology: &mut Topology, key: &str, value: &str| {
            let k = topology.key_id(key);
            let d = topology.domain_id(k, value);
            template_universe.push((k, d));
        };
        for t in templates {
            for key in [ZONE, CAPACITY_TYPE] {
                names.insert(key.to_string());
                for v in type_domains(t, key) {
                    add(&mut topology, key, &v);
                }
            }
            // Zone and capacity type stay narrowed by the instance types, as above.
            for r in t.requirements.iter() {
                if r.operator() == NodeSelectorOperator::In
                    && r.key() != ZONE
                    && r.key() != CAPACITY_TYPE
                {
                    names.insert(r.key().to_string());
                    for v in r.values() {
                        add(&mut topology, r.key(), v);
                    }
                }
            }
        }
        let keys: Vec<(String, KeyId)> = names
            .into_iter()
            .map(|k| {
                let id = topology.key_id(&k);
                (k, id)
            })
            .collect();
        let is_key = |k: KeyId| keys.iter().any(|(_, id)| *id == k);
        // Forget nodes that are gone, now and then.
        if cache.nodes.len() > 2 * existing.len() + 64 {
            let live: BTreeSet<NodeId> = existing.iter().filter_map(|e| e.node).collect();
            cache.nodes.retain(|n, _| live.contains(n));
        }
        let mut node_doms = HashMap::new();
        let existing_universe = existing
            .iter()
            .map(|e| {
                let vals = match e.node {
                    Some(n) => {
                        let doms = cache.node_doms(&mut topology, n, &e.labels);
                        node_doms.insert(n, Arc::clone(doms));
                        doms.iter().copied().filter(|(k, _)| is_key(*k)).collect()
                    }
                    None => keys
                        .iter()
                        .filter_map(|(k, id)| {
                            e.labels.get(k).map(|v| (*id, topology.domain_id(*id, v)))
                        })
                        .collect(),
                };
                (e.node, vals)
            })
            .collect();
        let mut bound = Vec::new();
        if let Some(cluster) = cluster {
            let in_existing: BTreeSet<NodeId> = existing.iter().filter_map(|e| e.node).collect();
            for node in cluster.nodes().filter(|n| in_existing.contains(&n.id)) {
                // Every pod bound to a node is active (terminal pods leave it), and pods share
                // their template's namespace and labels: count per template.
                if node.pod_templates.is_empty() {
                    continue;
                }
                let mut b = BoundPods {
                    node: node.id,
                    doms: cache
                        .node_doms(&mut topology, node.id, &node.labels)
                        .to_vec(),
                    counts: Vec::new(),
                    anti: Vec::new(),
                };
                for (template, n) in &node.pod_templates {
                    let kind = cache.kind(&mut topology, template);
                    let n = i64::from(*n);
                    if template.anti_affinity.is_empty() {
                        match b.counts.iter_mut().find(|(k, _)| *k == kind) {
                            Some((_, c)) => *c += n,
                            None => b.counts.push((kind, n)),
                        }
                    } else {
                        b.anti.push((kind, Arc::clone(template), n));
                    }
                }
                bound.push(b);
            }
        }
        topology.freeze();
        cache.topology = topology.clone();
        TopologySeed {
            topology,
            keys,
            template_universe,
            existing_universe,
            bound,
            node_doms,
            whole: Default::default(),
        }
    }

    /// An existing node's labels, interned (what [`Topology::domain_ids`] gives for them in a
    /// topology cloned from this seed's).
    pub fn node_doms(&self, node: NodeId) -> Option<&Arc<[(KeyId, DomId)]>> {
        self.node_doms.get(&node)
    }

    /// The keys a planned claim's single-valued requirements give domains for, with ids.
    pub fn keys(&self) -> Vec<(String, KeyId)> {
        self.keys.clone()
    }

    /// The topology of one simulation: the universe from the NodePools and every existing
    /// node but `excluded`, and, with `record_pods`, their bound pods counted.
    pub fn topology(&self, excluded: &BTreeSet<NodeId>, record_pods: bool) -> Topology {
        // Bound pods' anti-affinity adds inverse entries that excluding a node would have to
        // take out again: build those afresh.
        if record_pods && self.bound.iter().any(|b| !b.anti.is_empty()) {
            return self.topology_afresh(excluded, record_pods);
        }
        let whole = self.whole(record_pods);
        let mut skip = Vec::new();
        let mut lost: Doms = Vec::new();
        for n in excluded {
            if let Some(&r) = whole.placed.get(n) {
                skip.push(r);
            }
            if let Some(doms) = whole.gives.get(n) {
                lost.extend_from_slice(doms);
            }
        }
        skip.sort_unstable();
        let mut t = whole.topology.without_placed(&skip);
        // A domain leaves the universe when every node that gives it is excluded.
        lost.sort_unstable();
        for run in lost.chunk_by(|a, b| a == b) {
            if whole.givers.get(&run[0]) == Some(&(run.len() as u32)) {
                t.remove_universe_id(run[0].0, run[0].1);
            }
        }
        t
    }

    /// [`TopologySeed::topology`] with no node excluded, and per node what it adds.
    fn whole(&self, record_pods: bool) -> &Whole {
        self.whole[usize::from(record_pods)].get_or_init(|| {
            let mut t = self.topology.clone();
            let mut givers: HashMap<(KeyId, DomId), u32> = HashMap::new();
            for &(k, d) in &self.template_universe {
                t.add_universe_id(k, d);
                givers.insert((k, d), u32::MAX);
            }
            let mut gives: HashMap<NodeId, Doms> = HashMap::new();
            for (node, vals) in &self.existing_universe {
                for &(k, d) in vals {
                    t.add_universe_id(k, d);
                }
                if let Some(n) = node {
                    gives.entry(*n).or_default().extend_from_slice(vals);
                }
            }
            let mut placed = HashMap::new();
            if record_pods {
                let host = t.host_key();
                for b in &self.bound {
                    let start = t.placed_len();
                    for (kind, template, n) in &b.anti {
                        t.record_anti(*kind, &b.doms, &template.anti_affinity, *n);
                    }
                    for &(kind, n) in &b.counts {
                        t.record_many(kind, &b.doms, n);
                    }
                    placed.insert(b.node, (start, t.placed_len()));
                    // Recording a pod adds its node's domains but the hostname's.
                    if !b.anti.is_empty() || !b.counts.is_empty() {
                        gives
                            .entry(b.node)
                            .or_default()
                            .extend(b.doms.iter().filter(|(k, _)| *k != host));
                    }
                }
            }
            for doms in gives.values_mut() {
                doms.sort_unstable();
                doms.dedup();
                for &kd in doms.iter() {
                    let g = givers.entry(kd).or_insert(0);
                    *g = g.saturating_add(1);
                }
            }
            Whole {
                topology: t,
                placed,
                gives,
                givers,
            }
        })
    }

    /// [`TopologySeed::topology`] built from the seed, recording every node that is not
    /// excluded.
    fn topology_afresh(&self, excluded: &BTreeSet<NodeId>, record_pods: bool) -> Topology {
        let mut t = self.topology.clone();
        for &(k, d) in &self.template_universe {
            t.add_universe_id(k, d);
        }
        for (node, vals) in &self.existing_universe {
            if node.is_some_and(|n| excluded.contains(&n)) {
                continue;
            }
            for &(k, d) in vals {
                t.add_universe_id(k, d);
            }
        }
        if record_pods {
            for b in self.bound.iter().filter(|b| !excluded.contains(&b.node)) {
                for (kind, template, n) in &b.anti {
                    t.record_anti(*kind, &b.doms, &template.anti_affinity, *n);
                }
                for &(kind, n) in &b.counts {
                    t.record_many(kind, &b.doms, n);
                }
            }
        }
        t
    }
}
