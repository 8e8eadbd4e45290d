//! cluster-autoscaler behaviour (docs/model/cluster-autoscaler.md): each test runs a small
//! scenario (or, for drainability, the scale-down planner on a hand-built cluster) and checks a
//! documented behaviour in the decision log or the run's outcome.

mod common;

use common::ca::{MIN, Outcome, events, load, load_err, run_ca, scenario, t};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use assert_cmd::cargo::cargo_bin_cmd;
use autoscale_sim::catalog::Catalog;
use autoscale_sim::cluster::scheduler::SchedulerSettings;
use autoscale_sim::cluster::{
    Cluster, IntOrPercent, Node, NodeId, NodeOwner, OwnerKind, Pdb, PodTemplate,
};
use autoscale_sim::cluster_autoscaler::decision::Unremovable;
use autoscale_sim::cluster_autoscaler::nodegroup::NodeGroups;
use autoscale_sim::cluster_autoscaler::scale_down::{Candidate, Planner};
use autoscale_sim::cluster_autoscaler::{Flags, GroupId, NodeGroupSpec};
use autoscale_sim::engine::SimTime;
use autoscale_sim::k8s::resources::Resources;
use autoscale_sim::k8s::selector::LabelSelector;
use autoscale_sim::run::{make_autoscaler, run_to_end};
use autoscale_sim::workload::{AutoscalerKind, Scenario};
use serde_json::Value;

