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

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeSet;

use asim_core::hash::FastMap;
use std::sync::Arc;

use asim_cluster::pod::PodTemplate;
use asim_cluster::{Cluster, NodeId};
use asim_core::k8s::requirements::NodeSelectorOperator;
use asim_core::k8s::selector::Labels;

use crate::instancetype::{CAPACITY_TYPE, ZONE};
use crate::provisioning::scheduling::{ExistingNode, Template, type_domains};
use crate::provisioning::topology::{DomId, KeyId, KindId, SharedDoms, Topology};
use crate::provisioning::{bit, set_bit};

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
    existing_universe: Vec<(Option<NodeId>, SharedDoms)>,
    /// Nodes with active pods, in the cluster's node order.
    bound: Vec<Arc<BoundPods>>,
    /// Per existing node (the scheduler's list, in its order): every label interned, as a
    /// placement records them. A launched NodeClaim's are interned here too, once per pass:
    /// the pending pods land on in-flight NodeClaims in every simulation of the pass.
    existing_doms: Vec<Option<SharedDoms>>,
    /// Per existing node (the same order), its name's hostname id, if interned.
    existing_hosts: Vec<Option<DomId>>,
    /// Per key id: whether a rule of some pod the pass may schedule names it (without a
    /// cluster, none: nothing is recorded either).
    rule_keys: Vec<bool>,
    /// The topology of a simulation that leaves out no node, without and with the bound pods
    /// recorded, built on first use: each simulation copies it and takes out its excluded
    /// nodes, rather than recording every other node again.
    whole: [OnceCell<Whole>; 2],
}

/// [`TopologySeed::topology`] with nothing excluded, and what it takes to exclude a node.
struct Whole {
    topology: Topology,
    /// Per node: its entry in `existing_universe`, and its entry in `bound` with its range of
    /// the topology's placed entries (when pods are recorded).
    nodes: FastMap<NodeId, WholeNode>,
    /// Per key and domain: how many existing nodes give it to the universe (`u32::MAX` when
    /// a NodePool does: no exclusion removes it).
    givers: Vec<Vec<u32>>,
    /// Zeros of the same shape, for counting a simulation's excluded givers (left zeroed).
    lost: RefCell<Vec<Vec<u32>>>,
}

/// A node's entry in `existing_universe`, and its entry in `bound` with its range of the
/// whole topology's placed entries (when pods are recorded).
type WholeNode = (Option<usize>, Option<(usize, usize, usize)>);

/// The active pods of one node, interned.
struct BoundPods {
    node: NodeId,
    /// Every label of the node.
    doms: SharedDoms,
    /// Pods without required anti-affinity, counted per kind.
    counts: Vec<(KindId, i64)>,
    /// Pods with required anti-affinity, per template (they add the symmetric rule).
    anti: Vec<(KindId, Arc<PodTemplate>, i64)>,
    /// The keys its pods' topology rules name.
    rule_keys: Vec<KeyId>,
}

impl BoundPods {
    /// Whether the whole topology records any of its pods (and so its labels).
    fn is_recorded(&self) -> bool {
        !self.anti.is_empty() || !self.counts.is_empty()
    }
}

/// What a pass's seed takes over from the previous pass's: the interned values (frozen) and,
/// per node and per pod template, their interned labels. Nodes' labels only grow (registration,
/// initialization), so a node's entry holds while its label count is unchanged. Interned ids
/// never reach output, so carrying them across passes changes nothing a user sees.
#[derive(Default)]
pub struct SeedCache {
    topology: Topology,
    nodes: FastMap<NodeId, SeedNode>,
    /// Per pod template, by address (the entry keeps the template alive, so an address is
    /// never reused while it is a key): its kind, and the keys its topology rules name.
    kinds: FastMap<usize, (Arc<PodTemplate>, KindId, Vec<KeyId>)>,
    /// [`type_domains`] of the last pass's templates, with what they were computed from: a
    /// NodePool's available types and requirements change seldom, and reading a requirement
    /// from each of hundreds of types' maps, every pass, cost ~2 % of a busy day.
    type_domains: Vec<KeptTypeDomains>,
    /// The last seed's keys, and a number that moves whenever a seed's keys differ from the
    /// last's: a node's values of the keys are kept with it, so that checking them costs a
    /// number compared, not the node's copy of the keys read (a cache miss per node per pass
    /// on a 5,000-node cluster).
    key_ids: Vec<KeyId>,
    keys_epoch: u64,
}

