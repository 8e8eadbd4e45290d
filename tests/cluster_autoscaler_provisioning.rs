//! cluster-autoscaler's scale-up bookkeeping and simulation (docs/model/cluster-autoscaler.md
//! §3.2, §3.3, §3.7, §3.8; issue 15 item 6): a scale-up whose instances never register times
//! out and backs its group off, required pod affinity is part of the scale-up simulation, and
//! `--gpu-total` limits each GPU type on its own.

mod common;

use common::ca::{MIN, events, load, load_err, run_ca, scenario, t};

/// A Deployment; `pod_spec` is YAML at the pod spec's indentation (6 spaces), before
/// `containers`; `requests` a flow map.
fn deployment(name: &str, replicas: u32, requests: &str, pod_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n{pod_spec}      containers:\n        - {{name: c, image: nginx, resources: {{requests: {requests}}}}}\n"
    )
}

/// FAQ "How does scale-up work?" and cluster-autoscaler: clusterstate/clusterstate.go
/// (`updateScaleRequests`, `areThereUpcomingNodesInNodeGroup`): instances that never register
/// are not provisioned, so after `--max-node-provision-time` (15 min) the scale-up times out
/// (`ScaleUpTimedOut`) and the group is backed off; removing the unregistered instances
/// (`removeOldUnregisteredNodes`) does not make the scale-up a success. Here the boot takes
/// an hour, so nothing registers within the 40-minute run. Loops a minute apart make the
/// first loop past the provision time also the first to see the instances long-unregistered
/// (they launched a few seconds after the request), which is where the two used to be
/// confused.
#[test]
fn a_scale_up_whose_instances_never_register_times_out_and_backs_the_group_off() {
    let yaml = scenario(
        "provisioning",
        "40m",
        "scan-interval: 1m, frequent-loops-enabled: false",
        "      - {name: lost, instanceTypes: [m5.large], zones: [us-east-1a], maxSize: 10}\n",
        "    - at: 1m\n      scale: {deployment: web, replicas: 2}\n",
        "  cloud:\n    latency:\n      boot:\n        al2023: {constant: 60m}\n      slowTail: {probability: 0}\n",
        &deployment("web", 0, "{cpu: \"1500m\", memory: 1Gi}", ""),
    );
    let o = run_ca(&load(&yaml));
    let up = t(events(&o, "scale-up")[0]);
    let failed = events(&o, "scale-up-failed");
    let first = failed.first().expect("the scale-up timed out");
    assert_eq!(first["reason"], "timeout");
    assert_eq!(first["group"], "lost");
    assert_eq!(first["backoff_s"], 300);
    assert!(first["outstanding"].as_u64() >= Some(1), "{first}");
    let after = t(first) - up;
    assert!(
        (15.0 * MIN..16.0 * MIN + 30.0).contains(&after),
        "timed out {after} s after the scale-up"
    );
    // As in 1.36 the outstanding increase comes off the target (the ASG drops the instances),
    // and the next attempt only comes after the backoff.
    assert_eq!(first["target"], 0);
    let retry = events(&o, "scale-up")
        .into_iter()
        .map(t)
        .find(|&at| at > t(first));
    if let Some(at) = retry {
        assert!(at >= t(first) + 5.0 * MIN, "retried at {at} s");
    }
    assert!(o.unschedulable_at_end > 0);
}