fn deployment(name: &str, replicas: u32, cpu: &str, mem: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{extra_spec}      containers:\n        - {{name: c, image: nginx, resources: {{requests: {{cpu: \"{cpu}\", memory: {mem}}}}}}}\n"
    )
}

// ---- scale-up ----------------------------------------------------------------------------

/// §3.4: least-waste scores wasted CPU + wasted memory of the new nodes' capacity; 1 CPU / 1.5
/// GiB pods waste far less memory on c5.xlarge (4 CPU / 8 GiB) than on r5.xlarge (32 GiB).
#[test]
fn least_waste_picks_the_group_with_the_least_wasted_cpu_and_memory() {
    let yaml = scenario(
        "least-waste",
        "20m",
        "expander: least-waste",
        "      - {name: memory, instanceTypes: [r5.xlarge], maxSize: 10}\n      - {name: compute, instanceTypes: [c5.xlarge], maxSize: 10}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 8}\n",
        "",
        &deployment("web", 0, "1", "1536Mi", ""),
    );
    let o = run_ca(&load(&yaml));
    let ups = events(&o, "scale-up");
    let first = ups.first().expect("a scale-up");
    assert_eq!(first["group"], "compute");
    assert_eq!(first["chosen_by"], "least-waste");
    let considered = first["considered"].as_array().expect("considered");
    assert_eq!(considered.len(), 2, "both groups were options: {first}");
    assert_eq!(o.unschedulable_at_end, 0);
}

/// §3.4: the priority expander keeps the options of the highest priority whose regexes match
/// the group name — from the node groups' `priority` or from the priority ConfigMap rules.
#[test]
fn priority_expander_honours_its_rules() {
    let groups = "      - {name: cheap, instanceTypes: [m5.xlarge], maxSize: 10, priority: 10}\n      - {name: preferred, instanceTypes: [m5.xlarge], maxSize: 10, priority: 50}\n";
    let timeline = "    - at: 1m\n      scale: {deployment: web, replicas: 6}\n";
    let web = deployment("web", 0, "1", "1Gi", "");
    let by_group_priority = run_ca(&load(&scenario(
        "prio",
        "15m",
        "expander: priority",
        groups,
        timeline,
        "",
        &web,
    )));
    let ups = events(&by_group_priority, "scale-up");
    assert!(!ups.is_empty());
    assert!(ups.iter().all(|e| e["group"] == "preferred"), "{ups:?}");
    assert_eq!(ups[0]["chosen_by"], "priority");

    // ConfigMap-style rules on top: priority 100 for names starting with "che".
    let flags = "expander: priority, sim-priority-expander-config: {\"100\": [\"^che\"]}";
    let by_rules = run_ca(&load(&scenario(
        "prio-rules",
        "15m",
        flags,
        groups,
        timeline,
        "",
        &web,
    )));
    let ups = events(&by_rules, "scale-up");
    assert!(!ups.is_empty());
    assert!(ups.iter().all(|e| e["group"] == "cheap"), "{ups:?}");
}

/// The priority expander's ConfigMap with `priorities` as written (indented under `data`).
fn priority_configmap(name: &str, namespace: &str, priorities: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata:\n  priorities: |-\n{priorities}---\n"
    )
}

/// Two same-shaped groups and six 1-CPU pods at 1 min, under `expander: priority`.
fn priority_scenario(groups_priority: bool, configmaps: &str) -> String {
    let groups = if groups_priority {
        "      - {name: cheap, instanceTypes: [m5.xlarge], maxSize: 10, priority: 10}\n      - {name: preferred, instanceTypes: [m5.xlarge], maxSize: 10, priority: 50}\n"
    } else {
        "      - {name: cheap, instanceTypes: [m5.xlarge], maxSize: 10}\n      - {name: preferred, instanceTypes: [m5.xlarge], maxSize: 10}\n"
    };
    scenario(
        "prio-cm",
        "15m",
        "expander: priority",
        groups,
        "    - at: 1m\n      scale: {deployment: web, replicas: 6}\n",
        "",
        &format!("{configmaps}{}", deployment("web", 0, "1", "1Gi", "")),
    )
}

/// §3.4: the priority expander reads the ConfigMap `cluster-autoscaler-priority-expander` in
/// `kube-system`: `data.priorities` maps an integer priority to regexes over node-group names,
/// the highest matching priority wins (cluster-autoscaler: `expander/priority/priority.go`,
/// `expander/priority/readme.md`). Other ConfigMaps (another name, another namespace) are
/// accepted and ignored.
#[test]
fn the_priority_expander_reads_its_configmap() {
    let cms = format!(
        "{}{}{}",
        priority_configmap("settings", "default", "    anything: 1\n"),
        priority_configmap(
            "cluster-autoscaler-priority-expander",
            "default",
            "    100:\n      - ^cheap$\n"
        ),
        priority_configmap(
            "cluster-autoscaler-priority-expander",
            "kube-system",
            "    10:\n      - .*\n    50:\n      - ^pref.*\n"
        ),
    );
    let o = run_ca(&load(&priority_scenario(false, &cms)));
    let ups = events(&o, "scale-up");
    assert!(!ups.is_empty());
    assert!(ups.iter().all(|e| e["group"] == "preferred"), "{ups:?}");
    assert_eq!(ups[0]["chosen_by"], "priority");
    assert_eq!(o.unschedulable_at_end, 0);
}

/// §3.4: rules given both by the ConfigMap and by the node groups' `priority` fields are a
/// located error (one of them would be dropped); so are a bad regex and bad YAML in
/// `data.priorities`, and `run` exits 2 on them.
#[test]
fn a_bad_or_doubled_priority_expander_configmap_is_a_located_error() {
    let cm = |p: &str| priority_configmap("cluster-autoscaler-priority-expander", "kube-system", p);
    let err = load_err(&priority_scenario(true, &cm("    10:\n      - .*\n")));
    assert!(
        err.contains("ConfigMap/cluster-autoscaler-priority-expander"),
        "{err}"
    );
    assert!(err.contains("nodeGroups[0].priority"), "{err}");
    assert!(err.contains("scenario.yaml:"), "{err}");

    let err = load_err(&priority_scenario(
        false,
        &cm("    10:\n      - \"(unclosed\"\n"),
    ));
    assert!(err.contains("data.priorities"), "{err}");
    assert!(
        err.contains("can't compile regexp rule for priority 10"),
        "{err}"
    );

    for bad in [
        "    ten:\n      - .*\n",
        "    10: [unclosed\n",
        "    10: 5\n",
    ] {
        let err = load_err(&priority_scenario(false, &cm(bad)));
        assert!(err.contains("data.priorities"), "{bad:?}: {err}");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prio.yaml");
    std::fs::write(
        &path,
        priority_scenario(false, &cm("    10:\n      - \"[\"\n")),
    )
    .expect("write");
    cargo_bin_cmd!("autoscale-sim")
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("data.priorities"));
}

/// §3.2: a group whose target is at its max size is not an option; the next loop's scale-up
/// goes to another group.
#[test]
fn a_group_at_max_size_is_skipped() {
    let yaml = scenario(
        "at-max",
        "20m",
        "expander: priority",
        "      - {name: preferred, instanceTypes: [m5.xlarge], maxSize: 2, priority: 50}\n      - {name: fallback, instanceTypes: [m5.xlarge], maxSize: 20, priority: 10}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 24}\n",
        "",
        &deployment("web", 0, "900m", "1Gi", ""),
    );
    let o = run_ca(&load(&yaml));
    let ups = events(&o, "scale-up");
    assert!(ups.len() >= 2, "{ups:?}");
    assert_eq!(ups[0]["group"], "preferred");
    assert_eq!(
        ups[0]["groups"][0]["to"], 2,
        "capped at max size: {}",
        ups[0]
    );
    let later = ups[1];
    assert_eq!(later["group"], "fallback");
    let skipped = later["considered"]
        .as_array()
        .expect("considered")
        .iter()
        .find(|c| c["group"] == "preferred")
        .expect("preferred considered");
    assert_eq!(skipped["skipped"], "MaxSizeReached");
    assert_eq!(o.unschedulable_at_end, 0);
}

/// §3.7 / §2.4: nodes requested but not Ready are injected as template nodes, so the pods they
/// will host are not pending to CA and no second scale-up is made while they boot.
#[test]
fn upcoming_nodes_absorb_pending_pods() {
    // 900m pods: 4 per m5.xlarge on the template (4000m) and on the real node (3920m).
    let yaml = scenario(
        "upcoming",
        "20m",
        "",
        "      - {name: general, instanceTypes: [m5.xlarge], maxSize: 30}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 40}\n",
        "",
        &deployment("web", 0, "900m", "1Gi", ""),
    );
    let o = run_ca(&load(&yaml));
    let ups = events(&o, "scale-up");
    assert_eq!(ups.len(), 1, "one scale-up for the burst: {ups:?}");
    assert_eq!(ups[0]["nodes"], 10);
    // Pods stayed pending through several loops (10 s scan interval) while the nodes booted.
    let last_bound = o.bound_s.iter().flatten().copied().fold(0.0, f64::max);
    assert!(
        last_bound - t(ups[0]) > 30.0,
        "nodes boot for more than three loops: scale-up at {}, last bind at {last_bound}",
        t(ups[0])
    );
    assert_eq!(o.unschedulable_at_end, 0);
    assert_eq!(o.peak_nodes, 10);
}

/// §3.3: the binpacking estimator checks pods against the template nodes with the scheduler's
/// predicates, required pod anti-affinity included: six replicas that must not share a
/// hostname need six new nodes although all six would fit on one m5.xlarge.
#[test]
fn required_hostname_anti_affinity_gives_one_new_node_per_replica() {
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - labelSelector: {matchLabels: {app: web}}\n              topologyKey: kubernetes.io/hostname\n";
    let nodes_for = |extra: &str| {
        let yaml = scenario(
            "anti-affinity",
            "10m",
            "",
            "      - {name: general, instanceTypes: [m5.xlarge], maxSize: 10}\n",
            "    - at: 1m\n      scale: {deployment: web, replicas: 6}\n",
            "",
            &deployment("web", 0, "250m", "256Mi", extra),
        );
        let o = run_ca(&load(&yaml));
        let ups = events(&o, "scale-up");
        assert_eq!(ups.len(), 1, "one scale-up: {ups:?}");
        assert_eq!(o.unschedulable_at_end, 0);
        (ups[0]["nodes"].as_u64().expect("nodes"), o.peak_nodes)
    };
    assert_eq!(nodes_for(anti), (6, 6));
    assert_eq!(nodes_for(""), (1, 1));
}

/// §3.8 / §5.4: an ASG that cannot launch records a failed scaling activity; CA sees it at the
/// next 60 s refresh, backs the group off and resets its desired capacity. Each new failure
/// after the backoff expired doubles it: 5 → 10 → 20 → 30 minutes.
#[test]
fn backoff_doubles_after_failed_provisioning() {
    let yaml = scenario(
        "backoff",
        "50m",
        "",
        "      - {name: spot, instanceTypes: [m5.xlarge], capacityType: spot, maxSize: 10}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 8}\n",
        "  cloud:\n    capacity:\n      - {instanceTypes: [m5.xlarge], capacityType: spot}\n",
        &deployment("web", 0, "1", "1Gi", ""),
    );
    let o = run_ca(&load(&yaml));
    let fails = events(&o, "scale-up-failed");
    let backoffs: Vec<u64> = fails
        .iter()
        .map(|e| e["backoff_s"].as_u64().expect("backoff"))
        .collect();
    assert_eq!(backoffs, vec![300, 600, 1200, 1800], "{fails:?}");
    assert!(fails.iter().all(|e| e["reason"] == "OutOfResources"));
    let ups = events(&o, "scale-up");
    assert_eq!(ups.len(), fails.len());
    for (up, fail) in ups.iter().zip(&fails) {
        // Detected at the next ASG refresh: within a minute plus dispatch and a loop.
        let detect = t(fail) - t(up);
        assert!(detect > 0.0 && detect <= 100.0, "detected after {detect} s");
    }
    for (fail, next) in fails.iter().zip(ups.iter().skip(1)) {
        let wait = t(next) - t(fail);
        let backoff = fail["backoff_s"].as_f64().expect("backoff");
        assert!(
            wait >= backoff,
            "retried after {wait} s, backoff {backoff} s"
        );
    }
}

// ---- scale-down --------------------------------------------------------------------------

const DRAIN_MANIFESTS_TIMELINE: &str = "    - at: 5m\n      apply: {deployment: b}\n    - at: 15m\n      scale: {deployment: a, replicas: 1}\n    - at: 15m\n      scale: {deployment: b, replicas: 2}\n";

fn drain_scenario(flags: &str) -> String {
    let manifests = format!(
        "{}---\n{}",
        deployment("a", 4, "450m", "512Mi", ""),
        deployment("b", 4, "450m", "512Mi", "")
    );
    scenario(
        "unneeded",
        "45m",
        flags,
        "      - {name: small, instanceTypes: [m5.large], maxSize: 10}\n",
        DRAIN_MANIFESTS_TIMELINE,
        "",
        &manifests,
    )
}

/// §4.2 / §4.4: at 15 min the first node falls to 23 % utilization (≤ 0.5) and its pod fits on
/// the other node; it is drained only once it has been unneeded for
/// `--scale-down-unneeded-time` (10 min, here also 5 min).
#[test]
fn a_node_under_the_threshold_is_removed_only_after_the_unneeded_time() {
    for (flags, unneeded) in [
        ("", 10.0 * MIN),
        ("scale-down-unneeded-time: 5m", 5.0 * MIN),
    ] {
        let o = run_ca(&load(&drain_scenario(flags)));
        let downs = events(&o, "scale-down");
        assert_eq!(downs.len(), 1, "{downs:?}");
        let d = downs[0];
        assert_eq!(d["kind"], "drain");
        assert!(d["utilization"].as_f64().expect("util") <= 0.5);
        let at = t(d);
        assert!(
            at >= 15.0 * MIN + unneeded && at <= 15.0 * MIN + unneeded + 30.0,
            "removed at {at} s, unneeded time {unneeded} s"
        );
        assert!(d["unneeded_s"].as_f64().expect("unneeded_s") >= unneeded);
        assert_eq!(o.unschedulable_at_end, 0);
    }
}

/// §4.1: no scale-down for `--scale-down-delay-after-add` (10 min) after a scale-up; the
/// unneeded clock keeps running meanwhile.
#[test]
fn the_delay_after_add_blocks_scale_down_for_ten_minutes() {
    let groups = "      - {name: ga, instanceTypes: [m5.large], maxSize: 5, labels: {role: a}}\n      - {name: gb, instanceTypes: [m5.large], maxSize: 5, labels: {role: b}}\n";
    let timeline = "    - at: 2m\n      scale: {deployment: a, replicas: 0}\n    - at: 9m\n      apply: {deployment: b}\n";
    let manifests = format!(
        "{}---\n{}",
        deployment("a", 2, "500m", "512Mi", "      nodeSelector: {role: a}\n"),
        deployment("b", 2, "500m", "512Mi", "      nodeSelector: {role: b}\n")
    );
    let removal = |flags: &str| {
        let o = run_ca(&load(&scenario(
            "delay-after-add",
            "40m",
            flags,
            groups,
            timeline,
            "",
            &manifests,
        )));
        let last_up = events(&o, "scale-up")
            .iter()
            .filter(|e| e["group"] == "gb")
            .map(|e| t(e))
            .next()
            .expect("gb scaled up");
        let down = events(&o, "scale-down")
            .into_iter()
            .find(|e| e["group"] == "ga")
            .map(t)
            .expect("ga's empty node removed");
        (last_up, down)
    };
    let (up, down) = removal("");
    assert!(up > 9.0 * MIN && up < 10.0 * MIN, "gb scaled up at {up}");
    assert!(
        down >= up + 10.0 * MIN && down <= up + 10.0 * MIN + 30.0,
        "ga's node (empty since 2m) removed at {down} s, scale-up at {up} s"
    );
    // Without the delay the node goes as soon as it has been unneeded for 10 minutes.
    let (_, down0) = removal("scale-down-delay-after-add: 0s");
    assert!(
        (12.0 * MIN..13.0 * MIN).contains(&down0),
        "without delay removed at {down0} s"
    );
}

/// A drain that a PodDisruptionBudget holds up: N2 runs `b` (4 × 450m of 1930m); `a` (2 × 250m,
/// a 30 GiB image, PDB maxUnavailable 1) gets its own node N1 at 2 min. At 10 min `b` shrinks
/// to 3, so N1 (26 %) is unneeded and its pods fit on N2. Draining N1 evicts one `a` pod; its
/// replacement pulls the image on N2 for minutes, and until it runs the PDB refuses the second
/// eviction.
fn pdb_blocked_drain_scenario(flags: &str) -> String {
    let a = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata:\n      labels: {app: a}\n      annotations: {autoscale-sim/image-size: 30Gi}\n    spec:\n      containers:\n        - {name: c, image: big, resources: {requests: {cpu: 250m, memory: 256Mi}}}\n";
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: a}\nspec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app: a}}\n";
    let manifests = format!(
        "{}---\n{a}---\n{pdb}",
        deployment("b", 4, "450m", "512Mi", "")
    );
    scenario(
        "pdb-blocked-drain",
        "70m",
        flags,
        "      - {name: small, instanceTypes: [m5.large], maxSize: 10}\n",
        "    - at: 2m\n      apply: {deployment: a}\n    - at: 10m\n      scale: {deployment: b, replicas: 3}\n",
        "",
        &manifests,
    )
}

/// §4.6 step 3 and 6 (`--max-pod-eviction-time`, 2 min, §6): a drain whose evictions a PDB
/// keeps refusing fails after the eviction time — `ScaleDownFailed`, the node is untainted and
/// kept, the pod already evicted stays evicted — and the node is considered again after the
/// 5-minute recheck timeout (§7) and drained later, once the PDB allows it. With a longer
/// eviction time the same drain just waits.
#[test]
fn a_drain_blocked_by_a_pdb_fails_after_the_max_pod_eviction_time() {
    let sc = load(&pdb_blocked_drain_scenario(""));
    let out = run_to_end(&sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    let decisions: Vec<Value> = out
        .sim
        .decisions()
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let of =
        |kind: &str| -> Vec<&Value> { decisions.iter().filter(|e| e["event"] == kind).collect() };
    let downs = of("scale-down");
    let failed = of("scale-down-failed");
    let first = downs.first().expect("the unneeded node is drained");
    assert_eq!(first["kind"], "drain");
    let f = failed.first().expect("the blocked drain fails");
    assert_eq!(f["node"], first["node"]);
    // Taint delay (5 s) + eviction time (120 s) after the decision.
    let waited = t(f) - t(first);
    assert!(
        (124.0..=126.0).contains(&waited),
        "failed {waited} s after the decision"
    );
    let stuck = f["pods"].as_array().expect("pods");
    assert_eq!(
        stuck.len(),
        1,
        "one `a` pod was evicted, the other held: {f}"
    );
    assert!(
        stuck[0]
            .as_str()
            .is_some_and(|p| p.starts_with("default/a-"))
    );
    // The node came back into service and was drained again later, successfully.
    let again = downs
        .iter()
        .find(|e| e["node"] == first["node"] && t(e) > t(f))
        .expect("the node is drained again once the PDB allows it");
    // Not looked at for the 5-minute recheck timeout, then a fresh 10-minute unneeded clock.
    assert!(t(again) >= t(f) + 15.0 * MIN, "drained again at {again}");
    assert_eq!(failed.len(), 1, "{failed:?}");
    // The aborted drain is not counted as a disruption; the successful one is.
    assert_eq!(out.report.disruption.nodes_removed.underutilized, 1);
    assert_eq!(out.report.pods.unschedulable_at_end, 0);

    // With `--max-pod-eviction-time` 30m the first drain waits for the PDB and succeeds.
    let o = run_ca(&load(&pdb_blocked_drain_scenario(
        "max-pod-eviction-time: 30m",
    )));
    assert!(events(&o, "scale-down-failed").is_empty());
    assert_eq!(events(&o, "scale-down").len(), 1);
}

fn node(id: u32, cpu_m: i64, group: &str) -> Node {
    let mut alloc = Resources::new(cpu_m, 8 << 30);
    alloc.pods = 29;
    Node {
        id: NodeId(id),
        name: format!("n{id}"),
        labels: BTreeMap::from([("kubernetes.io/hostname".to_string(), format!("n{id}"))]),
        annotations: BTreeMap::new(),
        taints: Vec::new(),
        capacity: alloc.clone(),
        allocatable: alloc,
        requested: Resources::default(),
        pods: Default::default(),
        pod_templates: Vec::new(),
        host_ports: Vec::new(),
        images: Default::default(),
        ready: true,
        unschedulable: false,
        deleting: false,
        owner: NodeOwner::NodeGroup(group.into()),
        instance: None,
        created_at: SimTime::ZERO,
        ready_at: Some(SimTime::ZERO),
        last_pod_event: SimTime::ZERO,
        pods_version: 0,
    }
}

/// The node group `ng` the hand-built clusters' nodes belong to (the planner reads a group's
/// ASG-tag overrides).
fn groups_ng() -> NodeGroups {
    let spec: NodeGroupSpec = serde_json::from_value(serde_json::json!({
        "name": "ng", "instanceTypes": ["m5.large"], "maxSize": 10, "zones": ["us-east-1a"]
    }))
    .expect("a node group");
    let cat = Catalog::embedded("us-east-1").expect("catalog");
    NodeGroups::from_specs(
        &[spec],
        &["us-east-1a".to_string()],
        "us-east-1",
        &cat,
        900_000,
    )
    .expect("valid group")
}

fn pod_template(namespace: &str, app: &str, cpu_m: i64) -> Arc<PodTemplate> {
    let mut r = Resources::new(cpu_m, 256 << 20);
    r.pods = 1;
    Arc::new(PodTemplate {
        namespace: namespace.into(),
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        requests: r,
        termination_grace_ms: 30_000,
        ..Default::default()
    })
}

/// Two nodes; n0 holds a kube-system pod (replicated, no PDB) at 5 % utilization, n1 has room.
fn cluster_with_system_pod(pdb: bool) -> Cluster {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n0 = c.add_node(node(0, 2000, "ng"));
    let n1 = c.add_node(node(1, 2000, "ng"));
    let now = SimTime::ZERO;
    let sys = c.create_pod(
        now,
        "coredns-1".into(),
        pod_template("kube-system", "coredns", 100),
        OwnerKind::ReplicaSet,
        0,
        false,
    );
    c.bind(sys, n0, now);
    c.mark_running(sys, now);
    let web = c.create_pod(
        now,
        "web-1".into(),
        pod_template("default", "web", 500),
        OwnerKind::ReplicaSet,
        1,
        false,
    );
    c.bind(web, n1, now);
    c.mark_running(web, now);
    if pdb {
        c.pdbs.push(Pdb {
            name: "coredns".into(),
            namespace: "kube-system".into(),
            selector: LabelSelector {
                match_labels: BTreeMap::from([("app".to_string(), "coredns".to_string())]),
                match_expressions: Vec::new(),
            },
            min_available: None,
            max_unavailable: Some(IntOrPercent::Int(1)),
        });
    }
    c
}

/// §4.3: a kube-system pod with no PodDisruptionBudget blocks the removal of its node
/// (`UnmovableKubeSystemPod`) — until it is older than
/// `--blocking-system-pod-distruption-timeout` (1 h); with a PDB that allows a disruption the
/// node is unneeded.
#[test]
fn a_kube_system_pod_without_a_pdb_blocks_scale_down() {
    let s = Flags::default().scale_down;
    let candidates = [Candidate {
        node: NodeId(0),
        group: GroupId(0),
    }];
    let t = SimTime(60_000);

    let c = cluster_with_system_pod(false);
    let mut p = Planner::default();
    p.update(&c, &candidates, &groups_ng(), &s, t);
    assert!(p.unneeded.is_empty());
    assert_eq!(
        p.unremovable.get(&NodeId(0)).map(|(_, b)| b.clone()),
        Some(Unremovable::BlockedByPod {
            pod: "kube-system/coredns-1".into(),
            rule: "UnmovableKubeSystemPod"
        })
    );

    let c = cluster_with_system_pod(true);
    let mut p = Planner::default();
    p.update(&c, &candidates, &groups_ng(), &s, t);
    assert!(p.unneeded.contains_key(&NodeId(0)), "{:?}", p.unremovable);

    let c = cluster_with_system_pod(false);
    let mut p = Planner::default();
    p.update(&c, &candidates, &groups_ng(), &s, SimTime(3_600_000 + 1));
    assert!(p.unneeded.contains_key(&NodeId(0)), "{:?}", p.unremovable);
}

/// The expendable-pod scenario: two nodes of `web` (1.6 CPU each on m5.large); at 5 min web
/// goes and a 1.5-CPU `filler` of priority −100 arrives and lands on one of the emptied nodes.
/// `global_default`: the low class is the globalDefault and `filler` names no class (web then
/// names a class of value 1000).
fn expendable_scenario(global_default: bool) -> String {
    let (low, web_spec, filler_spec) = if global_default {
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: overprovisioning}\nvalue: -100\nglobalDefault: true\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: normal}\nvalue: 1000\n",
            "      priorityClassName: normal\n",
            "",
        )
    } else {
        (
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: overprovisioning}\nvalue: -100\n",
            "",
            "      priorityClassName: overprovisioning\n",
        )
    };
    let manifests = format!(
        "{low}---\n{}---\n{}",
        deployment("web", 2, "1600m", "1Gi", web_spec),
        deployment("filler", 1, "1500m", "1Gi", filler_spec)
    );
    scenario(
        "expendable",
        "40m",
        "",
        "      - {name: small, instanceTypes: [m5.large], maxSize: 10}\n",
        "    - at: 5m\n      scale: {deployment: web, replicas: 0}\n    - at: 5m\n      apply: {deployment: filler}\n",
        "",
        &manifests,
    )
}

