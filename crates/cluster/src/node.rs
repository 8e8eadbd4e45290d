//! Nodes: the Kubernetes `Node` object plus the bookkeeping the binder needs (requested
//! resources, host ports in use, pulled images).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use asim_core::engine::SimTime;
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::Taint;

use super::pod::{HostPort, PodId, PodTemplate};

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// Who created the node and manages its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeOwner {
    /// A `v1` Node manifest or a static node: nobody scales it.
    Unmanaged,
    /// A Karpenter NodeClaim (by name) of a NodePool.
    NodeClaim { nodepool: String, nodeclaim: String },
    /// A cluster-autoscaler node group (ASG).
    NodeGroup(String),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub labels: Labels,
    /// `metadata.annotations` (what the autoscalers read, e.g. cluster-autoscaler's
    /// `scale-down-disabled`).
    pub annotations: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub capacity: Resources,
    pub allocatable: Resources,
    /// Sum of the requests of pods bound here (including terminating ones).
    pub requested: Resources,
    pub pods: BTreeSet<PodId>,
    /// The same pods counted per template (a pod's labels and namespace are its template's):
    /// what the binder's topology checks count, without visiting every pod. Kept by
    /// `Cluster::bind` and `Cluster::end_pod` alongside `pods`.
    pub pod_templates: Vec<(Arc<PodTemplate>, u32)>,
    pub host_ports: Vec<HostPort>,
    pub images: BTreeSet<String>,
    pub ready: bool,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Marked for deletion: drains and then goes.
    pub deleting: bool,
    pub owner: NodeOwner,
    /// The cloud instance behind it, if any (index in the cloud's instance table).
    pub instance: Option<u32>,
    pub created_at: SimTime,
    pub ready_at: Option<SimTime>,
    /// Last bind / terminal / terminating pod event (Karpenter's consolidateAfter clock, docs/model/karpenter.md §4.3).
    pub last_pod_event: SimTime,
    /// Bumped whenever a pod joins or leaves the node or one of its pods changes phase or is
    /// patched: an autoscaler may keep what it derives from the node's pods while this holds
    /// (node ids are never reused, so (id, version) names one state of the node's pods).
    pub pods_version: u64,
}

impl Node {
    /// A node object as it appears when its kubelet registers (or, for pre-existing capacity,
    /// at time zero): no pods yet, schedulable, Ready or not.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        labels: Labels,
        taints: Vec<Taint>,
        capacity: Resources,
        allocatable: Resources,
        owner: NodeOwner,
        instance: Option<u32>,
        now: SimTime,
        ready: bool,
    ) -> Node {
        Node {
            id: NodeId(0),
            name,
            labels,
            annotations: BTreeMap::new(),
            taints,
            capacity,
            allocatable,
            requested: Resources::default(),
            pods: BTreeSet::new(),
            pod_templates: Vec::new(),
            host_ports: Vec::new(),
            images: BTreeSet::new(),
            ready,
            unschedulable: false,
            deleting: false,
            owner,
            instance,
            created_at: now,
            ready_at: ready.then_some(now),
            last_pod_event: now,
            pods_version: 0,
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// Ready, not cordoned, not being deleted: the binder may use it.
    pub fn schedulable(&self) -> bool {
        self.ready && !self.unschedulable && !self.deleting
    }

    pub fn free(&self) -> Resources {
        let mut f = self.allocatable.clone();
        f.sub(&self.requested);
        f
    }

    /// Requested over allocatable for CPU and memory.
    pub fn utilization(&self) -> (f64, f64) {
        let frac = |r: i64, a: i64| if a > 0 { r as f64 / a as f64 } else { 0.0 };
        (
            frac(self.requested.cpu_m, self.allocatable.cpu_m),
            frac(self.requested.memory, self.allocatable.memory),
        )
    }

    pub fn host_port_in_use(&self, hp: &HostPort) -> bool {
        self.host_ports.contains(hp)
    }
}

/// What the binder's kept state reads of a node, as it was when a patch began: its
/// fixed-filter verdicts and scores read readiness, the cordon, the deletion mark, taints,
/// labels and allocatable; its spread counts only labels and the deletion mark.
pub(crate) struct FilterFacts {
    labels: Labels,
    deleting: bool,
    taints: Vec<Taint>,
    ready: bool,
    unschedulable: bool,
    allocatable: Resources,
}

impl FilterFacts {
    pub(crate) fn of(node: &Node) -> FilterFacts {
        FilterFacts {
            labels: node.labels.clone(),
            deleting: node.deleting,
            taints: node.taints.clone(),
            ready: node.ready,
            unschedulable: node.unschedulable,
            allocatable: node.allocatable.clone(),
        }
    }
}

/// A node being patched ([`crate::Cluster::node_mut`]); derefs to the node. When it is
/// dropped it compares the node with what it was: the binder's kept spread counts take a
/// change of its labels or deletion mark in, and its kept fixed-filter verdicts and scores
/// are dropped if anything they read changed. A patch that changes nothing the binder reads
/// (an annotation, a taint already there) keeps both as they are.
pub struct NodePatch<'a> {
    pub(crate) node: &'a mut Node,
    pub(crate) before: FilterFacts,
    pub(crate) spread: &'a mut crate::scheduler::SpreadKept,
    pub(crate) verdicts_version: &'a mut u64,
}

impl std::ops::Deref for NodePatch<'_> {
    type Target = Node;
    fn deref(&self) -> &Node {
        self.node
    }
}

impl std::ops::DerefMut for NodePatch<'_> {
    fn deref_mut(&mut self) -> &mut Node {
        self.node
    }
}

impl Drop for NodePatch<'_> {
    fn drop(&mut self) {
        let b = &self.before;
        let n = &*self.node;
        let domains_moved = b.labels != n.labels || b.deleting != n.deleting;
        if domains_moved {
            self.spread.node_changed(n, &b.labels, b.deleting);
        }
        if domains_moved
            || b.taints != n.taints
            || b.ready != n.ready
            || b.unschedulable != n.unschedulable
            || b.allocatable != n.allocatable
        {
            *self.verdicts_version += 1;
        }
    }
}
