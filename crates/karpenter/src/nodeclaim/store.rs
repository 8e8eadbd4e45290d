//! The claim store: every NodeClaim Karpenter created, by `ClaimId`, and the indexes from an
//! instance and from a node to its NodeClaim (karpenter: pkg/controllers/state, the cluster
//! state's NodeClaim and node maps). A NodeClaim keeps its index for the whole run, deleted
//! ones included, so timers and commands can name it.

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use asim_cluster::NodeId;
use asim_core::cloud::InstanceId;

use super::NodeClaim;
pub use crate::ids::ClaimId;

#[derive(Default)]
pub struct ClaimStore {
    claims: Vec<NodeClaim>,
    /// The NodeClaims not yet deleted, ascending: a long replay makes tens of thousands, and
    /// the controllers' per-pass loops need only these.
    live: Vec<ClaimId>,
    by_instance: BTreeMap<InstanceId, ClaimId>,
    by_node: BTreeMap<NodeId, ClaimId>,
    /// `by_node` by node slot, for lookups: the per-pass loops ask it for every node.
    node_slots: Vec<Option<ClaimId>>,
    /// NodeClaims named so far: the suffix of the next name (`<nodepool>-<sequence>`).
    sequence: u64,
    /// Bumped by every mutable access: equal versions mean no NodeClaim changed.
    version: u64,
    /// Per NodeClaim index, the `version` at its last mutable access; per node slot, the
    /// `version` when the node's NodeClaim link was last set or dropped. What a cache of
    /// per-node results reads to tell which nodes' NodeClaims moved
    /// ([`ClaimStore::node_claim_changed_since`]) without reading every NodeClaim.
    stamps: Vec<u64>,
    link_stamps: Vec<u64>,
}

impl ClaimStore {
    /// The number the next NodeClaim's name will carry.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Add a NodeClaim (named with [`ClaimStore::sequence`]); its index.
    pub fn push(&mut self, claim: NodeClaim) -> ClaimId {
        self.sequence += 1;
        self.claims.push(claim);
        let id = ClaimId(self.claims.len() - 1);
        self.touch(id);
        self.live.push(id);
        id
    }

    /// A mutable access to NodeClaim `id`: bump the version and stamp the claim.
    fn touch(&mut self, id: ClaimId) {
        self.version += 1;
        if self.stamps.len() <= id.0 {
            self.stamps.resize(id.0 + 1, 0);
        }
        self.stamps[id.0] = self.version;
    }

    /// A node's NodeClaim link was set or dropped.
    fn touch_link(&mut self, node: NodeId) {
        let i = node.0 as usize;
        if self.link_stamps.len() <= i {
            self.link_stamps.resize(i + 1, 0);
        }
        self.link_stamps[i] = self.version;
    }

    /// Whether node `node`'s NodeClaim — which one it is, or anything of it — may have changed
    /// since [`ClaimStore::version`] read `version`.
    pub fn node_claim_changed_since(&self, node: NodeId, version: u64) -> bool {
        let after = |stamps: &[u64], i: usize| stamps.get(i).is_some_and(|&at| at > version);
        after(&self.link_stamps, node.0 as usize)
            || self.by_node(node).is_some_and(|c| after(&self.stamps, c.0))
    }

    /// The NodeClaim is gone (its node deleted, its instance terminated). It keeps its index,
    /// name, NodePool, launch and timestamps for timers, commands and logs; what only a live
    /// NodeClaim needs — its requirements (often hundreds of instance-type names), candidate
    /// types and labels — is released, so a long run's memory follows the live cluster, not
    /// every NodeClaim ever made.
    pub fn mark_deleted(&mut self, id: ClaimId) {
        self.touch(id);
        if let Ok(i) = self.live.binary_search(&id) {
            self.live.remove(i);
        }
        let c = &mut self.claims[id.0];
        c.state = super::ClaimState::Deleted;
        c.requirements = Default::default();
        c.types = Vec::new();
        c.labels = Default::default();
    }

