//! The kube-scheduler binder (`Cluster::schedule_pass`, docs/design.md §7) on a 1,000-node
//! cluster: 500 nodes of 8 vCPU / 32 GiB and 500 of 16 vCPU / 64 GiB, Ready, round-robin over
//! three zones (`topology.kubernetes.io/zone`), each with its `kubernetes.io/hostname`. The
//! pods are pending and queued, created in turn from four templates:
//! 500m / 1Gi, 1 CPU / 2Gi, 2 CPU / 4Gi, and 250m / 512Mi with a zonal `DoNotSchedule`
//! topology spread (maxSkew 1) over its own label. Everything fits: every pod is bound.
//!
//! One iteration is one `schedule_pass` over all the queued pods (filter, score and bind each
//! against every node); building the cluster is excluded from the timing. The figure to read
//! is pods bound per second.
//!
//! Run: `cargo bench --bench binder`.

use std::collections::BTreeMap;
use std::sync::Arc;

use autoscale_sim::cluster::pod::{
    HOSTNAME_KEY, PodTemplate, TopologySpread, WhenUnsatisfiable, ZONE_KEY,
};
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{Cluster, Node, NodeOwner, OwnerKind};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::{LabelSelector, Labels};

fn main() {
    divan::main();
}

const NODES: usize = 1_000;
const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const GI: i64 = 1 << 30;
const MI: i64 = 1 << 20;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Ready node of `cpu` vCPU and 4 GiB per vCPU (an m5), with AWS's allocatable formulas
/// roughly applied and its ENI pod limit.
fn node(i: usize, cpu: i64, max_pods: i64) -> Node {
    let name = format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250);
    let node_labels = labels(&[
        (HOSTNAME_KEY, &name),
        (ZONE_KEY, ZONES[i % ZONES.len()]),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
    ]);
    let mut capacity = Resources::new(cpu * 1000, cpu * 4 * GI);
    capacity.pods = max_pods;
    let mut allocatable = capacity.clone();
    allocatable.cpu_m -= 90;
    allocatable.memory -= 1_500 * MI;
    Node::new(
        name,
        node_labels,
        Vec::new(),
        capacity,
        allocatable,
        NodeOwner::Unmanaged,
        None,
        SimTime::ZERO,
        true,
    )
}

fn template(cpu_m: i64, memory: i64, app: &str) -> PodTemplate {
    let mut requests = Resources::new(cpu_m, memory);
    requests.pods = 1;
    PodTemplate {
        namespace: "default".into(),
        labels: labels(&[("app", app)]),
        requests,
        termination_grace_ms: 30_000,
        ..Default::default()
    }
}

fn templates() -> Vec<Arc<PodTemplate>> {
    let mut spread = template(250, 512 * MI, "spread");
    spread.spread.push(TopologySpread {
        max_skew: 1,
        topology_key: ZONE_KEY.into(),
        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
        selector: LabelSelector {
            match_labels: BTreeMap::from([("app".to_string(), "spread".to_string())]),
            match_expressions: vec![],
        },
        min_domains: None,
    });
    vec![
        Arc::new(template(500, GI, "small")),
        Arc::new(template(1_000, 2 * GI, "medium")),
        Arc::new(template(2_000, 4 * GI, "large")),
        Arc::new(spread),
    ]
}

/// 1,000 Ready nodes (every other one 16 vCPU) and `pods` pending, queued pods.
fn cluster(pods: usize, templates: &[Arc<PodTemplate>]) -> Cluster {
    let mut c = Cluster::new(SchedulerSettings::default());
    for i in 0..NODES {
        let n = if i % 2 == 0 {
            node(i, 8, 58)
        } else {
            node(i, 16, 234)
        };
        c.add_node(n);
    }
    for i in 0..pods {
        let t = &templates[i % templates.len()];
        let id = c.create_pod(
            SimTime::ZERO,
            format!("default/{}-{i:05}", t.labels["app"]),
            Arc::clone(t),
            OwnerKind::None,
            0,
            false,
        );
        c.pod_mut(id).queued = true;
    }
    c
}

/// One scheduling pass binding `pods` queued pods on 1,000 nodes.
#[divan::bench(args = [1_000, 5_000], sample_count = 10, sample_size = 1)]
fn schedule_pass_1000_nodes(bencher: divan::Bencher, pods: usize) {
    let templates = templates();
    bencher
        .counter(divan::counter::ItemsCount::new(pods))
        .with_inputs(|| cluster(pods, &templates))
        .bench_local_refs(|c| {
            let result = c.schedule_pass(SimTime(1_000));
            assert_eq!(result.bound.len(), pods, "every pod fits somewhere");
            divan::black_box(result.bound.len())
        });
}
