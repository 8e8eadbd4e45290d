//! The report's numbers mean the same thing for both autoscalers (docs/reports.md, report
//! schema 2): latencies count the pods that never started, pods that lost their node are
//! counted whatever took it, nodes removed are named by cause, utilization is measured over
//! Ready node-time without DaemonSets, and `nodes.launched` counts what an autoscaler launched.

mod common;

use autoscale_sim::report::Report;
use autoscale_sim::run::run_to_end;
use autoscale_sim::workload::{AutoscalerKind, Scenario};
use common::load_text;

fn report(sc: &Scenario, kind: AutoscalerKind) -> Report {
    run_to_end(sc, kind).expect("runs").report
}

/// One scenario for both autoscalers: a cluster-autoscaler group `group` and a NodePool of
/// m5.xlarge of `capacity_type`, `extra` under `spec`, and `replicas` pods of 900m (four fit
/// on an m5.xlarge) asked for at 1m, then whatever `timeline` adds.
fn both(
    seed: u64,
    duration: &str,
    extra: &str,
    group: &str,
    capacity_type: &str,
    replicas: u32,
    timeline: &str,
) -> String {
    format!(
        r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {{name: both}}
spec:
  seed: {seed}
  duration: {duration}
  region: us-east-1
{extra}  clusterAutoscaler:
    nodeGroups:
      - {group}
  timeline:
    - at: 1m
      scale: {{deployment: web, replicas: {replicas}}}
{timeline}---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: default}}
spec:
  template:
    spec:
      requirements:
        - {{key: node.kubernetes.io/instance-type, operator: In, values: [m5.xlarge]}}
        - {{key: karpenter.sh/capacity-type, operator: In, values: [{capacity_type}]}}
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {{name: default}}
spec:
  role: KarpenterNodeRole-t
  amiSelectorTerms: [{{alias: al2023@latest}}]
  subnetSelectorTerms: [{{tags: {{karpenter.sh/discovery: t}}}}]
  securityGroupSelectorTerms: [{{tags: {{karpenter.sh/discovery: t}}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - {{name: c, image: nginx, resources: {{requests: {{cpu: 900m, memory: 1Gi}}}}}}
"#
    )
}

/// `replicas` on-demand pods; cluster-autoscaler's group stops at `ca_max` nodes, Karpenter's
/// NodePool has no limit.
fn capped(replicas: u32, ca_max: u32, timeline: &str) -> String {
    let group = format!("{{name: workers, instanceTypes: [m5.xlarge], maxSize: {ca_max}}}");
    both(5, "1h", "", &group, "on-demand", replicas, timeline)
}

// docs/reports.md "Latencies": a pod still waiting at the end counts as waiting until the end
// (right-censored). cluster-autoscaler at max size leaves 4 of 40 pods (10 %) pending; its p99
// must be the worse one, not the better one for having dropped them.
#[test]
fn pods_that_never_started_count_until_the_end_so_the_side_leaving_them_has_the_worse_p99() {
    let l = load_text(&capped(40, 9, ""));
    let ca = report(&l.sc, AutoscalerKind::ClusterAutoscaler);
    let k = report(&l.sc, AutoscalerKind::Karpenter);
    assert_eq!(ca.pods.not_started_at_end, 4, "9 nodes × 4 pods of 40");
    assert_eq!(ca.pods.startup_latency_s.censored, 4);
    assert_eq!(ca.pods.startup_latency_s.count, 40);
    assert_eq!(ca.pods.scheduling_latency_s.censored, 4);
    assert_eq!(k.pods.not_started_at_end, 0);
    assert_eq!(k.pods.startup_latency_s.censored, 0);
    // Created at 1m, still waiting at 1h: 59 minutes, at least.
    assert!(
        ca.pods.startup_latency_s.p99 >= 59.0 * 60.0 - 1.0,
        "{:?}",
        ca.pods
    );
    assert!(ca.pods.startup_latency_s.p99 > k.pods.startup_latency_s.p99);
    assert_eq!(ca.pods.startup_latency_s.max, ca.pods.startup_latency_s.p99);
}

// docs/reports.md `disruption.nodes_removed`: cluster-autoscaler's empty scale-downs and
// Karpenter's emptiness land in `empty`; the causes add up to the total for both.
#[test]
fn nodes_removed_use_one_set_of_causes_for_both_autoscalers() {
    let text = capped(
        40,
        20,
        "    - at: 20m\n      scale: {deployment: web, replicas: 0}\n",
    );
    let l = load_text(&text);
    for kind in [AutoscalerKind::ClusterAutoscaler, AutoscalerKind::Karpenter] {
        let r = report(&l.sc, kind);
        let n = &r.disruption.nodes_removed;
        assert_eq!(
            n.empty, 10,
            "{kind:?}: every node emptied and removed: {n:?}"
        );
        assert_eq!(
            n.total,
            n.underutilized + n.empty + n.drifted + n.expired + n.interrupted + n.other
        );
        assert_eq!(r.disruption.pods_disrupted.total, 0, "{kind:?}");
    }
}

/// Spot m5.xlarge for both autoscalers, interruptions at a rate that reclaims most nodes.
fn spot_day() -> String {
    both(
        9,
        "6h",
        "  cloud:\n    spot:\n      interruptions: {perHour: 0.2}\n",
        "{name: spot, instanceTypes: [m5.xlarge], capacityType: spot, maxSize: 20}",
        "spot",
        20,
        "",
    )
}

// docs/reports.md `disruption.pods_disrupted`: a pod killed when its spot instance is
// reclaimed is disrupted as much as an evicted one. cluster-autoscaler without a termination
// handler lets EC2 take the node with its pods (`reclaimed`); Karpenter drains on the warning
// (`evicted`). Either way the pods count, and the nodes count as `interrupted`.
#[test]
fn pods_lost_with_a_reclaimed_spot_node_count_as_disrupted_for_both_autoscalers() {
    let l = load_text(&spot_day());
    let ca = report(&l.sc, AutoscalerKind::ClusterAutoscaler);
    let k = report(&l.sc, AutoscalerKind::Karpenter);
    for (name, r) in [("cluster-autoscaler", &ca), ("karpenter", &k)] {
        let d = &r.disruption;
        assert!(d.spot_interruptions > 0, "{name}: {d:?}");
        assert!(d.nodes_removed.interrupted > 0, "{name}: {d:?}");
        assert!(d.pods_disrupted.total > 0, "{name}: {d:?}");
        assert_eq!(
            d.pods_disrupted.total,
            d.pods_disrupted.evicted
                + d.pods_disrupted.reclaimed
                + d.pods_disrupted.deleted_with_node
        );
    }
    assert!(
        ca.disruption.pods_disrupted.reclaimed > 0,
        "{:?}",
        ca.disruption
    );
    assert!(
        k.disruption.pods_disrupted.evicted > 0,
        "{:?}",
        k.disruption
    );
}

// docs/reports.md `utilization`: workload requests over allocatable on Ready nodes, DaemonSet
// requests apart; `nodes.launched` counts autoscaler-launched nodes only (static ones are
// `nodes.static`). One static m5.large (1930m allocatable) holding a 965m pod and a 193m
// DaemonSet pod: 50 % and 10 %, not 60 %.
#[test]
fn utilization_is_the_workload_share_of_ready_capacity_with_daemonsets_apart() {
    let text = r#"apiVersion: autoscale-sim/v1alpha1
kind: Scenario
metadata: {name: one-node}
spec:
  seed: 1
  duration: 2h
  region: us-east-1
  autoscaler: none
  staticNodes:
    - {instanceType: m5.large, count: 1}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
        - {name: c, image: agent, resources: {requests: {cpu: 193m, memory: 64Mi}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: c, image: nginx, resources: {requests: {cpu: 965m, memory: 1Gi}}}
"#;
    let l = load_text(text);
    let r = report(&l.sc, AutoscalerKind::None);
    assert_eq!(r.utilization.cpu, 0.5, "{:?}", r.utilization);
    assert_eq!(r.utilization.daemonset_cpu, 0.1, "{:?}", r.utilization);
    assert_eq!(r.nodes.launched, 0);
    assert_eq!(r.nodes.static_nodes, 1);
    assert_eq!(r.disruption.churn.launches_per_hour, 0.0);
    // 2 h of m5.large on demand ($0.096/h) for 0.965 vCPU requested over 2 h.
    let expected = 0.096 * 2.0 / (0.965 * 2.0);
    assert!(
        (r.cost.per_requested_vcpu_hour - expected).abs() < 1e-3,
        "{} vs {expected}",
        r.cost.per_requested_vcpu_hour
    );
}