    /// See the field: what caches of results derived from NodeClaims key on.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn len(&self) -> usize {
        self.claims.len()
    }

    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    pub fn get(&self, id: ClaimId) -> Option<&NodeClaim> {
        self.claims.get(id.0)
    }

    /// Every NodeClaim's id, in creation order.
    pub fn ids(&self) -> impl Iterator<Item = ClaimId> + use<> {
        (0..self.claims.len()).map(ClaimId)
    }

    /// Every NodeClaim, in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &NodeClaim> {
        self.claims.iter()
    }

    /// The NodeClaims not yet deleted (the others as [`ClaimStore::iter`] gives them), with
    /// their ids, in creation order.
    pub fn live(&self) -> impl Iterator<Item = (ClaimId, &NodeClaim)> {
        self.live.iter().map(|&id| (id, &self.claims[id.0]))
    }

    /// The NodeClaim launched as `instance`.
    pub fn by_instance(&self, instance: InstanceId) -> Option<ClaimId> {
        self.by_instance.get(&instance).copied()
    }

    pub fn set_instance(&mut self, instance: InstanceId, claim: ClaimId) {
        self.touch(claim);
        self.by_instance.insert(instance, claim);
    }

    /// The NodeClaim registered as `node`.
    pub fn by_node(&self, node: NodeId) -> Option<ClaimId> {
        self.node_slots.get(node.0 as usize).copied().flatten()
    }

    pub fn set_node(&mut self, node: NodeId, claim: ClaimId) {
        self.touch(claim);
        self.touch_link(node);
        self.by_node.insert(node, claim);
        let i = node.0 as usize;
        if self.node_slots.len() <= i {
            self.node_slots.resize(i + 1, None);
        }
        self.node_slots[i] = Some(claim);
    }

    /// The node is gone; the NodeClaim it was.
    pub fn forget_node(&mut self, node: NodeId) -> Option<ClaimId> {
        self.version += 1;
        self.touch_link(node);
        if let Some(slot) = self.node_slots.get_mut(node.0 as usize) {
            *slot = None;
        }
        self.by_node.remove(&node)
    }

    /// Every registered node and its NodeClaim, in node order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, ClaimId)> + '_ {
        self.by_node.iter().map(|(&n, &c)| (n, c))
    }
}

impl Index<ClaimId> for ClaimStore {
    type Output = NodeClaim;
    fn index(&self, id: ClaimId) -> &NodeClaim {
        &self.claims[id.0]
    }
}

impl IndexMut<ClaimId> for ClaimStore {
    fn index_mut(&mut self, id: ClaimId) -> &mut NodeClaim {
        self.touch(id);
        &mut self.claims[id.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodeclaim::ClaimState;

    /// `live` gives the NodeClaims not deleted, in creation order, whatever the order of the
    /// deletions.
    #[test]
    fn live_claims_are_the_undeleted_ones_in_creation_order() {
        let mut store = ClaimStore::default();
        let np: crate::apis::NodePool = match serde_saphyr::from_str(
            "metadata: {name: default}\nspec:\n  template:\n    spec:\n      \
             nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n      \
             requirements: []\n",
        ) {
            Ok(np) => np,
            Err(e) => panic!("{e}"),
        };
        let template = NodeClaim {
            name: "c".into(),
            nodepool: "default".into(),
            nodeclass: crate::ids::ClassId(0),
            requirements: Default::default(),
            types: vec![],
            requests: Default::default(),
            labels: Default::default(),
            taints: vec![],
            startup_taints: vec![],
            state: ClaimState::Pending,
            created_at: asim_core::engine::SimTime::ZERO,
            launched: None,
            launched_at: None,
            registered_at: None,
            initialized_at: None,
            node: None,
            deletion_reason: None,
            expire_after_ms: None,
            termination_grace_ms: None,
            do_not_disrupt: false,
            nodeclass_generation: 0,
            template: crate::nodepool::StaticTemplate::of(&np),
            drifted_at: None,
            drift_reason: None,
            marked_for_deletion: false,
        };
        let ids: Vec<ClaimId> = (0..6).map(|_| store.push(template.clone())).collect();
        for i in [3, 0, 5] {
            store.mark_deleted(ids[i]);
        }
        let live: Vec<ClaimId> = store.live().map(|(id, _)| id).collect();
        assert_eq!(live, vec![ids[1], ids[2], ids[4]]);
        let by_state: Vec<ClaimId> = store
            .ids()
            .filter(|&i| store[i].state != ClaimState::Deleted)
            .collect();
        assert_eq!(live, by_state);
    }
}
