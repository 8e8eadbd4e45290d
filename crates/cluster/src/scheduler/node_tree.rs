//! The order in which kube-scheduler looks at nodes, and how many it looks for
//! (docs/model/scheduler.md §5).
//!
//! kube-scheduler lists its nodes zone by zone in turn — the first node of each zone, then the
//! second of each, … — so that a partial search covers every zone (its cache's `nodeTree`,
//! kubernetes: pkg/scheduler/backend/cache/node_tree.go). Each scheduling cycle starts where the
//! previous one stopped and stops filtering once it has found `numFeasibleNodesToFind` nodes
//! that pass every filter; only those are scored (`findNodesThatPassFilters` and
//! `numFeasibleNodesToFind`, kubernetes: pkg/scheduler/schedule_one.go). On clusters under 100
//! nodes every node is searched; on large ones an adaptive share
//! (`percentageOfNodesToScore`), which is why a pod's placement costs about the same at 1,000
//! and at 5,000 nodes.

use super::super::NodeId;
use crate::free_capacity::FreeCapacity;

/// kube-scheduler's `minFeasibleNodesToFind`: below this many nodes every node is searched.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// `minFeasibleNodesPercentageToFind`: the adaptive share never goes below 5 %.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes a scheduling cycle looks for among `all` nodes. `percentage`:
/// `percentageOfNodesToScore` (1–100), or `None` for the adaptive default, 50 % minus 1 % per
/// 125 nodes, at least 5 %.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The nodes by zone, in the order zones and nodes came, and the zone-interleaved list built
/// from them; plus where the next scheduling cycle starts in it.
#[derive(Default)]
pub struct NodeTree {
    /// (zone key, node ids in the order they were added). A zone whose last node goes is
    /// dropped, and comes back last.
    zones: Vec<(String, Vec<NodeId>)>,
    /// The interleaved list, rebuilt after a node is added or removed.
    list: Vec<NodeId>,
    stale: bool,
    /// `nextStartNodeIndex`: where the next cycle starts in `list`.
    next_start: usize,
    /// The free core resources of the nodes at each position of `list`, to skip those without
    /// room; rebuilt with it.
    room: FreeCapacity,
    /// Per node id, its position in `list` (`u32::MAX`: not in it).
    pos: Vec<u32>,
}

impl NodeTree {
    /// A node joined; `zone` is its region and zone labels (kube-scheduler's `GetZoneKey`).
    pub fn add(&mut self, id: NodeId, zone: String) {
        match self.zones.iter_mut().find(|(z, _)| *z == zone) {
            Some((_, nodes)) => nodes.push(id),
            None => self.zones.push((zone, vec![id])),
        }
        self.stale = true;
    }

    pub fn remove(&mut self, id: NodeId) {
        for i in 0..self.zones.len() {
            if let Some(j) = self.zones[i].1.iter().position(|n| *n == id) {
                self.zones[i].1.remove(j);
                if self.zones[i].1.is_empty() {
                    self.zones.remove(i);
                }
                self.stale = true;
                return;
            }
        }
    }

    /// The nodes zone by zone in turn (`nodeTree.list`), lent to a scheduling pass; give it
    /// back with [`NodeTree::put_list`]. `free`: every node's free core resources, by id
    /// (`Cluster::free`), for the room index.
    pub fn take_list(&mut self, free: &[[i64; 4]]) -> Vec<NodeId> {
        if self.stale {
            self.list.clear();
            let longest = self.zones.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
            for k in 0..longest {
                for (_, nodes) in &self.zones {
                    if let Some(&n) = nodes.get(k) {
                        self.list.push(n);
                    }
                }
            }
            self.pos.clear();
            self.pos.resize(free.len(), u32::MAX);
            for (i, n) in self.list.iter().enumerate() {
                self.pos[n.0 as usize] = i as u32;
            }
            self.room = FreeCapacity::new(self.list.iter().map(|n| free[n.0 as usize]));
            self.stale = false;
        }
        std::mem::take(&mut self.list)
    }

    /// Node `id`'s free core resources changed (a pod bound or gone). While the list is stale
    /// the index is rebuilt from `Cluster::free` anyway.
    pub fn set_room(&mut self, id: NodeId, free: [i64; 4]) {
        if self.stale {
            return;
        }
        if let Some(&p) = self.pos.get(id.0 as usize)
            && p != u32::MAX
        {
            self.room.set(p as usize, free);
        }
    }

