//! The simulations' existing capacity (docs/model/karpenter.md §1.3 step 1): the live nodes
//! not going away and the launched NodeClaims whose Node has not registered, in the
//! scheduler's order — what every solve of a pass places pods on before it plans NodeClaims.
//!
//! A busy cluster's passes come seconds apart and between two of them a few nodes change out
//! of hundreds. A base gives its list back when it is dropped ([`KeptExisting`]), and the next
//! build keeps every entry whose node the cluster has not stamped since
//! ([`Cluster::node_changed_since`]), nor the claim store its NodeClaim, and rebuilds only the
//! others: reading every node for its entry cost a cache miss or more per node per build,
//! 5–8 % of a busy day (docs/performance.md, steps 79–80).

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use asim_cluster::{Cluster, NodeId, OwnerKind};
use asim_core::hash::FastMap;
use asim_core::k8s::requirements::Requirements;
use asim_core::k8s::resources::Resources;

use super::scheduling::{ExistingNode, NodeIdentity};
use super::{bit, name_prefix, set_bit};
use crate::Karpenter;
use crate::instancetype::{CAPACITY_TYPE, InstanceTypeInfo};
use crate::nodeclaim::store::ClaimId;
use crate::nodeclaim::{ClaimState, NodeClaim};

/// An entry of the simulations' existing capacity: a Node, or a launched NodeClaim (by
/// index) whose Node has not registered.
#[derive(Clone, Copy)]
pub(crate) enum ExistingSource {
    Node(asim_cluster::NodeId),
    Claim(usize),
}

/// Per launched NodeClaim (by index) whose Node has not registered: the NodeClass's type list
/// and the instance type its entry was built from, and its name, labels and requirements.
pub(crate) type LaunchedCache =
    std::collections::BTreeMap<usize, (Arc<Vec<InstanceTypeInfo>>, u32, Arc<NodeIdentity>)>;

/// What a Node's entry in the simulations' existing capacity keeps from one pass to the next:
/// rebuilt when its labels change (they only grow), its DaemonSet overhead when its pods,
/// taints or the DaemonSets change.
pub(crate) struct KeptNode {
    labels_len: usize,
    identity: Arc<NodeIdentity>,
    /// ((pods version, DaemonSet count), taints, overhead not yet running on the node).
    #[allow(clippy::type_complexity)]
    ds_unplaced: Option<((u64, usize), Vec<asim_core::k8s::taints::Taint>, Resources)>,
}

/// What one build of the existing capacity was made from: enough for the next build to tell
/// which of its entries still hold.
pub(crate) struct ExistingBuild {
    /// Builds are numbered: a dropped base gives its list back only if no later build's is
    /// waiting already.
    serial: u64,
    /// [`Cluster::node_clock`] when it was built: a node stamped later has changed.
    node_clock: u64,
    /// [`ClaimStore::version`](crate::nodeclaim::store::ClaimStore::version) when it was
    /// built: an entry reads its node's NodeClaim (initialized, startup taints, marked for
    /// deletion), so a node whose NodeClaim changed since is built again.
    claims_version: u64,
    /// The DaemonSets' count (they are only ever added): their overhead is in every entry.
    daemonsets: usize,
    left_out: Arc<BTreeSet<NodeId>>,
    /// Per entry, its name's first 16 bytes (the order's key).
    prefixes: Vec<u128>,
}

/// A dropped base's existing capacity, with what it was built from.
pub(crate) struct KeptExisting {
    build: ExistingBuild,
    list: Vec<ExistingNode>,
}

/// Where a dropped base leaves its list for the next build.
pub(crate) type ExistingSlot = Rc<RefCell<Option<KeptExisting>>>;

/// Held by a base: gives its list back to the slot when the base is dropped.
pub(crate) struct ExistingReturn {
    slot: ExistingSlot,
    build: ExistingBuild,
}

impl ExistingReturn {
    /// Leave `list` in the slot unless a later build's list is there already.
    pub(crate) fn give_back(self, list: Vec<ExistingNode>) {
        let mut slot = self.slot.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|k| k.build.serial < self.build.serial)
        {
            *slot = Some(KeptExisting {
                build: self.build,
                list,
            });
        }
    }
}