/// §2.4 / §4.3: pods below `--expendable-pods-priority-cutoff` (−10) are not in CA's snapshot
/// (cluster-autoscaler: `FAQ.md` "How does Cluster Autoscaler work with Pod Priority and
/// Preemption?"; `utils/pod/pod.go`, `IsExpendablePod`; `core/static_autoscaler.go`,
/// `FilterOutExpendablePods`): a node holding only one counts as empty (0 %, not 78 %) and is
/// deleted without a "pods arrived" abort, and the evicted expendable pod, pending, does not
/// cause a scale-up. A PriorityClass with `globalDefault: true` gives its value to pods that
/// name no class.
#[test]
fn expendable_pods_do_not_prevent_scale_down_nor_trigger_scale_up() {
    for global_default in [false, true] {
        let o = run_ca(&load(&expendable_scenario(global_default)));
        let downs = events(&o, "scale-down");
        assert_eq!(downs.len(), 2, "both nodes go: {downs:?}");
        for d in &downs {
            assert_eq!(d["kind"], "empty", "{d}");
            assert_eq!(d["utilization"].as_f64(), Some(0.0), "{d}");
        }
        assert!(events(&o, "scale-down-aborted").is_empty());
        let ups = events(&o, "scale-up");
        assert!(ups.iter().all(|e| t(e) < 5.0 * MIN), "{ups:?}");
        // The filler did run on an emptied node before it went.
        assert!(o.bound_s.iter().filter(|b| b.is_some()).count() >= 3);
    }
    // The same scenario with the cutoff below −100: the filler is an ordinary pod.
    let yaml = expendable_scenario(false).replacen(
        "flags: {}",
        "flags: {expendable-pods-priority-cutoff: -1000}",
        1,
    );
    let o = run_ca(&load(&yaml));
    assert_eq!(events(&o, "scale-down").len(), 1);
}

