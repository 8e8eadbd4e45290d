//! Scale-down (docs/model/cluster-autoscaler.md §4; cluster-autoscaler: core/scaledown): the
//! `planner` finds unneeded nodes and keeps their clock; `actuation` taints, drains and deletes
//! the ones whose time has come, within the budgets.

pub mod actuation;
pub mod planner;

use asim_cluster::Cluster;
use asim_core::engine::SimTime;

use crate::flags::Flags;
use crate::nodegroup::NodeGroups;

pub use crate::flags::ScaleDownSettings;
pub use actuation::Actuator;
pub use planner::{
    Blocker, Candidate, Drain, Planner, SAFE_TO_EVICT_LOCAL_VOLUMES, Unneeded, drainability,
    utilization,
};

/// The nodes the planner may consider: nodes of an autoscaled group above its min size, not
/// already being deleted, and past `--max-node-startup-time` if not Ready.
pub fn candidates(
    cluster: &Cluster,
    groups: &NodeGroups,
    actuator: &Actuator,
    flags: &Flags,
    now: SimTime,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for n in cluster.nodes() {
        let Some(g) = groups.of_owner(&n.owner) else {
            continue;
        };
        if n.deleting || actuator.is_deleting(n.id) {
            continue;
        }
        // NotStarted nodes are upcoming, not candidates (§2.2 step 8).
        if !n.ready && now.since(n.created_at) < flags.max_node_startup_ms {
            continue;
        }
        if groups[g].target <= groups[g].min_size {
            continue;
        }
        out.push(Candidate {
            node: n.id,
            group: g,
        });
    }
    out
}