/// The scheduler's order of existing capacity: initialized first, then by name (the prefix
/// decides unless two prefixes are equal), then — for equal names, never two nodes; a node and
/// a launched NodeClaim, or two such claims, only by accident — nodes first by id, then
/// NodeClaims in creation order. (`existing_afresh` sorts on the same keys before it builds
/// the entries; the self-checks compare the two.)
fn entry_order(a: (&ExistingNode, u128), b: (&ExistingNode, u128)) -> Ordering {
    let rank = |e: &ExistingNode| match e.node {
        Some(n) => (0, n.0 as usize),
        None => (1, e.nodeclaim.unwrap_or(0)),
    };
    (!a.0.initialized, a.1)
        .cmp(&(!b.0.initialized, b.1))
        .then_with(|| a.0.name().cmp(b.0.name()))
        .then_with(|| rank(a.0).cmp(&rank(b.0)))
}

/// Up to this many fresh entries are inserted one by one into the held list; more are merged.
const FEW_FRESH: usize = 16;

fn launched(c: &NodeClaim) -> bool {
    c.state == ClaimState::Launched && c.launched.is_some()
}

impl Karpenter {
    /// Existing capacity for the simulation: live nodes not being deleted, and launched
    /// NodeClaims whose node has not registered yet (§1.3 step 1), but the nodes `left_out`
    /// (also given as a bit per node slot) — in the scheduler's own order: initialized first,
    /// then by name. With what it was built from, for the base to give back
    /// ([`ExistingReturn`]).
    pub(crate) fn existing_nodes(
        &self,
        cluster: &Cluster,
        left_out: &Arc<BTreeSet<NodeId>>,
        left_out_bits: &[bool],
    ) -> (Vec<ExistingNode>, ExistingReturn) {
        let serial = self.existing_serial.get() + 1;
        self.existing_serial.set(serial);
        let node_clock = cluster.node_clock();
        let kept = self
            .existing_slot
            .borrow_mut()
            .take()
            .filter(|k| k.build.daemonsets == cluster.daemonsets.len());
        let (list, prefixes) = match kept {
            Some(k) => {
                let updated = self.existing_updated(cluster, left_out, left_out_bits, k);
                if self.checking() {
                    let afresh = self.existing_afresh(cluster, left_out_bits);
                    assert_eq!(
                        format!("{afresh:?}"),
                        format!("{updated:?}"),
                        "the kept existing capacity brought up to date is the capacity afresh"
                    );
                }
                updated
            }
            None => self.existing_afresh(cluster, left_out_bits),
        };
        let back = ExistingReturn {
            slot: Rc::clone(&self.existing_slot),
            build: ExistingBuild {
                serial,
                node_clock,
                claims_version: self.claims.version(),
                daemonsets: cluster.daemonsets.len(),
                left_out: Arc::clone(left_out),
                prefixes,
            },
        };
        (list, back)
    }

