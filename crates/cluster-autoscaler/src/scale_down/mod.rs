//! Scale-down (docs/model/cluster-autoscaler.md §4; cluster-autoscaler: core/scaledown): the
//! `planner` finds unneeded nodes and keeps their clock; `actuation` taints, drains and deletes
//! the ones whose time has come, within the budgets.

pub mod actuation;
pub mod planner;

use std::collections::BTreeMap;

use asim_cluster::{Cluster, NodeId};
use asim_core::engine::SimTime;

use crate::decision::Unremovable;
use crate::flags::Flags;
use crate::nodegroup::NodeGroups;

pub use crate::flags::ScaleDownSettings;
pub use actuation::Actuator;
pub use planner::{
    Blocker, Candidate, Drain, Planner, SAFE_TO_EVICT_LOCAL_VOLUMES, Unneeded, drainability,
    utilization,
};

/// Node annotation that keeps a node out of scale-down (§4.2; cluster-autoscaler:
/// core/scaledown/eligibility/eligibility.go; FAQ.md "How can I prevent Cluster Autoscaler from
/// scaling down a particular node?").
pub const SCALE_DOWN_DISABLED: &str = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

const GIB: i64 = 1 << 30;

/// The nodes the planner may consider: nodes of an autoscaled group above its min size, not
/// already being deleted, not annotated `scale-down-disabled`, and past
/// `--max-node-startup-time` if not Ready. The others, with why, except nodes being deleted
/// and NotStarted ones (upcoming, not candidates, §2.2 step 8).
pub fn candidates(
    cluster: &Cluster,
    groups: &NodeGroups,
    actuator: &Actuator,
    flags: &Flags,
    now: SimTime,
) -> (Vec<Candidate>, BTreeMap<NodeId, Unremovable>) {
    let mut out = Vec::new();
    let mut why = BTreeMap::new();
    for n in cluster.nodes() {
        if n.deleting || actuator.is_deleting(n.id) {
            continue;
        }
        let Some(g) = groups.of_node(n) else {
            why.insert(n.id, Unremovable::NotAutoscaled);
            continue;
        };
        if !n.ready && now.since(n.created_at) < flags.max_node_startup_ms {
            continue;
        }
        if n.annotation(SCALE_DOWN_DISABLED) == Some("true") {
            why.insert(n.id, Unremovable::ScaleDownDisabledAnnotation);
            continue;
        }
        if groups[g].target <= groups[g].min_size {
            why.insert(n.id, Unremovable::NodeGroupMinSizeReached);
            continue;
        }
        out.push(Candidate {
            node: n.id,
            group: g,
        });
    }
    (out, why)
}

/// `unneeded.Nodes.RemovableAt` (§4.4): the unneeded nodes whose time has come and whose
/// removal keeps every group at or above its min size and the cluster at or above the
/// `--cores-total` / `--memory-total` minimums, counted down node by node; the others with why.
pub fn removable_at(
    cluster: &Cluster,
    planner: &Planner,
    groups: &NodeGroups,
    actuator: &Actuator,
    flags: &Flags,
    now: SimTime,
) -> (Vec<(NodeId, Unneeded)>, BTreeMap<NodeId, Unremovable>) {
    let s = &flags.scale_down;
    let mut size: Vec<i64> = groups.iter().map(|(_, g)| i64::from(g.target)).collect();
    for g in actuator.deleting_groups() {
        size[g.0] -= 1;
    }
    // What the minimums leave: every node not already going counts (cluster-autoscaler:
    // core/scaledown/resource/limits.go, over node capacity).
    let (mut cores_m, mut memory) = (0i64, 0i64);
    for n in cluster.nodes() {
        if !n.deleting && !actuator.is_deleting(n.id) {
            cores_m += n.capacity.cpu_m;
            memory += n.capacity.memory;
        }
    }
    cores_m -= flags.cores_total.0.saturating_mul(1000);
    memory -= flags.memory_total.0.saturating_mul(GIB);
    let mut ok = Vec::new();
    let mut why = BTreeMap::new();
    // Empty nodes first, as the actuator takes them (§4.5), so that a group near its min
    // size gives up a node that needs no drain.
    let ordered = planner
        .unneeded
        .iter()
        .filter(|(_, u)| u.empty)
        .chain(planner.unneeded.iter().filter(|(_, u)| !u.empty));
    for (&id, u) in ordered {
        if now.since(u.since) < planner::needed_ms(u, groups, s) {
            let r = if u.ready {
                Unremovable::NotUnneededLongEnough
            } else {
                Unremovable::NotUnreadyLongEnough
            };
            why.insert(id, r);
            continue;
        }
        let g = u.group;
        if size[g.0] - 1 < i64::from(groups[g].min_size) {
            why.insert(id, Unremovable::NodeGroupMinSizeReached);
            continue;
        }
        let (c, m) = cluster
            .node(id)
            .map_or((0, 0), |n| (n.capacity.cpu_m, n.capacity.memory));
        if c > cores_m {
            why.insert(
                id,
                Unremovable::MinimalResourceLimitExceeded { resource: "cpu" },
            );
            continue;
        }
        if m > memory {
            why.insert(
                id,
                Unremovable::MinimalResourceLimitExceeded { resource: "memory" },
            );
            continue;
        }
        size[g.0] -= 1;
        cores_m -= c;
        memory -= m;
        ok.push((id, u.clone()));
    }
    (ok, why)
}