    /// The first position in `from..to` of the list whose node has `need` free in every core
    /// resource: the nodes before it fail NodeResourcesFit, if not an earlier filter
    /// ([`FreeCapacity::first_fit`]).
    pub fn first_with_room(&self, from: usize, to: usize, need: &[i64; 4]) -> Option<usize> {
        self.room.first_fit(from, need).filter(|&p| p < to)
    }

    pub fn put_list(&mut self, list: Vec<NodeId>) {
        if !self.stale {
            self.list = list;
        }
    }

    /// Where the next cycle starts in a list of `all` nodes.
    pub fn next_start(&self, all: usize) -> usize {
        if all == 0 { 0 } else { self.next_start % all }
    }

    /// A cycle that started at `start` looked at `processed` of `all` nodes: the next starts
    /// after them.
    pub fn advance(&mut self, start: usize, processed: usize, all: usize) {
        self.next_start = (start + processed) % all.max(1);
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: the binder's node search reads every node, as it did before the index, to
    /// compare with it.
    pub(crate) static READ_EVERY_NODE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// kube-scheduler's zone key of a node: its region and zone labels (empty when it has neither).
pub fn zone_key(labels: &asim_core::k8s::selector::Labels) -> String {
    let region = labels
        .get(super::super::pod::REGION_KEY)
        .map(String::as_str)
        .unwrap_or("");
    let zone = labels
        .get(super::super::pod::ZONE_KEY)
        .map(String::as_str)
        .unwrap_or("");
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubernetes: pkg/scheduler/schedule_one.go `numFeasibleNodesToFind` — all nodes under
    /// 100, else 50 % − nodes/125 %, at least 5 % and at least 100 nodes.
    #[test]
    fn feasible_nodes_to_find_follow_kube_scheduler_adaptive_percentage() {
        assert_eq!(num_feasible_nodes_to_find(None, 0), 0);
        assert_eq!(num_feasible_nodes_to_find(None, 99), 99);
        assert_eq!(num_feasible_nodes_to_find(None, 100), 100); // 50 % of 100 → 50 → at least 100
        assert_eq!(num_feasible_nodes_to_find(None, 1_000), 420); // 42 %
        assert_eq!(num_feasible_nodes_to_find(None, 5_000), 500); // 10 %
        assert_eq!(num_feasible_nodes_to_find(None, 6_000), 300); // 2 % → 5 %
        assert_eq!(num_feasible_nodes_to_find(Some(100), 5_000), 5_000);
        assert_eq!(num_feasible_nodes_to_find(Some(1), 5_000), 100);
        assert_eq!(num_feasible_nodes_to_find(Some(0), 1_000), 420); // 0 = adaptive
    }

    /// kubernetes: pkg/scheduler/backend/cache/node_tree.go `list` — one node of each zone in
    /// turn; an emptied zone leaves the rotation and comes back last.
    #[test]
    fn nodes_are_listed_zone_by_zone_in_turn() {
        let mut t = NodeTree::default();
        for (id, z) in [(0, "a"), (1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "b")] {
            t.add(NodeId(id), z.into());
        }
        let ids = |t: &mut NodeTree| {
            let list = t.take_list(&[[0; 4]; 8]);
            let ids = list.iter().map(|n| n.0).collect::<Vec<_>>();
            t.put_list(list);
            ids
        };
        assert_eq!(ids(&mut t), [0, 2, 4, 1, 5, 3]);
        t.remove(NodeId(4));
        t.add(NodeId(6), "c".into());
        assert_eq!(ids(&mut t), [0, 2, 6, 1, 5, 3]);
        t.remove(NodeId(2));
        t.remove(NodeId(5));
        t.add(NodeId(7), "b".into());
        assert_eq!(ids(&mut t), [0, 6, 7, 1, 3]);
    }

    #[test]
    fn the_next_cycle_starts_after_the_nodes_the_last_one_looked_at() {
        let mut t = NodeTree::default();
        for id in 0..5 {
            t.add(NodeId(id), String::new());
        }
        assert_eq!(t.next_start(5), 0);
        t.advance(0, 3, 5);
        assert_eq!(t.next_start(5), 3);
        t.advance(3, 4, 5);
        assert_eq!(t.next_start(5), 2);
        // A node fewer: the index stays, modulo the new length (`nextStartNodeIndex`).
        assert_eq!(t.next_start(2), 0);
    }
}