    /// `kept` brought up to date: its entries whose node and NodeClaim have not changed since
    /// and that are left out as they were are kept in place; the other nodes, and the launched
    /// NodeClaims, are built afresh and merged in by the order.
    fn existing_updated(
        &self,
        cluster: &Cluster,
        left_out: &BTreeSet<NodeId>,
        left_out_bits: &[bool],
        kept: KeptExisting,
    ) -> (Vec<ExistingNode>, Vec<u128>) {
        let KeptExisting {
            build,
            list: mut held,
        } = kept;
        let mut held_prefixes = build.prefixes;
        let clock = build.node_clock;
        // The nodes whose left-out bit moved, then the ones that changed.
        let mut fresh_nodes: Vec<bool> = Vec::new();
        let moved: Vec<NodeId> = build
            .left_out
            .symmetric_difference(left_out)
            .copied()
            .collect();
        for n in &moved {
            set_bit(&mut fresh_nodes, n.0 as usize);
        }
        // The entries that hold stay where they are (the entries are large: moving each one
        // per build cost more than building the few that changed).
        let holds: Vec<bool> = held
            .iter()
            .map(|e| {
                e.node.is_some_and(|n| {
                    !bit(&fresh_nodes, n.0 as usize)
                        && !cluster.node_changed_since(n, clock)
                        && !self
                            .claims
                            .node_claim_changed_since(n, build.claims_version)
                })
            })
            .collect();
        let mut i = 0;
        held.retain(|_| {
            i += 1;
            holds[i - 1]
        });
        let mut i = 0;
        held_prefixes.retain(|_| {
            i += 1;
            holds[i - 1]
        });
        let mut fresh: Vec<(ExistingNode, u128)> = Vec::new();
        let mut cache = self.node_cache.borrow_mut();
        let mut add = |node: &asim_cluster::Node| {
            if let Some((_, claim)) = self.existing_entry(node, left_out_bits) {
                let e = Self::existing_node(cluster, &mut cache, node, claim);
                fresh.push((e, name_prefix(&node.name)));
            }
        };
        for &n in cluster.node_ids() {
            if (bit(&fresh_nodes, n.0 as usize)
                || cluster.node_changed_since(n, clock)
                || self
                    .claims
                    .node_claim_changed_since(n, build.claims_version))
                && let Some(node) = cluster.node(n)
            {
                add(node);
            }
        }
        Self::prune_node_cache(cluster, &mut cache);
        drop(cache);
        // The launched NodeClaims are few and short-lived: always built again (from their
        // cache), as a NodeClass change may have replaced their types.
        let mut launched_cache = self.launched_cache.borrow_mut();
        let mut earlier = std::mem::take(&mut *launched_cache);
        for (ClaimId(i), c) in self.claims.live() {
            if launched(c) {
                let e = self.launched_node(cluster, &mut earlier, &mut launched_cache, i, c);
                fresh.push((e, name_prefix(&c.name)));
            }
        }
        drop(launched_cache);
        fresh.sort_by(|a, b| entry_order((&a.0, a.1), (&b.0, b.1)));
        // Each fresh entry goes where the order puts it among the held ones: by insertion when
        // they are few (a bulk move of the tail each), else by one merge.
        let before =
            |held: &[ExistingNode], prefixes: &[u128], from: usize, f: &(ExistingNode, u128)| {
                let (mut lo, mut hi) = (from, held.len());
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if entry_order((&held[mid], prefixes[mid]), (&f.0, f.1)) == Ordering::Less {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            };
        if fresh.len() <= FEW_FRESH {
            let mut from = 0;
            for f in fresh {
                let at = before(&held, &held_prefixes, from, &f);
                held.insert(at, f.0);
                held_prefixes.insert(at, f.1);
                from = at + 1;
            }
            return (held, held_prefixes);
        }
        let mut out = Vec::with_capacity(held.len() + fresh.len());
        let mut prefixes = Vec::with_capacity(held.len() + fresh.len());
        let mut taken = 0;
        let mut held_left = held.into_iter();
        for f in fresh {
            let at = before(held_left.as_slice(), &held_prefixes[taken..], 0, &f);
            out.extend(held_left.by_ref().take(at));
            prefixes.extend_from_slice(&held_prefixes[taken..taken + at]);
            taken += at;
            out.push(f.0);
            prefixes.push(f.1);
        }
        out.extend(held_left);
        prefixes.extend_from_slice(&held_prefixes[taken..]);
        (out, prefixes)
    }

    /// Nodes that are gone leave the cache (a long replay goes through tens of thousands of
    /// nodes, each with its labels' requirements).
    fn prune_node_cache(cluster: &Cluster, cache: &mut FastMap<NodeId, KeptNode>) {
        if cache.len() > cluster.node_count() {
            cache.retain(|id, _| cluster.node(*id).is_some());
        }
    }

    /// [`Karpenter::existing_nodes`] with every entry built, and each entry's name prefix.
    ///
    /// The order is settled on small keys before any node is built, and each node is then
    /// built once, in its place: the nodes are large, and sorting or moving them cost ~3 %
    /// of a busy day's disruption passes. The nodes are read in the last call's order, so
    /// that the sort meets a list already nearly in order.
    fn existing_afresh<'a>(
        &'a self,
        cluster: &'a Cluster,
        left_out: &[bool],
    ) -> (Vec<ExistingNode>, Vec<u128>) {
        // What each entry is built from: a Node (with its NodeClaim, if any), or a launched
        // NodeClaim whose Node has not registered.
        enum Source<'a> {
            Node(&'a asim_cluster::Node, Option<&'a NodeClaim>),
            Claim(usize, &'a NodeClaim),
        }
        let mut sources: Vec<Source<'_>> = Vec::with_capacity(cluster.node_count());
        // (not initialized, the name's first 16 bytes, position in `sources`): names compare
        // in full only when those bytes are equal (they hold no NUL byte to confuse with the
        // padding).
        let mut keys: Vec<(bool, u128, u32)> = Vec::with_capacity(cluster.node_count());
        // A name's prefix is carried in the order from call to call (names never change, and
        // neither node ids nor NodeClaim indices are reused): reading each name again cost a
        // cache miss per node per build.
        let add_node = |node: &'a asim_cluster::Node,
                        prefix: Option<u128>,
                        sources: &mut Vec<_>,
                        keys: &mut Vec<_>| {
            if let Some((initialized, claim)) = self.existing_entry(node, left_out) {
                let prefix = prefix.unwrap_or_else(|| name_prefix(&node.name));
                keys.push((!initialized, prefix, sources.len() as u32));
                sources.push(Source::Node(node, claim));
            }
        };
        let add_claim =
            |i, c: &'a NodeClaim, prefix: Option<u128>, sources: &mut Vec<_>, keys: &mut Vec<_>| {
                let prefix = prefix.unwrap_or_else(|| name_prefix(&c.name));
                keys.push((true, prefix, sources.len() as u32));
                sources.push(Source::Claim(i, c));
            };
        // The last call's order first, then what is new; a bit per node slot and per NodeClaim
        // index says what the last order listed.
        let last = std::mem::take(&mut *self.existing_order.borrow_mut());
        let mut listed_nodes: Vec<bool> = Vec::new();
        let mut listed_claims: Vec<bool> = Vec::new();
        for (entry, prefix) in last {
            match entry {
                ExistingSource::Node(n) => {
                    if let Some(node) = cluster.node(n) {
                        set_bit(&mut listed_nodes, n.0 as usize);
                        add_node(node, Some(prefix), &mut sources, &mut keys);
                    }
                }
                ExistingSource::Claim(i) => {
                    if let Some(c) = self.claims.get(ClaimId(i))
                        && launched(c)
                    {
                        set_bit(&mut listed_claims, i);
                        add_claim(i, c, Some(prefix), &mut sources, &mut keys);
                    }
                }
            }
        }
        for node in cluster.nodes() {
            if !bit(&listed_nodes, node.id.0 as usize) {
                add_node(node, None, &mut sources, &mut keys);
            }
        }
        for (ClaimId(i), c) in self.claims.live() {
            if launched(c) && !bit(&listed_claims, i) {
                add_claim(i, c, None, &mut sources, &mut keys);
            }
        }
        let name = |i: u32| match sources[i as usize] {
            Source::Node(n, _) => n.name.as_str(),
            Source::Claim(_, c) => c.name.as_str(),
        };
        // Equal names (never two nodes; a node and a launched NodeClaim, or two such claims,
        // only by accident): nodes first by id, then NodeClaims in creation order.
        let rank = |i: u32| match sources[i as usize] {
            Source::Node(n, _) => (0, n.id.0 as usize),
            Source::Claim(ci, _) => (1, ci),
        };
        // A merge sort: it takes the runs already in order in near-linear time.
        keys.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| name(a.2).cmp(name(b.2)))
                .then_with(|| rank(a.2).cmp(&rank(b.2)))
        });

        let mut out = Vec::with_capacity(keys.len());
        let mut cache = self.node_cache.borrow_mut();
        let mut launched = self.launched_cache.borrow_mut();
        let mut earlier = std::mem::take(&mut *launched);
        for &(_, _, i) in &keys {
            out.push(match sources[i as usize] {
                Source::Node(node, claim) => Self::existing_node(cluster, &mut cache, node, claim),
                Source::Claim(i, c) => {
                    self.launched_node(cluster, &mut earlier, &mut launched, i, c)
                }
            });
        }
        drop(launched);
        Self::prune_node_cache(cluster, &mut cache);
        // The next build afresh reads in this order. Builds brought up to date leave it as it
        // is: it only speeds the sort, and prefixes never change.
        *self.existing_order.borrow_mut() = keys
            .iter()
            .map(|k| match sources[k.2 as usize] {
                Source::Node(n, _) => (ExistingSource::Node(n.id), k.1),
                Source::Claim(i, _) => (ExistingSource::Claim(i), k.1),
            })
            .collect();
        (out, keys.iter().map(|k| k.1).collect())
    }

    /// Whether a live Node is existing capacity (not `left_out`, not going away), and if so
    /// whether it is initialized and its NodeClaim.
    fn existing_entry<'a>(
        &'a self,
        node: &asim_cluster::Node,
        left_out: &[bool],
    ) -> Option<(bool, Option<&'a NodeClaim>)> {
        if bit(left_out, node.id.0 as usize) || self.is_leaving(node) {
            return None;
        }
        let claim = self.claim_of_node(node.id);
        Some((claim.map_or(node.ready, |c| c.initialized()), claim))
    }

    /// A live Node as existing capacity, from what `cache` keeps of it.
    fn existing_node(
        cluster: &Cluster,
        cache: &mut FastMap<asim_cluster::NodeId, KeptNode>,
        node: &asim_cluster::Node,
        claim: Option<&NodeClaim>,
    ) -> ExistingNode {
        let (initialized, startup) = match claim {
            Some(c) => (c.initialized(), c.startup_taints.clone()),
            None => (node.ready, Vec::new()),
        };
        // Labels only grow (registered, initialized): the label count keys the entry.
        let kept = match cache.get_mut(&node.id) {
            Some(k) if k.labels_len == node.labels.len() => k,
            _ => {
                let fresh = KeptNode {
                    labels_len: node.labels.len(),
                    identity: NodeIdentity::new(&node.name, node.labels.clone()),
                    ds_unplaced: None,
                };
                cache.insert(node.id, fresh);
                cache.get_mut(&node.id).expect("just inserted")
            }
        };
        // The overhead is a function of the node's pods, taints and labels and of the
        // DaemonSets, which are only ever added.
        let ds_key = (node.pods_version, cluster.daemonsets.len());
        let ds = match &kept.ds_unplaced {
            Some((k, taints, r)) if *k == ds_key && *taints == node.taints => r,
            _ => {
                let r = Self::ds_unplaced(cluster, node);
                &kept.ds_unplaced.insert((ds_key, node.taints.clone(), r)).2
            }
        };
        let mut available = node.allocatable.clone();
        available.sub(&node.requested);
        available.sub(ds);
        ExistingNode {
            identity: Arc::clone(&kept.identity),
            node: Some(node.id),
            nodeclaim: claim.map(|_| 0),
            taints: node.taints.clone(),
            startup_taints: startup,
            initialized,
            available,
            host_ports: node.host_ports.clone(),
        }
    }

    /// DaemonSet overhead not yet running on the node.
    fn ds_unplaced(cluster: &Cluster, node: &asim_cluster::Node) -> Resources {
        let mut r = Resources::default();
        for (di, ds) in cluster.daemonsets.iter().enumerate() {
            let placed = node.pods.iter().any(|p| {
                let p = cluster.pod(*p);
                p.owner == OwnerKind::DaemonSet && p.owner_index == di as u32
            });
            let t = &ds.template;
            let tolerated = node.taints.iter().all(|x| {
                x.effect == asim_core::k8s::taints::TaintEffect::PreferNoSchedule
                    || crate::apis::is_ephemeral_taint(x)
                    || t.tolerations.iter().any(|tol| tol.tolerates(x))
            });
            if !placed && tolerated && Cluster::node_matches_affinity(t, node) {
                r.add(&t.requests);
            }
        }
        r
    }

    /// A launched NodeClaim whose Node has not registered, as existing capacity: its labels
    /// and requirements taken from the last pass's (`earlier`) while its instance type is
    /// the same, and kept in `cache` for the next.
    fn launched_node(
        &self,
        cluster: &Cluster,
        earlier: &mut LaunchedCache,
        cache: &mut LaunchedCache,
        i: usize,
        c: &NodeClaim,
    ) -> ExistingNode {
        let l = c.launched.as_ref().expect("a launched NodeClaim");
        let types = &self.classes[c.nodeclass].types;
        let it = &types[l.instance_type as usize];
        let kept = earlier
            .remove(&i)
            .filter(|(t, ty, _)| Arc::ptr_eq(t, types) && *ty == l.instance_type)
            .map(|(_, _, identity)| identity);
        let identity = kept.unwrap_or_else(|| {
            let mut labels = c.labels.clone();
            labels.extend(it.requirements.labels());
            labels.insert(crate::instancetype::ZONE.into(), l.zone.clone());
            labels.insert(
                crate::instancetype::ZONE_ID.into(),
                asim_core::cloud::zones::zone_id(&l.zone),
            );
            labels.insert(CAPACITY_TYPE.into(), l.capacity_type.as_str().into());
            labels.insert(asim_cluster::pod::HOSTNAME_KEY.into(), c.name.clone());
            NodeIdentity::new(&c.name, labels)
        });
        cache.insert(
            i,
            (Arc::clone(types), l.instance_type, Arc::clone(&identity)),
        );
        let r = &identity.requirements;
        let mut available = it.allocatable.clone();
        // DaemonSet pods will land on it too.
        for ds in &cluster.daemonsets {
            let t = &ds.template;
            let tolerated = c.taints.iter().all(|x| {
                x.effect == asim_core::k8s::taints::TaintEffect::PreferNoSchedule
                    || t.tolerations.iter().any(|tol| tol.tolerates(x))
            });
            let mut dr = Requirements::from_labels(&t.node_selector);
            if let Some(first) = t.required_terms.first() {
                dr.add(first);
            }
            if tolerated && r.compatible(&dr).is_ok() {
                available.sub(&t.requests);
            }
        }
        ExistingNode {
            identity,
            node: None,
            nodeclaim: Some(i),
            taints: c.taints.clone(),
            startup_taints: c.startup_taints.clone(),
            initialized: false,
            available,
            host_ports: Vec::new(),
        }
    }
}