/// What a pass's seed keeps of one node for the next: built again when its labels change
/// (they only grow), its pods when they change (its pods version), its values of the seed's
/// keys when those change. Its name's hostname id is kept once interned: the cache's
/// topology only ever adds ids.
struct SeedNode {
    labels_len: usize,
    /// Every label interned.
    doms: SharedDoms,
    /// Its values of the seed's keys, and the [`SeedCache::keys_epoch`] of those keys.
    vals: Option<(u64, SharedDoms)>,
    host: Option<DomId>,
    /// Its active pods at a pods version.
    bound: Option<(u64, Arc<BoundPods>)>,
}

/// One template's [`type_domains`] for one key, and its inputs: the types (the list and the
/// `Arc` of the NodeClass's types, kept alive here so the pointer is not reused) and the
/// template's own requirement on the key.
struct KeptTypeDomains {
    key: &'static str,
    all_types: Arc<Vec<crate::instancetype::InstanceTypeInfo>>,
    types: Vec<u32>,
    narrowed: Option<asim_core::k8s::requirements::Requirement>,
    values: BTreeSet<String>,
}

impl SeedCache {
    /// `type_domains(t, key)`, from the last pass's when its inputs are unchanged.
    fn type_domains(&mut self, t: &Template, key: &'static str) -> &BTreeSet<String> {
        let narrowed = t.requirements.get(key);
        let i = match self.type_domains.iter().position(|k| {
            k.key == key
                && Arc::ptr_eq(&k.all_types, &t.all_types)
                && k.types == t.types
                && k.narrowed.as_ref() == narrowed
        }) {
            Some(i) => i,
            None => {
                // Entries of templates that are gone go after a while.
                if self.type_domains.len() > 64 {
                    self.type_domains.clear();
                }
                self.type_domains.push(KeptTypeDomains {
                    key,
                    all_types: Arc::clone(&t.all_types),
                    types: t.types.clone(),
                    narrowed: narrowed.cloned(),
                    values: type_domains(t, key),
                });
                self.type_domains.len() - 1
            }
        };
        &self.type_domains[i].values
    }
}

impl SeedCache {
    /// A node's entry, with its labels interned (kept while its labels are unchanged).
    fn node(&mut self, topology: &mut Topology, node: NodeId, labels: &Labels) -> &mut SeedNode {
        let fresh = self
            .nodes
            .get(&node)
            .is_none_or(|n| n.labels_len != labels.len());
        if fresh {
            let doms = topology.domain_ids(labels);
            self.nodes.insert(
                node,
                SeedNode {
                    labels_len: labels.len(),
                    doms: doms.into(),
                    vals: None,
                    host: None,
                    bound: None,
                },
            );
        }
        self.nodes.get_mut(&node).expect("just inserted")
    }

