//! The claim store: every NodeClaim Karpenter created, by index, and the indexes from an
//! instance and from a node to its NodeClaim (karpenter: pkg/controllers/state, the cluster
//! state's NodeClaim and node maps). A NodeClaim keeps its index for the whole run, deleted
//! ones included, so timers and commands can name it.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

use asim_cluster::NodeId;
use asim_core::cloud::InstanceId;

use super::NodeClaim;

#[derive(Default)]
pub struct ClaimStore {
    claims: Vec<NodeClaim>,
    by_instance: BTreeMap<InstanceId, usize>,
    by_node: BTreeMap<NodeId, usize>,
    /// NodeClaims named so far: the suffix of the next name (`<nodepool>-<sequence>`).
    sequence: u64,
}

impl ClaimStore {
    /// The number the next NodeClaim's name will carry.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Add a NodeClaim (named with [`ClaimStore::sequence`]); its index.
    pub fn push(&mut self, claim: NodeClaim) -> usize {
        self.sequence += 1;
        self.claims.push(claim);
        self.claims.len() - 1
    }

    /// The NodeClaim launched as `instance`.
    pub fn by_instance(&self, instance: InstanceId) -> Option<usize> {
        self.by_instance.get(&instance).copied()
    }

    pub fn set_instance(&mut self, instance: InstanceId, claim: usize) {
        self.by_instance.insert(instance, claim);
    }

    /// The NodeClaim registered as `node`.
    pub fn by_node(&self, node: NodeId) -> Option<usize> {
        self.by_node.get(&node).copied()
    }

    pub fn set_node(&mut self, node: NodeId, claim: usize) {
        self.by_node.insert(node, claim);
    }

    /// The node is gone; the NodeClaim it was.
    pub fn forget_node(&mut self, node: NodeId) -> Option<usize> {
        self.by_node.remove(&node)
    }

    /// Every registered node and its NodeClaim, in node order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, usize)> + '_ {
        self.by_node.iter().map(|(&n, &c)| (n, c))
    }
}

impl Deref for ClaimStore {
    type Target = [NodeClaim];
    fn deref(&self) -> &[NodeClaim] {
        &self.claims
    }
}

impl DerefMut for ClaimStore {
    fn deref_mut(&mut self) -> &mut [NodeClaim] {
        &mut self.claims
    }
}
