//! How many nodes the binder looks at for a pod (kube-scheduler's `percentageOfNodesToScore`,
//! docs/model/scheduler.md §5; kubernetes: pkg/scheduler/schedule_one.go
//! `findNodesThatPassFilters`, `numFeasibleNodesToFind`): on clusters of 100 nodes or more a
//! search stops once it has found its share of nodes that pass every filter, only those are
//! scored, and the next search starts where it stopped, through the nodes zone by zone
//! (pkg/scheduler/backend/cache/node_tree.go).

mod common;

use std::sync::Arc;

use autoscale_sim::cluster::pod::{HOSTNAME_KEY, PodTemplate, ZONE_KEY};
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{Cluster, Node, NodeId, OwnerKind, PodId};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::Labels;

fn node(name: &str, zone: &str) -> Node {
    let l: Labels = [(HOSTNAME_KEY, name), (ZONE_KEY, zone)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    common::ready_node(name, l, 4_000, 16 << 30)
}

/// `n` identical empty nodes, their zones given per node.
fn cluster(settings: SchedulerSettings, zones: impl Iterator<Item = &'static str>) -> Cluster {
    let mut c = Cluster::new(settings);
    for (i, z) in zones.enumerate() {
        c.add_node(node(&format!("n-{i:03}"), z));
    }
    c
}

/// Create one 500m pod and run a pass; the node it went to.
fn place_one(c: &mut Cluster, i: usize) -> NodeId {
    let mut requests = Resources::new(500, 1 << 30);
    requests.pods = 1;
    let t = Arc::new(PodTemplate {
        namespace: "default".into(),
        requests,
        ..Default::default()
    });
    let id: PodId = c.create_pod(
        SimTime::ZERO,
        format!("p-{i}"),
        t,
        OwnerKind::None,
        0,
        false,
    );
    c.pod_mut(id).queued = true;
    let r = c.schedule_pass(SimTime(1_000));
    assert_eq!(r.bound.len(), 1);
    r.bound[0].1
}

#[test]
fn on_200_nodes_a_pod_is_scored_against_the_first_100_that_fit_and_the_next_search_starts_after_them()
 {
    let mut c = cluster(
        SchedulerSettings::default(),
        std::iter::repeat_n("us-east-1a", 200),
    );
    // 200 nodes: 50 % − 1 % = 49 % → 98 → at least 100 feasible nodes are looked for. All are
    // empty and score alike; the tie goes to the oldest of the 100 searched.
    assert_eq!(place_one(&mut c, 0), NodeId(0));
    // Searched from node 100 on: node 1, empty and older, is not among them.
    assert_eq!(place_one(&mut c, 1), NodeId(100));
    // Back at node 0 (which holds a pod now, so scores lower under LeastAllocated).
    assert_eq!(place_one(&mut c, 2), NodeId(1));
}

#[test]
fn under_100_nodes_every_node_is_searched() {
    let mut c = cluster(
        SchedulerSettings::default(),
        std::iter::repeat_n("us-east-1a", 99),
    );
    for i in 0..3 {
        // Each pod goes to the oldest empty node: every node is scored.
        assert_eq!(place_one(&mut c, i), NodeId(i as u32));
    }
}

#[test]
fn percentage_of_nodes_to_score_100_searches_every_node() {
    let settings = SchedulerSettings {
        percentage_of_nodes_to_score: Some(100),
        ..Default::default()
    };
    let mut c = cluster(settings, std::iter::repeat_n("us-east-1a", 200));
    for i in 0..3 {
        assert_eq!(place_one(&mut c, i), NodeId(i as u32));
    }
}

#[test]
fn the_search_goes_through_the_zones_in_turn() {
    // Nodes 0–99 in zone a, 100–199 in zone b: the search order interleaves them (a0, b100, a1,
    // b101, …), so the first 100 feasible nodes are 50 of each zone, and the second search
    // starts at a50.
    let zones =
        std::iter::repeat_n("us-east-1a", 100).chain(std::iter::repeat_n("us-east-1b", 100));
    let mut c = cluster(SchedulerSettings::default(), zones);
    assert_eq!(place_one(&mut c, 0), NodeId(0));
    assert_eq!(place_one(&mut c, 1), NodeId(50));
}
