//! cluster-autoscaler's "why": the reasons it records for keeping a node (`no-scale-down`,
//! cluster-autoscaler: simulator/cluster.go `UnremovableReason`, processors/status) and for not
//! scaling up (`no-scale-up`, `not-trigger-scale-up`), and the node-level controls those
//! reasons name: the `scale-down-disabled` node annotation, the ASG `autoscaling-options` tags
//! and the `--cores-total` / `--memory-total` minimums (docs/model/cluster-autoscaler.md §3.6,
//! §4.2, §4.4; issue 15 items 5 and 7).

mod common;

use common::ca::{MIN, Outcome, events, load, load_err, run_ca, scenario, t};
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use autoscale_sim::catalog::Catalog;
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{Cluster, Node, NodeOwner, OwnerKind, PodTemplate};
use autoscale_sim::cluster_autoscaler::nodegroup::NodeGroups;
use autoscale_sim::cluster_autoscaler::scale_down::{Candidate, Planner};
use autoscale_sim::cluster_autoscaler::{Flags, GroupId, NodeGroupSpec};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;

fn deployment(name: &str, replicas: u32, cpu: &str, annotations: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}, annotations: {{{annotations}}}}}\n    spec:\n      containers:\n        - {{name: c, image: nginx, resources: {{requests: {{cpu: \"{cpu}\", memory: 512Mi}}}}}}\n"
    )
}

/// The no-scale-down records of one node, in order.
fn reasons_of<'a>(o: &'a Outcome, node: &str) -> Vec<&'a str> {
    events(o, "no-scale-down")
        .into_iter()
        .filter(|e| e["node"] == node)
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect()
}

// ---- item 7: why a node stayed ----------------------------------------------------------

/// Three nodes of m5.large (about 1.93 CPU allocatable): two hold a 1.5-CPU `web` pod (78 %,
/// `NotUnderutilized`), one a 0.5-CPU pod annotated `safe-to-evict: "false"` (26 %, under the
/// threshold, but `BlockedByPod` with rule `NotSafeToEvictAnnotation`, cluster-autoscaler:
/// simulator/drainability/rules/notsafetoevict). At 20 min `web` goes to one replica: the node
/// it leaves is empty, `NotUnneededLongEnough` until the 10-minute unneeded time is up, then
/// removed. A static node is `NotAutoscaled`. Each reason is written once, when it changes —
/// not in each of the ~200 loops.
#[test]
fn no_scale_down_records_each_nodes_unremovable_reason_once_per_change() {
    let manifests = format!(
        "{}---\n{}",
        deployment("web", 2, "1500m", ""),
        deployment(
            "pinned",
            1,
            "500m",
            "cluster-autoscaler.kubernetes.io/safe-to-evict: \"false\""
        )
    );
    let yaml = scenario(
        "status",
        "40m",
        "",
        "      - {name: small, instanceTypes: [m5.large], zones: [us-east-1a], maxSize: 10}\n",
        "    - at: 20m\n      scale: {deployment: web, replicas: 1}\n",
        "  staticNodes:\n    - {instanceType: t3.micro, zone: us-east-1a, taints: [{key: static, value: \"x\", effect: NoSchedule}]}\n",
        &manifests,
    );
    let o = run_ca(&load(&yaml));
    assert_eq!(reasons_of(&o, "static-1"), vec!["NotAutoscaled"]);
    let all = events(&o, "no-scale-down");
    let blocked: Vec<&&Value> = all
        .iter()
        .filter(|e| e["reason"] == "BlockedByPod")
        .collect();
    assert_eq!(
        blocked.len(),
        1,
        "written once, not every loop: {blocked:?}"
    );
    assert_eq!(blocked[0]["rule"], "NotSafeToEvictAnnotation");
    assert_eq!(blocked[0]["group"], "small");
    assert!(
        blocked[0]["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("default/pinned-")),
        "{}",
        blocked[0]
    );
    let busy: Vec<&&Value> = all
        .iter()
        .filter(|e| e["reason"] == "NotUnderutilized")
        .collect();
    assert_eq!(busy.len(), 2, "{busy:?}");
    assert!(busy.iter().all(|e| e["utilization"].as_f64() > Some(0.5)));

    let down = events(&o, "scale-down");
    assert_eq!(down.len(), 1, "{down:?}");
    let node = down[0]["node"].as_str().expect("node");
    let seq: Vec<&str> = reasons_of(&o, node);
    assert_eq!(seq, vec!["NotUnderutilized", "NotUnneededLongEnough"]);
    let waiting = all
        .iter()
        .find(|e| e["node"] == node && e["reason"] == "NotUnneededLongEnough")
        .expect("waiting record");
    assert!(t(waiting) >= 20.0 * MIN && t(waiting) < 21.0 * MIN);
    assert!(t(down[0]) >= t(waiting) + 10.0 * MIN);
    assert!(all.len() <= 8, "a handful of lines for 40 minutes: {all:?}");
}

/// No-scale-up names what stopped it (cluster-autoscaler: processors/status,
/// core/scaleup/orchestrator `SkippedReasons`): with the only group at max size, the pods left
/// pending get `MaxSizeReached` with the group named; a pod larger than any template gets its
/// own `not-trigger-scale-up` record, once, with the predicate each group fails.
#[test]
fn no_scale_up_names_max_size_and_a_pod_no_template_fits() {
    let manifests = format!(
        "{}---\n{}",
        deployment("web", 0, "1500m", ""),
        deployment("huge", 0, "64", "")
    );
    let yaml = scenario(
        "status",
        "15m",
        "",
        "      - {name: small, instanceTypes: [m5.large], zones: [us-east-1a], maxSize: 1}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 3}\n    - at: 1m\n      scale: {deployment: huge, replicas: 1}\n",
        "",
        &manifests,
    );
    let o = run_ca(&load(&yaml));
    let unfit = events(&o, "not-trigger-scale-up");
    assert_eq!(unfit.len(), 1, "{unfit:?}");
    let pods = unfit[0]["pods"].as_array().expect("pods");
    assert_eq!(pods.len(), 1);
    assert!(
        pods[0]
            .as_str()
            .is_some_and(|p| p.starts_with("default/huge-"))
    );
    assert_eq!(unfit[0]["groups"]["small"], "Insufficient cpu");

    let no = events(&o, "no-scale-up");
    assert!(!no.is_empty());
    assert!(
        no.iter().all(|e| e["reason"] != "NoNodeGroupCanHelp"),
        "{no:?}"
    );
    let at_max = no
        .iter()
        .find(|e| e["reason"] == "MaxSizeReached")
        .expect("MaxSizeReached");
    assert_eq!(at_max["groups"]["small"], "MaxSizeReached");
    assert!(o.unschedulable_at_end >= 3);
}

// ---- item 5: node-level controls ---------------------------------------------------------

/// `web` fills two m5.large nodes until 10 min, then goes: both nodes are empty.
fn emptied(flags: &str, group_extra: &str) -> String {
    scenario(
        "status",
        "40m",
        flags,
        &format!(
            "      - {{name: small, instanceTypes: [m5.large], zones: [us-east-1a], maxSize: 10{group_extra}}}\n"
        ),
        "    - at: 10m\n      scale: {deployment: web, replicas: 0}\n",
        "",
        &deployment("web", 2, "1500m", ""),
    )
}

/// FAQ "How can I prevent Cluster Autoscaler from scaling down a particular node?": a node
/// annotated `cluster-autoscaler.kubernetes.io/scale-down-disabled: "true"` is never removed
/// (cluster-autoscaler: core/scaledown/eligibility/eligibility.go), and its status says so.
#[test]
fn the_scale_down_disabled_annotation_keeps_a_node() {
    let plain = run_ca(&load(&emptied("", "")));
    assert_eq!(events(&plain, "scale-down").len(), 2);

    let kept = run_ca(&load(&emptied(
        "",
        ", annotations: {cluster-autoscaler.kubernetes.io/scale-down-disabled: \"true\"}",
    )));
    assert!(events(&kept, "scale-down").is_empty());
    let why = events(&kept, "no-scale-down");
    assert_eq!(why.len(), 2, "one record per node: {why:?}");
    assert!(
        why.iter()
            .all(|e| e["reason"] == "ScaleDownDisabledAnnotation")
    );
}

/// cluster-autoscaler: cloudprovider/aws/README.md, "node-template/autoscaling-options" tags
/// (`GetAsgOptions` in aws_manager.go): an ASG's `scaledownunneededtime` replaces
/// `--scale-down-unneeded-time` for its nodes, and `scaledownutilizationthreshold` the
/// utilization threshold.
#[test]
fn asg_autoscaling_options_tags_override_the_scale_down_flags() {
    const TAG: &str = "k8s.io/cluster-autoscaler/node-template/autoscaling-options";
    let plain = run_ca(&load(&emptied("", "")));
    let fast = run_ca(&load(&emptied(
        "",
        &format!(", tags: {{{TAG}/scaledownunneededtime: 3m}}"),
    )));
    let first = |o: &Outcome| t(events(o, "scale-down")[0]);
    assert!(first(&plain) >= 20.0 * MIN, "{}", first(&plain));
    assert!(
        first(&fast) >= 13.0 * MIN && first(&fast) < 14.0 * MIN,
        "{}",
        first(&fast)
    );

    // The threshold, on the planner itself: n0 at 25 % with room on n1 is unneeded under the
    // 0.5 flag, and not under a group whose tag says 0.2.
    let unneeded = |tags: serde_json::Value| {
        let spec: NodeGroupSpec = serde_json::from_value(serde_json::json!({
            "name": "ng", "instanceTypes": ["m5.large"], "maxSize": 10,
            "zones": ["us-east-1a"], "tags": tags
        }))
        .expect("a node group");
        let cat = Catalog::embedded("us-east-1").expect("catalog");
        let groups =
            NodeGroups::from_specs(&[spec], &["us-east-1a".to_string()], "us-east-1", &cat, 0)
                .expect("valid group");
        let mut c = Cluster::new(SchedulerSettings::default());
        let mut ids = Vec::new();
        for i in 0..2 {
            let mut alloc = Resources::new(2000, 8 << 30);
            alloc.pods = 29;
            let mut n = Node::new(
                format!("n{i}"),
                BTreeMap::new(),
                Vec::new(),
                alloc.clone(),
                alloc,
                NodeOwner::NodeGroup("ng".into()),
                None,
                SimTime::ZERO,
                true,
            );
            n.labels
                .insert("kubernetes.io/hostname".into(), format!("n{i}"));
            ids.push(c.add_node(n));
        }
        let mut r = Resources::new(500, 256 << 20);
        r.pods = 1;
        let pod = c.create_pod(
            SimTime::ZERO,
            "w".into(),
            Arc::new(PodTemplate {
                namespace: "default".into(),
                requests: r,
                ..Default::default()
            }),
            OwnerKind::ReplicaSet,
            0,
            false,
        );
        c.bind(pod, ids[0], SimTime::ZERO);
        c.mark_running(pod, SimTime::ZERO);
        let mut p = Planner::default();
        let cand = [Candidate {
            node: ids[0],
            group: GroupId(0),
        }];
        p.update(
            &c,
            &cand,
            &groups,
            &Flags::default().scale_down,
            SimTime(60_000),
        );
        p.unneeded.contains_key(&ids[0])
    };
    assert!(unneeded(serde_json::json!({})));
    assert!(!unneeded(serde_json::json!({
        format!("{TAG}/scaledownutilizationthreshold"): "0.2"
    })));

    // A tag the simulator cannot read is an error naming it, as a bad flag is.
    let e = load_err(&emptied(
        "",
        &format!(", tags: {{{TAG}/scaledownunneededtime: soon}}"),
    ));
    assert!(
        e.contains("nodeGroups[0].tags.k8s.io/cluster-autoscaler/node-template/autoscaling-options/scaledownunneededtime"),
        "{e}"
    );
    let e = load_err(&emptied(
        "",
        &format!(", tags: {{{TAG}/scaledowntime: 3m}}"),
    ));
    assert!(e.contains("unknown autoscaling option"), "{e}");
}

/// `--cores-total=<min>:<max>`: a scale-down that would leave the cluster below the minimum is
/// refused, `MinimalResourceLimitExceeded` (cluster-autoscaler: core/scaledown/unneeded/nodes.go
/// `RemovableAt`, core/scaledown/resource/limits.go). Two m5.large nodes have 4 cores; with a
/// minimum of 2 one may go, with 3 neither.
#[test]
fn cores_total_minimum_refuses_a_scale_down_below_it() {
    let one = run_ca(&load(&emptied("cores-total: \"2:100\"", "")));
    assert_eq!(events(&one, "scale-down").len(), 1);
    let none = run_ca(&load(&emptied("cores-total: \"3:100\"", "")));
    assert!(events(&none, "scale-down").is_empty());
    let why = events(&none, "no-scale-down");
    let limited: Vec<&&Value> = why
        .iter()
        .filter(|e| e["reason"] == "MinimalResourceLimitExceeded")
        .collect();
    assert_eq!(limited.len(), 2, "{why:?}");
    assert_eq!(limited[0]["resource"], "cpu");
    let mem = run_ca(&load(&emptied("memory-total: \"16:1000\"", "")));
    assert!(events(&mem, "scale-down").is_empty());
}