/// Kubernetes allows one `globalDefault` PriorityClass; a second is a located error.
#[test]
fn two_global_default_priority_classes_are_refused() {
    let yaml = expendable_scenario(true).replacen(
        "value: 1000\n",
        "value: 1000\nglobalDefault: true\n",
        1,
    );
    let err = load_err(&yaml);
    assert!(err.contains("PriorityClass/normal: globalDefault"), "{err}");
    assert!(err.contains("already marked as default"), "{err}");
}

/// n0 holds one replicated 100m pod with `volumes` (local volume names) and `annotation`
/// (`safe-to-evict-local-volumes`); n1 has room. Is n0 unneeded?
fn unneeded_with_local_volumes(volumes: &[&str], annotation: Option<&str>) -> bool {
    let mut c = Cluster::new(SchedulerSettings::default());
    let n0 = c.add_node(node(0, 2000, "ng"));
    c.add_node(node(1, 2000, "ng"));
    let mut t = (*pod_template("default", "web", 100)).clone();
    t.local_volumes = volumes.iter().map(|v| v.to_string()).collect();
    if let Some(a) = annotation {
        t.annotations.insert(
            "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes".into(),
            a.into(),
        );
    }
    let now = SimTime::ZERO;
    let p = c.create_pod(
        now,
        "web-1".into(),
        Arc::new(t),
        OwnerKind::ReplicaSet,
        0,
        false,
    );
    c.bind(p, n0, now);
    c.mark_running(p, now);
    let mut planner = Planner::default();
    let candidates = [Candidate {
        node: NodeId(0),
        group: GroupId(0),
    }];
    planner.update(
        &c,
        &candidates,
        &groups_ng(),
        &Flags::default().scale_down,
        SimTime(60_000),
    );
    planner.unneeded.contains_key(&NodeId(0))
}

