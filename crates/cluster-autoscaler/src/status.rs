//! Why scale-down keeps each node (§4.7), as cluster-autoscaler's status processor reports it
//! (`NoScaleDown` node status; cluster-autoscaler: processors/status, simulator/cluster.go
//! `UnremovableReason`), written to the decision log only when a node's reason changes, so a
//! long run of loops that change nothing adds nothing.
//!
//! The behaviour is docs/model/cluster-autoscaler.md §4.7; the record, `no-scale-down`, is
//! described in docs/reports.md.

use std::collections::BTreeMap;

use asim_cluster::{Cluster, NodeId};
use asim_core::engine::SimTime;

use crate::decision::{Decision, DecisionLog, Unremovable};
use crate::nodegroup::NodeGroups;

/// The last reason written per node.
#[derive(Clone, Debug, Default)]
pub struct NoScaleDownStatus {
    last: BTreeMap<NodeId, Unremovable>,
}

/// Same reason, ignoring the figures that move every loop (a node's utilization).
fn same(a: &Unremovable, b: &Unremovable) -> bool {
    match (a, b) {
        (Unremovable::NotUnderutilized { .. }, Unremovable::NotUnderutilized { .. }) => true,
        _ => a == b,
    }
}

impl NoScaleDownStatus {
    /// This loop's reasons, one per node that has one. A node without one (unneeded and
    /// waiting only for the budgets or the cooldown, being deleted, not yet started, gone) is
    /// dropped silently, so its next reason is written whatever it is.
    pub fn update(
        &mut self,
        now: SimTime,
        cluster: &Cluster,
        groups: &NodeGroups,
        reasons: BTreeMap<NodeId, Unremovable>,
        log: &mut DecisionLog,
    ) {
        // Both maps are in node order: one walk of each instead of a lookup per node in the
        // other (4 % of a 5,000-node day under cluster-autoscaler).
        let mut old = std::mem::take(&mut self.last).into_iter().peekable();
        let mut next: Vec<(NodeId, Unremovable)> = Vec::with_capacity(reasons.len());
        for (id, why) in reasons {
            while old.next_if(|(o, _)| *o < id).is_some() {}
            let before = match old.next_if(|(o, _)| *o == id) {
                Some((_, w)) if same(&w, &why) => {
                    next.push((id, w));
                    continue;
                }
                before => before.map(|(_, w)| w),
            };
            let Some(n) = cluster.node(id) else {
                // Not written; a node that had a reason keeps it.
                next.extend(before.map(|w| (id, w)));
                continue;
            };
            log.log(
                now,
                Decision::NoScaleDown {
                    node: n.name.clone(),
                    group: groups.of_node(n).map(|g| groups[g].name.clone()),
                    reason: why.clone(),
                },
            );
            next.push((id, why));
        }
        self.last = next.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilization_changes_are_not_a_new_reason() {
        let a = Unremovable::NotUnderutilized { utilization: 0.6 };
        let b = Unremovable::NotUnderutilized { utilization: 0.7 };
        assert!(same(&a, &b));
        assert!(!same(&a, &Unremovable::NoPlaceToMovePods));
        let p = |pod: &str| Unremovable::BlockedByPod {
            pod: pod.into(),
            rule: "NotReplicated",
        };
        assert!(!same(&p("default/a"), &p("default/b")));
    }
}