    /// A pod template's kind and the keys of its topology rules (spread, affinity and
    /// anti-affinity, required or preferred), interned.
    fn template(
        &mut self,
        topology: &mut Topology,
        template: &Arc<PodTemplate>,
    ) -> (KindId, &[KeyId]) {
        let key = Arc::as_ptr(template) as usize;
        let (_, k, keys) = self.kinds.entry(key).or_insert_with(|| {
            let k = topology.kind_id(&template.namespace, &template.labels);
            let t = &**template;
            let mut keys: Vec<KeyId> = t
                .spread
                .iter()
                .map(|c| &c.topology_key)
                .chain(
                    [
                        &t.affinity,
                        &t.anti_affinity,
                        &t.preferred_affinity,
                        &t.preferred_anti_affinity,
                    ]
                    .into_iter()
                    .flatten()
                    .map(|term| &term.topology_key),
                )
                .map(|name| topology.key_id(name))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            (Arc::clone(template), k, keys)
        });
        (*k, keys)
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
        // Interned values are never forgotten, and a long replay goes through tens of thousands
        // of nodes: once the hostnames of nodes long gone outnumber the live ones, start the
        // carried state afresh (ids never reach output). Otherwise every pass that interns a
        // new value copies them all when it freezes, as the last pass's seed still shares them.
        if cache.topology.hosts_interned() > 2 * existing.len() + 256 {
            *cache = SeedCache::default();
        }
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
                for v in cache.type_domains(t, key) {
                    add(&mut topology, key, v);
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
        let key_ids: Vec<KeyId> = keys.iter().map(|(_, id)| *id).collect();
        if cache.key_ids != key_ids {
            cache.key_ids.clone_from(&key_ids);
            cache.keys_epoch += 1;
        }
        let keys_epoch = cache.keys_epoch;
        let mut existing_doms = Vec::with_capacity(existing.len());
        let mut existing_hosts = Vec::with_capacity(existing.len());
        let mut existing_universe = Vec::with_capacity(existing.len());
        for e in existing {
            let vals_of = |doms: &SharedDoms| -> SharedDoms {
                doms.iter().copied().filter(|(k, _)| is_key(*k)).collect()
            };
            let Some(n) = e.node else {
                // Interning values ahead of a placement changes no answer: an id without
                // counts reads as an unknown value, and orderings follow the strings.
                let doms = SharedDoms::from(topology.domain_ids(e.labels()));
                existing_universe.push((None, vals_of(&doms)));
                existing_doms.push(Some(doms));
                existing_hosts.push(topology.host_id(e.name()));
                continue;
            };
            let entry = cache.node(&mut topology, n, e.labels());
            if entry.vals.as_ref().is_none_or(|(e, _)| *e != keys_epoch) {
                entry.vals = Some((keys_epoch, vals_of(&entry.doms)));
            }
            if entry.host.is_none() {
                entry.host = topology.host_id(e.name());
            }
            let vals = entry.vals.as_ref().map(|(_, v)| Arc::clone(v));
            existing_universe.push((Some(n), vals.unwrap_or_default()));
            existing_doms.push(Some(Arc::clone(&entry.doms)));
            existing_hosts.push(entry.host);
        }
        let mut bound = Vec::new();
        // Node ids index the cluster's slots: a bit per slot, not an ordered set.
        let mut in_existing: Vec<bool> = Vec::new();
        for n in existing.iter().filter_map(|e| e.node) {
            set_bit(&mut in_existing, n.0 as usize);
        }
        let in_existing = |n: NodeId| bit(&in_existing, n.0 as usize);
        if let Some(cluster) = cluster {
            for node in cluster.nodes().filter(|n| in_existing(n.id)) {
                // Every pod bound to a node is active (terminal pods leave it), and pods share
                // their template's namespace and labels: count per template.
                if node.pod_templates.is_empty() {
                    continue;
                }
                let entry = cache.node(&mut topology, node.id, &node.labels);
                if let Some((version, b)) = &entry.bound
                    && *version == node.pods_version
                {
                    bound.push(Arc::clone(b));
                    continue;
                }
                let mut b = BoundPods {
                    node: node.id,
                    doms: Arc::clone(&entry.doms),
                    counts: Vec::new(),
                    anti: Vec::new(),
                    rule_keys: Vec::new(),
                };
                for (template, n) in &node.pod_templates {
                    let (kind, keys) = cache.template(&mut topology, template);
                    b.rule_keys.extend_from_slice(keys);
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
                b.rule_keys.sort_unstable();
                b.rule_keys.dedup();
                let b = Arc::new(b);
                let entry = cache.nodes.get_mut(&node.id).expect("interned above");
                entry.bound = Some((node.pods_version, Arc::clone(&b)));
                bound.push(b);
            }
        }
        // The keys some simulation of the pass may count domains of: those of the rules of
        // every pod it may schedule — pending, or bound to any node (candidates', deleting
        // nodes'). Only their universe is ever read; the others' is not built.
        let mut rule_keys = Vec::new();
        if let Some(cluster) = cluster {
            let mut mark = |keys: &[KeyId]| {
                for &k in keys {
                    set_bit(&mut rule_keys, k);
                }
            };
            for b in &bound {
                mark(&b.rule_keys);
            }
            // Nodes outside the list (deleting, or waiting out their consolidateAfter) are
            // not in `bound`.
            // The ids first: reading a node that is in the list cost a cache miss for nothing.
            let outside = cluster.node_ids().iter().filter(|&&n| !in_existing(n));
            for node in outside.filter_map(|&n| cluster.node(n)) {
                for (template, _) in &node.pod_templates {
                    mark(cache.template(&mut topology, template).1);
                }
            }
            for p in cluster.pending_pods() {
                mark(cache.template(&mut topology, &cluster.pod(p).template).1);
            }
        }
        topology.freeze();
        cache.topology = topology.clone();
        TopologySeed {
            rule_keys,
            existing_hosts,
            topology,
            keys,
            template_universe,
            existing_universe,
            bound,
            existing_doms,
            whole: Default::default(),
        }
    }

    /// Each existing node's labels, interned (what [`Topology::domain_ids`] gives for them in
    /// a topology cloned from this seed's), in the order of the list the seed was built from.
    pub fn existing_doms(&self) -> &[Option<SharedDoms>] {
        &self.existing_doms
    }

    /// Each existing node's hostname id in this seed's topology (and so in every copy of it),
    /// when its name is interned, in the order of the list the seed was built from.
    pub fn existing_hosts(&self) -> &[Option<DomId>] {
        &self.existing_hosts
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
        let host = whole.topology.host_key();
        let mut skip = Vec::new();
        let mut lost = whole.lost.borrow_mut();
        let mut touched: Doms = Vec::new();
        for n in excluded {
            let Some(&(existing, bound)) = whole.nodes.get(n) else {
                continue;
            };
            if let Some((_, start, end)) = bound {
                skip.push((start, end));
            }
            self.gives(existing, bound.map(|b| b.0), host, |k, d| {
                let c = &mut lost[k][d as usize];
                if *c == 0 {
                    touched.push((k, d));
                }
                *c += 1;
            });
        }
        skip.sort_unstable();
        let mut t = whole.topology.without_placed(&skip);
        // A domain leaves the universe when every node that gives it is excluded.
        for (k, d) in touched {
            let c = std::mem::take(&mut lost[k][d as usize]);
            if c == whole.givers[k][d as usize] {
                t.remove_universe_id(k, d);
            }
        }
        t
    }

    /// The universe domains one existing node gives, each once: its `existing_universe`
    /// entry's, and with pods recorded (`bound`), every label of a rule's key but the
    /// hostname. [`TopologySeed::whole`] counts the same in its own two loops.
    fn gives(
        &self,
        existing: Option<usize>,
        bound: Option<usize>,
        host: KeyId,
        mut f: impl FnMut(KeyId, DomId),
    ) {
        let recorded = bound.map(|b| &self.bound[b]).filter(|b| b.is_recorded());
        if let Some(b) = recorded {
            for &(k, d) in b.doms.iter().filter(|(k, _)| self.is_given(host, *k)) {
                f(k, d);
            }
        }
        if let Some(i) = existing {
            for &(k, d) in self.existing_universe[i].1.iter() {
                if !recorded.is_some_and(|b| self.gives_twice(host, b, (k, d))) {
                    f(k, d);
                }
            }
        }
    }

    fn is_rule_key(&self, k: KeyId) -> bool {
        bit(&self.rule_keys, k)
    }

    /// Whether a recorded node's label of key `k` gives its domain to the universe.
    fn is_given(&self, host: KeyId, k: KeyId) -> bool {
        k != host && self.is_rule_key(k)
    }

    /// Whether a node's value `dom` of a seed key was given already through its recorded
    /// pods `b` (and is not to be counted again).
    fn gives_twice(&self, host: KeyId, b: &BoundPods, dom: (KeyId, DomId)) -> bool {
        self.is_given(host, dom.0) && b.doms.contains(&dom)
    }

    /// [`TopologySeed::topology`] with no node excluded, and per node what it adds.
    fn whole(&self, record_pods: bool) -> &Whole {
        self.whole[usize::from(record_pods)].get_or_init(|| {
            let mut t = self.topology.clone();
            let host = t.host_key();
            let mut givers: Vec<Vec<u32>> = Vec::new();
            let mut bump = |k: KeyId, d: DomId, by: u32| {
                if givers.len() <= k {
                    givers.resize(k + 1, Vec::new());
                }
                let g = &mut givers[k];
                if g.len() <= d as usize {
                    g.resize(d as usize + 1, 0);
                }
                g[d as usize] = g[d as usize].saturating_add(by);
            };
            for &(k, d) in &self.template_universe {
                t.add_universe_id(k, d);
                bump(k, d, u32::MAX);
            }
            let mut nodes: FastMap<NodeId, WholeNode> = FastMap::default();
            nodes.reserve(self.existing_universe.len());
            // The bound pods first, each node's givers counted while its labels are at hand
            // (what `gives` counts for it, read again per node, cost a cache miss each).
            if record_pods {
                t.reserve_placed(
                    self.bound
                        .iter()
                        .map(|b| b.counts.len() + b.anti.len())
                        .sum(),
                    self.bound.iter().map(|b| b.doms.len()).sum(),
                );
                for (bi, b) in self.bound.iter().enumerate() {
                    let start = t.placed_len();
                    for (kind, template, n) in &b.anti {
                        t.record_anti(*kind, &b.doms, &template.anti_affinity, *n);
                    }
                    t.record_counts_in(&b.doms, &b.counts, &self.rule_keys);
                    nodes.entry(b.node).or_default().1 = Some((bi, start, t.placed_len()));
                    if b.is_recorded() {
                        for &(k, d) in b.doms.iter().filter(|(k, _)| self.is_given(host, *k)) {
                            bump(k, d, 1);
                        }
                    }
                }
            }
            // Then the existing nodes' values of the seed's keys: a value its recorded pods'
            // node gave above is not counted twice.
            for (i, (node, vals)) in self.existing_universe.iter().enumerate() {
                for &(k, d) in vals.iter() {
                    t.add_universe_id(k, d);
                }
                let Some(n) = node else {
                    // A launched NodeClaim's domains are never excluded.
                    vals.iter().for_each(|&(k, d)| bump(k, d, u32::MAX));
                    continue;
                };
                let entry = nodes.entry(*n).or_default();
                entry.0 = Some(i);
                let recorded = entry
                    .1
                    .map(|(bi, ..)| &self.bound[bi])
                    .filter(|b| b.is_recorded());
                for &(k, d) in vals.iter() {
                    if !recorded.is_some_and(|b| self.gives_twice(host, b, (k, d))) {
                        bump(k, d, 1);
                    }
                }
            }
            // Each simulation's copy reads the recorded pods instead of copying them.
            t.share_placed();
            let lost = givers.iter().map(|g| vec![0; g.len()]).collect();
            Whole {
                topology: t,
                nodes,
                givers,
                lost: RefCell::new(lost),
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
            for &(k, d) in vals.iter() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use asim_cluster::pod::{OwnerKind, TopologySpread, WhenUnsatisfiable};
    use asim_cluster::scheduler::SchedulerSettings;
    use asim_cluster::{Node, NodeOwner};
    use asim_core::engine::SimTime;
    use asim_core::k8s::requirements::Requirements;
    use asim_core::k8s::resources::Resources;
    use asim_core::k8s::selector::LabelSelector;

    /// A NodePool's template without instance types: the seed still takes the zone and the
    /// capacity type, and the keys of its `In` requirements, as its keys.
    fn template(nodepool: &str, requirements: Requirements) -> Template {
        Template {
            nodepool: nodepool.into(),
            requirements,
            labels: Labels::default(),
            taints: Vec::new(),
            startup_taints: Vec::new(),
            all_types: Arc::new(Vec::new()),
            types: Vec::new(),
            daemon_overhead: Vec::new(),
            remaining: None,
            remaining_nodes: None,
            no_types_reason: None,
        }
    }

    /// A Ready node with these labels joins `cluster`; it is returned as existing capacity.
    fn add_node(cluster: &mut asim_cluster::Cluster, name: &str, labels: Labels) -> ExistingNode {
        let id = cluster.add_node(Node::new(
            name.into(),
            labels.clone(),
            Vec::new(),
            Resources::default(),
            Resources::default(),
            NodeOwner::Unmanaged,
            None,
            SimTime(0),
            true,
        ));
        ExistingNode {
            identity: crate::provisioning::scheduling::NodeIdentity::new(name, labels),
            node: Some(id),
            nodeclaim: None,
            taints: Vec::new(),
            startup_taints: Vec::new(),
            initialized: true,
            available: Resources::default(),
            host_ports: Vec::new(),
        }
    }

    /// A simulation's topology taken from the pass's whole one (copied, its excluded nodes'
    /// pods skipped and the domains only they gave taken out) counts the pods a topology built
    /// afresh without those nodes counts, and knows the same domains of every key a pod's
    /// rule names (docs/model/karpenter.md §1.7, §4.6). Keys no rule names (here a label with
    /// one value per node) get no universe in the whole one: nothing reads it.
    #[test]
    fn a_simulations_topology_from_the_whole_one_is_the_one_built_afresh() {
        let zone = "topology.kubernetes.io/zone";
        let mut cluster = asim_cluster::Cluster::new(SchedulerSettings::default());
        let web = {
            let mut t = PodTemplate::default();
            t.labels.insert("app".into(), "web".into());
            t.spread.push(TopologySpread {
                max_skew: 1,
                topology_key: zone.into(),
                when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                selector: LabelSelector {
                    match_labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                },
                min_domains: None,
            });
            Arc::new(t)
        };
        let api = {
            let mut t = PodTemplate::default();
            t.labels.insert("app".into(), "api".into());
            Arc::new(t)
        };
        // Six nodes over zones a, b, c and d (d on node 5 alone); node 4 runs no pod.
        let zones = ["a", "b", "c", "a", "b", "d"];
        let mut existing = Vec::new();
        for (i, z) in zones.iter().enumerate() {
            let name = format!("node-{i}");
            let labels: Labels = [
                (zone.to_string(), z.to_string()),
                (asim_cluster::pod::HOSTNAME_KEY.to_string(), name.clone()),
                ("karpenter.sh/nodeclaim".to_string(), format!("claim-{i}")),
            ]
            .into();
            let node = add_node(&mut cluster, &name, labels);
            let id = node.node.expect("a Node");
            for (j, template) in [&web, &web, &api].into_iter().enumerate() {
                if i == 4 || (i == 2 && j == 2) {
                    continue;
                }
                let p = cluster.create_pod(
                    SimTime(0),
                    format!("p-{i}-{j}"),
                    Arc::clone(template),
                    OwnerKind::None,
                    0,
                    false,
                );
                cluster.bind(p, id, SimTime(0));
            }
            existing.push(node);
        }
        let ids: Vec<NodeId> = existing.iter().filter_map(|e| e.node).collect();
        // Without a NodePool, and with one that makes the zone a key of the seed: then each
        // node gives its zone both as a value of that key and through its recorded pods, and
        // is counted once among the zone's givers.
        for templates in [vec![], vec![template("default", Requirements::default())]] {
            let mut cache = SeedCache::default();
            let seed = TopologySeed::new(&templates, &existing, Some(&cluster), &mut cache);
            for excluded in [
                vec![],
                vec![5],
                vec![0, 3],
                vec![2, 4],
                vec![0, 1, 2, 3, 4, 5],
            ] {
                let excluded: BTreeSet<NodeId> = excluded.iter().map(|&i| ids[i]).collect();
                let got = seed.topology(&excluded, true);
                let want = seed.topology_afresh(&excluded, true);
                assert_eq!(got.placed_by_name(), want.placed_by_name(), "{excluded:?}");
                assert_eq!(
                    got.universe_names(zone),
                    want.universe_names(zone),
                    "{excluded:?}"
                );
                assert!(got.universe_names("karpenter.sh/nodeclaim").is_empty());
            }
            // Without node 5, zone d is no domain; with it, it is.
            let without_d: BTreeSet<NodeId> = [ids[5]].into();
            assert_eq!(
                seed.topology(&without_d, true).universe_names(zone),
                ["a", "b", "c"]
            );
            assert_eq!(
                seed.topology(&BTreeSet::new(), true).universe_names(zone),
                ["a", "b", "c", "d"]
            );
        }
    }

    /// A node's values of the seed's keys are carried with the node from one pass's seed to
    /// the next; when a NodePool brings a key the last seed did not have, they are read again:
    /// the seed is the one built without the carried state (docs/performance.md, step 74).
    #[test]
    fn carried_node_values_follow_the_seeds_keys() {
        let zone = "topology.kubernetes.io/zone";
        let mut cluster = asim_cluster::Cluster::new(SchedulerSettings::default());
        let labels: Labels = [
            (zone.to_string(), "a".to_string()),
            ("example.com/team".to_string(), "y".to_string()),
        ]
        .into();
        let existing = vec![add_node(&mut cluster, "node-0", labels)];
        let mut requirements = Requirements::default();
        requirements.add_requirement(asim_core::k8s::requirements::Requirement::in_values(
            "example.com/team",
            ["x"],
        ));
        let template = template("team-x", requirements);
        let templates = std::slice::from_ref(&template);
        let mut cache = SeedCache::default();
        let _ = TopologySeed::new(&[], &existing, Some(&cluster), &mut cache);
        let carried = TopologySeed::new(templates, &existing, Some(&cluster), &mut cache);
        let fresh = TopologySeed::new(
            templates,
            &existing,
            Some(&cluster),
            &mut SeedCache::default(),
        );
        let none = BTreeSet::new();
        let team = "example.com/team";
        assert_eq!(
            fresh.topology(&none, false).universe_names(team),
            ["x", "y"]
        );
        for key in [team, zone] {
            assert_eq!(
                carried.topology(&none, false).universe_names(key),
                fresh.topology(&none, false).universe_names(key),
                "{key}"
            );
        }
    }
}