/// §4.3: every node-local volume (hostPath, emptyDir not backed by `Memory`) must be named in
/// `cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes`, else the pod blocks
/// (cluster-autoscaler: `simulator/drainability/rules/localstorage/rule.go`,
/// `utils/drain/drain.go` `HasBlockingLocalStorage`; `FAQ.md` "What types of pods can prevent
/// CA from removing a node?").
#[test]
fn local_volumes_block_scale_down_unless_all_are_listed_safe_to_evict() {
    assert!(unneeded_with_local_volumes(&[], None));
    assert!(!unneeded_with_local_volumes(&["scratch"], None));
    assert!(unneeded_with_local_volumes(&["scratch"], Some("scratch")));
    assert!(!unneeded_with_local_volumes(
        &["scratch", "cache"],
        Some("scratch")
    ));
    assert!(unneeded_with_local_volumes(
        &["scratch", "cache"],
        Some("cache,scratch")
    ));
    assert!(!unneeded_with_local_volumes(&["scratch"], Some("")));
}

/// §4.3: an `emptyDir` with `medium: Memory` is not local storage (`isLocalVolume` in
/// cluster-autoscaler: `utils/drain/drain.go`); a disk-backed one and a hostPath are.
#[test]
fn a_memory_backed_empty_dir_is_not_local_storage() {
    let pod = |volumes: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n    - {{name: c, image: nginx}}\n  volumes:\n{volumes}"
        )
    };
    let volumes = |yaml: &str| {
        let sc = load(&scenario(
            "vols",
            "1m",
            "",
            "      - {name: g, instanceTypes: [m5.large], maxSize: 1}\n",
            "    []\n",
            "",
            &pod(yaml),
        ));
        sc.workloads[0].template.local_volumes.clone()
    };
    assert!(volumes("    - {name: shm, emptyDir: {medium: Memory}}\n").is_empty());
    assert_eq!(
        volumes("    - {name: scratch, emptyDir: {}}\n"),
        ["scratch"]
    );
    assert_eq!(
        volumes(
            "    - {name: logs, hostPath: {path: /var/log}}\n    - {name: shm, emptyDir: {medium: Memory}}\n"
        ),
        ["logs"]
    );
}

