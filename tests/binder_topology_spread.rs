//! The binder's topology spread (kube-scheduler's PodTopologySpread filter, docs/design.md §7;
//! kubernetes `pkg/scheduler/framework/plugins/podtopologyspread/filtering.go`): a pod may go
//! to a domain when its matching pods there, plus itself, exceed the global minimum by at most
//! `maxSkew`. The binder keeps each pass's counts up to date as pods bind instead of recounting
//! them for every pod, so these tests place whole bursts in one pass.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use autoscale_sim::cluster::pod::{
    HOSTNAME_KEY, PodTemplate, TopologySpread, WhenUnsatisfiable, ZONE_KEY,
};
use autoscale_sim::cluster::scheduler::{SchedulerSettings, Scoring};
use autoscale_sim::cluster::{Cluster, Node, OwnerKind, PodId};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::{LabelSelector, Labels};

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Ready 16-vCPU node in `zone`, with extra labels.
fn node(name: &str, zone: &str, extra: &[(&str, &str)]) -> Node {
    let mut l = labels(&[(HOSTNAME_KEY, name), (ZONE_KEY, zone)]);
    l.extend(labels(extra));
    common::ready_node(name, l, 16_000, 64 << 30)
}

/// 250m pods labelled `app: web`, spread over zones with `maxSkew` 1 (DoNotSchedule).
fn web(min_domains: Option<u32>, node_selector: &[(&str, &str)]) -> Arc<PodTemplate> {
    let mut requests = Resources::new(250, 256 << 20);
    requests.pods = 1;
    Arc::new(PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", "web")]),
        node_selector: labels(node_selector),
        requests,
        termination_grace_ms: 30_000,
        spread: vec![TopologySpread {
            max_skew: 1,
            topology_key: ZONE_KEY.into(),
            when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
            selector: LabelSelector {
                match_labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
                match_expressions: vec![],
            },
            min_domains,
        }],
        ..Default::default()
    })
}

/// Two nodes per zone, every node labelled `pool: ab` but those of zone c.
fn cluster() -> Cluster {
    cluster_with(SchedulerSettings::default())
}

fn cluster_with(settings: SchedulerSettings) -> Cluster {
    let mut c = Cluster::new(settings);
    for (i, zone) in ZONES.iter().enumerate() {
        for j in 0..2 {
            let pool: &[(&str, &str)] = if i < 2 { &[("pool", "ab")] } else { &[] };
            c.add_node(node(&format!("n-{i}-{j}"), zone, pool));
        }
    }
    c
}

fn queue(c: &mut Cluster, t: &Arc<PodTemplate>, n: usize, from: usize) -> Vec<PodId> {
    (0..n)
        .map(|i| {
            let id = c.create_pod(
                SimTime::ZERO,
                format!("web-{:03}", from + i),
                Arc::clone(t),
                OwnerKind::None,
                0,
                false,
            );
            c.pod_mut(id).queued = true;
            id
        })
        .collect()
}

/// Bound pods per zone, in zone order.
fn per_zone(c: &Cluster, pods: &[PodId]) -> Vec<usize> {
    ZONES
        .iter()
        .map(|z| {
            pods.iter()
                .filter(|p| {
                    c.pod(**p)
                        .node
                        .and_then(|n| c.node(n))
                        .is_some_and(|n| n.label(ZONE_KEY) == Some(*z))
                })
                .count()
        })
        .collect()
}

#[test]
fn a_burst_of_spread_pods_placed_in_one_pass_keeps_within_max_skew() {
    // MostAllocated scoring would pack every pod onto the first node it used: only the spread
    // filter, counting the pods bound earlier in the same pass, moves them on.
    let mut c = cluster_with(SchedulerSettings {
        scoring: Scoring::MostAllocated,
        ..Default::default()
    });
    let pods = queue(&mut c, &web(None, &[]), 31, 0);
    let result = c.schedule_pass(SimTime(1_000));
    assert_eq!(result.bound.len(), 31);
    // Each pod saw the ones bound before it in the same pass: 11/10/10, never two apart.
    let mut counts = per_zone(&c, &pods);
    counts.sort();
    assert_eq!(counts, [10, 10, 11]);
}

#[test]
fn pods_already_running_count_toward_the_spread() {
    let mut c = cluster();
    let t = web(None, &[]);
    let first = queue(&mut c, &t, 3, 0);
    // Three earlier pods pinned to zone a by hand (the binder would have spread them).
    for p in &first {
        let n = c.node_by_name("n-0-0").expect("node").id;
        c.bind(*p, n, SimTime::ZERO);
    }
    let more = queue(&mut c, &t, 6, 3);
    c.schedule_pass(SimTime(1_000));
    // Zones b and c catch up first: 3 each, then nothing is left for zone a.
    assert_eq!(per_zone(&c, &more), [0, 3, 3]);
}

#[test]
fn a_zone_the_pod_cannot_use_is_not_a_domain() {
    // nodeAffinityPolicy Honor (the default): nodes the pod's node selector rejects are not
    // counted, so zone c (no `pool: ab` node) neither holds the minimum at 0 nor takes pods.
    let mut c = cluster();
    let pods = queue(&mut c, &web(None, &[("pool", "ab")]), 10, 0);
    let result = c.schedule_pass(SimTime(1_000));
    assert_eq!(result.bound.len(), 10);
    assert_eq!(per_zone(&c, &pods), [5, 5, 0]);
}

#[test]
fn min_domains_above_the_zone_count_holds_the_minimum_at_zero() {
    // minDomains 5 with 3 eligible zones: the global minimum is taken as 0, so no zone may
    // hold more than maxSkew (1) matching pods; the rest are unschedulable.
    let mut c = cluster();
    let pods = queue(&mut c, &web(Some(5), &[]), 6, 0);
    let result = c.schedule_pass(SimTime(1_000));
    assert_eq!(result.bound.len(), 3);
    assert_eq!(per_zone(&c, &pods), [1, 1, 1]);
    let reason = c
        .pod(pods[5])
        .unschedulable_reason
        .clone()
        .expect("a reason");
    assert!(
        reason.contains("6 node(s) didn't match pod topology spread constraints"),
        "{reason}"
    );
}