/// cluster-autoscaler: core/scaleup/orchestrator/orchestrator.go and estimator (the scheduler
/// predicates in the binpacking simulation, §3.3): a pod that requires pod affinity to `db`
/// in the same zone fits only a group in `db`'s zone. The priority expander prefers the
/// us-east-1b group; it must still not be scaled for these pods (it would give a node they
/// cannot use, emptied and removed again and again).
#[test]
fn required_pod_affinity_is_part_of_the_scale_up_simulation() {
    let db = deployment(
        "db",
        1,
        "{cpu: \"500m\", memory: 512Mi}",
        "      nodeSelector: {topology.kubernetes.io/zone: us-east-1a}\n",
    );
    let app = deployment(
        "app",
        0,
        "{cpu: \"1500m\", memory: 1Gi}",
        "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            - labelSelector: {matchLabels: {app: db}}\n              topologyKey: topology.kubernetes.io/zone\n",
    );
    let yaml = scenario(
        "provisioning",
        "30m",
        "expander: priority",
        "      - {name: za, instanceTypes: [m5.large], zones: [us-east-1a], maxSize: 10, priority: 10}\n      - {name: zb, instanceTypes: [m5.large], zones: [us-east-1b], maxSize: 10, priority: 50}\n",
        "    - at: 5m\n      scale: {deployment: app, replicas: 3}\n",
        "",
        &format!("{db}---\n{app}"),
    );
    let o = run_ca(&load(&yaml));
    let ups = events(&o, "scale-up");
    assert!(ups.len() >= 2, "{ups:?}");
    for u in &ups {
        assert_eq!(u["group"], "za", "{u}");
    }
    let for_app = ups
        .iter()
        .find(|u| t(u) > 5.0 * MIN)
        .expect("scale-up for app");
    let zb = for_app["considered"]
        .as_array()
        .expect("considered")
        .iter()
        .find(|c| c["group"] == "zb")
        .expect("zb considered");
    assert_eq!(zb["nodes"], 0, "zb cannot help: {zb}");
    assert!(events(&o, "scale-down").is_empty());
    assert_eq!(o.unschedulable_at_end, 0);
}

/// `--gpu-total=<gpu_type>:<min>:<max>` is per GPU type (cluster-autoscaler:
/// config/flags/flags.go `parseMultipleGpuLimits`; FAQ.md parameter table); on AWS a node's
/// type is its `k8s.amazonaws.com/accelerator` label. A limit of one T4 stops the T4 group
/// after one node while the A10 group scales freely.
#[test]
fn gpu_total_limits_each_gpu_type_separately() {
    let pod = |name: &str, accel: &str| {
        deployment(
            name,
            0,
            "{cpu: \"1\", memory: 2Gi, nvidia.com/gpu: 1}",
            &format!("      nodeSelector: {{k8s.amazonaws.com/accelerator: {accel}}}\n"),
        )
    };
    let yaml = scenario(
        "provisioning",
        "20m",
        "gpu-total: [\"nvidia-tesla-t4:0:1\"]",
        "      - {name: t4, instanceTypes: [g4dn.xlarge], zones: [us-east-1a], maxSize: 10, labels: {k8s.amazonaws.com/accelerator: nvidia-tesla-t4}}\n      - {name: a10, instanceTypes: [g5.xlarge], zones: [us-east-1a], maxSize: 10, labels: {k8s.amazonaws.com/accelerator: nvidia-tesla-a10}}\n",
        "    - at: 1m\n      scale: {deployment: t4-work, replicas: 3}\n    - at: 1m\n      scale: {deployment: a10-work, replicas: 3}\n",
        "",
        &format!(
            "{}---\n{}",
            pod("t4-work", "nvidia-tesla-t4"),
            pod("a10-work", "nvidia-tesla-a10")
        ),
    );
    let o = run_ca(&load(&yaml));
    let to = |group: &str| {
        events(&o, "scale-up")
            .iter()
            .flat_map(|u| u["groups"].as_array().cloned().unwrap_or_default())
            .filter(|g| g["group"] == group)
            .filter_map(|g| g["to"].as_u64())
            .max()
            .unwrap_or(0)
    };
    assert_eq!(to("t4"), 1);
    assert_eq!(to("a10"), 3);
    assert!(
        events(&o, "no-scale-up")
            .iter()
            .any(|e| e["groups"]["t4"] == "MaxResourceLimitReached")
    );
    assert_eq!(o.unschedulable_at_end, 2);

    let e = load_err(&scenario(
        "provisioning",
        "20m",
        "gpu-total: [\"nvidia-tesla-t4:0:1\", \"nvidia-tesla-t4:0:2\"]",
        "      - {name: t4, instanceTypes: [g4dn.xlarge], maxSize: 10}\n",
        "    []\n",
        "",
        &pod("t4-work", "nvidia-tesla-t4"),
    ));
    assert!(e.contains("flags.gpu-total") && e.contains("twice"), "{e}");
}