/// §4.2: a node is underutilized when its utilization is at or below
/// `--scale-down-utilization-threshold` (cluster-autoscaler 1.36.1:
/// `core/scaledown/eligibility/eligibility.go`, `isNodeAtOrBelowUtilizationThreshold`, which
/// compares with `>` since kubernetes/autoscaler#8975; before it, `>=` kept a node at the
/// threshold, and with threshold 0 even an empty one). So threshold 0 removes empty nodes only.
#[test]
fn utilization_at_the_threshold_is_underutilized_and_threshold_zero_removes_empty_nodes() {
    let candidates = [Candidate {
        node: NodeId(0),
        group: GroupId(0),
    }];
    let planner_unneeded = |cpu_m: i64, threshold: f64| {
        let mut c = Cluster::new(SchedulerSettings::default());
        let n0 = c.add_node(node(0, 2000, "ng"));
        c.add_node(node(1, 2000, "ng"));
        if cpu_m > 0 {
            let now = SimTime::ZERO;
            let mut t = (*pod_template("default", "web", cpu_m)).clone();
            t.requests.memory = 0;
            let p = c.create_pod(
                now,
                "w".into(),
                Arc::new(t),
                OwnerKind::ReplicaSet,
                0,
                false,
            );
            c.bind(p, n0, now);
            c.mark_running(p, now);
        }
        let mut s = Flags::default().scale_down;
        s.utilization_threshold = threshold;
        let mut p = Planner::default();
        p.update(&c, &candidates, &groups_ng(), &s, SimTime(60_000));
        p.unneeded.contains_key(&NodeId(0))
    };
    assert!(
        planner_unneeded(1000, 0.5),
        "exactly 50 % is at the threshold"
    );
    assert!(!planner_unneeded(1001, 0.5));
    assert!(
        planner_unneeded(0, 0.0),
        "threshold 0: an empty node is removable"
    );
    assert!(!planner_unneeded(1, 0.0));
}

// ---- flags and start-up ------------------------------------------------------------------

fn minimal(flags: &str) -> String {
    scenario(
        "flags",
        "5m",
        flags,
        "      - {name: general, instanceTypes: [m5.xlarge], maxSize: 3}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 2}\n",
        "",
        &deployment("web", 0, "1", "1Gi", ""),
    )
}

/// §3.4: the AWS provider has no pricing model, so cluster-autoscaler refuses to start with
/// `--expander=price`; so does `run` (exit 2, message on stderr).
#[test]
fn the_price_expander_is_refused_on_aws() {
    let err = load_err(&minimal("expander: price"));
    assert!(
        err.contains("spec.clusterAutoscaler.flags.expander"),
        "{err}"
    );
    assert!(err.contains("Not implemented"), "{err}");
    assert!(err.contains("price"), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("price.yaml");
    std::fs::write(&path, minimal("expander: \"least-waste,price\"")).expect("write");
    cargo_bin_cmd!("autoscale-sim")
        .args(["run", "--out"])
        .arg(dir.path().join("out"))
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("Not implemented"));
}

/// §6: flags use the real names; an unknown flag is an error naming it.
#[test]
fn an_unknown_flag_is_an_error_naming_it() {
    let err = load_err(&minimal("scale-down-unneded-time: 5m"));
    assert!(
        err.contains("spec.clusterAutoscaler.flags.scale-down-unneded-time: unknown flag"),
        "{err}"
    );
    let sc = load(&minimal(
        "scale-down-unneeded-time: 5m, max-node-provision-time: 20m",
    ));
    assert!(make_autoscaler(AutoscalerKind::ClusterAutoscaler, &sc).is_ok());
}

// ---- shipped scenarios -------------------------------------------------------------------

fn shipped(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Pod-weighted mean and max decision latency (pod Unschedulable → scale-up request) over a
/// run's scale-ups, from the decision log.
fn decision_latency(o: &Outcome) -> (usize, f64, f64) {
    let (mut n, mut sum, mut max) = (0usize, 0.0, 0.0f64);
    for e in events(o, "scale-up") {
        let d = &e["decision_latency_s"];
        let k = d["pods"].as_u64().expect("pods") as usize;
        n += k;
        sum += d["mean"].as_f64().expect("mean") * k as f64;
        max = max.max(d["max"].as_f64().expect("max"));
    }
    (n, if n > 0 { sum / n as f64 } else { 0.0 }, max)
}

/// §2.1 / FAQ SLO: on clusters under 100 nodes, pod marked unschedulable → scale-up request
/// stays ≤ 30 s. (The FAQ's ~5 s average is not reached with frequent loops: a burst is seen at
/// once but skipped while its oldest pod is < 2 s old, and the next loop waits for the 10 s
/// timer — see the report of this issue.)
#[test]
fn decision_latency_meets_the_faq_slo_on_small_clusters() {
    for name in ["ca-spike.yaml", "ca-vs-karpenter.yaml", "ca-expanders.yaml"] {
        let sc = shipped(name);
        let o = run_ca(&sc);
        assert!(o.peak_nodes < 100, "{name}: {} nodes", o.peak_nodes);
        let (n, mean, max) = decision_latency(&o);
        eprintln!("{name}: {n} pods, decision latency mean {mean:.1} s, max {max:.1} s");
        assert!(n > 0, "{name}: no scale-up");
        assert!(max <= 30.0, "{name}: max decision latency {max} s");
        assert!(mean <= 15.0, "{name}: mean decision latency {mean} s");
    }
}

/// Both autoscalers run on the comparison scenario (NodePools and node groups in one file).
#[test]
fn ca_vs_karpenter_runs_under_both_autoscalers() {
    let sc = shipped("ca-vs-karpenter.yaml");
    for kind in [AutoscalerKind::Karpenter, AutoscalerKind::ClusterAutoscaler] {
        let out = run_to_end(&sc, kind).expect("runs");
        assert_eq!(out.report.pods.unschedulable_at_end, 0, "{kind:?}");
        assert!(out.report.nodes.launched > 0, "{kind:?}");
    }
}

/// docs/design.md §1.2: the same seed gives the same decisions.
#[test]
fn same_seed_gives_the_same_decision_log() {
    let sc = shipped("ca-spike.yaml");
    let a = run_to_end(&sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    let b = run_to_end(&sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    assert!(!a.sim.decisions().is_empty());
    assert_eq!(a.sim.decisions(), b.sim.decisions());
}

/// §3.5: with `--balance-similar-node-groups`, a scale-up is split across groups that differ
/// only in zone, smallest first.
#[test]
fn balance_similar_node_groups_splits_a_scale_up_across_zonal_groups() {
    let groups = "      - {name: a, instanceTypes: [m5.xlarge], zones: [us-east-1a], maxSize: 20}\n      - {name: b, instanceTypes: [m5.xlarge], zones: [us-east-1b], maxSize: 20}\n      - {name: c, instanceTypes: [m5.xlarge], zones: [us-east-1c], maxSize: 20}\n";
    let timeline = "    - at: 1m\n      scale: {deployment: web, replicas: 36}\n";
    let web = deployment("web", 0, "900m", "1Gi", "");
    let o = run_ca(&load(&scenario(
        "balance",
        "15m",
        "balance-similar-node-groups: true",
        groups,
        timeline,
        "",
        &web,
    )));
    let ups = events(&o, "scale-up");
    let split: Vec<u64> = ups[0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["to"].as_u64().expect("to") - g["from"].as_u64().expect("from"))
        .collect();
    assert_eq!(split, vec![3, 3, 3], "{}", ups[0]);
    let o = run_ca(&load(&scenario(
        "no-balance",
        "15m",
        "",
        groups,
        timeline,
        "",
        &web,
    )));
    assert_eq!(
        events(&o, "scale-up")[0]["groups"].as_array().map(Vec::len),
        Some(1)
    );
}

/// §3.7 / §3.8: nodes that do not arrive within `max-node-provision-time` (here a per-group
/// 3 minutes, against a 20-minute boot) time the scale-up out: the group is backed off and its
/// target goes back down.
#[test]
fn max_node_provision_time_times_out_a_slow_scale_up() {
    let yaml = scenario(
        "timeout",
        "20m",
        "",
        "      - {name: slow, instanceTypes: [m5.xlarge], maxSize: 10, maxNodeProvisionTime: 3m}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 4}\n",
        "  cloud:\n    latency:\n      boot:\n        al2023: {constant: 20m}\n      slowTail: {probability: 0}\n",
        &deployment("web", 0, "1", "1Gi", ""),
    );
    let o = run_ca(&load(&yaml));
    let up = t(events(&o, "scale-up")[0]);
    let fail = events(&o, "scale-up-failed")
        .into_iter()
        .next()
        .expect("timed out");
    assert_eq!(fail["reason"], "timeout");
    assert_eq!(fail["backoff_s"], 300);
    assert_eq!(fail["target"], 0);
    let after = t(fail) - up;
    assert!(
        (180.0..=200.0).contains(&after),
        "timed out {after} s after the scale-up"
    );
}

/// The shipped cluster-autoscaler scenarios meet the `expect` thresholds set from their runs.
#[test]
fn shipped_ca_scenarios_meet_their_expectations() {
    for name in [
        "ca-spike.yaml",
        "ca-vs-karpenter.yaml",
        "ca-expanders.yaml",
        "ca-expanders/most-pods.yaml",
        "ca-expanders/least-nodes.yaml",
        "ca-expanders/random.yaml",
        "ca-expanders/priority.yaml",
    ] {
        let sc = shipped(name);
        let checks = sc
            .expect
            .get("cluster-autoscaler")
            .cloned()
            .unwrap_or_default();
        assert!(
            !checks.is_empty(),
            "{name} has cluster-autoscaler expectations"
        );
        let out = run_to_end(&sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
        for (key, th) in checks {
            let v = out
                .report
                .value_at(&key)
                .unwrap_or_else(|| panic!("{name}: no report value {key}"));
            assert!(
                th.min.is_none_or(|m| v >= m),
                "{name}: {key} = {v} < {th:?}"
            );
            assert!(
                th.max.is_none_or(|m| v <= m),
                "{name}: {key} = {v} > {th:?}"
            );
        }
    }
}

/// §3.6: `--max-nodes-total` caps the new-node count and, once that many nodes are Ready,
/// stops scale-up altogether (`MaxNodesTotalReached`).
#[test]
fn max_nodes_total_caps_the_cluster() {
    let yaml = scenario(
        "max-total",
        "15m",
        "max-nodes-total: 3",
        "      - {name: general, instanceTypes: [m5.xlarge], maxSize: 20}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 40}\n",
        "",
        &deployment("web", 0, "900m", "1Gi", ""),
    );
    let o = run_ca(&load(&yaml));
    assert_eq!(o.peak_nodes, 3);
    assert_eq!(events(&o, "scale-up")[0]["groups"][0]["to"], 3);
    assert!(o.unschedulable_at_end > 0);
    assert!(
        events(&o, "no-scale-up")
            .iter()
            .any(|e| e["reason"] == "MaxNodesTotalReached")
    );
}

// cluster-autoscaler marks the nodes it deletes with its own `ToBeDeletedByClusterAutoscaler`
// taint (cluster-autoscaler: utils/taints/taints.go); Karpenter's `karpenter.sh/disrupted` is
// Karpenter's alone and never appears on a node group's node.
#[test]
fn scale_down_taints_nodes_with_its_own_taint_not_karpenters() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ca-spike.yaml");
    let sc = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let autoscaler = make_autoscaler(AutoscalerKind::ClusterAutoscaler, &sc).expect("ca");
    let mut sim = autoscale_sim::sim::Simulation::new(&sc, autoscaler).expect("sim");
    sim.start();
    let mut tainted_seen = 0;
    while sim.step().is_some() {
        for n in sim.cluster.nodes() {
            assert!(
                !n.taints.iter().any(|t| t.key == "karpenter.sh/disrupted"),
                "{} carries karpenter.sh/disrupted",
                n.name
            );
            if n.taints
                .iter()
                .any(|t| t.key == "ToBeDeletedByClusterAutoscaler")
            {
                tainted_seen += 1;
            }
        }
    }
    assert!(tainted_seen > 0, "ca-spike scaled nothing down");
}

// ---- aws-node-termination-handler (§8) ------------------------------------------------------

/// Four m5.large spot nodes, each with one 1.5-CPU pod, interrupted at 0.5 per instance-hour
/// (no rebalance recommendations, no scale-down), with `handler` as
/// `spec.clusterAutoscaler.terminationHandler`.
fn spot_with_handler(handler: &str) -> String {
    let yaml = scenario(
        "nth",
        "3h",
        "scale-down-enabled: false",
        "      - {name: spot, instanceTypes: [m5.large], capacityType: spot, maxSize: 10}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 4}\n",
        "  cloud:\n    spot: {interruptions: {perHour: 0.5}, rebalanceProbability: 0}\n",
        &deployment("web", 0, "1500m", "1Gi", ""),
    );
    yaml.replace(
        "    nodeGroups:\n",
        &format!("    terminationHandler: {handler}\n    nodeGroups:\n"),
    )
}

/// (node, reclaim time) of every spot-reclaimed node that was registered at its warning, the
/// pods evicted ahead of a reclaim, and the decision log.
fn reclaims(sc: &Scenario) -> (Vec<(String, f64)>, u64, Outcome) {
    let out = run_to_end(sc, AutoscalerKind::ClusterAutoscaler).expect("runs");
    let reclaimed = out
        .sim
        .recorder
        .nodes
        .iter()
        .filter(|r| r.termination_reason.as_deref() == Some("spot-interruption"))
        // A node must exist at the warning for anyone to drain it: an instance reclaimed
        // within two minutes of its launch gets its warning before it registers.
        .filter(|r| {
            r.registered_at
                .zip(r.terminated_at)
                .is_some_and(|(reg, end)| reg.0 + 120_000 <= end.0)
        })
        .filter_map(|r| Some((r.name.clone(), r.terminated_at?.as_secs_f64())))
        .collect();
    // Pods evicted before their node went: those that ended at no reclaim (a pod on a node
    // that vanishes ends, as evicted, at that instant).
    let gone: Vec<u64> = out
        .sim
        .recorder
        .nodes
        .iter()
        .filter(|r| r.termination_reason.as_deref() == Some("spot-interruption"))
        .filter_map(|r| Some(r.terminated_at?.0))
        .collect();
    let evicted = out
        .sim
        .cluster
        .pods
        .iter()
        .filter(|p| p.end_reason == Some(autoscale_sim::cluster::EndReason::Evicted))
        .filter(|p| p.ended_at.is_some_and(|t| !gone.contains(&t.0)))
        .count() as u64;
    let decisions = out
        .sim
        .decisions()
        .iter()
        .map(|l| serde_json::from_str(l).expect("decision lines are JSON"))
        .collect();
    let o = Outcome {
        decisions,
        unschedulable_at_end: out.report.pods.unschedulable_at_end,
        peak_nodes: out.report.nodes.peak,
        bound_s: Vec::new(),
    };
    (reclaimed, evicted, o)
}

/// aws-node-termination-handler `pkg/interruptionevent/draincordon/handler.go`: in queue mode
/// a spot node is cordoned and drained (kubectl drain semantics, evictions respecting PDBs)
/// 5 s after the two-minute warning, so its pods are evicted and pending again about 115 s
/// before EC2 reclaims the instance, and cluster-autoscaler scales up for them before the
/// reclaim. Without a handler nothing happens until the reclaim, when the pods die with the
/// node.
#[test]
fn a_termination_handler_drains_a_spot_node_within_seconds_of_the_warning() {
    let sc = load(&spot_with_handler("{mode: queue}"));
    let (reclaimed, evicted, o) = reclaims(&sc);
    let acts = events(&o, "termination-handler");
    assert!(!reclaimed.is_empty(), "no spot interruption in 3 h");
    assert!(evicted > 0, "no pod evicted before its node was reclaimed");
    for (node, at) in &reclaimed {
        let act = acts
            .iter()
            .find(|e| e["node"] == node.as_str())
            .unwrap_or_else(|| panic!("{node} reclaimed at {at} s without the handler: {acts:?}"));
        assert_eq!(act["action"], "cordon-and-drain");
        assert_eq!(act["mode"], "queue");
        // Warning at reclaim − 120 s; the queue's detection delay is 5 s.
        assert!(
            (at - t(act) - 115.0).abs() < 1e-6,
            "{node}: {act}, reclaimed {at}"
        );
    }
    // The first reclaim: a scale-up for the drained pod comes between the handler and the
    // reclaim.
    let (node, at) = reclaimed
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a reclaim");
    let act = acts
        .iter()
        .find(|e| e["node"] == node.as_str())
        .expect("act");
    assert!(
        events(&o, "scale-up")
            .iter()
            .any(|u| t(u) >= t(act) && t(u) < *at),
        "no scale-up between the drain at {} s and the reclaim at {at} s",
        t(act)
    );

    // Without a handler: the same first reclaim, no event, no eviction, no scale-up before it.
    let sc = load(&spot_with_handler("{mode: none}"));
    let (reclaimed_none, evicted_none, o) = reclaims(&sc);
    assert!(events(&o, "termination-handler").is_empty());
    assert_eq!(evicted_none, 0);
    let first = reclaimed_none
        .iter()
        .map(|r| r.1)
        .min_by(f64::total_cmp)
        .expect("a reclaim");
    assert!((first - at).abs() < 1e-6, "same first interruption");
    assert!(
        !events(&o, "scale-up")
            .iter()
            .any(|u| t(u) >= first - 120.0 && t(u) < first),
        "a scale-up before the reclaim without a handler"
    );
}

/// A detection delay must leave the handler time to act before the reclaim; options without a
/// mode are refused (located at the field).
#[test]
fn a_termination_handler_slower_than_the_notice_is_refused_at_load() {
    let e = load_err(&spot_with_handler("{mode: imds, detectionDelay: 3m}"));
    assert!(
        e.contains("terminationHandler.detectionDelay") && e.contains("2-minute"),
        "{e}"
    );
    let e = load_err(&spot_with_handler("{mode: sqs}"));
    assert!(e.contains("terminationHandler") || e.contains("sqs"), "{e}");
}
